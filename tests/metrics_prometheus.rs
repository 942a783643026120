//! `mqtt::metrics` scraped by a real Prometheus server (Debian's `prometheus`, run by the
//! harness on a free loopback port with a configuration it writes): known traffic goes
//! through a real Mosquitto to an actix app, and every family's values are read back
//! through Prometheus' query API (`/api/v1/query`) and compared with what was sent.
//!
//! One test per binary: the actix plugin's client is per process.

// Test code: a failed expectation panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{http, unique, Broker, Observer, Prometheus, Recorder};

/// How long Prometheus may take to show a value (it scrapes every second).
const T: Duration = Duration::from_secs(30);

static EVENTS: Recorder<String> = Recorder::new();

/// Closed until the test opens it: `slow` waits here (bounded).
static GATE: Mutex<bool> = Mutex::new(false);
static GATE_OPENED: Condvar = Condvar::new();

#[mqtt::on_connect]
fn connected() {
    EVENTS.push("connect".into());
}

#[mqtt::on_message("m/ok/+", qos = 1)]
fn ok(msg: mqtt::Message) {
    EVENTS.push(format!("ok {}", msg.topic()));
}

#[mqtt::on_message("m/fail")]
fn fails() -> Result<(), String> {
    Err("refused on purpose".into())
}

#[mqtt::on_message("m/panic")]
fn panics() {
    panic!("panicking on purpose");
}

#[derive(serde::Deserialize)]
struct Reading {
    #[allow(dead_code)]
    v: u32,
}

#[mqtt::on_message("m/typed")]
fn typed(_reading: mqtt::Json<Reading>) {}

#[mqtt::on_message("m/slow", qos = 1)]
fn slow() {
    EVENTS.push("slow started".into());
    let open = GATE.lock().unwrap();
    let _open = GATE_OPENED
        .wait_timeout_while(open, T, |open| !*open)
        .unwrap();
}

/// Publishes 3 QoS 1 and 2 QoS 0 messages, and one to a topic that is not one.
async fn publish(client: mqtt::Mqtt) -> HttpResponse {
    for i in 0..3 {
        client
            .publish(format!("out/{i}"), "x")
            .qos(mqtt::QoS::AtLeastOnce)
            .await
            .unwrap();
    }
    for i in 0..2 {
        client.publish(format!("out/{i}"), "x").await.unwrap();
    }
    let invalid = client.publish("out/#", "x").await;
    assert!(invalid.is_err());
    HttpResponse::Ok().body("published")
}

/// The app on its own thread (its own actix system): its address and handle.
fn serve() -> (
    SocketAddr,
    actix_web::dev::ServerHandle,
    std::thread::JoinHandle<()>,
) {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(|| {
                App::new()
                    .configure(mqtt::configure)
                    .route("/metrics", web::get().to(mqtt::metrics))
                    .route("/publish", web::post().to(publish))
            })
            .workers(2)
            .bind(("127.0.0.1", 0))
            .unwrap();
            let addr = server.addrs()[0];
            let server = server.run();
            tx.send((addr, server.handle())).unwrap();
            server.await.unwrap();
        });
    });
    let (addr, handle) = rx.recv_timeout(T).expect("the app did not start");
    (addr, handle, thread)
}

/// Waits until Prometheus shows `expected` for `query`; fails with what it shows.
fn expect(prometheus: &Prometheus, query: &str, expected: f64) {
    let seen = prometheus.wait_for_value(query, expected, T);
    println!("{query} = {seen:?}");
    assert_eq!(
        seen,
        Some(expected),
        "Prometheus' answer to `{query}` (all series: {:?}); targets: {}",
        prometheus.query(query),
        prometheus.targets()
    );
}

#[test]
fn prometheus_scrapes_what_was_sent() {
    let broker = Broker::start();
    mqtt::init_with(
        broker
            .config(unique("metrics"))
            .reconnect_delay(Duration::from_millis(100), Duration::from_millis(500))
            .build()
            .unwrap(),
    )
    .unwrap();
    let (addr, server, thread) = serve();
    // Nothing is served before an app is built, which the first request does.
    assert_eq!(http(addr, "GET", "/metrics", "").0, 200);
    assert!(
        EVENTS.wait_for(T, |e| e.iter().any(|x| x == "connect")),
        "never connected: {}",
        broker.log()
    );
    let prometheus = Prometheus::start(addr, "/metrics");
    expect(&prometheus, "up{job=\"app\"}", 1.0);

    // Queue depth and unacknowledged messages while a handler is stuck: the first of 3
    // QoS 1 messages is in the call, 2 wait in its queue, all 3 are unacknowledged.
    let observer = Observer::connect(&broker);
    for _ in 0..3 {
        observer.publish("m/slow", "x", 1);
    }
    assert!(EVENTS.wait_for(T, |e| e.iter().any(|x| x == "slow started")));
    expect(
        &prometheus,
        "mqtt_handler_queue_depth{handler=\"metrics_prometheus::slow\"}",
        2.0,
    );
    expect(
        &prometheus,
        "mqtt_unacknowledged_messages{broker=\"MQTT\"}",
        3.0,
    );
    *GATE.lock().unwrap() = true;
    GATE_OPENED.notify_all();
    expect(
        &prometheus,
        "mqtt_handler_queue_depth{handler=\"metrics_prometheus::slow\"}",
        0.0,
    );
    expect(
        &prometheus,
        "mqtt_unacknowledged_messages{broker=\"MQTT\"}",
        0.0,
    );

    // Known traffic: 5 QoS 0 and 4 QoS 1 messages for `ok`, one `Err`, one panic, one
    // rejected argument and one accepted one.
    for _ in 0..5 {
        observer.publish("m/ok/zero", "x", 0);
    }
    for _ in 0..4 {
        observer.publish("m/ok/one", "x", 1);
    }
    observer.publish("m/fail", "x", 0);
    observer.publish("m/panic", "x", 0);
    observer.publish("m/typed", "not json", 0);
    observer.publish("m/typed", r#"{"v": 1}"#, 0);
    // Publishes from HTTP: 3 QoS 1 and 2 QoS 0 delivered, one invalid.
    assert_eq!(
        http(addr, "POST", "/publish", ""),
        (200, "published".to_owned())
    );

    for (query, expected) in [
        // 5 + 1 + 1 + 2 QoS 0; 3 (slow) + 4 QoS 1.
        ("mqtt_messages_received_total{broker=\"MQTT\",qos=\"0\"}", 9.0),
        ("mqtt_messages_received_total{broker=\"MQTT\",qos=\"1\"}", 7.0),
        ("mqtt_messages_received_total{broker=\"MQTT\",qos=\"2\"}", 0.0),
        (
            "mqtt_handler_calls_total{handler=\"metrics_prometheus::ok\",outcome=\"ok\"}",
            9.0,
        ),
        (
            "mqtt_handler_calls_total{handler=\"metrics_prometheus::fails\",outcome=\"error\"}",
            1.0,
        ),
        (
            "mqtt_handler_calls_total{handler=\"metrics_prometheus::panics\",outcome=\"panic\"}",
            1.0,
        ),
        (
            "mqtt_handler_calls_total{handler=\"metrics_prometheus::typed\",outcome=\"rejected\"}",
            1.0,
        ),
        (
            "mqtt_handler_calls_total{handler=\"metrics_prometheus::typed\",outcome=\"ok\"}",
            1.0,
        ),
        (
            "mqtt_handler_calls_total{handler=\"metrics_prometheus::slow\",outcome=\"ok\"}",
            3.0,
        ),
        (
            "mqtt_handler_calls_total{handler=\"metrics_prometheus::connected\",outcome=\"ok\"}",
            1.0,
        ),
        // Nothing else was called, nothing failed otherwise: 9 + 1 + 1 + 2 + 3 + 1.
        ("sum(mqtt_handler_calls_total)", 17.0),
        (
            "sum(mqtt_handler_calls_total{outcome=~\"error|panic|rejected\"})",
            3.0,
        ),
        (
            "mqtt_handler_duration_seconds_count{handler=\"metrics_prometheus::ok\"}",
            9.0,
        ),
        (
            "mqtt_handler_duration_seconds_bucket{handler=\"metrics_prometheus::ok\",le=\"+Inf\"}",
            9.0,
        ),
        (
            "mqtt_handler_duration_seconds_count{handler=\"metrics_prometheus::slow\"}",
            3.0,
        ),
        // The slow handler's first call waited for the gate: at least one call over 1 ms.
        (
            "mqtt_handler_duration_seconds_bucket{handler=\"metrics_prometheus::slow\",le=\"0.001\"} < bool 3",
            1.0,
        ),
        (
            "mqtt_handler_queue_depth{handler=\"metrics_prometheus::ok\"}",
            0.0,
        ),
        (
            "mqtt_messages_published_total{broker=\"MQTT\",qos=\"1\",outcome=\"ok\"}",
            3.0,
        ),
        (
            "mqtt_messages_published_total{broker=\"MQTT\",qos=\"0\",outcome=\"ok\"}",
            2.0,
        ),
        (
            "mqtt_messages_published_total{broker=\"MQTT\",qos=\"0\",outcome=\"error\"}",
            1.0,
        ),
        ("sum(mqtt_messages_published_total)", 6.0),
        ("mqtt_buffered_publishes{broker=\"MQTT\"}", 0.0),
        ("mqtt_unacknowledged_messages{broker=\"MQTT\"}", 0.0),
        ("mqtt_released_messages{broker=\"MQTT\"}", 0.0),
        ("mqtt_connected{broker=\"MQTT\"}", 1.0),
        ("mqtt_connects_total{broker=\"MQTT\"}", 1.0),
        ("mqtt_connection_losses_total{broker=\"MQTT\"}", 0.0),
    ] {
        expect(&prometheus, query, expected);
    }

    // The broker goes away: disconnected, one loss; it comes back: one more connect.
    broker.kill();
    expect(&prometheus, "mqtt_connected{broker=\"MQTT\"}", 0.0);
    expect(
        &prometheus,
        "mqtt_connection_losses_total{broker=\"MQTT\"}",
        1.0,
    );
    broker.start_again();
    for (query, expected) in [
        ("mqtt_connection_losses_total{broker=\"MQTT\"}", 1.0),
        ("mqtt_connects_total{broker=\"MQTT\"}", 2.0),
        ("mqtt_connected{broker=\"MQTT\"}", 1.0),
        (
            "mqtt_handler_calls_total{handler=\"metrics_prometheus::connected\",outcome=\"ok\"}",
            2.0,
        ),
    ] {
        expect(&prometheus, query, expected);
    }

    drop(prometheus);
    actix_web::rt::System::new().block_on(server.stop(true));
    thread.join().unwrap();
}
