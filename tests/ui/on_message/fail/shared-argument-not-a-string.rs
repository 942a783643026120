use flask_mqtt_actix as mqtt;

#[mqtt::on_message("jobs/#", shared = workers)]
async fn job(_msg: mqtt::Message) {}

fn main() {}
