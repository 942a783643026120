//! A graceful stop of a member of a shared group whose broker is not on loopback.
//!
//! Stopping, the client leaves its share groups (UNSUBSCRIBE, UNSUBACK) and then drains.
//! Mosquitto keeps sending what it had already queued for the client as the client's
//! acknowledgements free its in-flight window, and drops the rest with a clean session
//! at the DISCONNECT (it does not hand them to another member). So the client may only
//! disconnect once the broker has nothing more for it, which no packet tells: it waits
//! until nothing of the groups it left has come for a while, measured against the
//! UNSUBSCRIBE's round trip. On loopback the broker's next message comes within a
//! fraction of a millisecond of the acknowledgement, which hid that the client used to
//! disconnect at its first idle moment; 25 ms away (a [`LatencyProxy`]) it handled the
//! first window and the broker dropped the rest.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{unique, wait_until, Broker, LatencyProxy, Observer};
use mqtt::{Client, Config};
use tokio::sync::Semaphore;

const T: Duration = Duration::from_secs(60);
/// Jobs queued at the broker for the app when the stop comes.
const JOBS: u64 = 2000;
/// The app's Receive Maximum: what the broker sends it before acknowledgements.
const WINDOW: u16 = 20;
const DELAY: Duration = Duration::from_millis(25);

/// Closed until the test has its backlog: the handler waits on it, so the app
/// acknowledges nothing and the broker queues everything past the window.
static GATE: Semaphore = Semaphore::const_new(0);
static STARTED: AtomicUsize = AtomicUsize::new(0);
/// Every job handled, and how many times.
static HANDLED: Mutex<BTreeMap<u64, usize>> = Mutex::new(BTreeMap::new());

#[mqtt::on_message("drain/{n}", qos = 1, shared = "drainers")]
async fn drained(mqtt::Path(n): mqtt::Path<u64>) {
    STARTED.fetch_add(1, Ordering::SeqCst);
    if let Ok(p) = GATE.acquire().await {
        p.forget();
    }
    *HANDLED.lock().unwrap().entry(n).or_default() += 1;
}

#[test]
fn a_graceful_stop_receives_the_backlog_the_broker_queued_before_it_left_the_group() {
    // Room for every job (Mosquitto's default drops past 1,000 queued).
    let broker = Broker::builder()
        .extra(format!("max_queued_messages {JOBS}"))
        .start();
    let proxy = LatencyProxy::start(broker.port(), DELAY);
    let id = unique("drain-app");
    let config = Config::builder()
        .broker_url("127.0.0.1")
        .port(proxy.port())
        .client_id(id.as_str())
        .protocol_version(mqtt::ProtocolVersion::V5)
        .receive_maximum(WINDOW)
        .build()
        .unwrap();
    let client = Client::start(config).unwrap();
    broker.expect_suback(&id, T);

    let publisher = Observer::connect(&broker);
    publisher.publish_numbered("drain", 0..JOBS, 50, |_| {});
    // Calls of one handler run one at a time: the first waits at the gate, the rest of
    // the window waits in the app, unacknowledged.
    let sent_to_app = || broker.count_in_log(&format!("Sending PUBLISH to {id}"));
    assert!(
        wait_until(T, || STARTED.load(Ordering::SeqCst) == 1
            && sent_to_app() >= usize::from(WINDOW)),
        "the app got its window: {}",
        broker.log_tail(20)
    );
    let sent_before = sent_to_app();

    // Open the gate and stop at once: the window's calls finish and are acknowledged
    // during the stop, and the broker goes on sending the backlog 25 ms away.
    GATE.add_permits(JOBS as usize);
    let stopping = Instant::now();
    // Dropping the client stops it gracefully and waits for it.
    drop(client);
    let took = stopping.elapsed();

    let handled = HANDLED.lock().unwrap().clone();
    let sent = sent_to_app();
    let missing: Vec<u64> = (0..JOBS).filter(|n| !handled.contains_key(n)).collect();
    let twice: Vec<u64> = handled
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(n, _)| *n)
        .collect();
    eprintln!(
        "shutdown, broker {DELAY:?} away: {JOBS} QoS 1 jobs for the only member of a group, \
         {sent_before} sent to it before the stop (the rest queued); {} handled in all, the \
         broker sent {sent}; the stop took {took:.2?}",
        handled.len()
    );
    assert_eq!(
        sent_before,
        usize::from(WINDOW),
        "the broker held the rest when the stop came"
    );
    assert_eq!(
        broker.count_in_log(&format!("Received UNSUBSCRIBE from {id}")),
        1,
        "the client left the group: {}",
        broker.log_tail(20)
    );
    assert!(twice.is_empty(), "handled twice: {twice:?}");
    assert!(
        missing.is_empty(),
        "the broker still held {} jobs for the app when it disconnected (it sent {sent}); \
         missing e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
}
