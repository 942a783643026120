use flask_mqtt_actix as mqtt;

#[mqtt::on_message("jobs/#", shared = "workers+")]
async fn job(_msg: mqtt::Message) {}

#[mqtt::on_message("tasks/#", shared = "#")]
async fn task(_msg: mqtt::Message) {}

fn main() {}
