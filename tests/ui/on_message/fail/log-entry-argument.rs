use flask_mqtt_actix as mqtt;

// A message handler gets no log entry: each message would be acknowledged and dropped.
#[mqtt::on_message("a/b")]
fn handler(_entry: mqtt::LogEntry) {}

fn main() {}
