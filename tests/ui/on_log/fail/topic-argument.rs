use flask_mqtt_actix as mqtt;

#[mqtt::on_log]
fn log_line(_entry: mqtt::LogEntry, _topic: mqtt::Topic) {}

fn main() {}
