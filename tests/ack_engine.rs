//! Acknowledgement after handling (issue 15), in one process against a real Mosquitto:
//! a QoS 1 message is acknowledged to the broker only once its handler call has ended
//! (and counts as unacknowledged until then), whatever the call's outcome; a message no
//! handler takes and a reply consumed by `Mqtt::request` are acknowledged at once (one
//! message never acknowledged would hold back every later acknowledgement); and a
//! handler that awaits a QoS 1 publish and a subscribe while its own message is
//! unacknowledged does not deadlock.
//!
//! The policies: `first` acknowledges at dispatch, before the call; `manual` when the
//! handler's `mqtt::Ack` is acked (also after the call); one dropped without `ack()` is
//! released (with a warning): not acknowledged, sent again with the next session;
//! `nack_on_error` releases a failed call's message without acknowledging it (later
//! acknowledgements do not wait for it), and the broker sends it again with the next
//! session; by default a failed call is acknowledged. A message a graceful stop leaves
//! to the broker is released too, so later acknowledgements still leave.
//!
//! "Acknowledged" is read from the broker's log (`Received PUBACK from <client>`). To
//! tell "not yet" from "not logged yet", the app publishes a QoS 1 barrier first: the
//! broker reads the app's packets in order, so once the barrier's PUBLISH is logged
//! (its publish future resolved), any PUBACK the app sent before it is logged too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use std::sync::{Mutex, PoisonError};

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{unique, wait_until_async, Broker, LogLines, Observer, Recorder};
use mqtt::{Client, QoS};
use tokio::sync::Semaphore;

const T: Duration = Duration::from_secs(15);

/// `(client id, what)` for every handler call of this binary.
static CALLS: Recorder<(String, String)> = Recorder::new();

fn called(c: &mqtt::Mqtt, what: impl Into<String>) {
    CALLS.push((c.client_id().to_owned(), what.into()));
}

fn calls_of(id: &str, what: &str) -> usize {
    CALLS.count(|(c, w)| c == id && w == what)
}

/// Held until the test lets it go.
static GATE: Semaphore = Semaphore::const_new(0);

#[mqtt::on_message("acke/gate/+", qos = 1)]
async fn gated(c: mqtt::Mqtt) {
    called(&c, "gate started");
    if let Ok(p) = GATE.acquire().await {
        p.forget();
    }
    called(&c, "gate done");
}

#[mqtt::on_message("acke/fail/+", qos = 1)]
fn fails(c: mqtt::Mqtt) -> Result<(), String> {
    called(&c, "fail");
    Err("this handler always fails".to_owned())
}

#[mqtt::on_message("acke/panic/+", qos = 1)]
fn panics(c: mqtt::Mqtt) {
    called(&c, "panic");
    panic!("this handler always panics");
}

#[mqtt::on_message("acke/reject/+", qos = 1)]
fn rejects(_: mqtt::Json<u32>) {}

#[mqtt::on_message("acke/plain/+", qos = 1)]
fn plain(c: mqtt::Mqtt) {
    called(&c, "plain");
}

/// Publishes at QoS 1 and subscribes while its own QoS 1 message is unacknowledged.
#[mqtt::on_message("acke/nested/{n}", qos = 1)]
async fn nested(n: mqtt::Path<u32>, c: mqtt::Mqtt) {
    let n = n.into_inner();
    let published = c
        .publish(format!("acke/out/{n}"), "x")
        .qos(QoS::AtLeastOnce)
        .send()
        .await;
    let subscribed = c
        .subscribe(&format!("acke/sub/{n}"), QoS::AtLeastOnce)
        .await;
    called(
        &c,
        format!(
            "nested publish {} subscribe {}",
            published.is_ok(),
            subscribed.is_ok()
        ),
    );
}

// --- handlers with a policy -----------------------------------------------------------

static FIRST_GATE: Semaphore = Semaphore::const_new(0);

/// `ack = "first"`: waits for [`FIRST_GATE`].
#[mqtt::on_message("acke/first/+", qos = 1, ack = "first")]
async fn first_handler(c: mqtt::Mqtt) {
    called(&c, "first started");
    if let Ok(p) = FIRST_GATE.acquire().await {
        p.forget();
    }
    called(&c, "first done");
}

/// `Ack`s the `manual` handler kept, by client id.
static KEPT: Mutex<Vec<(String, mqtt::Ack)>> = Mutex::new(Vec::new());

/// `ack = "manual"`: keeps its `Ack` on `acke/manual/keep`, drops it otherwise.
#[mqtt::on_message("acke/manual/+", qos = 1, ack = "manual")]
async fn manual_handler(c: mqtt::Mqtt, msg: mqtt::Message, ack: mqtt::Ack) {
    assert!(ack.is_pending());
    if msg.topic() == "acke/manual/keep" {
        KEPT.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((c.client_id().to_owned(), ack));
    } else {
        drop(ack);
    }
    called(&c, "manual");
    called(
        &c,
        format!("manual {} dup {}", msg.topic(), msg.as_paho().duplicate()),
    );
}

/// Records the topic of every message on `acke/window/+` (one call at a time, in
/// arrival order).
#[mqtt::on_message("acke/window/+", qos = 1)]
fn window(c: mqtt::Mqtt, msg: mqtt::Message) {
    called(&c, format!("window {}", msg.topic()));
}

/// `nack_on_error`: fails on `acke/nack/fail`.
#[mqtt::on_message("acke/nack/+", qos = 1, nack_on_error)]
fn nack_handler(c: mqtt::Mqtt, msg: mqtt::Message) -> Result<(), String> {
    called(
        &c,
        format!("nack {} dup {}", msg.topic(), msg.as_paho().duplicate()),
    );
    if msg.topic() == "acke/nack/fail" {
        return Err("failing on purpose".to_owned());
    }
    Ok(())
}

/// Holds a graceful stop open, then awaits a request whose reply comes during the stop.
static LEFT_GATE: Semaphore = Semaphore::const_new(0);

#[mqtt::on_message("acke/leftgate/+", qos = 1)]
async fn left_gate(c: mqtt::Mqtt) {
    called(&c, "leftgate started");
    if let Ok(p) = LEFT_GATE.acquire().await {
        p.forget();
    }
    let answer = c
        .request("acke/leftreq", "question")
        .reply_to("acke/leftreply")
        .qos(QoS::AtLeastOnce)
        .send()
        .await;
    called(&c, format!("leftgate replied {}", answer.is_ok()));
}

/// Records each call, with the DUP flag.
#[mqtt::on_message("acke/left/+", qos = 1)]
fn left(c: mqtt::Mqtt, msg: mqtt::Message) {
    called(
        &c,
        format!("left {} dup {}", msg.topic(), msg.as_paho().duplicate()),
    );
}

/// `ack = "manual"` with `nack_on_error`: panics on `…/panic` and returns `Err` on
/// `…/err` while it holds its `Ack`; acknowledges the others.
#[mqtt::on_message("acke/manualnack/+", qos = 1, ack = "manual", nack_on_error)]
async fn manual_nack_handler(
    c: mqtt::Mqtt,
    msg: mqtt::Message,
    ack: mqtt::Ack,
) -> Result<(), String> {
    called(
        &c,
        format!("{} dup {}", msg.topic(), msg.as_paho().duplicate()),
    );
    match msg.topic() {
        "acke/manualnack/panic" => panic!("panicking on purpose, holding the Ack"),
        "acke/manualnack/err" => Err("failing on purpose, holding the Ack".to_owned()),
        _ => {
            ack.ack();
            Ok(())
        }
    }
}

/// The same as a sync handler (the `Ack` is dropped while the panic unwinds).
#[mqtt::on_message("acke/manualnacksync/+", qos = 1, ack = "manual", nack_on_error)]
fn manual_nack_sync_handler(c: mqtt::Mqtt, msg: mqtt::Message, ack: mqtt::Ack) {
    called(
        &c,
        format!("{} dup {}", msg.topic(), msg.as_paho().duplicate()),
    );
    if msg.topic() == "acke/manualnacksync/panic" {
        panic!("panicking on purpose, holding the Ack");
    }
    ack.ack();
}

/// How long a handler's request waits for its reply.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// Asks `acke/question` (payload: the reply topic) and records whether the reply came.
async fn ask(c: &mqtt::Mqtt, policy: &str, n: &str) {
    let reply_to = format!("acke/answer/{policy}");
    let outcome = match c
        .request("acke/question", reply_to.clone())
        .reply_to(reply_to)
        .qos(QoS::AtLeastOnce)
        .timeout(ASK_TIMEOUT)
        .send()
        .await
    {
        Ok(_) => "replied".to_owned(),
        Err(mqtt::Error::NoReply { .. }) => "no reply".to_owned(),
        Err(e) => e.to_string(),
    };
    called(c, format!("ask {policy} {n}: {outcome}"));
}

/// Awaits a request (reply at QoS 1, on the same client) with the default policy.
#[mqtt::on_message("acke/askafter/{n}", qos = 1)]
async fn ask_after(c: mqtt::Mqtt, mqtt::Path(n): mqtt::Path<String>) {
    ask(&c, "after", &n).await;
}

/// The same with `ack = "first"`.
#[mqtt::on_message("acke/askfirst/{n}", qos = 1, ack = "first")]
async fn ask_first(c: mqtt::Mqtt, mqtt::Path(n): mqtt::Path<String>) {
    ask(&c, "first", &n).await;
}

/// Log lines of the `flask_mqtt` targets, for the warnings these tests expect.
const LOGS: LogLines = LogLines::new("flask_mqtt", log::Level::Warn);

struct App {
    broker: Broker,
    id: String,
    client: Client,
    mqtt: mqtt::Mqtt,
}

impl App {
    fn start(tag: &str) -> App {
        App::start_on(Broker::start(), &unique(tag), true)
    }

    /// A client `id` on `broker`; `clean` false: a persistent session.
    fn start_on(broker: Broker, id: &str, clean: bool) -> App {
        App::start_with(broker, id, |b| b.clean_session(clean))
    }

    /// A client `id` on `broker`, configured by `configure`.
    fn start_with(
        broker: Broker,
        id: &str,
        configure: impl FnOnce(mqtt::ConfigBuilder) -> mqtt::ConfigBuilder,
    ) -> App {
        let id = id.to_owned();
        let config = configure(broker.config(id.as_str())).build().unwrap();
        let client = Client::start(config).unwrap();
        let mqtt = client.handle();
        broker.expect_suback(&id, T);
        assert!(
            broker.wait_for_log(
                &format!("Sending SUBACK to {id}"),
                broker.count_in_log(&format!("Sending CONNACK to {id}")),
                T
            ),
            "{}",
            broker.log_tail(20)
        );
        App {
            broker,
            id,
            client,
            mqtt,
        }
    }

    fn pubacks(&self) -> usize {
        self.broker
            .count_in_log(&format!("Received PUBACK from {} (Mid: ", self.id))
    }

    fn wait_pubacks(&self, n: usize) {
        assert!(
            self.broker
                .wait_for_log(&format!("Received PUBACK from {} (Mid: ", self.id), n, T),
            "expected {n} PUBACKs from {}\n{}",
            self.id,
            self.broker.log_tail(30)
        );
    }

    /// Every packet the app sent before this call has been logged by the broker.
    async fn barrier(&self) {
        self.mqtt
            .publish("acke/barrier", "")
            .qos(QoS::AtLeastOnce)
            .send()
            .await
            .unwrap();
    }
}

/// The message stays unacknowledged (and counted) while its handler runs, and is
/// acknowledged when the call ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_acknowledged_only_when_its_handler_has_finished() {
    let app = App::start("acke-gate");
    let observer = Observer::connect(&app.broker);
    observer.publish("acke/gate/1", "x", 1);
    assert!(
        wait_until_async(T, || calls_of(&app.id, "gate started") == 1).await,
        "the handler did not start"
    );
    app.barrier().await;
    assert_eq!(app.pubacks(), 0, "acknowledged while its handler runs");
    assert_eq!(app.mqtt.unacknowledged_messages(), 1);

    GATE.add_permits(1);
    app.wait_pubacks(1);
    assert_eq!(calls_of(&app.id, "gate done"), 1);
    assert!(wait_until_async(T, || app.mqtt.unacknowledged_messages() == 0).await);
    app.client.shutdown().await;
}

/// By default a call that fails, panics or rejects its argument still acknowledges its
/// message: a poison message must not come back forever (nor hold back the others).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_panicked_and_rejected_calls_acknowledge_by_default() {
    let app = App::start("acke-fail");
    let observer = Observer::connect(&app.broker);
    observer.publish("acke/fail/1", "x", 1);
    observer.publish("acke/panic/1", "x", 1);
    observer.publish("acke/reject/1", "not a number", 1);
    observer.publish("acke/plain/1", "x", 1);
    app.wait_pubacks(4);
    assert_eq!(calls_of(&app.id, "fail"), 1);
    assert_eq!(calls_of(&app.id, "panic"), 1);
    assert_eq!(calls_of(&app.id, "plain"), 1);
    assert!(wait_until_async(T, || app.mqtt.unacknowledged_messages() == 0).await);
    app.client.shutdown().await;
}

/// A message on a runtime subscription no handler takes is acknowledged at dispatch,
/// and so is a reply consumed by `Mqtt::request`: either, left unacknowledged, would
/// hold back the acknowledgement of every later message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_no_handler_takes_and_replies_are_acknowledged() {
    let app = App::start("acke-nobody");
    app.mqtt
        .subscribe("acke/nobody/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let observer = Observer::connect(&app.broker);
    observer.publish("acke/nobody/1", "x", 1);
    app.wait_pubacks(1);

    // The responder: the observer, answering on the reply topic at QoS 1.
    observer.subscribe("acke/req", 1);
    let request = {
        let mqtt = app.mqtt.clone();
        tokio::spawn(async move {
            mqtt.request("acke/req", "question")
                .reply_to("acke/reply")
                .qos(QoS::AtLeastOnce)
                .send()
                .await
        })
    };
    let observer = tokio::task::spawn_blocking(move || {
        observer.expect_message("acke/req", T);
        observer.publish("acke/reply", "answer", 1);
        observer
    })
    .await
    .unwrap();
    let answer = request.await.unwrap().unwrap();
    assert_eq!(answer.payload(), b"answer");
    app.wait_pubacks(2);

    // And the next handled message is acknowledged too (nothing holds it back).
    observer.publish("acke/plain/2", "x", 1);
    app.wait_pubacks(3);
    app.client.shutdown().await;
}

/// A handler that awaits a QoS 1 publish and a subscribe while its own message is
/// unacknowledged: both complete (their acknowledgements are read by Paho's receive
/// thread, which never waits for a handler), for more messages than Mosquitto has in
/// flight at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_awaiting_a_publish_and_a_subscribe_does_not_deadlock() {
    const N: u32 = 40;
    let app = App::start("acke-nested");
    let observer = Observer::connect(&app.broker);
    for n in 0..N {
        observer.publish(&format!("acke/nested/{n}"), "x", 1);
    }
    let done = || calls_of(&app.id, "nested publish true subscribe true");
    assert!(
        wait_until_async(T, || done() == N as usize).await,
        "{} of {N} handlers completed their publish and subscribe; calls: {:?}",
        done(),
        CALLS.count(|(c, _)| c == &app.id)
    );
    app.wait_pubacks(N as usize);
    app.client.shutdown().await;
}

/// `first`: acknowledged at dispatch, while the handler is still running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_acknowledges_before_the_handler_finishes() {
    let app = App::start("acke-first");
    let observer = Observer::connect(&app.broker);
    observer.publish("acke/first/1", "x", 1);
    assert!(wait_until_async(T, || calls_of(&app.id, "first started") == 1).await);
    app.wait_pubacks(1);
    assert_eq!(calls_of(&app.id, "first done"), 0, "the handler still runs");
    assert_eq!(app.mqtt.unacknowledged_messages(), 0);
    FIRST_GATE.add_permits(1);
    assert!(wait_until_async(T, || calls_of(&app.id, "first done") == 1).await);
    app.client.shutdown().await;
}

/// Released messages hold the broker's in-flight window until the connection ends: on
/// MQTT 3.1.1, after 20 `Ack`s dropped without `ack()` (Mosquitto's default
/// `max_inflight_messages`) Mosquitto sends no more QoS 1 messages to the client (QoS 0
/// ones still come). Nothing is owed (`unacknowledged_messages()` is 0, so the stuck
/// acknowledgement warning stays silent); the client counts them and says so at 10 and 20.
/// (With 19 dropped, the QoS 1 message comes: checked by hand.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_acks_filling_the_window_stop_qos1_delivery_and_are_said() {
    LOGS.install();
    let id = unique("acke-window");
    let app = App::start_on(Broker::start(), &id, true);
    let observer = Observer::connect(&app.broker);
    for n in 0..20 {
        observer.publish(&format!("acke/manual/w{n}"), "x", 1);
    }
    assert!(
        wait_until_async(T, || app.mqtt.released_messages() == 20).await,
        "released: {}",
        app.mqtt.released_messages()
    );
    assert_eq!(app.mqtt.unacknowledged_messages(), 0);
    for n in [10, 20] {
        let said = format!("client `{id}`: {n} QoS 1/2 messages were released");
        assert!(
            LOGS.wait_for_line(T, |l| l.contains(&said)
                && l.contains("the broker sends no more QoS 1/2 messages")),
            "not said: {said}\n{:#?}",
            LOGS.snapshot()
        );
    }

    qos1_stopped(&app, &observer, &id, "acke/window/qos1").await;
    assert_eq!(app.mqtt.released_messages(), 20);
    app.client.shutdown().await;
}

/// With the broker's window full, a QoS 1 message on `qos1` does not come while a QoS 0
/// one published after it does: the broker reads the observer's packets in order, so the
/// QoS 1 message, had it been sent, would come first, and the handler takes them in order.
async fn qos1_stopped(app: &App, observer: &Observer, id: &str, qos1: &str) {
    observer.publish(qos1, "x", 1);
    observer.publish("acke/window/qos0", "x", 0);
    assert!(
        wait_until_async(T, || calls_of(id, "window acke/window/qos0") == 1).await,
        "the QoS 0 message did not come\n{}",
        app.broker.log_tail(30)
    );
    assert_eq!(
        calls_of(id, &format!("window {qos1}")),
        0,
        "the QoS 1 message came through a full window\n{}",
        app.broker.log_tail(30)
    );
}

/// MQTT 5: the broker's window is the Receive Maximum the client sends in CONNECT
/// (`MQTT_RECEIVE_MAXIMUM`, here 6; Mosquitto's `max_inflight_messages`, 20, is for
/// MQTT 3.1.1 clients). With 5 `Ack`s dropped without `ack()` a QoS 1 message still comes
/// (and its acknowledgement frees its place); with 6 the broker sends no more QoS 1
/// messages, and the client said so at half the window (3) and at 6, naming the Receive
/// Maximum. Only the MQTT 3.1.1 window (unknown to the client) was tested with a broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_acks_filling_the_mqtt5_receive_maximum_stop_qos1_delivery_and_are_said() {
    const WINDOW: u16 = 6;
    LOGS.install();
    let id = unique("acke-window5");
    let app = App::start_with(Broker::start(), &id, |b| {
        b.protocol_version(mqtt::ProtocolVersion::V5)
            .receive_maximum(WINDOW)
    });
    let observer = Observer::connect(&app.broker);
    let drop_acks = |from: u16, to: u16| {
        for n in from..to {
            observer.publish(&format!("acke/manual/w{n}"), "x", 1);
        }
    };
    let released = |n: usize| {
        let mqtt = app.mqtt.clone();
        async move {
            assert!(
                wait_until_async(T, || mqtt.released_messages() == n).await,
                "released: {} (expected {n})",
                mqtt.released_messages()
            );
        }
    };
    drop_acks(0, WINDOW - 1);
    released(usize::from(WINDOW - 1)).await;
    // One place left: a QoS 1 message comes, and is acknowledged.
    observer.publish("acke/window/room", "x", 1);
    assert!(
        wait_until_async(T, || calls_of(&id, "window acke/window/room") == 1).await,
        "a QoS 1 message did not come with one place left in the window\n{}",
        app.broker.log_tail(30)
    );
    assert!(wait_until_async(T, || app.mqtt.unacknowledged_messages() == 0).await);

    drop_acks(WINDOW - 1, WINDOW);
    released(usize::from(WINDOW)).await;
    for n in [WINDOW / 2, WINDOW] {
        let said = format!("client `{id}`: {n} QoS 1/2 messages were released");
        assert!(
            LOGS.wait_for_line(T, |l| l.contains(&said)
                && l.contains(&format!("at {WINDOW} messages (MQTT_RECEIVE_MAXIMUM)"))
                && l.contains("the broker sends no more QoS 1/2 messages")),
            "not said: {said}\n{:#?}",
            LOGS.snapshot()
        );
    }

    qos1_stopped(&app, &observer, &id, "acke/window/full").await;
    assert_eq!(app.mqtt.released_messages(), usize::from(WINDOW));
    app.client.shutdown().await;
}

/// `manual`: an `Ack` kept past the call holds the acknowledgement until `ack()`; one
/// dropped without `ack()` releases its message, with a warning: not acknowledged, yet
/// not stuck (a later message's PUBACK still goes out), and the broker sends it again
/// (DUP) with the next connection of the persistent session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_ack_dropped_without_ack_releases_its_message_for_the_next_session() {
    LOGS.install();
    let broker = Broker::builder().persistence(true).build();
    let id = unique("acke-manual");
    let app = App::start_on(broker, &id, false);
    let observer = Observer::connect(&app.broker);
    observer.publish("acke/manual/keep", "x", 1);
    assert!(wait_until_async(T, || calls_of(&id, "manual") == 1).await);
    app.barrier().await;
    assert_eq!(app.pubacks(), 0, "acknowledged before ack()");
    assert_eq!(app.mqtt.unacknowledged_messages(), 1);
    let (_, ack) = {
        let mut kept = KEPT.lock().unwrap_or_else(PoisonError::into_inner);
        let at = kept.iter().position(|(i, _)| i == &id).unwrap();
        kept.remove(at)
    };
    ack.ack();
    app.wait_pubacks(1);
    assert!(wait_until_async(T, || app.mqtt.unacknowledged_messages() == 0).await);

    let warned = |l: &str| {
        l.contains("acke/manual/drop")
            && l.contains("dropped without `ack()`")
            && l.contains("not acknowledged")
    };
    observer.publish("acke/manual/drop", "x", 1);
    assert!(
        LOGS.wait_for_line(T, warned),
        "no warning for the dropped Ack: {:?}",
        LOGS.snapshot()
    );
    // Released, not held: a later message is acknowledged.
    observer.publish("acke/plain/after-drop", "x", 1);
    app.wait_pubacks(2);
    app.barrier().await;
    assert_eq!(
        app.pubacks(),
        2,
        "the message whose Ack was dropped was acknowledged\n{}",
        app.broker.log_tail(30)
    );
    assert!(wait_until_async(T, || app.mqtt.unacknowledged_messages() == 0).await);
    let App { broker, client, .. } = app;
    client.shutdown().await;

    let app = App::start_on(broker, &id, false);
    assert!(
        wait_until_async(T, || calls_of(&id, "manual acke/manual/drop dup true") == 1).await,
        "the released message did not come again; calls: {:?}",
        CALLS.snapshot()
    );
    app.barrier().await;
    assert_eq!(
        calls_of(&id, "manual acke/manual/keep dup true"),
        0,
        "an acknowledged message came again"
    );
    assert_eq!(
        calls_of(&id, "plain"),
        1,
        "an acknowledged message came again"
    );
    app.client.shutdown().await;
}

/// `nack_on_error`: a failed call leaves its message unacknowledged, and the broker
/// sends it again (DUP) with the next connection of the persistent session; a call that
/// succeeds is acknowledged and not sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nack_on_error_has_the_broker_send_a_failed_message_again_next_session() {
    let broker = Broker::builder().persistence(true).build();
    let id = unique("acke-nack");
    let app = App::start_on(broker, &id, false);
    let observer = Observer::connect(&app.broker);
    observer.publish("acke/nack/ok", "x", 1);
    app.wait_pubacks(1);
    observer.publish("acke/nack/fail", "x", 1);
    assert!(wait_until_async(T, || calls_of(&id, "nack acke/nack/fail dup false") == 1).await);
    app.barrier().await;
    assert_eq!(app.pubacks(), 1, "the failed message was acknowledged");
    // Released, not just withheld: later acknowledgements do not wait for it.
    observer.publish("acke/nack/later", "x", 1);
    app.wait_pubacks(2);
    let App { broker, client, .. } = app;
    client.shutdown().await;

    let app = App::start_on(broker, &id, false);
    assert!(
        wait_until_async(T, || calls_of(&id, "nack acke/nack/fail dup true") == 1).await,
        "not sent again; calls: {:?}",
        CALLS.snapshot()
    );
    app.barrier().await;
    assert_eq!(
        calls_of(&id, "nack acke/nack/ok dup true"),
        0,
        "an acknowledged message came again"
    );
    assert_eq!(
        calls_of(&id, "nack acke/nack/later dup true"),
        0,
        "an acknowledged message came again"
    );
    app.client.shutdown().await;
}

/// A graceful stop leaves a QoS 1 message of a persistent session to the broker (it
/// comes again with the next session) and releases it in Paho, so the acknowledgements
/// after it on that connection still leave (Paho sends them in arrival order): here the
/// reply to a request a handler awaits during the stop, acknowledged on arrival. Left
/// unreleased, the message held that PUBACK back for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_left_to_the_broker_at_a_stop_holds_back_no_later_acknowledgement() {
    let broker = Broker::builder().persistence(true).build();
    let id = unique("acke-left");
    let app = App::start_on(broker, &id, false);
    let observer = Observer::connect(&app.broker);
    observer.subscribe("acke/leftreq", 1);
    observer.publish("acke/leftgate/1", "x", 1);
    assert!(wait_until_async(T, || calls_of(&id, "leftgate started") == 1).await);
    let App { broker, client, .. } = app;
    // Its first poll sends the stop to the driver, ahead of the next message (one
    // channel): that message arrives once the client is stopping.
    let mut stop = Box::pin(client.shutdown());
    tokio::select! {
        biased;
        () = &mut stop => panic!("the stop did not wait for the handler"),
        () = std::future::ready(()) => {}
    }
    let stopped = tokio::spawn(stop);
    observer.publish("acke/left/2", "x", 1);
    LEFT_GATE.add_permits(1);
    let observer = tokio::task::spawn_blocking(move || {
        observer.expect_message("acke/leftreq", T);
        observer.publish("acke/leftreply", "answer", 1);
        observer
    })
    .await
    .unwrap();
    stopped.await.unwrap();
    assert_eq!(
        calls_of(&id, "leftgate replied true"),
        1,
        "{:?}",
        CALLS.snapshot()
    );
    assert_eq!(
        calls_of(&id, "left acke/left/2 dup false"),
        0,
        "handled while stopping"
    );
    // The gated message's PUBACK and the reply's, sent before the DISCONNECT.
    let pubacks = broker.count_in_log(&format!("Received PUBACK from {id} (Mid: "));
    assert_eq!(pubacks, 2, "{}", broker.log_tail(30));

    let app = App::start_on(broker, &id, false);
    assert!(
        wait_until_async(T, || calls_of(&id, "left acke/left/2 dup true") == 1).await,
        "the message left to the broker did not come again; calls: {:?}",
        CALLS.snapshot()
    );
    drop(observer);
    app.client.shutdown().await;
}

/// `ack = "manual"` with `nack_on_error`: a call that panics or returns `Err` while it
/// holds its `mqtt::Ack` leaves its message unacknowledged (the `Ack`, dropped without
/// `ack()`, goes back to the call, whose failure releases the message), and the broker
/// sends it again with the next session; later acknowledgements do not wait for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_nack_on_error_withholds_a_message_whose_call_failed_holding_its_ack() {
    let broker = Broker::builder().persistence(true).build();
    let id = unique("acke-manualnack");
    let app = App::start_on(broker, &id, false);
    let observer = Observer::connect(&app.broker);
    observer.publish("acke/manualnack/ok", "x", 1);
    app.wait_pubacks(1);
    let failing = [
        "acke/manualnack/panic",
        "acke/manualnack/err",
        "acke/manualnacksync/panic",
    ];
    for topic in failing {
        observer.publish(topic, "x", 1);
        let call = format!("{topic} dup false");
        assert!(
            wait_until_async(T, || calls_of(&id, &call) == 1).await,
            "{topic} not handled: {:?}",
            CALLS.snapshot()
        );
    }
    observer.publish("acke/manualnack/later", "x", 1);
    app.wait_pubacks(2);
    app.barrier().await;
    assert_eq!(
        app.pubacks(),
        2,
        "a message whose call failed holding its Ack was acknowledged\n{}",
        app.broker.log_tail(30)
    );
    let App { broker, client, .. } = app;
    client.shutdown().await;

    let app = App::start_on(broker, &id, false);
    for topic in failing {
        let again = format!("{topic} dup true");
        assert!(
            wait_until_async(T, || calls_of(&id, &again) >= 1).await,
            "{topic} not sent again; calls: {:?}",
            CALLS.snapshot()
        );
    }
    app.barrier().await;
    for topic in ["acke/manualnack/ok", "acke/manualnack/later"] {
        assert_eq!(
            calls_of(&id, &format!("{topic} dup true")),
            0,
            "{topic} was acknowledged, yet came again"
        );
    }
    app.client.shutdown().await;
}

/// Three messages for a handler that awaits `Mqtt::request` (its reply, QoS 1, comes on
/// the same client) with a broker window of 2 unacknowledged messages
/// (`max_inflight_messages 2`, MQTT 3.1.1; on MQTT 5 the Receive Maximum): with
/// `after`, the two messages in flight fill the window while the first call waits, so
/// the broker holds the reply back behind them and the request times out; with
/// `ack = "first"` the messages are acknowledged on arrival and every reply comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_awaited_in_an_after_handler_waits_behind_the_window() {
    let broker = Broker::builder().extra("max_inflight_messages 2").build();
    let app = App::start_on(broker, &unique("acke-ask"), true);
    let responder = Observer::connect(&app.broker);
    responder.subscribe("acke/question", 1);
    let publisher = Observer::connect(&app.broker);
    let answering = std::thread::spawn(move || {
        // Answers every question, until none comes for a while.
        while let Some(question) = responder.recv_timeout(ASK_TIMEOUT * 2) {
            responder.publish(&question.payload_str(), "answer", 1);
        }
    });
    for policy in ["first", "after"] {
        for n in 0..3 {
            publisher.publish(&format!("acke/ask{policy}/{n}"), "x", 1);
        }
        let id = app.id.clone();
        let done =
            move || CALLS.count(|(c, w)| c == &id && w.starts_with(&format!("ask {policy} ")));
        assert!(
            wait_until_async(ASK_TIMEOUT * 6, || done() == 3).await,
            "{policy}: {:?}",
            CALLS.snapshot()
        );
    }
    let id = app.id.clone();
    let outcomes = |policy: &str| -> Vec<String> {
        let prefix = format!("ask {policy} ");
        CALLS
            .snapshot()
            .into_iter()
            .filter(|(c, w)| c == &id && w.starts_with(&prefix))
            .map(|(_, w)| w)
            .collect()
    };
    println!(
        "acks first: {:?}; acks after: {:?}",
        outcomes("first"),
        outcomes("after")
    );
    assert!(
        outcomes("first").iter().all(|w| w.ends_with(": replied")),
        "{:?}",
        outcomes("first")
    );
    assert_eq!(
        outcomes("after").first().map(String::as_str),
        Some("ask after 0: no reply"),
        "{:?}",
        outcomes("after")
    );
    app.client.shutdown().await;
    answering.join().unwrap();
}
