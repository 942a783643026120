use flask_mqtt_actix as mqtt;

mqtt::publisher! {
    static mut COMMAND: u8 = "devices/{id}/command";
}

fn main() {}
