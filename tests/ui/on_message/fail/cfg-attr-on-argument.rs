use flask_mqtt_actix as mqtt;

// A `#[cfg_attr]` that adds `#[cfg]` removes the argument in some configurations, and the
// wrapper passes every argument written; only lint attributes and `doc` are let through.
#[mqtt::on_message("a/b")]
async fn handler(
    #[cfg_attr(test, cfg(any()))] _client: mqtt::Mqtt,
    #[cfg_attr(test, allow(unused_variables), cfg_attr(all(), cfg(any())))] _msg: mqtt::Message,
) {
}

fn main() {}
