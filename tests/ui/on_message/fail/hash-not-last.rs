use flask_mqtt_actix as mqtt;

#[mqtt::on_message("home/#/temperature")]
async fn temperature(_msg: mqtt::Message) {}

fn main() {}
