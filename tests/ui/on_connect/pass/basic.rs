use flask_mqtt_actix as mqtt;

#[mqtt::on_connect]
async fn connected(client: mqtt::Mqtt) {
    client
        .subscribe("home/mytopic", mqtt::QoS::AtMostOnce)
        .await
        .ok();
}

#[mqtt::on_connect()]
fn connected_sync() {}

#[mqtt::on_connect]
async fn connected_fallible(_client: mqtt::Mqtt) -> Result<(), mqtt::Error> {
    Ok(())
}

fn main() {}
