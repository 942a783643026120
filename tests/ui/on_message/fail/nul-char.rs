use flask_mqtt_actix as mqtt;

#[mqtt::on_message("home/\0/temperature")]
async fn temperature(_msg: mqtt::Message) {}

fn main() {}
