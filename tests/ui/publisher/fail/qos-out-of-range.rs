use flask_mqtt_actix as mqtt;

mqtt::publisher! {
    static COMMAND: u8 = "devices/{id}/command", qos = 3;
}

fn main() {}
