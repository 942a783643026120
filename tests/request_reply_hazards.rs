//! Request/reply against a real Mosquitto, where a requester, a retained message or a
//! persistent session could otherwise hurt the app: a Response Topic the broker answers
//! with a disconnect, a late reply to a previous process, a stale retained message on a
//! reply topic, a handler's topic used as a reply topic, a reply topic the broker's
//! access rules refuse at a reconnect.
//!
//! Each test has its own broker and its own client (a prefix of its own, so that each
//! client has only its test's handlers). Waits are on events with deadlines.

// Test code: a failed expectation panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{mosquitto_pub, unique, wait_until, Broker, LogLines, Observer, Recorder};
use mqtt::{Client, ConfigBuilder, Error, ProtocolVersion};

const T: Duration = Duration::from_secs(20);

/// `flask_mqtt::dispatch` warnings: a handler call's failed outcome.
const DISPATCH_WARNINGS: LogLines = LogLines::new("flask_mqtt::dispatch", log::Level::Warn);

fn config(broker: &Broker, prefix: &str, id: &str, version: ProtocolVersion) -> ConfigBuilder {
    broker
        .config_with_prefix(prefix, id)
        .protocol_version(version)
}

/// Starts the client `config` builds and waits until the broker has seen `connects`
/// connections from `id` in all.
fn start(broker: &Broker, config: ConfigBuilder, id: &str, connects: usize) -> Client {
    let client = Client::start(config.build().unwrap()).unwrap();
    assert!(
        wait_until(T, || broker.connections_from(id) >= connects),
        "never connected: {}",
        broker.log_tail(20)
    );
    client
}

static DEEP_CALLS: Recorder<String> = Recorder::new();

/// Answers every request: a requester chooses where the answer goes.
#[mqtt::on_message("deep/ask", qos = 1, broker = "DEEP")]
fn deep_answer(text: mqtt::Text) -> mqtt::Reply {
    DEEP_CALLS.push(text.as_str().to_owned());
    mqtt::Reply::new("answer")
}

/// Publishes `payload` on `deep/ask` with `mosquitto_pub`: MQTT 5, QoS 1, asking for
/// the answer on `response_topic`.
fn ask_deep(port: u16, payload: &str, response_topic: &str) {
    mosquitto_pub(
        port,
        &[
            "-V",
            "5",
            "-q",
            "1",
            "-t",
            "deep/ask",
            "-m",
            payload,
            "-D",
            "publish",
            "response-topic",
            response_topic,
        ],
        None,
    );
}

/// A request whose Response Topic has more than 201 levels (valid MQTT; Mosquitto
/// disconnects a client that publishes there) gets no reply, and the app stays
/// connected: with a persistent session and a QoS 1 request, a disconnect would bring
/// the request again after every reconnect, for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_topic_the_broker_would_disconnect_for_is_refused() {
    DISPATCH_WARNINGS.install();
    let broker = Broker::start();
    let id = unique("deep");
    let cfg = config(&broker, "DEEP", &id, ProtocolVersion::V5).clean_session(false);
    let client = start(&broker, cfg, &id, 1);
    let port = broker.port();
    let observer = Observer::connect(&broker);
    observer.subscribe("deep/replies", 1);
    let deep = format!("{}end", "x/".repeat(201));
    ask_deep(port, "deep", &deep);
    // A request after it, answered: by then the first was handled, and its refused
    // reply would have cost the connection.
    ask_deep(port, "fine", "deep/replies");
    let reply = observer.expect_message("deep/replies", T);
    assert_eq!(reply.payload_str(), "answer");
    assert_eq!(DEEP_CALLS.snapshot(), ["deep", "fine"]);
    assert_eq!(broker.connections_from(&id), 1, "{}", broker.log_tail(30));
    // The call's outcome: the reply refused, with the reason.
    assert!(
        DISPATCH_WARNINGS.wait_for_line(T, |l| l.contains("deep_answer")
            && l.contains("reply that was not sent")
            && l.contains("more than 201 levels")),
        "{:?}",
        DISPATCH_WARNINGS.snapshot()
    );
    client.shutdown().await;
}

/// What the `LATE` client's catch-all saw.
static LATE_SEEN: Recorder<String> = Recorder::new();

#[mqtt::on_message(broker = "LATE")]
fn late_catch_all(msg: mqtt::Message) {
    LATE_SEEN.push(msg.topic().to_owned());
}

/// With a fixed client id and a persistent session, the reply topic's subscription
/// outlives the process: a late reply to a request of the previous process reaches the
/// next one, before it made any request. It must not reach its handlers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_reply_to_a_previous_process_reaches_no_handler() {
    let broker = Broker::start();
    let id = unique("late");
    let cfg = || config(&broker, "LATE", &id, ProtocolVersion::V5).clean_session(false);
    let client = start(&broker, cfg(), &id, 1);
    let mqtt = client.handle();
    // Nobody answers: the request times out, its reply topic stays subscribed.
    let err = mqtt
        .request("late/ask", "?")
        .timeout(Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoReply { .. }), "{err:?}");
    // A topic only the catch-all sees, in the session too: the end of what the broker
    // keeps for the next process.
    mqtt.subscribe("late/sentinel", mqtt::QoS::AtLeastOnce)
        .await
        .unwrap();
    let reply_topic = format!("flask-mqtt/replies/{id}");
    client.shutdown().await;

    let observer = Observer::connect(&broker);
    observer.publish(&reply_topic, "late reply", 1);
    observer.publish("late/sentinel", "end", 1);
    let client = start(&broker, cfg(), &id, 2);
    assert!(
        LATE_SEEN.wait_for(T, |s| s.iter().any(|t| t == "late/sentinel")),
        "{:?}",
        LATE_SEEN.snapshot()
    );
    assert_eq!(LATE_SEEN.snapshot(), ["late/sentinel"]);
    client.shutdown().await;
}

/// On MQTT 3.1.1 the first message on the reply topic is the reply: a retained one,
/// which the broker sends at once when the request subscribes the topic, is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retained_message_on_the_reply_topic_is_no_reply() {
    let broker = Broker::start();
    let id = unique("stale");
    let reply_topic = unique("stale/replies");
    let observer = Observer::connect(&broker);
    observer.publish_retained(&reply_topic, "stale status", 1);
    let client = start(
        &broker,
        config(&broker, "STALE", &id, ProtocolVersion::V311),
        &id,
        1,
    );
    let res = client
        .handle()
        .request("stale/ask", format!("reply:{reply_topic}"))
        .reply_to(&reply_topic)
        .timeout(Duration::from_secs(1))
        .await;
    assert!(
        matches!(res, Err(Error::NoReply { .. })),
        "{:?}",
        res.map(|m| m.payload_str().map(str::to_owned))
    );
    client.shutdown().await;
}

/// What the `SHARED` client's handler on its reply topic saw.
static SHARED_SEEN: Recorder<String> = Recorder::new();
static SHARED_CONNECTED: Recorder<()> = Recorder::new();

#[mqtt::on_connect(broker = "SHARED")]
fn shared_connected() {
    SHARED_CONNECTED.push(());
}

#[mqtt::on_message("shared/replies", qos = 1, broker = "SHARED")]
fn shared_replies(text: mqtt::Text) {
    SHARED_SEEN.push(text.as_str().to_owned());
}

/// A request may wait on a topic a handler listens to (the request shares its
/// subscription): what arrives there meanwhile and is no reply to it (no Correlation
/// Data, or another's) is the handler's, not dropped and acknowledged unhandled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_on_a_handlers_topic_a_request_waits_on_reaches_the_handler() {
    let broker = Broker::start();
    let id = unique("shared");
    let client = start(
        &broker,
        config(&broker, "SHARED", &id, ProtocolVersion::V5),
        &id,
        1,
    );
    // on_connect is told once the handlers' filters are subscribed.
    assert!(SHARED_CONNECTED.wait_for(T, |c| !c.is_empty()));
    let mqtt = client.handle();
    // Nobody answers: the request waits (long past the test) while messages come.
    let waiting = tokio::spawn({
        let mqtt = mqtt.clone();
        async move {
            mqtt.request("shared/ask", "?")
                .reply_to("shared/replies")
                .timeout(T)
                .await
        }
    });
    assert!(wait_until(T, || mqtt.pending_requests() == 1));
    let observer = Observer::connect(&broker);
    observer.publish("shared/replies", "no correlation", 1);
    mosquitto_pub(
        broker.port(),
        &[
            "-V",
            "5",
            "-t",
            "shared/replies",
            "-m",
            "another's correlation",
            "-D",
            "publish",
            "correlation-data",
            "someone-else",
        ],
        None,
    );
    assert!(
        SHARED_SEEN.wait_for(T, |s| s.len() == 2),
        "{:?}",
        SHARED_SEEN.snapshot()
    );
    assert_eq!(mqtt.pending_requests(), 1, "no reply came");
    waiting.abort();
    client.shutdown().await;
}

static RECON_CONNECTED: Recorder<()> = Recorder::new();
static RECON_ASKED: Recorder<String> = Recorder::new();
/// Opened by the test once the client is connected again.
static RECON_GATE: Recorder<()> = Recorder::new();

#[mqtt::on_connect(broker = "RECON")]
fn recon_connected() {
    RECON_CONNECTED.push(());
}

/// Answers once the test opens the gate: after the connection dropped and came back.
#[mqtt::on_message("recon/ask", broker = "RECON")]
async fn recon_answer(text: mqtt::Text) -> mqtt::Reply {
    RECON_ASKED.push(text.as_str().to_owned());
    let _ = tokio::task::spawn_blocking(|| RECON_GATE.wait_for(T, |g| !g.is_empty())).await;
    mqtt::Reply::new("answer")
}

/// With a clean session the broker forgets the reply topic's subscription with the
/// connection: a request still waiting gets it back at the reconnect, and with it the
/// reply sent afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_waiting_across_a_reconnect_gets_a_reply_sent_after_it() {
    let broker = Broker::start();
    let id = unique("recon");
    let cfg = config(&broker, "RECON", &id, ProtocolVersion::V5)
        .reconnect_delay(Duration::from_millis(100), Duration::from_millis(500));
    let client = start(&broker, cfg, &id, 1);
    // on_connect is told once the handlers' filters are subscribed.
    assert!(RECON_CONNECTED.wait_for(T, |c| c.len() == 1));
    let mqtt = client.handle();
    let waiting = tokio::spawn({
        let mqtt = mqtt.clone();
        async move { mqtt.request("recon/ask", "?").timeout(T).await }
    });
    assert!(RECON_ASKED.wait_for(T, |a| a.len() == 1));
    broker.restart();
    assert!(
        RECON_CONNECTED.wait_for(T, |c| c.len() == 2),
        "never connected again: {}",
        broker.log_tail(20)
    );
    assert_eq!(mqtt.pending_requests(), 1);
    RECON_GATE.push(());
    let res = tokio::time::timeout(T + T, waiting).await.unwrap().unwrap();
    assert_eq!(
        res.map(|m| m.payload_str().map(str::to_owned)).unwrap(),
        Ok("answer".to_owned())
    );
    client.shutdown().await;
}

/// The client id of each connection on_connect was told of.
static REFUSE_CONNECTED: Recorder<String> = Recorder::new();

#[mqtt::on_connect(broker = "REFUSE")]
fn refuse_connected(client: mqtt::Mqtt) {
    REFUSE_CONNECTED.push(client.client_id().to_owned());
}

/// How many connections of `id` on_connect was told of, once there are `n`.
fn refuse_connects(id: &str, n: usize) -> bool {
    REFUSE_CONNECTED.wait_for(T, |c| c.iter().filter(|i| *i == id).count() == n)
}

/// Anonymous clients may do anything, and subscribe to `refuse/replies` if `allowed`
/// (Mosquitto's dynamic-security plugin: its `acl_file` never refuses a SUBSCRIBE).
fn dynsec_reply_topic(allowed: bool) -> String {
    format!(
        r#"{{
  "defaultACLAccess": {{"publishClientSend": true, "publishClientReceive": true,
                       "subscribe": true, "unsubscribe": true}},
  "clients": [],
  "groups": [{{"groupname": "anonymous", "roles": [{{"rolename": "replies"}}]}}],
  "roles": [{{"rolename": "replies", "acls": [
    {{"acltype": "subscribePattern", "topic": "refuse/replies", "priority": 0, "allow": {allowed}}}]}}],
  "anonymousGroup": "anonymous"
}}"#
    )
}

/// The broker's access rules change while a request waits (here: across a restart, a
/// clean session): the reconnect subscribes the reply topic again and the broker
/// refuses it. The request ends with the refusal at once, not at its timeout; the
/// topic is asked for once on that connection (not again and again), and on_connect
/// is told of the connection. MQTT 5, where Paho reports the refusal of a single
/// topic as a failed SUBSCRIBE, and 3.1.1, where it answers with the code 0x80.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_topic_refused_at_a_reconnect_ends_its_request_and_is_asked_once() {
    refused_at_a_reconnect(ProtocolVersion::V5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_topic_refused_at_a_reconnect_ends_its_request_and_is_asked_once_v3() {
    refused_at_a_reconnect(ProtocolVersion::V311).await;
}

async fn refused_at_a_reconnect(version: ProtocolVersion) {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("dynamic-security.json");
    std::fs::write(&rules, dynsec_reply_topic(true)).unwrap();
    let broker = Broker::builder()
        .extra(format!(
            "plugin {}",
            flask_mqtt_tests::dynsec_plugin().display()
        ))
        .extra(format!("plugin_opt_config_file {}", rules.display()))
        .start();
    let id = unique("refuse");
    let cfg = config(&broker, "REFUSE", &id, version)
        .reconnect_delay(Duration::from_millis(100), Duration::from_millis(500));
    let client = start(&broker, cfg, &id, 1);
    assert!(refuse_connects(&id, 1));
    let observer = Observer::connect(&broker);
    observer.subscribe("refuse/ask", 1);
    let mqtt = client.handle();
    let waiting = tokio::spawn({
        let mqtt = mqtt.clone();
        async move {
            mqtt.request("refuse/ask", "?")
                .reply_to("refuse/replies")
                .qos(mqtt::QoS::AtLeastOnce)
                .timeout(T + T + T)
                .await
        }
    });
    // Published: its reply topic was granted.
    observer.expect_message("refuse/ask", T);
    let asked = "\trefuse/replies (QoS";
    assert_eq!(broker.count_in_log(asked), 1, "{}", broker.log_tail(20));
    std::fs::write(&rules, dynsec_reply_topic(false)).unwrap();
    broker.restart();
    let res = tokio::time::timeout(T, waiting).await;
    assert!(
        matches!(&res, Ok(Ok(Err(Error::SubscribeRejected { filter, .. }))) if filter == "refuse/replies"),
        "{res:?}: {}",
        broker.log_tail(20)
    );
    assert!(
        refuse_connects(&id, 2),
        "on_connect was not told of the reconnect: {}",
        broker.log_tail(20)
    );
    assert_eq!(
        broker.count_in_log(asked),
        2,
        "the reply topic must be asked for once per connection: {}",
        broker.log_tail(20)
    );
    assert_eq!(mqtt.pending_requests(), 0);
    client.shutdown().await;
}
