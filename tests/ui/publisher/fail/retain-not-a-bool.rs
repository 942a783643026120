use flask_mqtt_actix as mqtt;

mqtt::publisher! {
    static STATE: u8 = "devices/{id}/state", retain = "yes";
}

fn main() {}
