use flask_mqtt_actix as mqtt;

#[mqtt::on_message("home/+/temperature")]
fn temperature(_msg: mqtt::Message) -> u32 {
    0
}

fn main() {}
