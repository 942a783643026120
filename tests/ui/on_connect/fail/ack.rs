use flask_mqtt_actix as mqtt;

// Only message handlers receive messages to acknowledge.
#[mqtt::on_connect(ack = "after", nack_on_error)]
async fn connected(_client: mqtt::Mqtt) {}

fn main() {}
