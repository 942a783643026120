//! Paho C's PUBLISH trace lines, sent and received, still quote the payload when the trace
//! is at PROTOCOL level (docs/paho-fork.md, patch 25: the payload is formatted only for a
//! line that is written). The excerpt is Paho's: at most 30 characters, unprintable bytes
//! as `\xHH`.
//!
//! One test in its own binary: the trace callback and level are process-wide.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use flask_mqtt_tests::paho_mqtt as paho;
use flask_mqtt_tests::{connected_consumer, paho_client, unique, Broker};
use paho::ffi_trace_level;

const T: Duration = Duration::from_secs(10);

/// A payload of 47 bytes for `qos` (49 for `quiet`), two of them unprintable, longer than
/// Paho's excerpt.
fn payload(word: &str, qos: i32) -> Vec<u8> {
    let mut p = format!("{word} {qos} ").into_bytes();
    p.extend_from_slice(b"\x00\xff and a tail that runs past thirty bytes");
    p
}

/// What Paho's trace shows of `payload("qos", qos)`: its first 30 characters.
fn excerpt(qos: i32) -> String {
    format!(r"payload len(47): qos {qos} \x00\xFF and a tail that")
}

/// Publishes `payload(word, qos)` at QoS 0, 1 and 2 to `topic` and receives each back.
fn round(
    cli: &paho::AsyncClient,
    rx: &paho::SyncReceiver<Option<paho::Message>>,
    topic: &str,
    word: &str,
) {
    for qos in 0..=2 {
        cli.publish(paho::Message::new(topic, payload(word, qos), qos))
            .wait_for(T)
            .expect("publish");
        let m = rx.recv_timeout(T).expect("own message").expect("connected");
        assert_eq!(m.payload(), payload(word, qos).as_slice());
    }
}

#[test]
fn publish_lines_at_protocol_level_quote_the_payload_sent_and_received() {
    let broker = Broker::start();
    let id = unique("pubtrace");
    let cli = paho_client(&broker.uri(), &id);
    let (tx, lines) = mpsc::channel::<String>();
    let tx = Mutex::new(tx);
    // Errors only first (flask-mqtt's level without `on_log` handlers): no PUBLISH line.
    paho::set_client_trace_callback(ffi_trace_level::ERROR, move |line| {
        let _ = tx.lock().unwrap().send(line.message().to_owned());
    });
    let (rx, topic) = connected_consumer(&cli, &id, T);
    round(&cli, &rx, &topic, "quiet");

    // Raised at run time, as flask-mqtt does when a client with `on_log` handlers starts.
    let sink = lines;
    let (tx, lines) = mpsc::channel::<String>();
    let tx = Mutex::new(tx);
    paho::set_client_trace_callback(ffi_trace_level::PROTOCOL, move |line| {
        let _ = tx.lock().unwrap().send(line.message().to_owned());
    });
    let quiet: Vec<String> = sink.try_iter().filter(|l| l.contains("PUBLISH")).collect();
    assert!(
        quiet.is_empty(),
        "PUBLISH lines written at ERROR level: {quiet:#?}"
    );
    round(&cli, &rx, &topic, "qos");

    // Each way, each QoS: `<socket> <id> -> PUBLISH ... qos: N ... payload len(47): ...`.
    let mut missing: Vec<(String, i32)> = (0..=2)
        .flat_map(|qos| ["->", "<-"].map(|dir| (format!("{id} {dir} PUBLISH"), qos)))
        .collect();
    let mut seen = Vec::new();
    let deadline = Instant::now() + T;
    while !missing.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = lines.recv_timeout(left) else {
            break;
        };
        missing.retain(|(packet, qos)| {
            !(line.contains(packet.as_str())
                && line.contains(&format!(" qos: {qos} "))
                && line.ends_with(&excerpt(*qos)))
        });
        seen.push(line);
    }
    cli.disconnect(None).wait_for(T).expect("disconnect");
    paho::clear_client_trace_callback();
    assert!(
        missing.is_empty(),
        "no PUBLISH line ending with the payload's excerpt for {missing:?}; lines: {seen:#?}"
    );
}
