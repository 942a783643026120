use flask_mqtt_actix as mqtt;

#[mqtt::on_message("home/+/temperature")]
async fn temperature<T: mqtt::FromEvent>(_msg: T) {}

fn main() {}
