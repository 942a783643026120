use flask_mqtt_actix as mqtt;

#[mqtt::on_message("sensors/{sensor-id}/temperature")]
async fn temperature(_msg: mqtt::Message) {}

fn main() {}
