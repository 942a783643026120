use flask_mqtt_actix as mqtt;

mqtt::publisher! {
    static COMMAND: u8 = qos = 1;
}

fn main() {}
