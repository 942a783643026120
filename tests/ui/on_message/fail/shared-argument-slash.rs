use flask_mqtt_actix as mqtt;

#[mqtt::on_message("#", shared = "workers/jobs")]
async fn job(_msg: mqtt::Message) {}

fn main() {}
