use flask_mqtt_actix as mqtt;

// Each malformed argument is reported; the first one doesn't hide the others.
#[mqtt::on_message("a",, qos = )]
async fn handler(_msg: mqtt::Message) {}

fn main() {}
