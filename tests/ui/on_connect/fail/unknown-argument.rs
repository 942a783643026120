use flask_mqtt_actix as mqtt;

#[mqtt::on_connect(qos = 1)]
async fn connected(_client: mqtt::Mqtt) {}

fn main() {}
