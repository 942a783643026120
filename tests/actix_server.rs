//! The actix plugin in a real server: four workers share one broker connection, `Mqtt`
//! works as an extractor and as `web::Data<Mqtt>`, HTTP publishes reach handlers, and
//! stopping the server disconnects cleanly.
//!
//! One test per binary: the client is per process.

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::{web, App, HttpResponse};
use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{http, serve, unique, Broker, Recorder};

const T: Duration = Duration::from_secs(15);

static EVENTS: Recorder<String> = Recorder::new();
static APPS_BUILT: AtomicUsize = AtomicUsize::new(0);

#[mqtt::on_message("hook/#", qos = 1)]
async fn hook(msg: mqtt::Message) {
    EVENTS.push(format!(
        "msg {} {}",
        msg.topic(),
        msg.payload_str().unwrap_or("?")
    ));
}

#[mqtt::on_message("hook/#", qos = 1, broker = "MQTT2")]
async fn hook_second_broker(msg: mqtt::Message) {
    EVENTS.push(format!(
        "msg2 {} {}",
        msg.topic(),
        msg.payload_str().unwrap_or("?")
    ));
}

#[mqtt::on_connect]
fn connected() {
    EVENTS.push("connect".into());
}

#[mqtt::on_disconnect]
fn disconnected(d: mqtt::Disconnected) {
    EVENTS.push(format!("disconnect {:?}", d.reason()));
}

async fn publish(client: mqtt::Mqtt, body: String) -> HttpResponse {
    match client
        .publish("hook/http", body)
        .qos(mqtt::QoS::AtLeastOnce)
        .await
    {
        Ok(()) => HttpResponse::Ok().body("published"),
        Err(e) => HttpResponse::ServiceUnavailable().body(e.to_string()),
    }
}

async fn publish_second(clients: mqtt::Clients, body: String) -> HttpResponse {
    let Some(second) = clients.get("MQTT2") else {
        return HttpResponse::NotFound().body("no MQTT2 client");
    };
    match second
        .publish("hook/second", body)
        .qos(mqtt::QoS::AtLeastOnce)
        .await
    {
        Ok(()) => HttpResponse::Ok().body("published"),
        Err(e) => HttpResponse::ServiceUnavailable().body(e.to_string()),
    }
}

async fn status(client: web::Data<mqtt::Mqtt>) -> String {
    format!("connected={}", client.is_connected())
}

/// Waits for an event without blocking the test's (single-threaded) actix runtime.
async fn wait_event(what: &'static str) -> bool {
    actix_web::rt::task::spawn_blocking(move || EVENTS.wait_for(T, |e| e.iter().any(|x| x == what)))
        .await
        .unwrap()
}

async fn http_async(
    addr: SocketAddr,
    method: &'static str,
    path: &'static str,
    body: &'static str,
) -> (u16, String) {
    actix_web::rt::task::spawn_blocking(move || http(addr, method, path, body))
        .await
        .unwrap()
}

#[actix_web::test]
async fn four_workers_one_connection_per_broker_and_clean_stop() {
    let broker = Broker::start();
    let id = unique("actix");
    mqtt::init_with(broker.config(&id).build().unwrap()).unwrap();
    // A second, named broker (Flask-MQTT's config_prefix), configured in code here.
    let broker2 = Broker::start();
    let id2 = unique("actix2");
    mqtt::init_with(
        mqtt::ConfigBuilder::with_prefix("MQTT2")
            .broker_url("127.0.0.1")
            .port(broker2.port())
            .client_id(&id2)
            .build()
            .unwrap(),
    )
    .unwrap();

    let server = serve(4, || {
        APPS_BUILT.fetch_add(1, Ordering::SeqCst);
        App::new()
            .configure(mqtt::configure)
            .route("/publish", web::post().to(publish))
            .route("/status", web::get().to(status))
            .route("/publish2", web::post().to(publish_second))
    });
    let addr = server.addr;

    assert!(
        wait_event("connect").await,
        "never connected: {}",
        broker.log()
    );
    // Hit every worker a few times so that all four have built their app.
    for _ in 0..8 {
        let (code, body) = http_async(addr, "GET", "/status", "").await;
        assert_eq!((code, body.as_str()), (200, "connected=true"));
    }
    let (code, body) = http_async(addr, "POST", "/publish", "from http").await;
    assert_eq!((code, body.as_str()), (200, "published"));
    assert!(wait_event("msg hook/http from http").await);

    // HTTP reaches the named client too; its message loops back to the handler bound
    // to that broker, not to the default client's handler.
    let (code, body) = http_async(addr, "POST", "/publish2", "via MQTT2").await;
    assert_eq!((code, body.as_str()), (200, "published"));
    assert!(wait_event("msg2 hook/second via MQTT2").await);
    assert_eq!(EVENTS.count(|x| x == "msg hook/second via MQTT2"), 0);
    assert_eq!(broker2.connections_from(&id2), 1, "{}", broker2.log());

    // Every worker built its app (and so ran `configure`)...
    assert_eq!(APPS_BUILT.load(Ordering::SeqCst), 4);
    // ...and yet exactly one connection came from this process.
    assert_eq!(broker.connections_from(&id), 1, "{}", broker.log());
    assert_eq!(
        broker.connections_from(""),
        1,
        "no other client connected: {}",
        broker.log()
    );
    // on_connect handlers without `broker` belong to the default client only.
    assert_eq!(EVENTS.count(|x| x == "connect"), 1);

    server.stop().await;
    assert!(
        broker.wait_for_log(&format!("Client {id} disconnected"), 1, T),
        "stopping the server must send DISCONNECT: {}",
        broker.log()
    );
    assert!(
        broker2.wait_for_log(&format!("Client {id2} disconnected"), 1, T),
        "{}",
        broker2.log()
    );
    assert!(wait_event("disconnect Requested").await);
}
