// The runtime is reached through a re-export the macro can't find in `Cargo.toml`,
// so `crate = "..."` says where it is.
mod runtime {
    #[doc(hidden)]
    pub use flask_mqtt_actix::__private;
    pub use flask_mqtt_actix::*;
}

use runtime as mqtt;

#[mqtt::on_message("home/+/temperature", qos = 1, crate = "crate::runtime")]
async fn temperature(msg: mqtt::Message) {
    let _ = msg;
}

#[mqtt::on_message(crate = "::flask_mqtt_actix")]
fn other(_msg: mqtt::Message) {}

#[mqtt::on_connect(crate = "mqtt")]
fn connected(_client: mqtt::Mqtt) {}

fn main() {}
