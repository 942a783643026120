use flask_mqtt_actix as mqtt;

// Nothing could acknowledge the message.
#[mqtt::on_message("orders/+", qos = 1, ack = "manual")]
async fn order(_msg: mqtt::Message) {}

fn main() {}
