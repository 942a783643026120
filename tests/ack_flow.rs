//! Flow control instead of an unbounded backlog (issue 15, item 3): with acknowledgement
//! after handling, the broker sends a client no more QoS 1 messages than its in-flight
//! window while earlier ones are unacknowledged, so a blocked handler leaves the backlog
//! in the broker (which must be allowed to queue it: `max_queued_messages`), not in the
//! app's memory. 5000 QoS 1 messages to a handler blocked on a gate: the app never holds
//! more than Mosquitto's window of 20 unacknowledged (MQTT 3.1.1), or than its own
//! Receive Maximum (MQTT 5, `MQTT_RECEIVE_MAXIMUM`, here 7); once the gate opens all
//! 5000 arrive, in order. The same bound holds for a member of a shared group whose
//! queue at the broker overflows.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{unique, wait_until, Broker, Observer};
use mqtt::{Client, Config};
use tokio::sync::Semaphore;

const T: Duration = Duration::from_secs(60);
const MESSAGES: usize = 5000;
/// Mosquitto's `max_inflight_messages` (its default, set explicitly).
const WINDOW: usize = 20;

/// The gate, what was handled and how many calls started, per run.
struct Run {
    gate: Semaphore,
    seen: Mutex<Vec<usize>>,
    started: AtomicUsize,
}

impl Run {
    const fn new() -> Run {
        Run {
            gate: Semaphore::const_new(0),
            seen: Mutex::new(Vec::new()),
            started: AtomicUsize::new(0),
        }
    }

    /// A handler's call: counted as started, then waits at the gate, then records the
    /// message's number.
    async fn handle(&self, text: &str) {
        self.started.fetch_add(1, Ordering::SeqCst);
        if let Ok(p) = self.gate.acquire().await {
            p.forget();
        }
        self.seen
            .lock()
            .unwrap()
            .push(text.parse().unwrap_or(usize::MAX));
    }
}

static V3: Run = Run::new();
static V5: Run = Run::new();
static SHARED: Run = Run::new();

#[mqtt::on_message("flow/+", qos = 1)]
async fn gated(text: mqtt::Text, topic: mqtt::Topic) {
    let run = if topic.ends_with("v5") { &V5 } else { &V3 };
    run.handle(&text).await;
}

/// A member of a shared group, next to two other members.
#[mqtt::on_message("flowshared/+", qos = 1, shared = "workers")]
async fn gated_shared(text: mqtt::Text) {
    SHARED.handle(&text).await;
}

#[test]
fn a_blocked_handler_leaves_the_backlog_in_the_broker() {
    blocked(&V3, "v3", None, WINDOW);
}

#[test]
fn on_mqtt5_the_receive_maximum_bounds_what_the_app_holds() {
    blocked(&V5, "v5", Some(7), 7);
}

/// 5000 messages to `flow/<tag>` while its handler is blocked: the app never holds more
/// than `bound`; then all arrive in order.
fn blocked(run: &Run, tag: &str, receive_maximum: Option<u16>, bound: usize) {
    // A queue large enough for the backlog; not 0 (unlimited), with which Mosquitto 2.0
    // also lifts the in-flight window (measured: 9,500 messages in flight at once).
    let broker = Broker::builder()
        .extra("max_queued_messages 10000")
        .extra(format!("max_inflight_messages {WINDOW}"))
        .start();
    let id = unique(&format!("flow-{tag}"));
    let mut b = Config::builder()
        .broker_url("127.0.0.1")
        .port(broker.port())
        .client_id(id.as_str());
    if let Some(n) = receive_maximum {
        b = b
            .protocol_version(mqtt::ProtocolVersion::V5)
            .receive_maximum(n);
    }
    let config = b.build().unwrap();
    let client = Client::start(config).unwrap();
    let app = client.handle();
    broker.expect_suback(&id, T);

    let (sent, most) = publish_to_the_blocked(&broker, &app, run, &format!("flow/{tag}"), bound);
    eprintln!(
        "ack_flow {tag}: {MESSAGES} QoS 1 messages to a blocked handler: the broker sent {sent}, the app held at most {most} unacknowledged (bound {bound})"
    );

    run.gate.add_permits(MESSAGES);
    assert!(
        wait_until(T, || run.seen.lock().unwrap().len() == MESSAGES),
        "{} of {MESSAGES} handled",
        run.seen.lock().unwrap().len()
    );
    let seen = run.seen.lock().unwrap().clone();
    assert_eq!(seen, (0..MESSAGES).collect::<Vec<_>>(), "in order");
    drop(client);
}

/// Publishes `MESSAGES` QoS 1 messages to `topic` while `run`'s handler is blocked at its
/// gate, and checks that until all reached the broker and the handler's first call
/// started, the broker sent `app` at most `bound` of them and `app` never held more
/// than `bound` unacknowledged. Returns (sent, most held).
fn publish_to_the_blocked(
    broker: &Broker,
    app: &mqtt::Mqtt,
    run: &Run,
    topic: &str,
    bound: usize,
) -> (usize, usize) {
    let publisher = Observer::connect(broker);
    for i in 0..MESSAGES {
        publisher.publish(topic, i.to_string(), 1);
    }
    // Every message reached the broker; the app holds at most the bound meanwhile.
    let mut most = 0;
    assert!(
        wait_until(T, || {
            most = most.max(app.unacknowledged_messages());
            broker.count_in_log("Received PUBLISH from") >= MESSAGES
        }),
        "{}",
        broker.log_tail(20)
    );
    assert!(wait_until(T, || run.started.load(Ordering::SeqCst) == 1));
    let sent = broker.count_in_log(&format!("Sending PUBLISH to {}", app.client_id()));
    most = most.max(app.unacknowledged_messages());
    assert!(
        sent <= bound,
        "the broker sent {sent} while none was acknowledged"
    );
    assert!(most <= bound, "the app held {most} unacknowledged messages");
    (sent, most)
}

/// The window holds on a shared subscription too, also when the broker's queue for the
/// blocked member overflows (Mosquitto's default `max_queued_messages`, 1,000, against
/// its share of 5,000): MQTT 5, Receive Maximum 7, two raw members beside the app.
#[test]
fn on_a_shared_subscription_the_receive_maximum_bounds_what_the_app_holds() {
    const BOUND: usize = 7;
    let broker = Broker::builder().start();
    let id = unique("flow-shared");
    let config = broker
        .config(id.as_str())
        .protocol_version(mqtt::ProtocolVersion::V5)
        .receive_maximum(u16::try_from(BOUND).unwrap())
        .build()
        .unwrap();
    let client = Client::start(config).unwrap();
    let app = client.handle();
    broker.expect_suback(&id, T);
    let members: Vec<Observer> = (0..2)
        .map(|_| {
            let m = Observer::connect(&broker);
            m.subscribe("$share/workers/flowshared/+", 1);
            m
        })
        .collect();

    let (sent, most) = publish_to_the_blocked(&broker, &app, &SHARED, "flowshared/jobs", BOUND);
    let dropped = broker.count_in_log("Outgoing messages are being dropped");
    eprintln!(
        "ack_flow shared: {MESSAGES} QoS 1 jobs to a group of 3 whose app member is blocked: the broker sent it {sent}, the app held at most {most} unacknowledged (bound {BOUND}); the broker logged {dropped} drop warnings"
    );

    SHARED.gate.add_permits(MESSAGES);
    assert!(
        wait_until(T, || SHARED.seen.lock().unwrap().len() >= BOUND),
        "{} handled",
        SHARED.seen.lock().unwrap().len()
    );
    drop(members);
    drop(client);
}
