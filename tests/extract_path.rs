//! `Path<T>`: named topic levels, typed, through `mqtt::testing` (no broker). One value,
//! tuples, structs, enums, `{rest:#}` as a string or as levels, shared subscriptions,
//! `Option`/`Result`, and the rejections for mistyped levels.

// Test code: a failed expectation panics, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use flask_mqtt_actix as mqtt;
use mqtt::testing::{self, TestClient};
use mqtt::HandlerError;

#[derive(Default)]
struct Seen(Mutex<Vec<String>>);

impl Seen {
    fn push(&self, what: String) {
        self.0.lock().unwrap().push(what);
    }
}

fn client() -> (TestClient, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    (TestClient::new().unwrap().state(seen.clone()), seen)
}

fn seen(s: &Seen) -> Vec<String> {
    s.0.lock().unwrap().clone()
}

fn rejection(calls: &testing::Calls, handler: &str) -> String {
    match calls.handler(handler).map(|c| c.error()) {
        Some(Some(HandlerError::Rejected { reason, .. })) => reason.clone(),
        other => panic!("{handler}: expected a rejection, got {other:?} in {calls:?}"),
    }
}

#[derive(Debug, serde::Deserialize)]
struct Sensor {
    site: String,
    sensor_id: u32,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Temperature,
    Humidity,
}

#[mqtt::on_message("sensors/{sensor_id}/temperature")]
async fn one(seen: mqtt::State<Seen>, mqtt::Path(sensor_id): mqtt::Path<u32>) {
    seen.push(format!("one {sensor_id}"));
}

#[mqtt::on_message("zones/{site}/+/{sensor_id}/{kind}")]
fn tuple(seen: mqtt::State<Seen>, mqtt::Path((site, id, kind)): mqtt::Path<(String, u16, Kind)>) {
    seen.push(format!("tuple {site} {id} {kind:?}"));
}

#[mqtt::on_message("sites/{site}/sensors/{sensor_id}/state")]
fn by_name(seen: mqtt::State<Seen>, sensor: mqtt::Path<Sensor>) {
    seen.push(format!("struct {} {}", sensor.site, sensor.sensor_id));
}

#[mqtt::on_message("files/{path:#}")]
fn rest_string(seen: mqtt::State<Seen>, mqtt::Path(path): mqtt::Path<String>) {
    seen.push(format!("rest {path:?}"));
}

#[mqtt::on_message("archive/{year}/{rest:#}")]
fn rest_levels(seen: mqtt::State<Seen>, mqtt::Path((year, rest)): mqtt::Path<(u16, Vec<String>)>) {
    seen.push(format!("levels {year} {rest:?}"));
}

#[mqtt::on_message("$share/workers/jobs/{id}")]
fn shared(seen: mqtt::State<Seen>, mqtt::Path(id): mqtt::Path<u64>) {
    seen.push(format!("shared {id}"));
}

#[mqtt::on_message("devices/{id}/ping")]
fn fallible(seen: mqtt::State<Seen>, id: Result<mqtt::Path<u8>, mqtt::PathRejection>) {
    let id = id.map(mqtt::Path::into_inner).map_err(|e| e.to_string());
    seen.push(format!("fallible {id:?}"));
}

// `Option<Path<T>>`: a level that is not a `T` is still a rejection (axum 0.8's model).
#[mqtt::on_message("devices/{id}/ping")]
fn maybe(seen: mqtt::State<Seen>, maybe: Option<mqtt::Path<i64>>) {
    seen.push(format!("maybe {:?}", maybe.map(|p| p.0)));
}

#[mqtt::on_message("labels/{label}/set")]
fn optional_level(seen: mqtt::State<Seen>, mqtt::Path(label): mqtt::Path<Option<String>>) {
    seen.push(format!("label {label:?}"));
}

#[tokio::test]
async fn one_typed_parameter() {
    let (app, s) = client();
    assert!(app
        .inject(testing::message("sensors/7/temperature", "21"))
        .await
        .all_ok());
    assert_eq!(seen(&s), ["one 7"]);
}

#[tokio::test]
async fn a_mistyped_parameter_is_a_rejection() {
    let (app, s) = client();
    let calls = app
        .inject(testing::message("sensors/abc/temperature", "21"))
        .await;
    assert_eq!(
        rejection(&calls, "one"),
        "topic parameter `sensor_id` is `abc`, which is not a valid u32 (invalid digit found in string)"
    );
    let calls = app
        .inject(testing::message("sensors/-1/temperature", "21"))
        .await;
    assert_eq!(
        rejection(&calls, "one"),
        "topic parameter `sensor_id` is `-1`, which is not a valid u32 (invalid digit found in string)"
    );
    assert!(seen(&s).is_empty(), "the handler must not run");
}

#[tokio::test]
async fn a_tuple_in_filter_order() {
    let (app, s) = client();
    let calls = app
        .inject(testing::message("zones/north/any/42/humidity", ""))
        .await;
    assert!(calls.all_ok(), "{calls:?}");
    let calls = app
        .inject(testing::message("zones/north/any/70000/humidity", ""))
        .await;
    assert_eq!(
        rejection(&calls, "tuple"),
        "topic parameter `sensor_id` is `70000`, which is not a valid u16 (number too large to fit in target type)"
    );
    let calls = app
        .inject(testing::message("zones/north/any/1/pressure", ""))
        .await;
    assert_eq!(
        rejection(&calls, "tuple"),
        "topic parameter `kind` is `pressure`: unknown variant `pressure`, expected `temperature` or `humidity`"
    );
    assert_eq!(seen(&s), ["tuple north 42 Humidity"]);
}

#[tokio::test]
async fn a_struct_by_name() {
    let (app, s) = client();
    let calls = app
        .inject(testing::message("sites/south/sensors/9/state", "on"))
        .await;
    assert!(calls.all_ok(), "{calls:?}");
    assert_eq!(seen(&s), ["struct south 9"]);
}

#[tokio::test]
async fn the_remaining_levels() {
    let (app, s) = client();
    for topic in ["files/a/b/c.txt", "files/x", "files"] {
        let calls = app.inject(testing::message(topic, "")).await;
        assert!(calls.all_ok(), "{topic}: {calls:?}");
    }
    for topic in ["archive/2024/q1/jan", "archive/2023"] {
        let calls = app.inject(testing::message(topic, "")).await;
        assert!(calls.all_ok(), "{topic}: {calls:?}");
    }
    assert_eq!(
        seen(&s),
        [
            r#"rest "a/b/c.txt""#,
            r#"rest "x""#,
            r#"rest """#,
            r#"levels 2024 ["q1", "jan"]"#,
            "levels 2023 []",
        ]
    );
}

#[tokio::test]
async fn in_a_shared_subscription() {
    let (app, s) = client();
    assert!(app.inject(testing::message("jobs/12", "")).await.all_ok());
    assert_eq!(seen(&s), ["shared 12"]);
}

#[tokio::test]
async fn option_and_result() {
    let (app, s) = client();
    assert!(app
        .inject(testing::message("devices/12/ping", ""))
        .await
        .all_ok());
    assert!(app
        .inject(testing::message("devices/300/ping", ""))
        .await
        .all_ok());
    let calls = app.inject(testing::message("devices/x/ping", "")).await;
    assert!(calls.handler("fallible").is_some_and(|c| c.is_ok()));
    assert_eq!(
        rejection(&calls, "maybe"),
        "topic parameter `id` is `x`, which is not a valid i64 (invalid digit found in string)"
    );
    let mut seen = seen(&s);
    seen.sort();
    assert_eq!(
        seen,
        [
            r#"fallible Err("topic parameter `id` is `300`, which is not a valid u8 (number too large to fit in target type)")"#,
            r#"fallible Err("topic parameter `id` is `x`, which is not a valid u8 (invalid digit found in string)")"#,
            "fallible Ok(12)",
            "maybe Some(12)",
            "maybe Some(300)",
        ]
    );
}

#[tokio::test]
async fn an_empty_level_is_none() {
    let (app, s) = client();
    assert!(app
        .inject(testing::message("labels//set", ""))
        .await
        .all_ok());
    assert!(app
        .inject(testing::message("labels/red/set", ""))
        .await
        .all_ok());
    assert_eq!(seen(&s), ["label None", r#"label Some("red")"#]);
}
