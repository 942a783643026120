use flask_mqtt_actix as mqtt;

#[mqtt::on_message("home/+/temperature", qos = 1, qos = 2)]
async fn temperature(_msg: mqtt::Message) {}

fn main() {}
