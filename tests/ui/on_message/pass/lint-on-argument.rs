use flask_mqtt_actix as mqtt;

// A `#[cfg_attr]` that only adds lint attributes (or `doc`) leaves the argument as it is:
// the wrapper passes it whatever the configuration.
#[mqtt::on_message("a/b")]
async fn handler(
    #[cfg_attr(test, allow(unused_variables))] _client: mqtt::Mqtt,
    #[cfg_attr(all(), allow(unused_variables), warn(unused_mut))] msg: mqtt::Message,
    #[cfg_attr(any(), cfg_attr(all(), deny(unused_variables)))] _topic: mqtt::Topic,
    #[cfg_attr(any(), doc = "not documented: rustc refuses `doc` on a parameter")] _qos: mqtt::QoS,
) {
}

fn main() {}
