//! Deferred acknowledgements in our Paho C and its Rust API (issue 15 item 1;
//! docs/paho-fork.md, "deferred acknowledgements"), at the paho layer (no framework),
//! against a real Mosquitto, for QoS 1 and 2 on MQTT 3.1.1 and 5: a message the
//! application did not acknowledge comes again after a reconnect of its persistent
//! session and one it did does not; acknowledgements leave in arrival order whatever the
//! order of the calls; an acknowledgement for a connection that ended is refused and never
//! reaches the next connection (which reuses the packet id); keep-alive survives a long
//! unacknowledged message; a QoS 1 publish and a subscribe complete while a message is
//! unacknowledged; an acknowledgement given inside the message callback is sent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::mpsc;
use std::time::Duration;

use flask_mqtt_tests::paho_mqtt as paho;
use flask_mqtt_tests::{unique, Broker, Observer, SessionClient, SessionOptions};
use paho::AckOutcome;

const T: Duration = Duration::from_secs(10);

/// The MQTT version and QoS of one run of a test.
#[derive(Clone, Copy, Debug)]
struct Case {
    version: u32,
    qos: i32,
}

impl Case {
    fn opts(self) -> SessionOptions {
        SessionOptions::new(self.version).manual_acks(true)
    }

    /// Mosquitto's log line for the acknowledgement this QoS defers.
    fn ack_line(self, id: &str) -> String {
        match self.qos {
            1 => format!("Received PUBACK from {id} (Mid: "),
            _ => format!("Received PUBREC from {id} (Mid: "),
        }
    }
}

/// A consumer with manual acknowledgements subscribed to `<id>/t`, and an observer that
/// publishes there.
struct Setup {
    broker: Broker,
    consumer: SessionClient,
    observer: Observer,
    topic: String,
    case: Case,
}

impl Setup {
    fn new(case: Case, broker: Broker, opts: SessionOptions) -> Setup {
        let id = unique("ack");
        let topic = format!("{id}/t");
        let consumer = SessionClient::connect(&broker, &id, opts);
        consumer.subscribe(&topic, case.qos);
        let observer = Observer::connect(&broker);
        Setup {
            broker,
            consumer,
            observer,
            topic,
            case,
        }
    }

    fn start(case: Case) -> Setup {
        Setup::new(case, Broker::start(), case.opts())
    }

    fn publish(&self, payloads: impl IntoIterator<Item = usize>) {
        for i in payloads {
            self.observer
                .publish(&self.topic, i.to_string(), self.case.qos);
        }
    }

    fn receive(&self, n: usize) -> Vec<paho::Message> {
        (0..n).map(|_| self.consumer.expect_message(T)).collect()
    }

    fn ack(&self, msg: &paho::Message) -> AckOutcome {
        self.consumer
            .client()
            .ack(msg)
            .unwrap_or_else(|e| panic!("ack of {}: {e}", msg.payload_str()))
    }

    fn release(&self, msg: &paho::Message) -> AckOutcome {
        let token = msg.ack_token().expect("a QoS 1/2 message with manual acks");
        self.consumer
            .client()
            .release(token)
            .unwrap_or_else(|e| panic!("release of {}: {e}", msg.payload_str()))
    }

    /// Returns once the broker has logged every packet the consumer sent before the
    /// call: a QoS 1 publish from the consumer goes out after them on the same
    /// connection, and the broker logs packets in the order they arrive.
    fn barrier(&self) {
        let id = self.consumer.id();
        let topic = format!("{}/barrier", self.topic);
        let line = format!("Received PUBLISH from {id} (d0, q1, r0, m");
        let before = self.broker.count_in_log(&line);
        self.consumer
            .client()
            .publish(paho::Message::new(&topic, "barrier", 1))
            .wait_for(T)
            .expect("the barrier publish");
        assert!(
            self.broker.wait_for_log(&line, before + 1, T),
            "{}",
            self.broker.log_tail(20)
        );
    }

    /// Disconnects and connects again (same session).
    fn reconnect(&self) {
        self.consumer.disconnect();
        self.consumer.connect_again();
    }

    /// Publishes a marker and returns every message received before it: what the broker
    /// sent again when the session resumed (it sends those first). Acknowledges the marker.
    fn redelivered(&self) -> Vec<paho::Message> {
        self.observer.publish(&self.topic, "marker", self.case.qos);
        let mut before = Vec::new();
        loop {
            let m = self.consumer.expect_message(T);
            if m.payload_str() == "marker" {
                assert_eq!(self.ack(&m), AckOutcome::Accepted);
                return before;
            }
            before.push(m);
        }
    }
}

fn payloads(msgs: &[paho::Message]) -> Vec<String> {
    msgs.iter().map(|m| m.payload_str().into_owned()).collect()
}

fn unacked_messages_come_again_after_a_reconnect_and_acked_ones_do_not(case: Case) {
    let s = Setup::start(case);
    s.publish(1..=4);
    let got = s.receive(4);
    assert_eq!(payloads(&got), ["1", "2", "3", "4"]);
    for m in &got {
        let token = m
            .ack_token()
            .expect("a QoS 1/2 message with manual acks has a token");
        assert_eq!(token.qos(), paho::QoS::from(case.qos));
        assert!(!m.duplicate());
    }
    // 3 and 4 are acknowledged before 2, which never is: their acknowledgements wait
    // behind it (MQTT requires arrival order), so only 1 is acknowledged to the broker.
    for i in [0, 2, 3] {
        assert_eq!(s.ack(&got[i]), AckOutcome::Accepted);
    }
    s.reconnect();
    let again = s.redelivered();
    assert_eq!(
        payloads(&again),
        ["2", "3", "4"],
        "after the reconnect; broker log:\n{}",
        s.broker.log_tail(30)
    );
    assert!(
        again.iter().all(paho::Message::duplicate),
        "sent again with DUP"
    );
    for m in &again {
        assert_eq!(s.ack(m), AckOutcome::Accepted);
    }
    s.reconnect();
    assert_eq!(payloads(&s.redelivered()), Vec::<String>::new());
}

fn acks_given_in_reverse_leave_in_arrival_order(case: Case) {
    const WINDOW: usize = 10;
    const N: usize = 25;
    let s = Setup::new(
        case,
        Broker::builder()
            .extra(format!("max_inflight_messages {WINDOW}"))
            .start(),
        case.opts(),
    );
    s.publish(1..=N);
    let mut received = Vec::new();
    // The broker sends a window at a time; each is acknowledged last to first.
    while received.len() < N {
        let batch = s.receive(WINDOW.min(N - received.len()));
        for m in batch.iter().rev() {
            assert_eq!(s.ack(m), AckOutcome::Accepted);
        }
        received.extend(batch);
    }
    let expected: Vec<String> = (1..=N).map(|i| i.to_string()).collect();
    assert_eq!(payloads(&received), expected);
    // Every acknowledgement was sent (nothing comes again), then a marker is acknowledged.
    s.reconnect();
    assert_eq!(payloads(&s.redelivered()), Vec::<String>::new());
    // Mosquitto logs the packet id of every PUBLISH it sent and of every acknowledgement
    // it received: the same sequence, each once.
    let id = s.consumer.id();
    let ack_line = case.ack_line(id);
    assert!(
        s.broker.wait_for_log(&ack_line, N + 1, T),
        "{}",
        s.broker.log_tail(30)
    );
    let log = s.broker.log();
    let sent: Vec<&str> = log
        .lines()
        .filter_map(|l| {
            l.split_once(&format!("Sending PUBLISH to {id} ("))?
                .1
                .split(", ")
                .nth(3)
        })
        .collect();
    let acked: Vec<String> = log
        .lines()
        .filter_map(|l| {
            let mid = l.split_once(&ack_line)?.1;
            Some(format!("m{}", mid.split([',', ')']).next()?))
        })
        .collect();
    assert_eq!(sent.len(), N + 1, "{sent:?}");
    assert_eq!(acked, sent, "acknowledgements out of arrival order");
}

fn an_ack_for_a_connection_that_ended_is_refused_and_never_reaches_the_next(case: Case) {
    let s = Setup::start(case);
    s.publish([1]);
    let first = s.receive(1).remove(0);
    let old = first.ack_token().unwrap();
    s.consumer.disconnect();
    assert_eq!(
        s.ack(&first),
        AckOutcome::ConnectionGone,
        "while disconnected"
    );
    s.consumer.connect_again();
    let second = s.receive(1).remove(0);
    let new = second.ack_token().unwrap();
    assert_eq!(second.payload_str(), "1");
    assert_eq!(
        new.packet_id(),
        old.packet_id(),
        "the broker resends with the same packet id"
    );
    assert_ne!(new.connection(), old.connection());
    // The new connection awaits an acknowledgement for the same packet id: the old token
    // must not give it.
    assert_eq!(
        s.ack(&first),
        AckOutcome::ConnectionGone,
        "on the next connection"
    );
    s.reconnect();
    let third = s.receive(1).remove(0);
    assert_eq!(
        third.payload_str(),
        "1",
        "the stale acknowledgement was sent"
    );
    assert_eq!(s.ack(&second), AckOutcome::ConnectionGone);
    assert_eq!(s.ack(&third), AckOutcome::Accepted);
    assert!(
        matches!(
            s.consumer.client().ack(&third),
            Err(paho::Error::AckUnknown)
        ),
        "a second acknowledgement of the same message"
    );
    s.reconnect();
    assert_eq!(payloads(&s.redelivered()), Vec::<String>::new());
}

fn keep_alive_survives_a_long_unacknowledged_message(case: Case) {
    let s = Setup::new(
        case,
        Broker::start(),
        case.opts().keepalive(Duration::from_secs(2)),
    );
    s.publish([1]);
    let m = s.receive(1).remove(0);
    let id = s.consumer.id().to_owned();
    // Held unacknowledged over three keep-alive exchanges (about 6 s, 3 keep-alive periods;
    // Mosquitto drops a client silent for 1.5).
    let pings = format!("Received PINGREQ from {id}");
    assert!(
        s.broker.wait_for_log(&pings, 3, Duration::from_secs(30)),
        "{}",
        s.broker.log_tail(20)
    );
    assert!(s.consumer.client().is_connected());
    assert_eq!(
        s.broker.connections_from(&id),
        1,
        "{}",
        s.broker.log_tail(20)
    );
    assert_eq!(
        s.broker.count_in_log(&format!("Client {id} ")),
        0,
        "{}",
        s.broker.log_tail(20)
    );
    assert_eq!(s.ack(&m), AckOutcome::Accepted);
    assert!(
        s.broker.wait_for_log(&case.ack_line(&id), 1, T),
        "{}",
        s.broker.log_tail(20)
    );
    s.reconnect();
    assert_eq!(payloads(&s.redelivered()), Vec::<String>::new());
}

fn publish_and_subscribe_complete_while_a_message_is_unacknowledged(case: Case) {
    let s = Setup::start(case);
    s.publish([1]);
    let m = s.receive(1).remove(0);
    let cli = s.consumer.client();
    let out = format!("{}/out", s.topic);
    s.observer.subscribe(&out, 1);
    cli.publish(paho::Message::new(&out, "reply", 1))
        .wait_for(T)
        .expect("a QoS 1 publish while a message is unacknowledged");
    cli.subscribe(format!("{}/more", s.topic), case.qos)
        .wait_for(T)
        .expect("a subscribe while a message is unacknowledged");
    assert_eq!(s.observer.expect_message(&out, T).payload_str(), "reply");
    assert_eq!(s.ack(&m), AckOutcome::Accepted);
    s.reconnect();
    assert_eq!(payloads(&s.redelivered()), Vec::<String>::new());
}

fn an_ack_given_inside_the_message_callback_is_sent(case: Case) {
    let s = Setup::start(case);
    let (tx, rx) = mpsc::channel();
    s.consumer.client().set_message_callback(move |cli, msg| {
        if let Some(msg) = msg {
            let _ = tx.send((msg.payload_str().into_owned(), cli.ack(&msg).ok()));
        }
    });
    s.publish(1..=3);
    for i in 1..=3 {
        let (payload, outcome) = rx.recv_timeout(T).expect("the callback ran");
        assert_eq!(payload, i.to_string());
        assert_eq!(outcome, Some(AckOutcome::Accepted));
    }
    let id = s.consumer.id();
    assert!(
        s.broker.wait_for_log(&s.case.ack_line(id), 3, T),
        "{}",
        s.broker.log_tail(20)
    );
}

fn a_released_message_comes_again_after_a_reconnect_and_later_acks_go_out(case: Case) {
    let s = Setup::start(case);
    s.publish(1..=4);
    let got = s.receive(4);
    assert_eq!(payloads(&got), ["1", "2", "3", "4"]);
    let id = s.consumer.id().to_owned();
    // 3 and 4 are acknowledged before 2 is released: they wait for it, then go out.
    assert_eq!(s.ack(&got[0]), AckOutcome::Accepted);
    assert_eq!(s.ack(&got[2]), AckOutcome::Accepted);
    assert_eq!(s.ack(&got[3]), AckOutcome::Accepted);
    assert!(
        s.broker.wait_for_log(&case.ack_line(&id), 1, T),
        "{}",
        s.broker.log_tail(20)
    );
    // Whatever the consumer sent for 3 and 4 is in the log by now.
    s.barrier();
    assert_eq!(
        s.broker.count_in_log(&case.ack_line(&id)),
        1,
        "3 and 4 wait for 2: {}",
        s.broker.log_tail(20)
    );
    assert_eq!(s.release(&got[1]), AckOutcome::Accepted);
    assert!(
        s.broker.wait_for_log(&case.ack_line(&id), 3, T),
        "the acknowledgements of 3 and 4 went out after the release of 2: {}",
        s.broker.log_tail(20)
    );
    // Settled once: a second release or an acknowledgement is refused, and sends nothing.
    let token = got[1].ack_token().unwrap();
    assert!(matches!(
        s.consumer.client().release(token),
        Err(paho::Error::AckUnknown)
    ));
    assert!(matches!(
        s.consumer.client().ack(&got[1]),
        Err(paho::Error::AckUnknown)
    ));
    s.reconnect();
    let again = s.redelivered();
    assert_eq!(
        payloads(&again),
        ["2"],
        "after the reconnect; broker log:\n{}",
        s.broker.log_tail(30)
    );
    assert!(again[0].duplicate(), "sent again with DUP");
    assert_eq!(s.ack(&again[0]), AckOutcome::Accepted);
    s.reconnect();
    assert_eq!(payloads(&s.redelivered()), Vec::<String>::new());
}

fn unacked_counts_the_messages_awaiting_an_ack_or_a_release(case: Case) {
    let s = Setup::start(case);
    let cli = s.consumer.client();
    assert_eq!(cli.unacked(), 0);
    s.publish(1..=3);
    let got = s.receive(3);
    assert_eq!(cli.unacked(), 3);
    // Acknowledged out of order: 2 waits for 1, but the application has settled it.
    assert_eq!(s.ack(&got[1]), AckOutcome::Accepted);
    assert_eq!(cli.unacked(), 2);
    assert_eq!(s.release(&got[0]), AckOutcome::Accepted);
    assert_eq!(cli.unacked(), 1);
    assert_eq!(s.ack(&got[2]), AckOutcome::Accepted);
    assert_eq!(cli.unacked(), 0);
    // A connection that ends takes its unacknowledged messages with it.
    s.publish([4]);
    let fourth = s.receive(1).remove(0);
    assert_eq!(cli.unacked(), 1);
    s.consumer.disconnect();
    assert_eq!(cli.unacked(), 0);
    assert_eq!(s.ack(&fourth), AckOutcome::ConnectionGone);
    // Comes again (with 1, released) on the next connection, and counts there.
    s.consumer.connect_again();
    let again = s.receive(2);
    assert_eq!(payloads(&again), ["1", "4"]);
    assert_eq!(cli.unacked(), 2);
    for m in &again {
        assert_eq!(s.ack(m), AckOutcome::Accepted);
    }
    assert_eq!(cli.unacked(), 0);
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        mod mqtt_3_1_1_qos_1 { $(#[test] fn $name() { super::$name(super::Case { version: super::paho::MQTT_VERSION_3_1_1, qos: 1 }); })* }
        mod mqtt_3_1_1_qos_2 { $(#[test] fn $name() { super::$name(super::Case { version: super::paho::MQTT_VERSION_3_1_1, qos: 2 }); })* }
        mod mqtt_5_qos_1 { $(#[test] fn $name() { super::$name(super::Case { version: super::paho::MQTT_VERSION_5, qos: 1 }); })* }
        mod mqtt_5_qos_2 { $(#[test] fn $name() { super::$name(super::Case { version: super::paho::MQTT_VERSION_5, qos: 2 }); })* }
    };
}

cases!(
    unacked_messages_come_again_after_a_reconnect_and_acked_ones_do_not,
    acks_given_in_reverse_leave_in_arrival_order,
    an_ack_for_a_connection_that_ended_is_refused_and_never_reaches_the_next,
    keep_alive_survives_a_long_unacknowledged_message,
    publish_and_subscribe_complete_while_a_message_is_unacknowledged,
    an_ack_given_inside_the_message_callback_is_sent,
    a_released_message_comes_again_after_a_reconnect_and_later_acks_go_out,
    unacked_counts_the_messages_awaiting_an_ack_or_a_release,
);

#[test]
fn without_manual_acks_messages_carry_no_token_and_need_no_ack() {
    let case = Case {
        version: paho::MQTT_VERSION_3_1_1,
        qos: 1,
    };
    let s = Setup::new(case, Broker::start(), SessionOptions::new(case.version));
    s.publish([1]);
    let m = s.receive(1).remove(0);
    assert_eq!(m.ack_token(), None);
    assert_eq!(s.ack(&m), AckOutcome::NotNeeded);
    assert_eq!(s.consumer.client().unacked(), 0);
}

#[test]
fn manual_acks_need_a_client_without_persistence() {
    let dir = tempfile::tempdir().unwrap();
    let err = paho::CreateOptionsBuilder::new()
        .server_uri("tcp://127.0.0.1:1")
        .client_id(unique("persist"))
        .persistence(paho::PersistenceType::FilePath(dir.path().to_owned()))
        .manual_acks(true)
        .create_client()
        .err();
    assert!(
        matches!(err, Some(paho::Error::PersistenceError)),
        "{err:?}"
    );
}
