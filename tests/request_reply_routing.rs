//! Where a message on a reply topic goes when it is no reply to a waiting request,
//! against a real Mosquitto: to the handlers when the client subscribes the topic for
//! them (a handler's filter covers it), also on the client's own reply topic and when it
//! is retained; quietly dropped when only the request's subscription brought it, and
//! always when it is a late or duplicate reply to one of the client's own requests.
//!
//! Each test has its own broker and its own client (a prefix of its own, so that each
//! client has only its test's handlers). Waits are on events with deadlines; a sentinel
//! message, sent after the ones under test on the same path, says they were routed.

// Test code: a failed expectation panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{mosquitto_pub, unique, wait_until, Broker, LogLines, Observer, Recorder};
use mqtt::{Client, ConfigBuilder, ProtocolVersion, QoS};

const T: Duration = Duration::from_secs(20);

/// `flask_mqtt::dispatch` warnings (a message that matched no handler, among others).
const DISPATCH_WARNINGS: LogLines = LogLines::new("flask_mqtt::dispatch", log::Level::Warn);

fn config(broker: &Broker, prefix: &str, id: &str) -> ConfigBuilder {
    broker
        .config_with_prefix(prefix, id)
        .protocol_version(ProtocolVersion::V5)
}

/// Publishes `payload` on `topic` with `mosquitto_pub` (MQTT 5, QoS 1: it returns once
/// the broker has it) carrying `correlation` as Correlation Data.
fn publish_correlated(port: u16, topic: &str, payload: &str, correlation: &str) {
    mosquitto_pub(
        port,
        &[
            "-V",
            "5",
            "-q",
            "1",
            "-t",
            topic,
            "-m",
            payload,
            "-D",
            "publish",
            "correlation-data",
            correlation,
        ],
        None,
    );
}

/// What the `RTN` client's status handler saw: payload, and whether it was retained.
static RTN_SEEN: Recorder<(String, bool)> = Recorder::new();

#[mqtt::on_message("rtn/+/status", qos = 1, broker = "RTN")]
fn rtn_status(msg: mqtt::Message) {
    RTN_SEEN.push((msg.payload_str().unwrap_or("").to_owned(), msg.retain()));
}

/// A request waiting on a topic a handler's filter covers subscribes it, and the broker
/// sends the topic's retained message again: it is no reply (it was there before the
/// request), and it is the handler's, as on its own subscription; it was dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retained_message_on_a_handlers_reply_topic_reaches_the_handler() {
    let broker = Broker::start();
    let observer = Observer::connect(&broker);
    observer.publish_retained("rtn/kitchen/status", "stale", 1);
    observer.subscribe("rtn/ask", 1);
    let id = unique("rtn");
    let client = Client::start(config(&broker, "RTN", &id).build().unwrap()).unwrap();
    // The handler's own subscription brings the retained message at the connect.
    assert!(
        RTN_SEEN.wait_for(T, |s| s.len() == 1),
        "{:?}",
        RTN_SEEN.snapshot()
    );
    let mqtt = client.handle();
    // Nobody answers: the request waits (long past the test).
    let waiting = tokio::spawn({
        let mqtt = mqtt.clone();
        async move {
            mqtt.request("rtn/ask", "?")
                .reply_to("rtn/kitchen/status")
                .timeout(T)
                .await
        }
    });
    // The request is published once its reply topic's subscription is answered, and
    // the broker sent the retained message with that answer.
    observer.expect_message("rtn/ask", T);
    observer.publish("rtn/sentinel/status", "sentinel", 1);
    assert!(
        RTN_SEEN.wait_for(T, |s| s.iter().any(|(p, _)| p == "sentinel")),
        "{:?}",
        RTN_SEEN.snapshot()
    );
    assert_eq!(
        RTN_SEEN.snapshot(),
        [
            ("stale".to_owned(), true),
            ("stale".to_owned(), true),
            ("sentinel".to_owned(), false)
        ]
    );
    assert_eq!(
        mqtt.pending_requests(),
        1,
        "the retained message is no reply"
    );
    waiting.abort();
    client.shutdown().await;
}

/// What the `OWNTAP` client's handler on every reply topic saw: the payloads.
static OWNTAP_SEEN: Recorder<String> = Recorder::new();
static OWNTAP_CONNECTED: Recorder<()> = Recorder::new();

#[mqtt::on_connect(broker = "OWNTAP")]
fn owntap_connected() {
    OWNTAP_CONNECTED.push(());
}

#[mqtt::on_message("flask-mqtt/replies/#", qos = 1, broker = "OWNTAP")]
fn owntap_replies(msg: mqtt::Message) {
    OWNTAP_SEEN.push(msg.payload_str().unwrap_or("").to_owned());
}

#[mqtt::on_message("owntap/ask", broker = "OWNTAP")]
fn owntap_answer() -> mqtt::Reply {
    mqtt::Reply::new("answer")
}

/// A handler may subscribe the client's own reply topic (here with a wildcard): what
/// arrives there and is no reply to one of the client's requests (no Correlation Data,
/// or another's) is the handler's; it was dropped. The replies to the client's requests
/// never reach it, also not the second copy Mosquitto sends through its subscription.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_on_the_own_reply_topic_gets_what_is_no_reply() {
    let broker = Broker::start();
    let id = unique("owntap");
    let own = format!("flask-mqtt/replies/{id}");
    let client = Client::start(config(&broker, "OWNTAP", &id).build().unwrap()).unwrap();
    // on_connect is told once the handlers' filters are subscribed.
    assert!(OWNTAP_CONNECTED.wait_for(T, |c| !c.is_empty()));
    let observer = Observer::connect(&broker);
    observer.publish(&own, "no correlation", 1);
    publish_correlated(broker.port(), &own, "another's", "someone-else");
    observer.publish("flask-mqtt/replies/sentinel", "sentinel", 1);
    assert!(
        OWNTAP_SEEN.wait_for(T, |s| s.iter().any(|p| p == "sentinel")),
        "{:?}",
        OWNTAP_SEEN.snapshot()
    );
    assert_eq!(
        OWNTAP_SEEN.snapshot(),
        ["no correlation", "another's", "sentinel"]
    );

    // A request answered on the own reply topic: the reply is the request's only.
    let mqtt = client.handle();
    let reply = mqtt.request("owntap/ask", "?").timeout(T).await.unwrap();
    assert_eq!(reply.payload_str().unwrap(), "answer");
    observer.publish("flask-mqtt/replies/sentinel", "sentinel 2", 1);
    assert!(
        OWNTAP_SEEN.wait_for(T, |s| s.iter().any(|p| p == "sentinel 2")),
        "{:?}",
        OWNTAP_SEEN.snapshot()
    );
    assert_eq!(
        OWNTAP_SEEN.snapshot(),
        ["no correlation", "another's", "sentinel", "sentinel 2"]
    );
    client.shutdown().await;
}

/// What the `QUIET` client's sentinel handler saw.
static QUIET_SENTINEL: Recorder<String> = Recorder::new();
static QUIET_CONNECTED: Recorder<()> = Recorder::new();

#[mqtt::on_connect(broker = "QUIET")]
fn quiet_connected() {
    QUIET_CONNECTED.push(());
}

/// Answers twice (a duplicate reply), then says so on `quiet/sentinel`: the same
/// connection, so the client routes both answers before the sentinel.
#[mqtt::on_message("quiet/ask", qos = 1, broker = "QUIET")]
async fn quiet_answer_twice(
    topic: mqtt::ResponseTopic,
    correlation: mqtt::CorrelationData,
    client: mqtt::Mqtt,
) {
    for _ in 0..2 {
        client
            .publish(topic.0.clone(), "answer")
            .qos(QoS::AtLeastOnce)
            .correlation_data(correlation.to_vec())
            .await
            .unwrap();
    }
    client
        .publish("quiet/sentinel", "answered")
        .qos(QoS::AtLeastOnce)
        .await
        .unwrap();
}

#[mqtt::on_message("quiet/sentinel", qos = 1, broker = "QUIET")]
fn quiet_sentinel(text: mqtt::Text) {
    QUIET_SENTINEL.push(text.as_str().to_owned());
}

/// A topic named with `.reply_to` that no handler listens to: what arrives there and
/// matches no waiting request (a duplicate reply, no Correlation Data, another's) is
/// dropped quietly, as on the own reply topic; it was dispatched to no handler, with the
/// "matched no handler" warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmatched_messages_on_a_reply_topic_no_handler_listens_to_are_dropped_quietly() {
    DISPATCH_WARNINGS.install();
    let broker = Broker::start();
    let id = unique("quiet");
    let client = Client::start(config(&broker, "QUIET", &id).build().unwrap()).unwrap();
    assert!(QUIET_CONNECTED.wait_for(T, |c| !c.is_empty()));
    let mqtt = client.handle();
    let observer = Observer::connect(&broker);
    observer.subscribe("quiet/nobody", 1);
    // A request nobody answers keeps the topic a reply topic for the whole test.
    let waiting = tokio::spawn({
        let mqtt = mqtt.clone();
        async move {
            mqtt.request("quiet/nobody", "?")
                .reply_to("quiet/replies")
                .timeout(T)
                .await
        }
    });
    observer.expect_message("quiet/nobody", T);
    let reply = mqtt
        .request("quiet/ask", "?")
        .reply_to("quiet/replies")
        .timeout(T)
        .await
        .unwrap();
    assert_eq!(reply.payload_str().unwrap(), "answer");
    observer.publish("quiet/replies", "no correlation", 1);
    publish_correlated(broker.port(), "quiet/replies", "another's", "someone-else");
    observer.publish("quiet/sentinel", "published", 1);
    assert!(
        QUIET_SENTINEL.wait_for(T, |s| s.len() == 2),
        "{:?}",
        QUIET_SENTINEL.snapshot()
    );
    assert!(wait_until(T, || mqtt.pending_requests() == 1));
    let warnings = DISPATCH_WARNINGS.snapshot();
    assert!(
        !warnings.iter().any(|w| w.contains("quiet/replies")),
        "{warnings:?}"
    );
    waiting.abort();
    client.shutdown().await;
}
