//! `mqtt::manage` before `configure`, in a real actix server against a real Mosquitto:
//! the value registered before the plugin started its client reaches the client when it
//! starts, MQTT handlers and HTTP handlers share one `Arc`, and the value lives in the
//! plugin, not in a process-wide registry of core: a `testing::TestClient` of the same
//! process does not see it. (`tests/extract_actix_state.rs` covers `manage` after
//! `configure`.)
//!
//! One test per binary: the client is per process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Mutex;
use std::time::Duration;

use actix_web::{web, App};
use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{blocking, serve, unique, Broker, Observer, Recorder};

const T: Duration = Duration::from_secs(15);

static EVENTS: Recorder<String> = Recorder::new();

#[derive(Default)]
struct Shared {
    last: Mutex<Option<String>>,
}

#[mqtt::on_connect]
fn connected() {
    EVENTS.push("connect".into());
}

#[mqtt::on_message("manage/+", qos = 1)]
fn store(state: mqtt::State<Shared>, text: mqtt::Text) {
    *state.last.lock().unwrap() = Some(text.into_string());
    EVENTS.push(format!("stored {}", text_len(&state)));
}

fn text_len(state: &Shared) -> usize {
    state.last.lock().unwrap().as_deref().map_or(0, str::len)
}

#[mqtt::on_message("manage-test/seen")]
fn seen_in_tests(state: Option<mqtt::State<Shared>>) {
    EVENTS.push(format!("test client sees state: {}", state.is_some()));
}

#[actix_web::test]
async fn manage_before_configure_reaches_the_client_started_later() {
    let broker = Broker::start();
    mqtt::init_with(broker.config(unique("manage")).build().unwrap()).unwrap();

    let state = web::Data::new(Shared::default());
    let (tx, rx) = std::sync::mpsc::channel();
    let factory_state = state.clone();
    let server = serve(2, move || {
        let tx = tx.clone();
        App::new()
            // Before `configure`: no client runs yet.
            .configure(mqtt::manage(factory_state.clone()))
            .configure(mqtt::configure)
            .route(
                "/",
                web::get().to(move |clients: mqtt::Clients| {
                    let _ = tx.send(clients.get("MQTT").cloned());
                    async { "ok" }
                }),
            )
    });
    let addr = server.addr;

    assert!(
        blocking(|| EVENTS.wait_for(T, |e| e.contains(&"connect".to_owned()))).await,
        "never connected: {}",
        broker.log()
    );
    let observer = Observer::connect(&broker);
    let observer = blocking(move || {
        observer.publish("manage/a", "hello", 1);
        observer
    })
    .await;
    assert!(
        blocking(|| EVENTS.wait_for(T, |e| e.contains(&"stored 5".to_owned()))).await,
        "{:?}",
        EVENTS.snapshot()
    );
    assert_eq!(state.last.lock().unwrap().as_deref(), Some("hello"));

    // The running client holds the very `Arc` HTTP handlers get.
    let (status, _) = blocking(move || flask_mqtt_tests::http(addr, "GET", "/", "")).await;
    assert_eq!(status, 200);
    let client = rx
        .recv_timeout(T)
        .unwrap()
        .expect("the default client runs");
    let held = client
        .state::<Shared>()
        .expect("manage handed the value to the client");
    assert!(std::sync::Arc::ptr_eq(&held, &state.clone().into_inner()));

    // Not a process-wide registry: a test client of this process does not see it.
    let app = mqtt::testing::TestClient::new().unwrap();
    let calls = app
        .inject(mqtt::testing::message("manage-test/seen", ""))
        .await;
    assert!(calls.all_ok(), "{calls:?}");
    assert!(EVENTS
        .snapshot()
        .contains(&"test client sees state: false".to_owned()));

    drop(observer);
    server.stop().await;
}
