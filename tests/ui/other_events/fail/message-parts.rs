use flask_mqtt_actix as mqtt;

// Each argument is checked: both are reported.
#[mqtt::on_publish]
fn published(_json: mqtt::Json<serde_json::Value>, _ack: mqtt::Ack) {}

#[mqtt::on_subscribe]
fn subscribed(_qos: Result<mqtt::QoS, mqtt::WrongEvent>) {}

#[mqtt::on_unsubscribe]
async fn unsubscribed(_props: Option<mqtt::UserProperties>) {}

fn main() {}
