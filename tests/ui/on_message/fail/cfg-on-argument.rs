use flask_mqtt_actix as mqtt;

// The wrapper passes every argument written: one removed by `#[cfg]` can't be passed.
#[mqtt::on_message("a/b")]
async fn handler(#[cfg(any())] client: mqtt::Mqtt, msg: mqtt::Message) {
    let _ = msg;
}

fn main() {}
