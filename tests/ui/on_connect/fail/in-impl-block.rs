use flask_mqtt_actix as mqtt;

// Unsupported (documented): a handler must be a free function, not in an `impl` block.
struct Service;

impl Service {
    #[mqtt::on_connect]
    async fn connected(_client: mqtt::Mqtt) {}
}

fn main() {}
