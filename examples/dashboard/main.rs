//! Run with: `scripts/run-example dashboard`
//! (uses the embedded development broker unless `MQTT_BROKER_URL` is set; then open
//! <http://127.0.0.1:8080/>, subscribe to `#` and publish from the page, or try
//! `mosquitto_pub -p PORT -t home/kitchen/temperature -m 21.5` with the port it logs)
//!
//! Flask-MQTT's SocketIO example, done with what actix-web has: one page (shipped in
//! the binary, no CDN) and a live channel to it over Server-Sent Events. Subscribe to a
//! filter (checked with the same grammar as `#[mqtt::on_message("...")]`, the error is
//! shown next to the input), unsubscribe from everything, publish with QoS and retain,
//! watch messages arrive (binary payloads as hex), the connection status with the last
//! connect error, and the message rate per topic.
//!
//! Any number of tabs each get every message. The live channel is one bounded queue
//! (`hub.rs`): a tab that falls behind is skipped ahead and told how many messages it
//! missed; the server never buffers more for it.

#[path = "../dev_broker.rs"]
mod dev_broker;

use actix_web::{web, App, HttpServer};
use flask_mqtt_actix as mqtt;

mod app;
mod hub;

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
    log::info!("dashboard on http://127.0.0.1:{port}/");

    let hub = web::Data::new(hub::Hub::new(hub::CAPACITY));
    let app = app::configure(hub);
    HttpServer::new(move || App::new().configure(app.clone()))
        // Live-channel streams never end by themselves: on Ctrl-C, give requests a
        // second, not the default 30.
        .shutdown_timeout(1)
        .bind(("127.0.0.1", port))?
        .run()
        .await
}
