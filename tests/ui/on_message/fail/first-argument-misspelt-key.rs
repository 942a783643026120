use flask_mqtt_actix as mqtt;

// A first argument that is not `key = value` is the topic filter, unless it is a near
// miss of a key: then it is named as the key it most likely is.
#[mqtt::on_message(nack_on_eror)]
async fn handler(_msg: mqtt::Message) {}

fn main() {}
