use flask_mqtt_actix as mqtt;

#[mqtt::on_message("home/kitchen#")]
async fn kitchen(_msg: mqtt::Message) {}

fn main() {}
