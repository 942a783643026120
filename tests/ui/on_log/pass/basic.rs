use flask_mqtt_actix as mqtt;

#[mqtt::on_log]
fn log_line(entry: mqtt::LogEntry) {
    let _ = entry;
}

#[mqtt::on_log]
async fn log_line_async(_entry: mqtt::LogEntry, _client: mqtt::Mqtt) {}

fn main() {}
