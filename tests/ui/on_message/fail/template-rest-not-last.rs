use flask_mqtt_actix as mqtt;

#[mqtt::on_message("files/{path:#}/meta")]
async fn meta(_msg: mqtt::Message) {}

fn main() {}
