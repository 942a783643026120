use flask_mqtt_actix as mqtt;

// More than Tokio's semaphore holds on a 32-bit target.
#[mqtt::on_message("jobs/#", concurrency = 4000000000)]
fn job(_msg: mqtt::Message) {}

fn main() {}
