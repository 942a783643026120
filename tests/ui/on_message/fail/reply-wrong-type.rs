use flask_mqtt_actix as mqtt;

#[mqtt::on_message("rpc/time")]
fn time() -> Option<String> {
    Some("12:00".to_owned())
}

fn main() {}
