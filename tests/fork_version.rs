//! The client runs on flask-mqtt's fork of Paho C (docs/paho-fork.md) and says so:
//! `mqtt::paho_version()` carries the fork's marker, and the client logs that version
//! once, at info level, when it first connects (not at its reconnects).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{unique, Broker, Recorder};
use mqtt::{Client, LogLevel};

const T: Duration = Duration::from_secs(20);

/// (client id, level, line) of every on_log line.
static LOG: Recorder<(String, LogLevel, String)> = Recorder::new();

#[mqtt::on_log]
fn log_line(client: mqtt::Mqtt, entry: mqtt::LogEntry) {
    LOG.push((
        client.client_id().to_owned(),
        entry.level(),
        entry.message().to_owned(),
    ));
}

fn lines_of(id: &str, prefix: &str) -> Vec<(LogLevel, String)> {
    LOG.snapshot()
        .into_iter()
        .filter(|(i, _, m)| i == id && m.starts_with(prefix))
        .map(|(_, l, m)| (l, m))
        .collect()
}

#[test]
fn paho_version_is_the_forks() {
    let version = mqtt::paho_version();
    let (paho, fork) = version
        .split_once("+flask-mqtt.")
        .unwrap_or_else(|| panic!("no fork marker in {version:?}"));
    assert!(paho.starts_with("1.3."), "{version}");
    assert!(!fork.is_empty(), "{version}");
}

#[test]
fn the_client_logs_the_paho_c_version_at_its_first_connect_only() {
    let broker = Broker::start();
    let id = unique("fork-version");
    let client = Client::start(
        broker
            .config(&id)
            .reconnect_delay(Duration::from_millis(100), Duration::from_millis(300))
            .build()
            .unwrap(),
    )
    .unwrap();
    let connects = |n: usize| {
        LOG.wait_for(T, |l| {
            l.iter()
                .filter(|(i, _, m)| *i == id && m.starts_with("connected to"))
                .count()
                >= n
        })
    };
    assert!(connects(1), "no connect line: {:?}", LOG.snapshot());
    broker.restart();
    assert!(connects(2), "no reconnect line: {:?}", LOG.snapshot());

    let expected = format!("Paho C {}", mqtt::paho_version());
    assert_eq!(
        lines_of(&id, "Paho C"),
        vec![(LogLevel::Info, expected)],
        "one version line, at the first connect"
    );
    drop(client);
}
