use flask_mqtt_actix as mqtt;

// A suffix means nothing to an argument: refused, like rustc does in attributes.
#[mqtt::on_message("home/x"suffix)]
async fn filter(_msg: mqtt::Message) {}

#[mqtt::on_message("home/y", qos = 1u8)]
async fn qos(_msg: mqtt::Message) {}

#[mqtt::on_message("home/z", queue = 5i64)]
async fn queue(_msg: mqtt::Message) {}

fn main() {}
