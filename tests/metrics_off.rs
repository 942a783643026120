//! `MQTT_METRICS=false`: the client records nothing and `mqtt::metrics` answers 404, while
//! MQTT works as usual (a real Mosquitto). One test per binary: the actix plugin's client
//! is per process.

// Test code: a failed expectation panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use actix_web::{test, web, App};
use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{unique, Broker, Observer, Recorder};

const T: Duration = Duration::from_secs(15);

static EVENTS: Recorder<String> = Recorder::new();

#[mqtt::on_connect]
fn connected() {
    EVENTS.push("connect".into());
}

#[mqtt::on_message("off/+", qos = 1)]
fn handled(msg: mqtt::Message) {
    EVENTS.push(format!("msg {}", msg.topic()));
}

async fn wait_event(what: &'static str) -> bool {
    actix_web::rt::task::spawn_blocking(move || EVENTS.wait_for(T, |e| e.iter().any(|x| x == what)))
        .await
        .unwrap()
}

#[actix_web::test]
async fn metrics_off_records_nothing_and_answers_404() {
    let broker = Broker::start();
    mqtt::init_with(
        broker
            .config(unique("metrics-off"))
            .metrics(false)
            .build()
            .unwrap(),
    )
    .unwrap();
    let app = test::init_service(
        App::new()
            .configure(mqtt::configure)
            .route("/metrics", web::get().to(mqtt::metrics))
            .route("/own", web::get().to(own)),
    )
    .await;
    assert!(
        wait_event("connect").await,
        "never connected: {}",
        broker.log()
    );
    let observer = Observer::connect(&broker);
    observer.publish("off/a", "x", 1);
    assert!(wait_event("msg off/a").await);

    let res = test::call_service(&app, test::TestRequest::get().uri("/metrics").to_request()).await;
    assert_eq!(res.status(), 404);
    let body = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert_eq!(
        body,
        "no MQTT client records metrics (MQTT_METRICS=false)\n"
    );

    // The client itself has nothing to show: no series, only the families' headers.
    let res = test::call_service(&app, test::TestRequest::get().uri("/own").to_request()).await;
    assert_eq!(res.status(), 200);
    let text = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert!(text.starts_with("empty=true\n"), "{text}");
    assert!(
        text.contains("# TYPE mqtt_messages_received counter"),
        "{text}"
    );
    assert!(!text.contains("broker="), "{text}");
    assert!(!text.contains("handler="), "{text}");
}

/// What the client's own collector writes, and whether it is empty.
async fn own(client: mqtt::Mqtt) -> String {
    let collector = mqtt::MetricsCollector::new([client]).unwrap();
    format!(
        "empty={}\n{}",
        collector.is_empty(),
        collector.render(mqtt::MetricsFormat::OpenMetrics)
    )
}
