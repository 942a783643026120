use flask_mqtt_actix as mqtt;

// `#[on_connect]` handlers receive no message: the argument would be rejected at every
// connect.
#[mqtt::on_connect]
async fn connected(_client: mqtt::Mqtt, _msg: mqtt::Message) {}

fn main() {}
