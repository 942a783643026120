use flask_mqtt_actix as mqtt;
use mqtt::Ack as Receipt;

// Without `ack = "manual"` the handler does not hold the acknowledgement: `ack()` would
// do nothing.
#[mqtt::on_message("orders/+", qos = 1)]
async fn order(_msg: mqtt::Message, _ack: mqtt::Ack) {}

#[mqtt::on_message("invoices/+", qos = 1, ack = "after")]
fn invoice(_ack: Option<Receipt>) {}

fn main() {}
