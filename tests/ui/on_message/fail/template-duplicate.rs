use flask_mqtt_actix as mqtt;

#[mqtt::on_message("sensors/{id}/{id}")]
async fn reading(_msg: mqtt::Message) {}

fn main() {}
