use flask_mqtt_actix as mqtt;

mqtt::publisher! {
    static EVENTS: u8 = "events/#", qos = 1;
}

fn main() {}
