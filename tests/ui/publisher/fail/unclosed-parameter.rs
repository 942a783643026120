use flask_mqtt_actix as mqtt;

mqtt::publisher! {
    static COMMAND: u8 = "devices/{id/command";
}

fn main() {}
