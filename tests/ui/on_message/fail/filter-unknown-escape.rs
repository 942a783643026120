use flask_mqtt_actix as mqtt;

// `\q` is no escape Rust knows: the literal has no value to read as a filter.
#[mqtt::on_message("\q", qos = 1)]
async fn handler(_msg: mqtt::Message) {}

fn main() {}
