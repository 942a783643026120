use flask_mqtt_actix as mqtt;

// Acknowledged once the call has finished; a failed call leaves the message
// unacknowledged (redelivered with the next session).
#[mqtt::on_message("orders/+", qos = 1, ack = "after", nack_on_error)]
async fn order(_msg: mqtt::Message) -> Result<(), std::io::Error> {
    Ok(())
}

// Acknowledged on arrival, as Flask-MQTT does.
#[mqtt::on_message("metrics/#", qos = 1, ack = "first")]
fn metric(_msg: mqtt::Message) {}

// `nack_on_error` may also be written with its value.
#[mqtt::on_message("jobs/#", qos = 2, nack_on_error = true, concurrency = 4)]
async fn job(_msg: mqtt::Message) {}

// The catch-all takes them too.
#[mqtt::on_message(ack = "after", nack_on_error = false)]
fn other(_msg: mqtt::Message) {}

fn main() {
    let _: mqtt::AckPolicy = "after".parse().unwrap();
}
