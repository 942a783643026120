use flask_mqtt_actix as mqtt;

#[mqtt::on_connect("home/mytopic")]
async fn connected(_client: mqtt::Mqtt) {}

fn main() {}
