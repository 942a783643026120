use flask_mqtt_actix as mqtt;

// QoS 0 messages are not acknowledged: nothing to acknowledge by hand, nothing to withhold.
#[mqtt::on_message("orders/+", ack = "manual")]
async fn order(_ack: mqtt::Ack) {}

#[mqtt::on_message("jobs/#", qos = 0, nack_on_error)]
fn job(_msg: mqtt::Message) {}

fn main() {}
