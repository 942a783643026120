//! MQTT 5 through `mqtt::testing` (no broker): the property extractors (`UserProperties`,
//! `ContentType`, `ResponseTopic`, `CorrelationData`), present and absent, and handlers
//! answering requests with `Reply`.

// Test code: a failed expectation panics, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

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

fn client() -> (TestClient, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    (TestClient::new().unwrap().state(seen.clone()), seen)
}

fn seen(s: &Seen) -> Vec<String> {
    s.0.lock().unwrap().clone()
}

fn error(calls: &testing::Calls, handler: &str) -> HandlerError {
    match calls.handler(handler).and_then(|c| c.error()) {
        Some(e) => e.clone(),
        None => panic!("{handler}: expected an error in {calls:?}"),
    }
}

#[mqtt::on_message("props/user")]
fn user(seen: mqtt::State<Seen>, props: mqtt::UserProperties) {
    seen.push(format!(
        "user {:?} first={:?} all={:?}",
        &*props,
        props.get("k"),
        props.get_all("k").collect::<Vec<_>>()
    ));
}

#[mqtt::on_message("props/required")]
fn required(
    seen: mqtt::State<Seen>,
    content_type: mqtt::ContentType,
    response_topic: mqtt::ResponseTopic,
    correlation: mqtt::CorrelationData,
) {
    seen.push(format!(
        "required {} {} {:?}",
        content_type.as_str(),
        &*response_topic,
        correlation.as_bytes()
    ));
}

#[mqtt::on_message("props/optional")]
fn optional(
    seen: mqtt::State<Seen>,
    content_type: Option<mqtt::ContentType>,
    correlation: Result<mqtt::CorrelationData, mqtt::PropertyRejection>,
) {
    seen.push(format!(
        "optional {:?} {:?}",
        content_type.map(mqtt::ContentType::into_string),
        correlation
            .map(mqtt::CorrelationData::into_vec)
            .map_err(|e| e.to_string())
    ));
}

#[mqtt::on_message("props/user-optional")]
fn user_optional(seen: mqtt::State<Seen>, props: Option<mqtt::UserProperties>) {
    seen.push(format!("user optional {:?}", props.map(|p| p.len())));
}

#[mqtt::on_message("rpc/echo", qos = 1)]
fn echo(text: mqtt::Text) -> mqtt::Reply {
    mqtt::Reply::new(format!("echo: {}", text.as_str())).qos(QoS::AtLeastOnce)
}

#[derive(serde::Deserialize)]
struct Sum {
    a: i64,
    b: i64,
}

#[mqtt::on_message("rpc/sum")]
async fn sum(mqtt::Json(sum): mqtt::Json<Sum>) -> Result<mqtt::Reply, serde_json::Error> {
    mqtt::Reply::json(&serde_json::json!({ "sum": sum.a + sum.b }))
}

#[mqtt::on_message("rpc/maybe")]
fn maybe(text: mqtt::Text) -> Option<mqtt::Reply> {
    (!text.is_empty()).then(|| mqtt::Reply::new(text.as_str()))
}

#[mqtt::on_message("rpc/fails")]
fn fails() -> Result<mqtt::Reply, String> {
    Err("no answer today".to_owned())
}

#[tokio::test]
async fn user_properties_in_order_with_repeats() {
    let (app, s) = client();
    let calls = app
        .inject(
            testing::message("props/user", "")
                .user_property("k", "1")
                .user_property("other", "x")
                .user_property("k", "2"),
        )
        .await;
    assert!(calls.all_ok(), "{calls:?}");
    assert!(app
        .inject(testing::message("props/user", ""))
        .await
        .all_ok());
    assert_eq!(
        seen(&s),
        [
            r#"user [("k", "1"), ("other", "x"), ("k", "2")] first=Some("1") all=["1", "2"]"#,
            "user [] first=None all=[]",
        ]
    );
}

/// `Option<UserProperties>` is `None` for a message without user properties.
#[tokio::test]
async fn optional_user_properties_are_none_when_there_are_none() {
    let (app, s) = client();
    for message in [
        testing::message("props/user-optional", ""),
        testing::message("props/user-optional", "").user_property("k", "1"),
    ] {
        assert!(app.inject(message).await.all_ok());
    }
    assert_eq!(seen(&s), ["user optional None", "user optional Some(1)"]);
}

#[tokio::test]
async fn string_and_binary_properties() {
    let (app, s) = client();
    let calls = app
        .inject(
            testing::message("props/required", "{}")
                .content_type("application/json")
                .response_topic("replies/1")
                .correlation_data(vec![1u8, 2, 3]),
        )
        .await;
    assert!(calls.all_ok(), "{calls:?}");
    assert_eq!(seen(&s), ["required application/json replies/1 [1, 2, 3]"]);
}

#[tokio::test]
async fn absent_properties_are_rejections() {
    let (app, s) = client();
    let calls = app
        .inject(testing::message("props/required", "").response_topic("r"))
        .await;
    assert_eq!(
        error(&calls, "required"),
        HandlerError::Rejected {
            argument: "content_type",
            reason: "the message has no Content Type property (an MQTT 5 property); take `Option<ContentType>` if it is optional".to_owned()
        }
    );
    let calls = app
        .inject(testing::message("props/required", "").content_type("text/plain"))
        .await;
    assert_eq!(
        error(&calls, "required"),
        HandlerError::Rejected {
            argument: "response_topic",
            reason: "the message has no Response Topic property (an MQTT 5 property); take `Option<ResponseTopic>` if it is optional".to_owned()
        }
    );
    let calls = app
        .inject(
            testing::message("props/required", "")
                .content_type("text/plain")
                .response_topic("r"),
        )
        .await;
    assert_eq!(
        error(&calls, "required"),
        HandlerError::Rejected {
            argument: "correlation",
            reason: "the message has no Correlation Data property (an MQTT 5 property); take `Option<CorrelationData>` if it is optional".to_owned()
        }
    );
    assert!(seen(&s).is_empty(), "the handler must not run");
}

#[tokio::test]
async fn optional_properties() {
    let (app, s) = client();
    assert!(app
        .inject(testing::message("props/optional", ""))
        .await
        .all_ok());
    assert!(app
        .inject(
            testing::message("props/optional", "")
                .content_type("text/plain")
                .correlation_data("id-7")
        )
        .await
        .all_ok());
    assert_eq!(
        seen(&s),
        [
            r#"optional None Err("the message has no Correlation Data property (an MQTT 5 property); take `Option<CorrelationData>` if it is optional")"#,
            r#"optional Some("text/plain") Ok([105, 100, 45, 55])"#,
        ]
    );
}

#[tokio::test]
async fn a_reply_goes_to_the_response_topic() {
    let (app, _s) = client();
    let calls = app
        .inject(
            testing::message("rpc/echo", "hi")
                .response_topic("replies/abc")
                .correlation_data("req-1"),
        )
        .await;
    assert!(calls.all_ok(), "{calls:?}");
    let published = app.published();
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].topic(), "replies/abc");
    assert_eq!(published[0].payload(), b"echo: hi");
    assert_eq!(published[0].qos(), QoS::AtLeastOnce);
    assert_eq!(
        published[0]
            .as_paho()
            .properties()
            .get_binary(flask_mqtt_tests::paho_mqtt::PropertyCode::CorrelationData)
            .as_deref(),
        Some(&b"req-1"[..])
    );
}

#[tokio::test]
async fn json_and_optional_replies() {
    let (app, _s) = client();
    let calls = app
        .inject(testing::message("rpc/sum", r#"{"a": 2, "b": 40}"#).response_topic("r/sum"))
        .await;
    assert!(calls.all_ok(), "{calls:?}");
    let calls = app
        .inject(testing::message("rpc/maybe", "").response_topic("r/maybe"))
        .await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls.all_ok(), "no reply is fine: {calls:?}");
    let calls = app
        .inject(testing::message("rpc/maybe", "yes").response_topic("r/maybe"))
        .await;
    assert!(calls.all_ok(), "{calls:?}");
    let published: Vec<(String, String)> = app
        .published()
        .iter()
        .map(|m| (m.topic().to_owned(), m.payload_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        published,
        [
            ("r/sum".to_owned(), r#"{"sum":42}"#.to_owned()),
            ("r/maybe".to_owned(), "yes".to_owned())
        ]
    );
}

#[tokio::test]
async fn a_request_without_response_topic_cannot_be_answered() {
    let (app, _s) = client();
    let calls = app.inject(testing::message("rpc/echo", "hi")).await;
    assert_eq!(
        error(&calls, "echo"),
        HandlerError::Reply(
            "the message has no response topic (an MQTT 5 property the requester sets)".to_owned()
        )
    );
    assert_eq!(
        error(&calls, "echo").to_string(),
        "returned a reply that was not sent: the message has no response topic (an MQTT 5 property the requester sets)"
    );
    assert!(app.published().is_empty());
}

#[tokio::test]
async fn a_failing_handler_sends_no_reply() {
    let (app, _s) = client();
    let calls = app
        .inject(testing::message("rpc/fails", "").response_topic("r"))
        .await;
    assert_eq!(
        error(&calls, "fails"),
        HandlerError::Failed("no answer today".to_owned())
    );
    assert!(app.published().is_empty());
}
