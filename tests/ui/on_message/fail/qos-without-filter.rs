use flask_mqtt_actix as mqtt;

#[mqtt::on_message(qos = 1)]
async fn other(_msg: mqtt::Message) {}

fn main() {}
