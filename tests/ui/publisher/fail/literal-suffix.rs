use flask_mqtt_actix as mqtt;

mqtt::publisher! {
    static COMMAND: u8 = "devices/command", qos = 1u8;
}

fn main() {}
