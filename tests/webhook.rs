//! The webhook example (`examples/webhook/app.rs`, included below: the very same routes)
//! in a real actix server against a real Mosquitto: 200 only after the broker has the
//! command (an independent subscriber sees it), 400 with a reason for bad input (and
//! nothing published), 503 with a reason while the broker is down, 200 again after it
//! returns.
//!
//! One test per binary: the client is per process.

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use actix_web::App;
use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{blocking, http, serve, unique, wait_until, Broker, Observer};

#[path = "../examples/webhook/app.rs"]
mod app;

const T: Duration = Duration::from_secs(15);

fn post(addr: SocketAddr, body: &str) -> (u16, serde_json::Value) {
    let (code, text) = http(addr, "POST", "/api/webhook", body);
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("response {code} is not JSON ({e}): {text:?}"));
    (code, json)
}

#[actix_web::test]
async fn webhook_acknowledged_rejected_and_unavailable() {
    let broker = Broker::start();
    let id = unique("webhook");
    mqtt::init_with(
        broker
            .config(&id)
            .reconnect_delay(Duration::from_millis(100), Duration::from_millis(500))
            .build()
            .unwrap(),
    )
    .unwrap();
    let server = serve(2, || {
        App::new().configure(mqtt::configure).configure(app::routes)
    });
    let addr = server.addr;

    let observer = Observer::connect(&broker);
    observer.subscribe("devices/+/command", 1);
    let up = blocking(move || wait_until(T, || http(addr, "GET", "/healthz", "").0 == 200)).await;
    assert!(up, "the app never connected: {}", broker.log_tail(20));

    // 200: the broker acknowledged; an independent subscriber gets the command.
    let (code, body) = blocking(move || post(addr, r#"{"device":"lamp","command":"on"}"#)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["delivered"], true);
    assert_eq!(body["topic"], "devices/lamp/command");
    let (observer, msg) = blocking(move || {
        let msg = observer.expect_message("devices/lamp/command", T);
        (observer, msg)
    })
    .await;
    let sent: serde_json::Value = serde_json::from_slice(msg.payload()).unwrap();
    assert_eq!(sent, serde_json::json!({"device": "lamp", "command": "on"}));
    assert_eq!(msg.qos(), flask_mqtt_tests::paho_mqtt::QoS::AtLeastOnce);

    // 400 with a reason, and nothing published.
    for (bad, reason) in [
        ("{\"device\": \"lamp\",", "invalid JSON"),
        ("not json", "invalid JSON"),
        (r#"{"device":"lamp"}"#, "missing field `command`"),
        (
            r#"{"device":"lamp","command":"on","extra":1}"#,
            "unknown field `extra`",
        ),
        (
            r#"{"device":"a/b","command":"on"}"#,
            "`device` may only contain",
        ),
        (
            r##"{"device":"#","command":"on"}"##,
            "`device` may only contain",
        ),
        (r#"{"device":"lamp","command":""}"#, "`command` is empty"),
    ] {
        let (code, body) = blocking(move || post(addr, bad)).await;
        assert_eq!(code, 400, "{bad}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(reason), "{bad}: {error:?} lacks {reason:?}");
    }
    // Same client, QoS 1: had any bad request been published, it would arrive first.
    let (code, body) = blocking(move || post(addr, r#"{"device":"fan","command":"off"}"#)).await;
    assert_eq!(code, 200, "{body}");
    let (observer, msg) = blocking(move || {
        let msg = observer.recv_timeout(T).expect("no message after the 400s");
        (observer, msg)
    })
    .await;
    assert_eq!(msg.topic(), "devices/fan/command");

    // 503 with the reason while the broker is down, within the bounded wait.
    drop(observer);
    let broker = std::sync::Arc::new(broker);
    let b = broker.clone();
    blocking(move || b.kill()).await;
    let started = Instant::now();
    let (code, body) = blocking(move || post(addr, r#"{"device":"lamp","command":"off"}"#)).await;
    assert_eq!(code, 503, "{body}");
    // Bounded by ACK_TIMEOUT in the app; the ceiling here is the test's deadline, so a
    // loaded machine does not fail it, while a request left hanging still does.
    assert!(started.elapsed() < T, "503 took {:?}", started.elapsed());
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("not connected")
            || error.contains("did not acknowledge")
            || error.contains("broke before it acknowledged"),
        "{error:?}"
    );
    // Once the client has noticed, the answer is immediate and names the cause.
    let noticed =
        blocking(move || wait_until(T, || http(addr, "GET", "/healthz", "").0 == 503)).await;
    assert!(noticed, "the app never noticed the broker is gone");
    let started = Instant::now();
    let (code, body) = blocking(move || post(addr, r#"{"device":"lamp","command":"off"}"#)).await;
    assert_eq!(code, 503, "{body}");
    // Not the bounded wait for an acknowledgement: the client is known to be away.
    assert!(
        started.elapsed() < app::ACK_TIMEOUT,
        "{:?}",
        started.elapsed()
    );
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("not connected to the MQTT broker"),
        "{body}"
    );

    // The broker returns: 200 again.
    let b = broker.clone();
    blocking(move || b.start_again()).await;
    let back = blocking(move || wait_until(T, || http(addr, "GET", "/healthz", "").0 == 200)).await;
    assert!(back, "the app never reconnected: {}", broker.log_tail(20));
    let observer = Observer::connect(&broker);
    observer.subscribe("devices/heater/command", 1);
    let (code, body) = blocking(move || post(addr, r#"{"device":"heater","command":"on"}"#)).await;
    assert_eq!(code, 200, "{body}");
    blocking(move || observer.expect_message("devices/heater/command", T)).await;

    server.stop().await;
}
