use flask_mqtt_actix as mqtt;

#[mqtt::on_message("jobs/#", shared = "")]
async fn job(_msg: mqtt::Message) {}

fn main() {}
