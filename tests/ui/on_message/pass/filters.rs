use flask_mqtt_actix as mqtt;

// A filter with a wildcard for one level, and a QoS.
#[mqtt::on_message("home/+/temperature", qos = 1)]
async fn temperature(msg: mqtt::Message) {
    let _ = msg.topic();
}

// `#` as the last level, QoS 2 and a `Result` return type.
#[mqtt::on_message("home/#", qos = 2)]
async fn everything_at_home(msg: mqtt::Message, client: mqtt::Mqtt) -> Result<(), String> {
    let _ = (msg, client);
    Ok(())
}

// Only `#`, QoS 0 written out, a plain `fn`.
#[mqtt::on_message("#", qos = 0)]
fn all(_msg: mqtt::Message) {}

// A shared subscription, sync, taking the client first.
#[mqtt::on_message("$share/workers/jobs/+/run")]
fn job(client: mqtt::Mqtt, msg: mqtt::Message) {
    let _ = (client, msg);
}

// `$SYS` topics, a single `+`, and an argument pattern that is not an identifier.
#[mqtt::on_message("$SYS/broker/+")]
fn broker_stats(mut msg: mqtt::Message, _: mqtt::Mqtt) {
    let _ = &mut msg;
}

#[mqtt::on_message("+")]
async fn top_level() {}

// The catch-all, both flavors; with attributes, docs and visibility kept.
/// Messages no filter matched.
#[mqtt::on_message]
#[allow(clippy::needless_pass_by_value)]
pub fn other(_msg: mqtt::Message) {}

#[mqtt::on_message()]
pub(crate) async fn other_async(_msg: mqtt::Message) -> Result<(), std::io::Error> {
    Ok(())
}

// A handler declared inside a function body.
fn register_locally() {
    #[mqtt::on_message("local/topic")]
    fn local(_msg: mqtt::Message) {}
}

// `r#` identifiers work as handler names.
#[mqtt::on_message("keywords/match")]
fn r#match(_msg: mqtt::Message) {}

fn main() {
    // The functions stay callable as written.
    let _: fn(mqtt::Message) = other;
    let _ = temperature;
    let _ = everything_at_home;
    drop(top_level());
    register_locally();
    let _ = r#match;
}
