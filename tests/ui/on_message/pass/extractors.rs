use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::web;
use flask_mqtt_actix as mqtt;

#[derive(serde::Deserialize)]
struct Reading {
    celsius: f64,
}

#[derive(Default)]
struct Counters {
    seen: AtomicU64,
}

// Every built-in extractor, in any order, async and sync.
#[mqtt::on_message("sensors/+/temperature", qos = 1)]
async fn everything(
    topic: mqtt::Topic,
    payload: mqtt::Payload,
    text: mqtt::Text,
    mqtt::Json(reading): mqtt::Json<Reading>,
    qos: mqtt::QoS,
    mqtt::Retain(retained): mqtt::Retain,
    props: mqtt::UserProperties,
    content_type: mqtt::ContentType,
    response_topic: mqtt::ResponseTopic,
    correlation: mqtt::CorrelationData,
    client: mqtt::Mqtt,
    counters: mqtt::State<Counters>,
    data: web::Data<Counters>,
    msg: mqtt::Message,
) {
    counters.seen.fetch_add(1, Ordering::Relaxed);
    data.seen.fetch_add(1, Ordering::Relaxed);
    let _ = (
        topic.as_str(),
        &*payload,
        text.len(),
        reading.celsius,
        qos,
        retained,
    );
    let _ = (
        props.get("k"),
        content_type.as_str(),
        &*response_topic,
        correlation.as_bytes(),
    );
    let _ = (client, msg);
}

// Optional and fallible extractors.
#[mqtt::on_message("sensors/+/humidity")]
fn optional(
    text: Option<mqtt::Text>,
    json: Result<mqtt::Json<serde_json::Value>, mqtt::JsonRejection>,
    content_type: Option<mqtt::ContentType>,
    state: Result<mqtt::State<Counters>, mqtt::MissingState>,
) -> Result<(), mqtt::JsonRejection> {
    let _ = (text, content_type, state.is_ok());
    json.map(drop)
}

fn main() {}
