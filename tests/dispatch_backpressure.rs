//! The back-pressure guarantee against a real Mosquitto with its default limits
//! (`max_queued_messages 1000`, `max_inflight_messages 20`): 5000 QoS 1 messages arrive
//! while their handler is blocked on a gate the test holds. The client keeps reading (Paho
//! is never blocked), so the broker has nothing to queue or drop; the backlog waits in
//! the client, logged; once the gate opens every message reaches the handler, in order.

// Test code: a failed expectation panics, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Mutex;
use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{unique, Broker, LogLines, Observer, Recorder};
use mqtt::Client;
use tokio::sync::Semaphore;

const T: Duration = Duration::from_secs(60);
const MESSAGES: u32 = 5000;

static EVENTS: Recorder<String> = Recorder::new();

struct Flood {
    gate: Semaphore,
    seen: Mutex<Vec<u32>>,
}

#[mqtt::on_connect]
fn connected() {
    EVENTS.push("connect".into());
}

#[mqtt::on_message("bp/flood", qos = 1, queue = 16, ack = "first")]
async fn flooded(flood: mqtt::State<Flood>, text: mqtt::Text) {
    if let Ok(permit) = flood.gate.acquire().await {
        permit.forget();
    }
    let n: u32 = text.parse().unwrap_or(u32::MAX);
    let mut seen = flood.seen.lock().unwrap();
    seen.push(n);
    if seen.len() == MESSAGES as usize {
        EVENTS.push("all".into());
    }
}

/// Every line of the process, Paho C's trace included, is logged (installed)...
const ALL_LINES: LogLines = LogLines::new("", log::Level::Info);
/// ...and the `flask_mqtt::dispatch` ones are read.
const LOGS: LogLines = LogLines::new("flask_mqtt::dispatch", log::Level::Info);

fn wait_for_log(needle: &str) -> bool {
    LOGS.wait_for_line(T, |l| l.contains(needle))
}

#[test]
fn a_blocked_handler_loses_nothing_under_a_flood() {
    ALL_LINES.install();
    let broker = Broker::start();
    let config = broker.config(unique("flood")).build().unwrap();
    let client = Client::start(config).unwrap();
    let flood = std::sync::Arc::new(Flood {
        gate: Semaphore::new(0),
        seen: Mutex::new(Vec::new()),
    });
    client.handle().insert_state(flood.clone());
    assert!(
        EVENTS.wait_for(T, |e| e.iter().any(|x| x == "connect")),
        "never connected: {}",
        broker.log()
    );

    let observer = Observer::connect(&broker);
    for i in 0..MESSAGES {
        observer.publish("bp/flood", i.to_string(), 1);
    }
    // More than four times Mosquitto's queue limit reached the client while the
    // handler was blocked: the warning names the handler.
    assert!(
        wait_for_log("4096 events are waiting for dispatch: handler dispatch_backpressure::flooded is not keeping up (its queue of 16 is full)"),
        "{:?}",
        LOGS.snapshot()
    );

    flood.gate.add_permits(MESSAGES as usize);
    assert!(
        EVENTS.wait_for(T, |e| e.iter().any(|x| x == "all")),
        "{} of {MESSAGES} arrived",
        flood.seen.lock().unwrap().len()
    );
    assert_eq!(
        *flood.seen.lock().unwrap(),
        (0..MESSAGES).collect::<Vec<_>>()
    );
    assert!(wait_for_log("dispatch caught up"));
    assert_eq!(
        broker.count_in_log("dropped"),
        0,
        "the broker dropped messages: {}",
        broker.log_tail(20)
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(client.shutdown());
}
