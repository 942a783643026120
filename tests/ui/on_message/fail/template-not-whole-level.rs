use flask_mqtt_actix as mqtt;

#[mqtt::on_message("sensors/id-{sensor_id}/temperature")]
async fn temperature(_msg: mqtt::Message) {}

fn main() {}
