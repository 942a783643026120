use flask_mqtt_actix as mqtt;

#[mqtt::on_message("files/{path:*}")]
async fn file(_msg: mqtt::Message) {}

fn main() {}
