use flask_mqtt_actix as mqtt;
use mqtt::Ack as Receipt;

// Acknowledged when the handler says so: at `ack()`, also after the call (the
// `Ack` may be moved into a task). An `Ack` dropped without `ack()` releases the
// message unacknowledged (the broker sends it again with the next session).
#[mqtt::on_message("orders/+", qos = 1, ack = "manual")]
async fn order(_msg: mqtt::Message, ack: mqtt::Ack) {
    ack.ack();
}

// With `nack_on_error`: a failed call (or a panic while it holds its `Ack`) leaves the
// message unacknowledged, for the broker to send again with the next session.
#[mqtt::on_message("invoices/+", qos = 2, ack = "manual", nack_on_error)]
fn invoice(ack: mqtt::Ack) -> Result<(), std::io::Error> {
    if ack.is_pending() {
        ack.ack();
    }
    Ok(())
}

// Moved out of the call: acknowledged when the work it was handed to is done.
#[mqtt::on_message("refunds/+", qos = 1, ack = "manual")]
fn refund(msg: mqtt::Message, ack: mqtt::Ack) {
    std::thread::spawn(move || {
        let _ = msg.payload();
        ack.ack();
    });
}

// Read from the types: a renamed import, an alias or an `Option` of `Ack` is one too
// (absent for a QoS 0 message of the catch-all).
type Held = Option<Receipt>;

#[mqtt::on_message("payments/+", qos = 1, ack = "manual")]
fn payment(ack: Receipt) {
    ack.ack();
}

#[mqtt::on_message(ack = "manual")]
fn other(ack: Held) {
    if let Some(ack) = ack {
        ack.ack();
    }
}

fn main() {}
