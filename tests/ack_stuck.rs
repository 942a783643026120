//! A handler call that never ends holds back every later acknowledgement (they leave in
//! arrival order), so once the broker's window of unacknowledged messages is full it
//! sends nothing more, to any handler. No queue grows, so no backlog warning fires: the
//! watchdog says it (visible without a logger; here through a capturing logger), naming
//! the handler, and says again when acknowledgements go out.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{unique, wait_until, Broker, LogLines, Observer, Recorder};
use mqtt::Client;
use tokio::sync::Semaphore;

/// Longer than the watchdog's 10 s, with room for a loaded machine.
const T: Duration = Duration::from_secs(40);

/// Mosquitto's default in-flight window on MQTT 3.1.1.
const WINDOW: usize = 20;

static STUCK_GATE: Semaphore = Semaphore::const_new(0);
static FAST: Recorder<String> = Recorder::new();

/// Waits until the test lets it go: an await without a timeout that never completes.
#[mqtt::on_message("stuck/hold", qos = 1)]
async fn waits_forever() {
    if let Ok(p) = STUCK_GATE.acquire().await {
        p.forget();
    }
}

#[mqtt::on_message("stuck/fast/+", qos = 1)]
fn fast(topic: mqtt::Topic) {
    FAST.push(topic.to_string());
}

const LOGS: LogLines = LogLines::new("flask_mqtt", log::Level::Warn);

#[test]
fn a_handler_that_never_finishes_is_named_when_acknowledgements_stop() {
    LOGS.install();
    let broker = Broker::start();
    let id = unique("stuck");
    let client = Client::start(broker.config(id.as_str()).build().unwrap()).unwrap();
    let m = client.handle();
    broker.expect_suback(&id, T);
    assert!(wait_until(T, || m.is_connected()));

    let obs = Observer::connect(&broker);
    obs.publish("stuck/hold", "x", 1);
    let n = 3 * WINDOW;
    for i in 0..n {
        obs.publish(&format!("stuck/fast/{i}"), "x", 1);
    }
    // The stuck message and the fast ones after it fill the window: the broker stops.
    let stalled = format!("client `{id}`: ");
    assert!(
        LOGS.wait_for_line(T, |s| s.starts_with(&stalled)
            && s.contains("owed an acknowledgement")),
        "no warning; logs: {:#?}",
        LOGS.snapshot()
    );
    let warning = LOGS
        .snapshot()
        .into_iter()
        .find(|s| s.starts_with(&stalled) && s.contains("owed an acknowledgement"))
        .unwrap();
    assert!(
        warning.contains("Handlers with calls queued or running: ack_stuck::waits_forever"),
        "{warning}"
    );
    assert!(!warning.contains("ack_stuck::fast"), "{warning}");
    let handled = FAST.snapshot().len();
    assert!(
        handled < WINDOW,
        "the broker kept sending past its window: {handled} of {n}"
    );

    // Let it finish: everything flows, and that is said.
    STUCK_GATE.add_permits(1);
    assert!(
        FAST.wait_for(T, |f| f.len() == n),
        "{} of {n} after the stuck call ended",
        FAST.snapshot().len()
    );
    assert!(
        LOGS.wait_for_line(T, |s| s.starts_with(&stalled)
            && s.contains("acknowledgements go out again")),
        "{:#?}",
        LOGS.snapshot()
    );
    drop(client);
}
