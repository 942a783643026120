use flask_mqtt_actix as mqtt;

#[mqtt::on_message("")]
async fn nothing(_msg: mqtt::Message) {}

fn main() {}
