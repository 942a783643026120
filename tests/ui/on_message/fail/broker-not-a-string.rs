use flask_mqtt_actix as mqtt;

#[mqtt::on_message("sensors/#", broker = MQTT2)]
async fn reading(_msg: mqtt::Message) {}

fn main() {}
