use flask_mqtt_actix as mqtt;

#[mqtt::on_message(shared = "workers")]
async fn other(_msg: mqtt::Message) {}

fn main() {}
