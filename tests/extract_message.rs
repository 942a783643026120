//! The message extractors through `mqtt::testing` (no broker): `Topic`, `Payload`, `Text`,
//! `Json<T>`, `QoS`, `Retain`, each rejection, the `Option`/`Result` wrappers, and what
//! they make of an event that is no message (reached through a user's extractor: the
//! macros refuse them in other handlers at compile time, tests/ui).
//!
//! Every test has its own `TestClient` and its own `Seen` state, so tests running in
//! parallel do not see each other's calls.

// Test code: a failed expectation panics, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Mutex;

use flask_mqtt_actix as mqtt;
use mqtt::testing::{self, TestClient};
use mqtt::{HandlerError, QoS};

#[derive(Default)]
struct Seen(Mutex<Vec<String>>);

impl Seen {
    fn push(&self, what: String) {
        self.0.lock().unwrap().push(what);
    }
}

fn client() -> (TestClient, std::sync::Arc<Seen>) {
    let seen = std::sync::Arc::new(Seen::default());
    let app = TestClient::new().unwrap().state(seen.clone());
    (app, seen)
}

fn seen(s: &Seen) -> Vec<String> {
    s.0.lock().unwrap().clone()
}

/// The reason an argument was rejected, or a panic saying what happened instead.
fn rejection(calls: &testing::Calls, handler: &str) -> (&'static str, String) {
    match calls.handler(handler).map(|c| c.error()) {
        Some(Some(HandlerError::Rejected { argument, reason })) => (argument, reason.clone()),
        other => panic!("{handler}: expected a rejection, got {other:?} in {calls:?}"),
    }
}

#[derive(Debug, serde::Deserialize)]
struct Reading {
    celsius: f64,
}

#[mqtt::on_message("x/topic/+")]
fn topic(seen: mqtt::State<Seen>, topic: mqtt::Topic) {
    assert!(topic.starts_with("x/topic/"), "derefs to str");
    assert_eq!(topic, topic.as_str());
    seen.push(format!("topic {topic}"));
}

#[mqtt::on_message("x/payload")]
fn payload(seen: mqtt::State<Seen>, payload: mqtt::Payload) {
    seen.push(format!("payload {:?} {}", &*payload, payload.len()));
}

#[mqtt::on_message("x/text")]
async fn text(seen: mqtt::State<Seen>, text: mqtt::Text) {
    seen.push(format!("text {}", text.as_str()));
}

#[mqtt::on_message("x/json")]
async fn json(seen: mqtt::State<Seen>, mqtt::Json(reading): mqtt::Json<Reading>) {
    seen.push(format!("json {}", reading.celsius));
}

#[mqtt::on_message("x/delivery")]
fn delivery(seen: mqtt::State<Seen>, qos: QoS, mqtt::Retain(retained): mqtt::Retain) {
    seen.push(format!("qos {qos} retain {retained}"));
}

#[mqtt::on_message("x/option")]
fn option(seen: mqtt::State<Seen>, text: Option<mqtt::Text>, json: Option<mqtt::Json<Reading>>) {
    seen.push(format!(
        "option {:?} {:?}",
        text.map(mqtt::Text::into_string),
        json.map(|j| j.celsius)
    ));
}

#[mqtt::on_message("x/result")]
fn result(
    seen: mqtt::State<Seen>,
    text: Result<mqtt::Text, mqtt::TextRejection>,
    json: Result<mqtt::Json<Reading>, mqtt::JsonRejection>,
) {
    let text = text.map(mqtt::Text::into_string).map_err(|e| e.to_string());
    let json = json.map(|j| j.celsius).map_err(|e| e.to_string());
    seen.push(format!("result {text:?} {json:?}"));
}

// The macros refuse a message extractor in a handler of another kind at compile time
// (tests/ui/*/fail/*-argument.rs, message-parts.rs). A user's extractor is available in
// every kind unless it says otherwise, so one that reads the message through the
// built-in extractors still meets them at run time: rejected, or `None`.

/// The topic, through `mqtt::Topic`, with the default `AVAILABLE_IN`.
struct AnyTopic;

impl mqtt::FromEvent for AnyTopic {
    type Rejection = mqtt::WrongEvent;

    fn from_event(ctx: &mqtt::EventContext) -> Result<Self, Self::Rejection> {
        <mqtt::Topic as mqtt::FromEvent>::from_event(ctx).map(|_| AnyTopic)
    }
}

/// `Option`s of message extractors, and the `Result` of `Text`, with the default
/// `AVAILABLE_IN`: what each of them makes of the event, as text.
struct MaybeMessage(String);

impl mqtt::FromEvent for MaybeMessage {
    type Rejection = String;

    fn from_event(ctx: &mqtt::EventContext) -> Result<Self, Self::Rejection> {
        let text = Option::<mqtt::Text>::from_event(ctx).map_err(|e| e.to_string())?;
        let json = Option::<mqtt::Json<Reading>>::from_event(ctx).map_err(|e| e.to_string())?;
        let msg = Option::<mqtt::Message>::from_event(ctx).map_err(|e| e.to_string())?;
        let result = Result::<mqtt::Text, mqtt::TextRejection>::from_event(ctx)
            .map_err(|e| e.to_string())?;
        Ok(MaybeMessage(format!(
            "{:?} {:?} {:?} {:?}",
            text.map(mqtt::Text::into_string),
            json.map(|j| j.celsius),
            msg.map(|m| m.topic().to_owned()),
            result
                .map(mqtt::Text::into_string)
                .map_err(|e| e.to_string())
        )))
    }
}

#[mqtt::on_connect]
fn connected_with_topic(_topic: AnyTopic) {}

// On a client of its own, so that the other `on_connect` handler's test sees only its own.
#[mqtt::on_connect(broker = "OPT")]
fn connected_with_option(seen: mqtt::State<Seen>, what: MaybeMessage) {
    seen.push(format!("connect {}", what.0));
}

#[tokio::test]
async fn topic_as_a_string() {
    let (app, s) = client();
    let calls = app.inject(testing::message("x/topic/kitchen", "")).await;
    assert!(calls.all_ok(), "{calls:?}");
    assert_eq!(calls.len(), 1);
    assert_eq!(seen(&s), ["topic x/topic/kitchen"]);
}

#[tokio::test]
async fn payload_bytes_as_sent() {
    let (app, s) = client();
    let calls = app
        .inject(testing::message("x/payload", vec![0u8, 255, 1]))
        .await;
    assert!(calls.all_ok(), "{calls:?}");
    let empty = app.inject(testing::message("x/payload", "")).await;
    assert!(empty.all_ok(), "{empty:?}");
    assert_eq!(seen(&s), ["payload [0, 255, 1] 3", "payload [] 0"]);
}

#[tokio::test]
async fn text_accepts_utf8() {
    let (app, s) = client();
    assert!(app
        .inject(testing::message("x/text", "héllo"))
        .await
        .all_ok());
    assert_eq!(seen(&s), ["text héllo"]);
}

#[tokio::test]
async fn text_rejects_invalid_utf8_naming_the_offset() {
    let (app, s) = client();
    let calls = app
        .inject(testing::message("x/text", b"ab\xffcd".to_vec()))
        .await;
    assert_eq!(
        rejection(&calls, "text"),
        (
            "text",
            "the payload is not valid UTF-8 (invalid byte at offset 2 of 5)".to_owned()
        )
    );
    assert!(seen(&s).is_empty(), "the handler must not run");
}

#[tokio::test]
async fn json_deserializes_the_payload() {
    let (app, s) = client();
    let calls = app
        .inject(testing::message(
            "x/json",
            r#"{"celsius": 21.5, "extra": [1]}"#,
        ))
        .await;
    assert!(calls.all_ok(), "{calls:?}");
    assert_eq!(seen(&s), ["json 21.5"]);
}

#[tokio::test]
async fn json_rejections_say_what_and_where() {
    let (app, s) = client();
    let cases: &[(&[u8], &str)] = &[
        (
            b"{\"celsius\": \xff}",
            "the payload is not JSON: invalid UTF-8 at byte offset 12 of 14",
        ),
        (
            b"{\"celsius\": }",
            "the payload is not valid JSON: expected value at line 1 column 13",
        ),
        (
            b"{\"celsius\": 1",
            "the payload is not valid JSON: EOF while parsing an object at line 1 column 13",
        ),
        (b"", "the payload is not valid JSON: EOF while parsing a value at line 1 column 0"),
        (
            b"{\"celsius\": \"hot\"}",
            "the payload JSON does not fit `extract_message::Reading`: invalid type: string \"hot\", expected f64 at line 1 column 17",
        ),
        (
            b"{\n  \"kelvin\": 300\n}",
            "the payload JSON does not fit `extract_message::Reading`: missing field `celsius` at line 3 column 1",
        ),
    ];
    for (payload, reason) in cases {
        let calls = app
            .inject(testing::message("x/json", payload.to_vec()))
            .await;
        assert_eq!(
            rejection(&calls, "json"),
            ("reading", (*reason).to_owned()),
            "payload {:?}",
            String::from_utf8_lossy(payload)
        );
    }
    assert!(seen(&s).is_empty(), "the handler must not run");
}

#[tokio::test]
async fn json_rejection_variants_carry_the_details() {
    let (app, _s) = client();
    // The typed rejection, as a handler taking `Result<Json<T>, JsonRejection>` sees it.
    #[mqtt::on_message("x/variants")]
    fn variants(json: Result<mqtt::Json<Reading>, mqtt::JsonRejection>) -> Result<(), String> {
        match json {
            Err(mqtt::JsonRejection::Syntax {
                line: 2, column: 0, ..
            }) => Ok(()),
            other => Err(format!("unexpected {other:?}")),
        }
    }
    let calls = app.inject(testing::message("x/variants", "{\n")).await;
    // Called once, and it saw the variant it expects (all_ok alone holds for no call).
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls.all_ok(), "{calls:?}");
}

#[tokio::test]
async fn qos_and_retain_as_delivered() {
    let (app, s) = client();
    let calls = app
        .inject(
            testing::message("x/delivery", "")
                .qos(QoS::AtLeastOnce)
                .retain(true),
        )
        .await;
    assert!(calls.all_ok(), "{calls:?}");
    let calls = app.inject(testing::message("x/delivery", "")).await;
    assert!(calls.all_ok(), "{calls:?}");
    assert_eq!(seen(&s), ["qos 1 retain true", "qos 0 retain false"]);
}

/// `Option<T>` is `None` when what `T` reads is absent (an empty payload is no JSON),
/// and still a rejection when it is there but malformed (axum 0.8's optional
/// extractors): invalid UTF-8 is not "no text".
#[tokio::test]
async fn option_is_none_when_absent_and_a_rejection_when_malformed() {
    let (app, s) = client();
    let absent = app.inject(testing::message("x/option", "")).await;
    assert!(absent.all_ok(), "the handler runs: {absent:?}");
    let bad = app
        .inject(testing::message("x/option", b"\xff".to_vec()))
        .await;
    assert_eq!(
        rejection(&bad, "option"),
        (
            "text",
            "the payload is not valid UTF-8 (invalid byte at offset 0 of 1)".to_owned()
        )
    );
    let not_json = app.inject(testing::message("x/option", "hot")).await;
    let (argument, reason) = rejection(&not_json, "option");
    assert_eq!(argument, "json");
    assert!(
        reason.starts_with("the payload is not valid JSON"),
        "{reason}"
    );
    let good = app
        .inject(testing::message("x/option", r#"{"celsius": 3}"#))
        .await;
    assert!(good.all_ok(), "{good:?}");
    assert_eq!(
        seen(&s),
        [
            r#"option Some("") None"#,
            r#"option Some("{\"celsius\": 3}") Some(3.0)"#
        ]
    );
}

/// In handlers of other events, the message extractors are absent (`None`), and the
/// `Result` of one holds the rejection.
#[tokio::test]
async fn option_of_a_message_extractor_is_none_in_other_handlers() {
    let s = std::sync::Arc::new(Seen::default());
    let app = TestClient::for_broker("OPT").unwrap().state(s.clone());
    let calls = app.connect().await;
    assert!(calls.all_ok(), "{calls:?}");
    assert_eq!(calls.len(), 1);
    assert_eq!(
        seen(&s),
        [
            r#"connect None None None Err("`Text` is only available in `#[on_message]` handlers, not in `#[on_connect]`")"#
        ]
    );
}

#[tokio::test]
async fn result_hands_the_rejection_to_the_handler() {
    let (app, s) = client();
    let calls = app.inject(testing::message("x/result", "21")).await;
    assert!(calls.all_ok(), "{calls:?}");
    assert_eq!(
        seen(&s),
        [
            r#"result Ok("21") Err("the payload JSON does not fit `extract_message::Reading`: invalid type: integer `21`, expected struct Reading at line 1 column 2")"#
        ]
    );
}

/// A built-in message extractor reached in another kind of handler (here through a
/// user's extractor) is a rejection: the handler is not called.
#[tokio::test]
async fn message_extractors_in_other_handlers_are_rejected() {
    let (app, _s) = client();
    let calls = app.connect().await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(
        rejection(&calls, "connected_with_topic"),
        (
            "_topic",
            "`Topic` is only available in `#[on_message]` handlers, not in `#[on_connect]`"
                .to_owned()
        )
    );
}
