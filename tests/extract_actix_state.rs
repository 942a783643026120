//! One `web::Data<AppState>` shared by an HTTP route and an MQTT handler in a running
//! actix server against a real Mosquitto: a reading published to the broker lands in the
//! state through the MQTT handler (`web::Data<T>`, `Path<u32>`, `Json<T>`), and the HTTP
//! route serves it from the same `Arc`.
//!
//! One test per binary: the client is per process.

// Test code: a failed expectation panics, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::Duration;

use actix_web::{web, App, HttpResponse};
use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{serve, unique, Broker, Observer, Recorder};

const T: Duration = Duration::from_secs(15);

static EVENTS: Recorder<String> = Recorder::new();

#[derive(Default)]
struct AppState {
    readings: Mutex<BTreeMap<u32, f64>>,
    /// The address of the state each side saw, to prove it is one `Arc`.
    seen_by_mqtt: Mutex<Option<usize>>,
}

#[derive(serde::Deserialize)]
struct Reading {
    celsius: f64,
}

#[mqtt::on_message("it/sensors/{sensor_id}/temperature", qos = 1)]
async fn reading(
    state: web::Data<AppState>,
    mqtt::Path(sensor_id): mqtt::Path<u32>,
    mqtt::Json(reading): mqtt::Json<Reading>,
) {
    state
        .readings
        .lock()
        .unwrap()
        .insert(sensor_id, reading.celsius);
    *state.seen_by_mqtt.lock().unwrap() = Some(std::ptr::from_ref::<AppState>(&state) as usize);
    EVENTS.push(format!("stored {sensor_id}"));
}

#[mqtt::on_connect]
fn connected() {
    EVENTS.push("connect".into());
}

async fn readings(state: web::Data<AppState>) -> HttpResponse {
    let same = *state.seen_by_mqtt.lock().unwrap()
        == Some(std::ptr::from_ref::<AppState>(&state) as usize);
    let body = state.readings.lock().unwrap().clone();
    HttpResponse::Ok()
        .insert_header(("x-same-state", same.to_string()))
        .json(body)
}

/// A minimal HTTP/1.1 GET on a blocking socket (run off the async runtime).
fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

async fn wait_event(what: String) -> bool {
    actix_web::rt::task::spawn_blocking(move || EVENTS.wait_for(T, |e| e.contains(&what)))
        .await
        .unwrap()
}

#[actix_web::test]
async fn http_and_mqtt_handlers_share_one_web_data() {
    let broker = Broker::start();
    mqtt::init_with(broker.config(unique("state")).build().unwrap()).unwrap();

    let state = web::Data::new(AppState::default());
    let server = serve(2, move || {
        App::new()
            .configure(mqtt::configure)
            .configure(mqtt::manage(state.clone()))
            .route("/readings", web::get().to(readings))
    });
    let addr = server.addr;

    assert!(
        wait_event("connect".into()).await,
        "never connected: {}",
        broker.log()
    );
    // The declared filter was subscribed before on_connect ran: publish now.
    let observer = Observer::connect(&broker);
    let publisher = actix_web::rt::task::spawn_blocking({
        move || {
            observer.publish("it/sensors/7/temperature", r#"{"celsius": 21.5}"#, 1);
            observer.publish("it/sensors/9/temperature", r#"{"celsius": -3}"#, 1);
            observer
        }
    })
    .await
    .unwrap();
    assert!(wait_event("stored 7".into()).await, "{}", broker.log());
    assert!(wait_event("stored 9".into()).await, "{}", broker.log());

    let response = actix_web::rt::task::spawn_blocking(move || get(addr, "/readings"))
        .await
        .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.to_ascii_lowercase().contains("x-same-state: true"),
        "the HTTP handler must see the Arc the MQTT handler wrote to: {response}"
    );
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
    assert_eq!(body, r#"{"7":21.5,"9":-3.0}"#);

    drop(publisher);
    server.stop().await;
}
