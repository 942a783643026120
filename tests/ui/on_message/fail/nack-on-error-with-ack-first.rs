use flask_mqtt_actix as mqtt;

// Acknowledged before the call: there is nothing to withhold.
#[mqtt::on_message("orders/+", qos = 1, ack = "first", nack_on_error)]
async fn order(_msg: mqtt::Message) {}

fn main() {}
