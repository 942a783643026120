//! The readiness endpoint against a real broker reached through a presigned-style
//! WebSocket URL (`ws://127.0.0.1:<port>/mqtt?token=...`, the harness's WebSocket proxy in
//! front of Mosquitto, after a first URL where nothing listens, whose connect error names
//! it): no body shows the query's values, and once connected the JSON names the broker
//! with them `***`. The body goes out over HTTP to whoever probes it: the credentials in
//! the query must not.
//!
//! One test per binary: the plugin's clients are per process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use actix_web::{web, App};
use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{blocking, http, serve, unique, wait_until, Broker, WsProxy};

const T: Duration = Duration::from_secs(20);
const SECRET: &str = "ReadinessSecret77";

#[actix_web::test]
async fn the_readiness_body_never_shows_the_query_of_the_broker_url() {
    let broker = Broker::start();
    let ws = WsProxy::start(&broker);
    let url = format!("{}?token={SECRET}", ws.uri());
    // First a URL with nothing listening (the error names it), then the proxy's.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!(
        "ws://127.0.0.1:{}/mqtt?token={SECRET}",
        closed.local_addr().unwrap().port()
    );
    drop(closed);
    mqtt::init_with(
        mqtt::Config::builder()
            .broker_url(format!("{dead},{url}"))
            .client_id(unique("readyquery"))
            .reconnect_delay(Duration::from_millis(100), Duration::from_millis(300))
            .build()
            .unwrap(),
    )
    .unwrap();
    let server = serve(1, || {
        App::new()
            .configure(mqtt::configure)
            .route("/ready", web::get().to(mqtt::readiness))
    });
    let addr = server.addr;

    let bodies = blocking(move || {
        let mut bodies = Vec::new();
        let ready = wait_until(T, || {
            let (code, body) = http(addr, "GET", "/ready", "");
            bodies.push(body);
            code == 200
        });
        (ready, bodies)
    })
    .await;
    let (ready, bodies) = bodies;
    let last = bodies.last().cloned().unwrap_or_default();
    assert!(ready, "never ready: {last}");
    assert!(ws.connections() >= 1, "{ws:?}");
    let json: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(
        json["clients"]["MQTT"]["broker"],
        format!("{}?token=***", ws.uri()),
        "{last}"
    );
    for body in &bodies {
        assert!(
            !body.contains(SECRET),
            "the URL's query in the readiness body: {body}"
        );
    }
    server.stop().await;
}
