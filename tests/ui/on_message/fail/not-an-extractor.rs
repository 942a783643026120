use flask_mqtt_actix as mqtt;

#[mqtt::on_message("home/+/temperature")]
async fn temperature(_msg: mqtt::Message, _celsius: f32) {}

fn main() {}
