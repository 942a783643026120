//! Run with: `scripts/run-example quickstart`
//! (with no `MQTT_BROKER_URL` set it uses the embedded development broker, so nothing
//! else is needed; then try
//! `curl -X POST 'http://127.0.0.1:8080/publish?topic=home/mytopic&payload=hello'`)
//!
//! Flask-MQTT's first example: on connect, subscribe to `home/mytopic`; log every message;
//! `POST /publish` publishes through the same client.

#[path = "../dev_broker.rs"]
mod dev_broker;

use actix_web::{web, App, HttpResponse, HttpServer};
use flask_mqtt_actix as mqtt;
use serde::Deserialize;

#[mqtt::on_connect]
async fn handle_connect(client: mqtt::Mqtt) {
    if let Err(e) = client
        .subscribe("home/mytopic", mqtt::QoS::AtMostOnce)
        .await
    {
        log::error!("subscribe failed: {e}");
    }
}

#[mqtt::on_message]
fn handle_mqtt_message(msg: mqtt::Message) {
    log::info!(
        "received on `{}`: {}",
        msg.topic(),
        msg.payload_str().unwrap_or("<binary>")
    );
}

#[derive(Deserialize)]
struct PublishQuery {
    topic: String,
    payload: String,
}

async fn publish(client: mqtt::Mqtt, q: web::Query<PublishQuery>) -> HttpResponse {
    match client
        .publish(q.topic.as_str(), q.payload.as_str())
        .qos(mqtt::QoS::AtLeastOnce)
        .await
    {
        Ok(()) => HttpResponse::Ok().body("published\n"),
        Err(e @ mqtt::Error::InvalidTopic { .. }) => {
            HttpResponse::BadRequest().body(format!("{e}\n"))
        }
        Err(e) => HttpResponse::ServiceUnavailable().body(format!("{e}\n")),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let embedded = dev_broker::default_to_embedded();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    dev_broker::log_choice(embedded);
    // Fail fast on a bad MQTT_* value instead of serving without MQTT.
    mqtt::init().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let port: u16 = std::env::var("HTTP_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    log::info!("listening on http://127.0.0.1:{port}; POST /publish?topic=..&payload=..");
    HttpServer::new(|| {
        App::new()
            .configure(mqtt::configure)
            .route("/publish", web::post().to(publish))
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
