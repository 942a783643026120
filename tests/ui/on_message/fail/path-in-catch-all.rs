use flask_mqtt_actix as mqtt;

#[mqtt::on_message]
async fn other(_id: mqtt::Path<u32>) {}

fn main() {}
