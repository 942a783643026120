use flask_mqtt_actix as mqtt;

#[mqtt::on_disconnect]
fn disconnected() {}

#[mqtt::on_disconnect]
async fn disconnected_async(_client: mqtt::Mqtt) {}

#[mqtt::on_publish]
fn published(_client: mqtt::Mqtt) {}

#[mqtt::on_publish]
async fn published_async() -> Result<(), String> {
    Ok(())
}

#[mqtt::on_subscribe]
fn subscribed() {}

#[mqtt::on_subscribe]
async fn subscribed_async(_client: mqtt::Mqtt) {}

#[mqtt::on_unsubscribe]
fn unsubscribed() {}

#[mqtt::on_unsubscribe(crate = "::flask_mqtt_actix")]
async fn unsubscribed_async() {}

fn main() {}
