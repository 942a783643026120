//! Run with: `scripts/run-example webhook`
//! (uses the embedded development broker unless `MQTT_BROKER_URL` is set; then watch
//! with `mosquitto_sub -p PORT -t 'devices/#' -v` using the port it logs and try
//! `curl -i -X POST http://127.0.0.1:8080/api/webhook -d '{"device":"lamp","command":"on"}'`)
//!
//! Flask-MQTT users who need to publish from a webhook often open a Paho client per
//! request, `connect`, `loop_start`, `publish`, `time.sleep(1)` and hope. Here the request
//! publishes through the process's one shared client at QoS 1 and answers 200 only once
//! the broker acknowledged the message: 400 with the reason for a bad command, 503 with
//! the reason when the broker is away or does not acknowledge within 5 s.

#[path = "../dev_broker.rs"]
mod dev_broker;

use actix_web::{App, HttpServer};
use flask_mqtt_actix as mqtt;

mod app;

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
    log::info!("listening on http://127.0.0.1:{port}; POST /api/webhook, GET /healthz");
    HttpServer::new(|| App::new().configure(mqtt::configure).configure(app::routes))
        .bind(("127.0.0.1", port))?
        .run()
        .await
}
