use flask_mqtt_actix as mqtt;

#[mqtt::on_message("home/+/temperature", qs = 1)]
async fn temperature(_msg: mqtt::Message) {}

fn main() {}
