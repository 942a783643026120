//! Run with: `scripts/run-example sensors`
//! (uses the embedded development broker unless `MQTT_BROKER_URL` is set; then try
//! `mosquitto_pub -p PORT -t sensors/7/temperature -m '{"celsius": 21.5}'` with the port
//! it logs, and `curl http://127.0.0.1:8080/sensors`)
//!
//! Typed sensor readings: JSON published to `sensors/{id}/temperature` is checked and
//! stored in shared state by an MQTT handler, and served as JSON at `GET /sensors` by an
//! HTTP handler reading the same `web::Data`. A payload that is not a reading, or an id
//! that is not a number, is logged as a warning and changes nothing.

#[path = "../dev_broker.rs"]
mod dev_broker;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use actix_web::{web, App, HttpResponse, HttpServer};
use flask_mqtt_actix as mqtt;
use serde::{Deserialize, Serialize};

/// What a sensor publishes.
#[derive(Deserialize)]
struct Reading {
    celsius: f64,
}

/// What the service keeps per sensor.
#[derive(Clone, Serialize)]
struct Latest {
    celsius: f64,
    /// Seconds since the Unix epoch when the reading arrived.
    received_at: u64,
    /// How many readings this sensor sent.
    count: u64,
}

/// Shared by the MQTT handler and the HTTP handlers.
#[derive(Default)]
struct Sensors {
    latest: Mutex<BTreeMap<u32, Latest>>,
}

impl Sensors {
    fn latest(&self) -> MutexGuard<'_, BTreeMap<u32, Latest>> {
        // A panic while holding the lock leaves a consistent map (one insert at a time).
        self.latest.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[mqtt::on_message("sensors/{sensor_id}/temperature", qos = 1)]
async fn temperature(
    sensors: web::Data<Sensors>,
    mqtt::Path(sensor_id): mqtt::Path<u32>,
    mqtt::Json(reading): mqtt::Json<Reading>,
) {
    let received_at = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut latest = sensors.latest();
    let count = latest.get(&sensor_id).map_or(0, |l| l.count) + 1;
    latest.insert(
        sensor_id,
        Latest {
            celsius: reading.celsius,
            received_at,
            count,
        },
    );
    log::info!("sensor {sensor_id}: {} °C", reading.celsius);
}

/// MQTT 5 clients can ask too: a request to `sensors/{id}/get` with a response topic is
/// answered with the latest reading as JSON (nothing when there is none). Try it with
/// `MQTT_PROTOCOL_VERSION=5 scripts/run-example sensors --mosquitto` (the embedded
/// broker speaks MQTT 3.1.1 only) and
/// `mosquitto_rr -V 5 -p PORT -t sensors/7/get -e replies/me -m ''`.
#[mqtt::on_message("sensors/{sensor_id}/get")]
fn get_over_mqtt(
    sensors: web::Data<Sensors>,
    mqtt::Path(sensor_id): mqtt::Path<u32>,
) -> Result<Option<mqtt::Reply>, serde_json::Error> {
    let latest = sensors.latest().get(&sensor_id).cloned();
    latest.map(|l| mqtt::Reply::json(&l)).transpose()
}

/// `GET /sensors`: every sensor's latest reading, by id.
async fn all(sensors: web::Data<Sensors>) -> HttpResponse {
    let latest = sensors.latest().clone();
    HttpResponse::Ok().json(latest)
}

/// `GET /sensors/{id}`: one sensor, or 404.
async fn one(sensors: web::Data<Sensors>, id: web::Path<u32>) -> HttpResponse {
    match sensors.latest().get(&id) {
        Some(latest) => HttpResponse::Ok().json(latest),
        None => HttpResponse::NotFound().body(format!("no reading from sensor {id} yet\n")),
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
    log::info!("listening on http://127.0.0.1:{port}; GET /sensors, GET /sensors/{{id}}");

    let sensors = web::Data::new(Sensors::default());
    HttpServer::new(move || {
        App::new()
            .configure(mqtt::configure)
            // The same `Arc` for `web::Data<Sensors>` in HTTP and MQTT handlers.
            .configure(mqtt::manage(sensors.clone()))
            .route("/sensors", web::get().to(all))
            .route("/sensors/{id}", web::get().to(one))
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
