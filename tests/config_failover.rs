//! Several brokers in `MQTT_BROKER_URL`: tried in order at every (re)connect, with
//! failover between two real Mosquittos; and the startup warning for shared
//! subscriptions on a protocol that cannot confirm them, or from a broker whose CONNACK
//! says it has none (a loopback server playing an MQTT 5 broker).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{
    decode_subscribe_v5, decode_unsubscribe_v5, encode_connack_v5, encode_suback_v5,
    encode_unsuback_v5, read_packet, unique, wait_until, Broker, Observer, Recorder,
};
use mqtt::{Client, Config, LogLevel};

const T: Duration = Duration::from_secs(20);

/// (client id, topic) of every message handled.
static GOT: Recorder<(String, String)> = Recorder::new();
/// (client id, level, line) of every on_log line.
static LOG: Recorder<(String, LogLevel, String)> = Recorder::new();

#[mqtt::on_message("failover/#", qos = 1)]
fn failover(client: mqtt::Mqtt, msg: mqtt::Message) {
    GOT.push((client.client_id().to_owned(), msg.topic().to_owned()));
}

/// Declared for every client of this binary: the shared-subscription check sees it.
#[mqtt::on_message("jobs/#", shared = "failover-workers")]
fn jobs(client: mqtt::Mqtt, msg: mqtt::Message) {
    GOT.push((client.client_id().to_owned(), msg.topic().to_owned()));
}

#[mqtt::on_log]
fn log_line(client: mqtt::Mqtt, entry: mqtt::LogEntry) {
    LOG.push((
        client.client_id().to_owned(),
        entry.level(),
        entry.message().to_owned(),
    ));
}

fn got(id: &str, topic: &str) -> bool {
    GOT.wait_for(T, |g| g.iter().any(|(i, t)| i == id && t == topic))
}

#[test]
fn a_broker_list_fails_over_in_order_and_back() {
    let first = Broker::start();
    let second = Broker::start();
    let id = unique("failover");
    let url = format!(
        "tcp://127.0.0.1:{},tcp://127.0.0.1:{}",
        first.port(),
        second.port()
    );
    let config = Config::builder()
        .broker_url(&url)
        .client_id(&id)
        .keepalive(Duration::from_secs(2))
        .reconnect_delay(Duration::from_millis(200), Duration::from_millis(500))
        .build()
        .unwrap();
    assert_eq!(config.server_uris().len(), 2);
    let client = Client::start(config).unwrap();
    let h = client.handle();

    // Both up: the first one in the list.
    assert!(wait_until(T, || h.health().is_ready()));
    assert_eq!(h.health().broker(), Some(first.uri().as_str()));
    Observer::connect(&first).publish("failover/one", "x", 1);
    assert!(got(&id, "failover/one"));

    // The first dies: the client moves to the second and resubscribes there.
    first.kill();
    assert!(wait_until(T, || {
        let health = h.health();
        health.is_ready() && health.broker() == Some(second.uri().as_str())
    }));
    assert_eq!(h.health().connects(), 2);
    assert!(
        second.wait_for_log(&format!("{id} 1 failover/#"), 1, T),
        "no resubscription on the second broker: {}",
        second.log_tail(20)
    );
    Observer::connect(&second).publish("failover/two", "x", 1);
    assert!(got(&id, "failover/two"));

    // The first comes back and the second dies: back to the first.
    first.start_again();
    second.kill();
    assert!(wait_until(T, || {
        let health = h.health();
        health.is_ready() && health.broker() == Some(first.uri().as_str())
    }));
    Observer::connect(&first).publish("failover/three", "x", 1);
    assert!(got(&id, "failover/three"));
    println!(
        "failover: {} connects, first -> second -> first",
        h.health().connects()
    );
}

#[test]
fn the_first_broker_down_at_boot_means_the_second_is_used() {
    let first = Broker::start();
    first.stop();
    let second = Broker::start();
    let id = unique("failover-boot");
    let client = Client::start(
        Config::builder()
            .broker_url(format!(
                "127.0.0.1:{},127.0.0.1:{}",
                first.port(),
                second.port()
            ))
            .client_id(&id)
            .connect_mode(mqtt::ConnectMode::Required)
            .build()
            .unwrap(),
    )
    .expect("required mode connects to the second broker");
    assert_eq!(
        client.handle().health().broker(),
        Some(second.uri().as_str())
    );
}

/// Waits until the client's `connected to` log line went through on_log; a warning that
/// belongs to that connect is emitted just after it, and the `subscribed` line after both.
fn connect_log(id: &str) -> Vec<(LogLevel, String)> {
    assert!(LOG.wait_for(T, |l| l
        .iter()
        .any(|(i, _, m)| i == id && m.starts_with("subscribed to"))));
    LOG.snapshot()
        .into_iter()
        .filter(|(i, _, _)| i == id)
        .map(|(_, l, m)| (l, m))
        .collect()
}

#[test]
fn shared_subscriptions_on_mqtt_3_1_1_are_warned_about_once() {
    let broker = Broker::start();
    let id = unique("shared311");
    let client = Client::start(
        broker
            .config(&id)
            .reconnect_delay(Duration::from_millis(200), Duration::from_millis(500))
            .build()
            .unwrap(),
    )
    .unwrap();
    let lines = connect_log(&id);
    let warnings: Vec<_> = lines
        .iter()
        .filter(|(l, m)| *l == LogLevel::Warning && m.contains("$share/failover-workers/jobs/#"))
        .collect();
    assert_eq!(warnings.len(), 1, "{lines:?}");
    assert!(warnings[0].1.contains("MQTT 3.1.1"), "{}", warnings[0].1);
    assert!(
        warnings[0].1.contains("MQTT_PROTOCOL_VERSION=5"),
        "{}",
        warnings[0].1
    );

    // The subscription works on Mosquitto anyway, and the handler sees the real topic.
    Observer::connect(&broker).publish("jobs/1", "x", 1);
    assert!(got(&id, "jobs/1"));

    // Not again after a reconnect to the same broker.
    broker.restart();
    assert!(wait_until(T, || client.handle().health().connects() == 2));
    assert!(LOG.wait_for(T, |l| l
        .iter()
        .filter(|(i, _, m)| i == &id && m.starts_with("subscribed to"))
        .count()
        == 2));
    let again = LOG.count(|(i, l, m)| {
        i == &id && *l == LogLevel::Warning && m.contains("$share/failover-workers")
    });
    assert_eq!(again, 1, "warned again after the reconnect");
}

#[test]
fn shared_subscriptions_on_mqtt_5_are_checked_against_the_connack() {
    let broker = Broker::start();
    let id = unique("shared5");
    let _client = Client::start(
        broker
            .config(&id)
            .protocol_version(mqtt::ProtocolVersion::V5)
            .build()
            .unwrap(),
    )
    .unwrap();
    // Mosquitto supports them (its CONNACK leaves the property out, which means yes).
    let lines = connect_log(&id);
    assert!(
        !lines
            .iter()
            .any(|(l, m)| *l == LogLevel::Warning && m.contains("$share")),
        "{lines:?}"
    );
    Observer::connect(&broker).publish("jobs/5", "x", 1);
    assert!(got(&id, "jobs/5"));
}

/// A loopback MQTT 5 "broker" for one connection: it answers the CONNECT with a CONNACK
/// whose Shared Subscription Available property is 0, grants every SUBSCRIBE at QoS 0,
/// confirms every UNSUBSCRIBE and answers PINGREQs, until the client goes. Returns its port; the thread returns
/// every filter it was asked for.
fn broker_without_shared_subscriptions() -> (u16, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let connect = read_packet(&mut stream).unwrap();
        assert_eq!(connect[0] >> 4, 1, "a CONNECT first: {connect:?}");
        let mut out = Vec::new();
        encode_connack_v5(&mut out, 0, &[0x2A, 0]);
        stream.write_all(&out).unwrap();
        let mut asked = Vec::new();
        // Until the client closes the connection.
        while let Ok(packet) = read_packet(&mut stream) {
            out.clear();
            if let Some((id, filters)) = decode_subscribe_v5(&packet) {
                encode_suback_v5(&mut out, id, &vec![0; filters.len()]);
                asked.extend(filters);
            } else if let Some((id, filters)) = decode_unsubscribe_v5(&packet) {
                encode_unsuback_v5(&mut out, id, &vec![0; filters.len()]);
            } else if packet[0] == 0xC0 {
                out.extend_from_slice(&[0xD0, 0]); // PINGRESP
            }
            if stream.write_all(&out).is_err() {
                break;
            }
        }
        asked
    });
    (port, server)
}

#[test]
fn a_connack_saying_shared_subscriptions_are_unavailable_is_warned_about() {
    let (port, server) = broker_without_shared_subscriptions();
    let id = unique("shared5-none");
    let client = Client::start(
        Config::builder()
            .broker_url("127.0.0.1")
            .port(port)
            .client_id(&id)
            .protocol_version(mqtt::ProtocolVersion::V5)
            .build()
            .unwrap(),
    )
    .unwrap();
    let lines = connect_log(&id);
    let warnings: Vec<_> = lines
        .iter()
        .filter(|(l, m)| *l == LogLevel::Warning && m.contains("$share"))
        .collect();
    assert_eq!(warnings.len(), 1, "{lines:?}");
    assert!(
        warnings[0].1.contains(
            "the broker's CONNACK says shared subscriptions are not available, so \
             `$share/failover-workers/jobs/#` will be refused or treated as an ordinary topic"
        ),
        "{}",
        warnings[0].1
    );
    drop(client);
    // The client asked for the shared subscription all the same.
    let asked = server.join().unwrap();
    assert!(
        asked.iter().any(|f| f == "$share/failover-workers/jobs/#"),
        "{asked:?}"
    );
}
