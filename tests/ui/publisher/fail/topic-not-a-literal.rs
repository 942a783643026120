use flask_mqtt_actix as mqtt;

mqtt::publisher! {
    static COMMAND: String = concat!("devices/", "command"), qos = 1;
}

fn main() {}
