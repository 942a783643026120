//! Acknowledgements Paho queues behind a pending write (docs/paho-fork.md, "acknowledgements
//! queued behind a pending write"), at the paho layer, against a real Mosquitto, for QoS 1
//! on MQTT 3.1.1 and 5. The client connects through a [`HoldProxy`], which can stop
//! reading what the client sends: the client's socket fills, a write stays pending, and the
//! acknowledgements given meanwhile wait in Paho's queue behind it.
//!
//! - Every queued acknowledgement goes out, once, in arrival order, also when the queue is
//!   longer than the socket takes at once (unpatched, those after the first that was written
//!   in part were dropped: each held a slot of the broker's in-flight window until the next
//!   session).
//! - A connection that ends takes its queued acknowledgements with it: none is sent on the
//!   next connection, whose own acknowledgements go out at once, so delivery goes on past
//!   the broker's in-flight window, and a graceful disconnect then sends DISCONNECT and the
//!   broker publishes no will (unpatched, the stale queue held back every acknowledgement of
//!   the new connection, delivery stopped at the window, and the disconnect waited for the
//!   queue until its time limit and closed without DISCONNECT).
//!
//! What was sent is read from the proxy's record of both directions, packet by packet: on
//! each connection, the PUBACKs the client sent must answer the QoS 1 PUBLISHes the broker
//! sent on it, each once, in the same order.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use flask_mqtt_tests::paho_mqtt as paho;
use flask_mqtt_tests::{
    packet_id, split_packets, unique, wait_until, Broker, HoldProxy, Observer, Recorder,
    SessionClient, SessionOptions, DISCONNECT,
};

const T: Duration = Duration::from_secs(10);

const PUBLISH: u8 = 3;
const PUBACK: u8 = 4;

/// The socket of each of Paho's "Partial write" trace lines, with the client the line is
/// attributed to (none for one written while Paho's receive thread polls every socket).
static PARTIAL_WRITES: Recorder<(Option<paho::TraceKey>, String)> = Recorder::new();

/// The socket named by a "Partial write: N bytes of M actually written on socket S" line.
fn partial_write_socket(line: &str) -> Option<&str> {
    let (_, rest) = line.split_once("Partial write: ")?;
    Some(rest.rsplit_once("on socket ")?.1.trim())
}

/// How many times Paho's receive thread has begun to wait for its sockets.
static RECEIVE_CYCLES: AtomicUsize = AtomicUsize::new(0);

/// Records Paho's "Partial write" lines and counts the receive thread's cycles (once per
/// process: the callback is global).
fn trace_paho() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        paho::set_client_trace_callback(paho::ffi_trace_level::MINIMUM, |line| {
            let message = line.message();
            if message.contains("MQTTAsync_cycle call timeout") {
                RECEIVE_CYCLES.fetch_add(1, Ordering::SeqCst);
            } else if let Some(socket) = partial_write_socket(message) {
                PARTIAL_WRITES.push((line.client(), socket.to_owned()));
            }
        });
    });
}

/// Returns once Paho's receive thread has handed every acknowledgement given before the
/// call to the socket or to the queue behind its pending write. It does so in each cycle,
/// after waiting for its sockets (an acknowledgement ends the wait) and before it begins the
/// next wait: two beginnings after the call enclose one such step. It reads nothing from a
/// socket with a pending write, so a message cannot serve as the marker.
fn acks_taken() {
    let before = RECEIVE_CYCLES.load(Ordering::SeqCst);
    assert!(
        wait_until(T, || RECEIVE_CYCLES.load(Ordering::SeqCst) >= before + 2),
        "Paho's receive thread did not cycle"
    );
}

/// The packet ids of the packets of type `kind` in a recorded stream, in order.
fn ids(stream: &[u8], kind: u8) -> Vec<u16> {
    split_packets(stream)
        .iter()
        .filter(|p| p[0] >> 4 == kind && (kind != PUBLISH || p[0] & 0x06 != 0))
        .filter_map(|p| packet_id(p))
        .collect()
}

/// On connection `conn`: the ids of the QoS 1 PUBLISHes the broker sent and of the PUBACKs
/// the client sent.
fn publishes_and_pubacks(proxy: &HoldProxy, conn: usize) -> (Vec<u16>, Vec<u16>) {
    (
        ids(&proxy.broker_bytes(conn), PUBLISH),
        ids(&proxy.client_bytes(conn), PUBACK),
    )
}

/// What differs between the PUBLISHes of a connection and the PUBACKs answering them.
fn mismatch(publishes: &[u16], pubacks: &[u16]) -> String {
    let first = publishes.iter().zip(pubacks).position(|(p, a)| p != a);
    format!(
        "{} QoS 1 PUBLISHes, {} PUBACKs; first difference at {first:?}; PUBLISH ids {:?}..., PUBACK ids {:?}...",
        publishes.len(),
        pubacks.len(),
        &publishes[..publishes.len().min(12)],
        &pubacks[..pubacks.len().min(12)],
    )
}

/// A consumer with manual acknowledgements behind a [`HoldProxy`], subscribed at QoS 1 to
/// `<id>/t/#`, and an observer that publishes there. (Dropped consumer first: a test that
/// fails leaves no pending write to the proxy or broker dropped before it.)
struct Setup {
    consumer: SessionClient,
    proxy: HoldProxy,
    observer: Observer,
    broker: Broker,
    id: String,
}

impl Setup {
    fn start(broker: Broker, version: u32, id: &str) -> Setup {
        let proxy = HoldProxy::start(broker.port());
        let observer = Observer::connect(&broker);
        let opts = SessionOptions::new(version)
            .manual_acks(true)
            .uri(proxy.uri(), None)
            .will(format!("{id}/will"), "gone");
        let consumer = SessionClient::connect(&broker, id, opts);
        consumer.subscribe(&format!("{id}/t/#"), 1);
        Setup {
            consumer,
            proxy,
            observer,
            broker,
            id: id.to_owned(),
        }
    }

    /// Publishes `<id>/t/N` at QoS 1 for every `N` in `range`.
    fn publish(&self, range: std::ops::Range<u64>) {
        self.observer
            .publish_numbered(&format!("{}/t", self.id), range, 50, |_| {});
    }

    /// Receives up to `n` messages within `timeout`, acknowledging each as it comes;
    /// returns how many came.
    fn receive_and_ack(&self, n: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let mut got = 0;
        while got < n {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(m) = self.consumer.recv_timeout(left) else {
                break;
            };
            self.ack(&[m]);
            got += 1;
        }
        got
    }

    /// Receives `n` messages (failing after [`T`]) without acknowledging them.
    fn receive(&self, n: usize) -> Vec<paho::Message> {
        (0..n).map(|_| self.consumer.expect_message(T)).collect()
    }

    /// Acknowledges each of `msgs`, in order.
    fn ack(&self, msgs: &[paho::Message]) {
        for m in msgs {
            let outcome = self.consumer.client().ack(m);
            assert_eq!(
                outcome.as_ref().ok(),
                Some(&paho::AckOutcome::Accepted),
                "ack of {}: {outcome:?}",
                m.topic()
            );
        }
    }
}

/// The queue is longer than the socket takes at once: after the pending write completes,
/// one of the queued PUBACKs is written in part and the rest must wait for it, not vanish.
fn every_queued_ack_goes_out_once_in_order(version: u32) {
    /// QoS 1 messages delivered while the proxy holds.
    const N: usize = 1200;
    trace_paho();
    let id = unique("qack");
    // No in-flight limit: the broker sends all N without an acknowledgement.
    let s = Setup::start(
        Broker::builder().extra("max_inflight_messages 0").start(),
        version,
        &id,
    );
    let key = s.consumer.client().trace_key();

    s.proxy.hold();
    s.publish(1..N as u64 + 1);
    let msgs = s.receive(N);
    s.ack(&msgs);
    acks_taken();
    // The first PUBACKs went out until the socket was full; the next one is the pending
    // write (not written at all), and the rest wait in the queue behind it.
    let full = PARTIAL_WRITES.wait_for(T, |l| l.iter().any(|(c, _)| *c == Some(key)));
    assert!(full, "the client's socket never filled: no partial write");
    let socket =
        PARTIAL_WRITES.with(|l| l.iter().find(|(c, _)| *c == Some(key)).unwrap().1.clone());
    let on_socket =
        |l: &[(Option<paho::TraceKey>, String)]| l.iter().filter(|(_, s)| *s == socket).count();

    // Only the PUBACKs written before the socket filled are read; then the proxy holds
    // again, so the pending one completes and the queue is sent into an empty buffer that
    // it overfills: one of the queued PUBACKs is written in part.
    s.proxy.release_held();
    let direct = ids(&s.proxy.client_bytes(0), PUBACK).len();
    let queued = N - direct - 1;
    println!("{id}: {direct} PUBACKs filled the socket, 1 pending, {queued} queued");
    assert!(
        queued >= 2 * direct,
        "premise: the socket took {direct} PUBACKs, so the {queued} queued behind them must \
         be more than it takes again ({N} messages are too few for this kernel)"
    );
    // The second partial write on the socket (the first filled it while held).
    let overfilled = PARTIAL_WRITES.wait_for(T, |l| on_socket(l) >= 2);
    assert!(
        overfilled,
        "the queued PUBACKs never overfilled the socket ({} partial writes)",
        PARTIAL_WRITES.with(on_socket)
    );

    s.proxy.resume();
    let all = s
        .proxy
        .wait_client_bytes(0, T, |b| ids(b, PUBACK).len() >= N);
    let (publishes, pubacks) = publishes_and_pubacks(&s.proxy, 0);
    assert!(
        all && publishes == pubacks,
        "after the queue behind a pending write was written in part ({direct} PUBACKs \
         written first, {queued} queued): {}",
        mismatch(&publishes, &pubacks)
    );

    // Acknowledgements go on as before.
    s.publish(N as u64 + 1..N as u64 + 51);
    assert_eq!(s.receive_and_ack(50, T), 50, "messages after the release");
    let all = s
        .proxy
        .wait_client_bytes(0, T, |b| ids(b, PUBACK).len() >= N + 50);
    let (publishes, pubacks) = publishes_and_pubacks(&s.proxy, 0);
    assert!(
        all && publishes == pubacks,
        "50 more messages: {}",
        mismatch(&publishes, &pubacks)
    );
}

/// The connection ends while PUBACKs wait behind a pending write: they go with it.
fn a_lost_connection_takes_its_queued_acks_with_it(version: u32) {
    /// Mosquitto's default in-flight window (`max_inflight_messages`), which applies to
    /// MQTT 5 clients that send no Receive Maximum too.
    const WINDOW: usize = 20;
    /// QoS 1 messages acknowledged behind the pending write.
    const QUEUED: u64 = 5;
    /// Messages published after the reconnect: more than the window.
    const MORE: u64 = WINDOW as u64 + 50;
    trace_paho();
    let id = unique("qlost");
    let s = Setup::start(Broker::start(), version, &id);
    let will_topic = format!("{id}/will");
    s.observer.subscribe(&will_topic, 1);
    let mut failures = Vec::new();

    // Messages received, not yet acknowledged (Paho reads nothing while a write is pending).
    s.publish(1..QUEUED + 1);
    let msgs = s.receive(QUEUED as usize);
    // A write too large for the socket, while the proxy reads nothing: it stays pending.
    s.proxy.hold();
    let _big = s.consumer.client().publish(paho::Message::new(
        format!("{id}/big"),
        vec![0u8; 4 << 20],
        0,
    ));
    assert!(
        wait_until(T, || s.proxy.held_bytes() > 0),
        "the client did not begin to write its publish"
    );
    s.ack(&msgs);
    acks_taken();

    // The connection fails; the broker sees it closed without DISCONNECT.
    s.proxy.cut();
    let will = s.observer.expect_message(&will_topic, T);
    assert_eq!(will.payload_str(), "gone", "the will of the cut connection");
    assert!(
        wait_until(T, || !s.consumer.client().is_connected()),
        "the client did not notice the cut"
    );
    s.proxy.resume();
    s.consumer.connect_again();
    assert_eq!(s.proxy.connections(), 2);

    // The broker sends the unacknowledged messages again, then MORE new ones.
    s.publish(QUEUED + 1..QUEUED + MORE + 1);
    let expected = (QUEUED + MORE) as usize;
    let got = s.receive_and_ack(expected, T);
    if got != expected {
        failures.push(format!(
            "after the reconnect {got} of {expected} messages were delivered (the broker's \
             window is {WINDOW})"
        ));
    }
    let all = s
        .proxy
        .wait_client_bytes(1, T, |b| ids(b, PUBACK).len() >= got);
    let (publishes, pubacks) = publishes_and_pubacks(&s.proxy, 1);
    if !all || publishes != pubacks {
        failures.push(format!(
            "on the new connection: {}",
            mismatch(&publishes, &pubacks)
        ));
    }

    // A graceful disconnect: DISCONNECT, and no will.
    let ends = format!("Client {id} ");
    let ended = s.broker.count_in_log(&ends);
    let disconnect_started = Instant::now();
    s.consumer.disconnect();
    let took = disconnect_started.elapsed();
    assert!(
        s.broker.wait_for_log(&ends, ended + 1, T),
        "the broker did not see the connection end: {}",
        s.broker.log_tail(20)
    );
    let last = split_packets(&s.proxy.client_bytes(1)).pop();
    let last_kind = last.as_ref().map(|p| p[0] >> 4);
    if last_kind != Some(DISCONNECT[0] >> 4) {
        failures.push(format!(
            "the graceful disconnect (which took {took:?}) sent no DISCONNECT; the client's \
             last packet was of type {last_kind:?}"
        ));
    }
    // A marker published now arrives after any will.
    s.observer.publish(&will_topic, "marker", 1);
    let next = s.observer.expect_message(&will_topic, T);
    if next.payload_str() != "marker" {
        failures.push(format!(
            "the broker published the will ({:?}) after the graceful disconnect",
            next.payload_str()
        ));
    }
    assert!(
        failures.is_empty(),
        "{}\nbroker log:\n{}",
        failures.join("\n"),
        s.broker.log_tail(12)
    );
}

#[test]
fn every_queued_ack_goes_out_once_in_order_mqtt_3_1_1() {
    every_queued_ack_goes_out_once_in_order(paho::MQTT_VERSION_3_1_1);
}

#[test]
fn every_queued_ack_goes_out_once_in_order_mqtt_5() {
    every_queued_ack_goes_out_once_in_order(paho::MQTT_VERSION_5);
}

#[test]
fn a_lost_connection_takes_its_queued_acks_with_it_mqtt_3_1_1() {
    a_lost_connection_takes_its_queued_acks_with_it(paho::MQTT_VERSION_3_1_1);
}

#[test]
fn a_lost_connection_takes_its_queued_acks_with_it_mqtt_5() {
    a_lost_connection_takes_its_queued_acks_with_it(paho::MQTT_VERSION_5);
}
