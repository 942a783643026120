use flask_mqtt_actix as mqtt;

#[mqtt::on_message("orders/+", qos = 1, ack = manual)]
async fn order(_msg: mqtt::Message) {}

fn main() {}
