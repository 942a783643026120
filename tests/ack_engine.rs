//! Acknowledgement after handling (issue 15), in one process against a real Mosquitto:
//! a QoS 1 message is acknowledged to the broker only once its handler call has ended
//! (and counts as unacknowledged until then), whatever the call's outcome; a message no
//! handler takes and a reply consumed by `Mqtt::request` are acknowledged at once (one
//! message never acknowledged would hold back every later acknowledgement); and a
//! handler that awaits a QoS 1 publish and a subscribe while its own message is
//! unacknowledged does not deadlock.
//!
//! "Acknowledged" is read from the broker's log (`Received PUBACK from <client>`). To
//! tell "not yet" from "not logged yet", the app publishes a QoS 1 barrier first: the
//! broker reads the app's packets in order, so once the barrier's PUBLISH is logged
//! (its publish future resolved), any PUBACK the app sent before it is logged too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{unique, wait_until_async, Broker, Observer, Recorder};
use mqtt::{Client, Config, QoS};
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

struct App {
    broker: Broker,
    id: String,
    client: Client,
    mqtt: mqtt::Mqtt,
}

impl App {
    fn start(tag: &str) -> App {
        let broker = Broker::start();
        let id = unique(tag);
        let config = Config::builder()
            .broker_url("127.0.0.1")
            .port(broker.port())
            .client_id(id.as_str())
            .build()
            .unwrap();
        let client = Client::start(config).unwrap();
        let mqtt = client.handle();
        assert!(
            broker.wait_for_log(&format!("Sending SUBACK to {id}"), 1, T),
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
