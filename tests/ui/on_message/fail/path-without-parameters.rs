use flask_mqtt_actix as mqtt;

#[mqtt::on_message("sensors/+/temperature")]
async fn temperature(_id: mqtt::Path<u32>) {}

fn main() {}
