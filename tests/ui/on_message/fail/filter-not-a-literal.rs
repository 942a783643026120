use flask_mqtt_actix as mqtt;

const TOPIC: &str = "a/b";

// The filter is read when the attribute expands: only a string literal can be.
#[mqtt::on_message(TOPIC, qos = 1)]
async fn constant(_msg: mqtt::Message) {}

#[mqtt::on_message(concat!("a/", "b"), qos = 1)]
async fn macro_call(_msg: mqtt::Message) {}

#[mqtt::on_message(b"a/b", qos = 1)]
async fn byte_string(_msg: mqtt::Message) {}

// An identifier alone too (not a near miss of a key: see first-argument-misspelt-key.rs).
#[mqtt::on_message(topic)]
async fn identifier(_msg: mqtt::Message) {}

fn main() {
    let _ = TOPIC;
}
