//! Run with: `scripts/run-example asyncapi`
//! (uses the embedded development broker unless `MQTT_BROKER_URL` is set; for the
//! request/reply part, MQTT 5: `MQTT_PROTOCOL_VERSION=5 scripts/run-example asyncapi
//! --mosquitto`), then open http://127.0.0.1:8080/asyncapi in a browser, or
//! `curl http://127.0.0.1:8080/asyncapi.json`.
//!
//! A thermostat service that documents itself: its MQTT interface (what it subscribes
//! to, what it publishes, the JSON Schemas of the payloads, the broker) is served as an
//! AsyncAPI 3.0 document generated from the handlers and declared publishers, and as a
//! page showing it (no CDN: the page is compiled in).
//!
//! - `#[on_message("thermostats/{room}/reading")]` takes `Json<Reading>`: `Reading`
//!   derives `schemars::JsonSchema`, so the document has its schema;
//! - `publisher!` declares `SETPOINT`, published to `thermostats/{room}/setpoint` by
//!   `POST /rooms/{room}/setpoint/{celsius}` and by the reading handler;
//! - `#[on_message("thermostats/{room}/status")]` answers requests with a `Reply`, and
//!   `GET /rooms/{room}/status` asks it with `Mqtt::request` (MQTT 5; on 3.1.1 it says
//!   why not).

#[path = "../dev_broker.rs"]
mod dev_broker;

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use flask_mqtt_actix as mqtt;
use serde::{Deserialize, Serialize};

/// What a thermostat reports.
#[derive(Deserialize, schemars::JsonSchema)]
struct Reading {
    /// Room temperature, degrees Celsius.
    celsius: f64,
}

/// The temperature a thermostat should hold.
#[derive(Serialize, Deserialize, Clone, Copy, schemars::JsonSchema)]
struct Setpoint {
    /// Degrees Celsius, 5 to 30.
    celsius: f64,
}

mqtt::publisher! {
    /// The temperature each room's thermostat should hold; retained, so a thermostat
    /// that restarts gets it at once.
    static SETPOINT: Setpoint = "thermostats/{room}/setpoint", qos = 1, retain = true;
}

/// The last reading per room.
#[derive(Default)]
struct Rooms(Mutex<BTreeMap<String, f64>>);

/// Readings: remembered, and a room colder than 16 °C gets a setpoint of 20 °C.
#[mqtt::on_message("thermostats/{room}/reading", qos = 1)]
async fn reading(
    rooms: web::Data<Rooms>,
    client: mqtt::Mqtt,
    mqtt::Path(room): mqtt::Path<String>,
    mqtt::Json(reading): mqtt::Json<Reading>,
) -> mqtt::Result<()> {
    rooms
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(room.clone(), reading.celsius);
    if reading.celsius < 16.0 {
        SETPOINT
            .publish(&client, [&room], &Setpoint { celsius: 20.0 })
            .await?;
    }
    Ok(())
}

/// Answers a request on `thermostats/{room}/status` with the room's last reading.
#[mqtt::on_message("thermostats/{room}/status")]
fn status(rooms: web::Data<Rooms>, mqtt::Path(room): mqtt::Path<String>) -> mqtt::Reply {
    let last = rooms
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&room)
        .copied();
    match last {
        Some(celsius) => mqtt::Reply::new(format!("{room}: {celsius} °C")),
        None => mqtt::Reply::new(format!("{room}: no reading yet")),
    }
}

/// `POST /rooms/{room}/setpoint/{celsius}`: publishes a setpoint.
async fn set(client: mqtt::Mqtt, path: web::Path<(String, f64)>) -> HttpResponse {
    let (room, celsius) = path.into_inner();
    if !(5.0..=30.0).contains(&celsius) {
        return HttpResponse::BadRequest().body("a setpoint is 5 to 30 °C\n");
    }
    match SETPOINT
        .publish(&client, [&room], &Setpoint { celsius })
        .await
    {
        Ok(()) => HttpResponse::Ok().body(format!("{room}: setpoint {celsius} °C\n")),
        Err(e @ mqtt::Error::TopicParameter { .. }) => {
            HttpResponse::BadRequest().body(format!("{e}\n"))
        }
        Err(e) => HttpResponse::ServiceUnavailable().body(format!("{e}\n")),
    }
}

/// `GET /rooms/{room}/status`: asks the status handler over MQTT (request/reply).
async fn ask(client: mqtt::Mqtt, room: web::Path<String>) -> HttpResponse {
    let reply = client
        .request(format!("thermostats/{room}/status"), "")
        .timeout(Duration::from_secs(2))
        .await;
    match reply {
        Ok(msg) => {
            HttpResponse::Ok().body(format!("{}\n", msg.payload_str().unwrap_or("<binary>")))
        }
        Err(e) => HttpResponse::ServiceUnavailable().body(format!("{e}\n")),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let embedded = dev_broker::default_to_embedded();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    dev_broker::log_choice(embedded);
    mqtt::init().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let port: u16 = std::env::var("HTTP_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    log::info!(
        "listening on http://127.0.0.1:{port}; GET /asyncapi (the page), GET /asyncapi.json, \
         POST /rooms/{{room}}/setpoint/{{celsius}}, GET /rooms/{{room}}/status"
    );
    let rooms = web::Data::new(Rooms::default());
    HttpServer::new(move || {
        App::new()
            .configure(mqtt::configure)
            .configure(mqtt::manage(rooms.clone()))
            .app_data(
                mqtt::AsyncApi::new("thermostats", env!("CARGO_PKG_VERSION"))
                    .description("Room thermostats: readings in, setpoints out."),
            )
            .route("/asyncapi.json", web::get().to(mqtt::asyncapi))
            .route("/asyncapi", web::get().to(mqtt::asyncapi_page))
            .route("/rooms/{room}/setpoint/{celsius}", web::post().to(set))
            .route("/rooms/{room}/status", web::get().to(ask))
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
