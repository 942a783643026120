use flask_mqtt_actix as mqtt;

// Only message handlers have a request to answer: a reply would fail at every call.
#[mqtt::on_connect]
fn connected() -> mqtt::Reply {
    mqtt::Reply::new("hello")
}

type Answer = Result<Option<mqtt::Reply>, std::io::Error>;

#[mqtt::on_log]
async fn log_line(_entry: mqtt::LogEntry) -> Answer {
    Ok(None)
}

fn main() {}
