use flask_mqtt_actix as mqtt;

#[mqtt::on_message("home/+/temperature", "home/+/humidity")]
async fn climate(_msg: mqtt::Message) {}

fn main() {}
