//! Shared state through `mqtt::testing` (no broker): `State<T>` and actix-web's
//! `web::Data<T>` read the same registered `Arc`, and a missing type is a rejection that
//! says how to register it.

// Test code: a failed expectation panics, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix_web::web;
use flask_mqtt_actix as mqtt;
use mqtt::testing::{self, TestClient};
use mqtt::HandlerError;

#[derive(Debug, Default)]
struct Counter {
    n: AtomicU64,
}

struct NeverRegistered;

#[mqtt::on_message("state/count")]
fn count(counter: mqtt::State<Counter>) {
    counter.n.fetch_add(1, Ordering::SeqCst);
}

#[mqtt::on_message("state/data")]
async fn count_data(counter: web::Data<Counter>) {
    counter.n.fetch_add(10, Ordering::SeqCst);
}

#[mqtt::on_message("state/missing")]
fn missing(_never: mqtt::State<NeverRegistered>) {}

#[mqtt::on_message("state/missing-data")]
fn missing_data(_never: web::Data<NeverRegistered>) {}

#[mqtt::on_message("state/optional")]
fn optional(never: Option<mqtt::State<NeverRegistered>>, counter: mqtt::State<Counter>) {
    if never.is_none() {
        counter.n.fetch_add(100, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn state_and_web_data_share_one_arc() {
    let counter = Arc::new(Counter::default());
    let app = TestClient::new().unwrap().state(counter.clone());
    assert!(app
        .inject(testing::message("state/count", ""))
        .await
        .all_ok());
    assert!(app
        .inject(testing::message("state/data", ""))
        .await
        .all_ok());
    assert!(app
        .inject(testing::message("state/optional", ""))
        .await
        .all_ok());
    assert_eq!(counter.n.load(Ordering::SeqCst), 111);
    // And it is the one the client hands out.
    let same: Arc<Counter> = app.client().state::<Counter>().unwrap();
    assert!(Arc::ptr_eq(&same, &counter));
}

#[tokio::test]
async fn missing_state_says_which_type_and_how_to_register_it() {
    let app = TestClient::new().unwrap();
    for (topic, handler, argument) in [
        ("state/missing", "missing", "_never"),
        ("state/missing-data", "missing_data", "_never"),
    ] {
        let calls = app.inject(testing::message(topic, "")).await;
        let call = calls.handler(handler).unwrap();
        assert_eq!(
            call.error(),
            Some(&HandlerError::Rejected {
                argument,
                reason: "no shared state of type `extract_state::NeverRegistered`: register one at startup with `client.insert_state(Arc::new(value))`, before messages arrive (in an actix app: `App::new().configure(mqtt::manage(data.clone()))` with the same `web::Data` HTTP handlers use)".to_owned(),
            })
        );
    }
}

#[tokio::test]
async fn state_clones_share_the_value() {
    let app = TestClient::new()
        .unwrap()
        .state(Arc::new(Counter::default()));
    let state = mqtt::State(app.client().state::<Counter>().unwrap());
    let clone = state.clone();
    clone.n.fetch_add(5, Ordering::SeqCst);
    assert_eq!(state.n.load(Ordering::SeqCst), 5);
    assert!(Arc::ptr_eq(
        &state.clone().into_inner(),
        &clone.into_inner()
    ));
}
