use flask_mqtt_actix as mqtt;

#[mqtt::on_connect]
async fn connected(_id: mqtt::Path<u32>) {}

fn main() {}
