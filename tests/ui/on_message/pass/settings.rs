use flask_mqtt_actix as mqtt;

// Several calls at once, a bigger queue, another broker.
#[mqtt::on_message("jobs/+", qos = 1, concurrency = 8, queue = 10000, broker = "MQTT2")]
async fn job(_msg: mqtt::Message) {}

#[mqtt::on_message(concurrency = 2)]
fn other(_msg: mqtt::Message) {}

#[mqtt::on_connect(broker = "SENSORS_BROKER_2")]
async fn connected(_client: mqtt::Mqtt) {}

#[mqtt::on_log(queue = 1, concurrency = 1, broker = "MQTT")]
fn log_line(_entry: mqtt::LogEntry) {}

#[mqtt::on_disconnect(broker = "MQTT2", concurrency = 1)]
fn disconnected() {}

fn main() {}
