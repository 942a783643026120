//! A graceful stop never publishes the last will, even when the broker lags (issue 14
//! item 4; docs/paho-fork.md, "a drained DISCONNECT").
//!
//! The setup that leaked the will: Mosquitto with persistence and `autosave_on_changes`,
//! restarted with a backlog of QoS 1 messages for the app's persistent session; the app
//! is stopped with SIGTERM while the broker is still sending that backlog. The app
//! acknowledges every message it reads, so thousands of PUBACKs (and then the DISCONNECT)
//! queue in the broker's socket, while the broker's messages queue in the app's. When the
//! app closed its socket with unread data in it, the kernel answered with a reset, the
//! broker never read the DISCONNECT ("disconnected: Broken pipe"), and published the will.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{Duration, Instant};

use flask_mqtt_tests::paho_mqtt as paho;
use flask_mqtt_tests::{unique, AppProcess, Broker, Observer};

const T: Duration = Duration::from_secs(30);
/// Stops per protocol version.
const STOPS: usize = 10;
/// QoS 1 messages queued for the app's session before the broker restarts.
const BACKLOG: usize = 3_000;

/// A raw client with the app's client id and a persistent session, subscribed to its
/// data topic at QoS 1: it creates the session the app will resume.
fn create_session(broker: &Broker, id: &str, version: u32) {
    let client = paho::CreateOptionsBuilder::new()
        .server_uri(broker.uri())
        .client_id(id)
        .mqtt_version(version)
        .persistence(paho::PersistenceType::None)
        .create_client()
        .unwrap();
    let mut opts = paho::ConnectOptionsBuilder::with_mqtt_version(version);
    if version == paho::MQTT_VERSION_5 {
        opts.clean_start(false)
            .properties(paho::properties![paho::PropertyCode::SessionExpiryInterval => 3600]);
    } else {
        opts.clean_session(false);
    }
    client.connect(opts.finalize()).wait_for(T).unwrap();
    client
        .subscribe(format!("gw/{id}/data"), 1)
        .wait_for(T)
        .unwrap();
    client.disconnect(None).wait_for(T).unwrap();
}

/// Ends the session `create_session` made (so that the broker's database, saved after
/// every change, stays small).
fn remove_session(broker: &Broker, id: &str, version: u32) {
    let client = paho::CreateOptionsBuilder::new()
        .server_uri(broker.uri())
        .client_id(id)
        .mqtt_version(version)
        .persistence(paho::PersistenceType::None)
        .create_client()
        .unwrap();
    let mut opts = paho::ConnectOptionsBuilder::with_mqtt_version(version);
    if version == paho::MQTT_VERSION_5 {
        opts.clean_start(true);
    } else {
        opts.clean_session(true);
    }
    client.connect(opts.finalize()).wait_for(T).unwrap();
    client.disconnect(None).wait_for(T).unwrap();
}

/// Publishes `n` QoS 1 messages to the app's (offline) session, a window at a time.
fn publish_backlog(broker: &Broker, id: &str, n: usize) {
    let publisher = Observer::connect(broker);
    let topic = format!("gw/{id}/data");
    let payload = vec![b'x'; 64];
    let mut pending = Vec::new();
    for i in 0..n {
        pending.push(
            publisher
                .client()
                .publish(paho::Message::new(&topic, payload.clone(), 1)),
        );
        if pending.len() == 50 || i + 1 == n {
            for tok in pending.drain(..) {
                tok.wait_for(T).unwrap();
            }
        }
    }
}

/// One graceful stop in the scenario; returns whether the broker published the
/// will, and whether it logged the DISCONNECT.
fn one_stop(broker: &Broker, version: u32) -> (bool, bool) {
    let id = unique("gw");
    create_session(broker, &id, version);
    publish_backlog(broker, &id, BACKLOG);
    // The backlog is in the database; the restarted broker reads it back.
    broker.stop();
    broker.start_again();
    let observer = Observer::connect(broker);
    let will_topic = format!("gw/{id}/will");
    observer.subscribe(&will_topic, 1);

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_graceful_will_app"));
    cmd.args([
        broker.port().to_string(),
        id.clone(),
        if version == paho::MQTT_VERSION_5 {
            "5"
        } else {
            "3"
        }
        .to_owned(),
    ]);
    let ends = format!("Client {id} "); // Mosquitto's line when a connection ends
    let ended = broker.count_in_log(&ends);
    let mut app = AppProcess::spawn("graceful_will_app", cmd);
    app.expect_line(T, |l| l == "received");
    let sent = Instant::now();
    app.terminate();
    let status = app
        .wait_exit(T)
        .expect("the app did not exit after SIGTERM");
    assert!(status.success(), "{status}");
    println!("{id}: exited {:?} after SIGTERM", sent.elapsed());

    // The broker has noticed the end of the connection one way or another.
    assert!(
        broker.wait_for_log(&ends, ended + 1, T),
        "{}",
        broker.log_tail(20)
    );
    // A marker published now arrives after any will.
    let probe = Observer::connect(broker);
    probe.publish(&will_topic, "marker", 1);
    let will = match observer
        .expect_message(&will_topic, T)
        .payload_str()
        .as_ref()
    {
        "gone" => true,
        "marker" => false,
        other => panic!("unexpected payload {other:?} on {will_topic}"),
    };
    // The session's creator disconnected once with the same id.
    let disconnect = broker.count_in_log(&format!("Received DISCONNECT from {id}")) > 1;
    if will || !disconnect {
        let lines: Vec<String> = broker
            .log()
            .lines()
            .filter(|l| l.contains(&id))
            .map(str::to_owned)
            .collect();
        println!(
            "{id}: will={will} DISCONNECT read={disconnect}: {:?}",
            &lines[lines.len().saturating_sub(4)..]
        );
    }
    remove_session(broker, &id, version);
    (will, disconnect)
}

fn stops(version: u32) {
    let broker = Broker::builder()
        .autosave_on_changes(1)
        .unlimited_queue()
        .dir_in("/dev/shm")
        .start();
    let mut wills = 0;
    let mut unread = 0;
    for _ in 0..STOPS {
        let (will, disconnect) = one_stop(&broker, version);
        wills += usize::from(will);
        unread += usize::from(!disconnect);
    }
    println!(
        "MQTT {}: the will was published after {wills} of {STOPS} graceful stops; the broker did not read the DISCONNECT in {unread}",
        if version == paho::MQTT_VERSION_5 { "5" } else { "3.1.1" }
    );
    assert_eq!(wills, 0, "graceful stops published the will");
    assert_eq!(unread, 0, "the broker did not read the DISCONNECT");
}

#[test]
fn a_graceful_stop_with_a_lagging_broker_sends_no_will_mqtt_3_1_1() {
    stops(paho::MQTT_VERSION_3_1_1);
}

#[test]
fn a_graceful_stop_with_a_lagging_broker_sends_no_will_mqtt_5() {
    stops(paho::MQTT_VERSION_5);
}
