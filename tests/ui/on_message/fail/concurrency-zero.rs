use flask_mqtt_actix as mqtt;

#[mqtt::on_message("jobs/+", concurrency = 0)]
async fn job(_msg: mqtt::Message) {}

fn main() {}
