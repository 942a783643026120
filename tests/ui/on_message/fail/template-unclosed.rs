use flask_mqtt_actix as mqtt;

#[mqtt::on_message("sensors/{sensor_id/temperature")]
async fn temperature(_msg: mqtt::Message) {}

fn main() {}
