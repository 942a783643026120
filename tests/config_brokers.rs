//! Configuration against real Mosquitto listeners: MQTT 5, connect mode `required`, last
//! will on a killed process, several named brokers at once, the password kept out of
//! every log line, and the keep-alive the CONNECT carries (0 included).

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::BufRead;
use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{
    expect_no_will, paho_mqtt as paho, spawn_will_client, unique, wait_connected, wait_until,
    Broker, LogLines, Observer, Recorder,
};
use mqtt::{Client, Config, ConfigBuilder, QoS};

const T: Duration = Duration::from_secs(15);

static EVENTS: Recorder<(String, String, String)> = Recorder::new();
/// Every connect of a default client: its id and the `Debug` of its connect event.
static CONNECTS: Recorder<(String, String)> = Recorder::new();

#[mqtt::on_connect]
fn connected(c: mqtt::Mqtt, info: mqtt::Connected) {
    CONNECTS.push((c.client_id().to_owned(), format!("{info:?} {info:#?}")));
}

fn record(client: &mqtt::Mqtt, handler: &str, msg: &mqtt::Message) {
    let props: Vec<String> = msg
        .as_paho()
        .properties()
        .user_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    EVENTS.push((
        client.client_id().to_owned(),
        handler.to_owned(),
        format!(
            "{} {} [{}]",
            msg.topic(),
            String::from_utf8_lossy(msg.payload()),
            props.join(",")
        ),
    ));
}

#[mqtt::on_message("multi/#")]
fn default_broker(m: mqtt::Message, c: mqtt::Mqtt) {
    record(&c, "MQTT", &m);
}

#[mqtt::on_message("multi/#", broker = "MQTT2")]
fn second_broker(m: mqtt::Message, c: mqtt::Mqtt) {
    record(&c, "MQTT2", &m);
}

#[mqtt::on_message("multi/#", broker = "MQTT3")]
fn third_broker(m: mqtt::Message, c: mqtt::Mqtt) {
    record(&c, "MQTT3", &m);
}

#[mqtt::on_message("v5/#", qos = 1)]
fn v5_handler(m: mqtt::Message, c: mqtt::Mqtt) {
    record(&c, "v5", &m);
}

fn base(broker: &Broker) -> ConfigBuilder {
    broker
        .config(unique("cfg"))
        .reconnect_delay(Duration::from_millis(100), Duration::from_millis(500))
}

/// Waits until the broker logged the subscription (`<id> <qos> <filter>`), at any QoS.
fn wait_subscribed(broker: &Broker, id: &str, filter: &str) {
    let lines = [0, 1, 2].map(|q| format!("{id} {q} {filter}"));
    assert!(
        wait_until(T, || lines.iter().any(|l| broker.count_in_log(l) > 0)),
        "{id} never subscribed to {filter}: {}",
        broker.log_tail(30)
    );
}

#[tokio::test]
async fn mqtt5_connects_subscribes_and_sees_user_properties() {
    let broker = Broker::start();
    let client = Client::start(
        base(&broker)
            .protocol_version(mqtt::ProtocolVersion::V5)
            .build()
            .unwrap(),
    )
    .unwrap();
    let m = client.handle();
    wait_connected(&m, T);
    let id = m.client_id().to_owned();
    // Mosquitto logs the protocol level: p5.
    assert!(
        broker.wait_for_log(&format!("as {id} (p5"), 1, T),
        "{}",
        broker.log_tail(20)
    );
    wait_subscribed(&broker, &id, "v5/#");

    // A v5 peer publishes with user properties; the handler sees them.
    let peer = paho::CreateOptionsBuilder::new()
        .server_uri(broker.uri())
        .client_id(unique("v5peer"))
        .mqtt_version(paho::MQTT_VERSION_5)
        .create_client()
        .unwrap();
    peer.connect(paho::ConnectOptionsBuilder::new_v5().finalize())
        .wait()
        .unwrap();
    let mut props = paho::Properties::new();
    props
        .push_string_pair(paho::PropertyCode::UserProperty, "sensor", "kitchen")
        .unwrap();
    let msg = paho::MessageBuilder::new()
        .topic("v5/temp")
        .payload("21")
        .qos(1)
        .properties(props)
        .finalize();
    peer.publish(msg).wait().unwrap();
    assert!(EVENTS.wait_for(T, |e| e.contains(&(
        id.clone(),
        "v5".into(),
        "v5/temp 21 [sensor=kitchen]".into()
    ))));

    // Our own publish loops back over MQTT 5 too.
    m.publish("v5/self", "x")
        .qos(QoS::AtLeastOnce)
        .await
        .unwrap();
    assert!(EVENTS.wait_for(T, |e| e.contains(&(
        id.clone(),
        "v5".into(),
        "v5/self x []".into()
    ))));
}

#[test]
fn required_mode_fails_within_the_timeout_naming_host_port_and_reason() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = Config::builder()
        .broker_url("127.0.0.1")
        .port(port)
        .connect_timeout(Duration::from_secs(1))
        .connect_mode(mqtt::ConnectMode::Required)
        .build()
        .unwrap();
    let err = Client::start(config).expect_err("nothing listens there");
    let text = err.to_string();
    assert!(
        matches!(err, mqtt::Error::ConnectRequired { .. }),
        "{err:?}"
    );
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.contains("MQTT_CONNECT_MODE=required"), "{text}");
}

#[test]
fn required_mode_connects_before_returning() {
    let broker = Broker::start();
    let client = Client::start(
        base(&broker)
            .connect_mode(mqtt::ConnectMode::Required)
            .build()
            .unwrap(),
    )
    .unwrap();
    assert!(
        client.handle().is_connected(),
        "start returned before the connection was up"
    );
}

#[test]
fn required_mode_reports_refused_credentials() {
    let broker = Broker::builder().password("alice", "right-pw").start();
    let err = Client::start(
        base(&broker)
            .credentials("alice", "wrong-pw")
            .connect_mode(mqtt::ConnectMode::Required)
            .build()
            .unwrap(),
    )
    .expect_err("wrong password");
    assert!(
        matches!(
            &err,
            mqtt::Error::ConnectRequired {
                source: mqtt::ConnectError::Refused(r),
                ..
            } if *r == mqtt::ConnectReturnCode::NotAuthorized
        ),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains("wrong-pw"));
}

#[test]
fn last_will_is_published_when_the_process_is_killed() {
    let broker = Broker::start();
    let watcher = Observer::connect(&broker);
    let topic = format!("status/{}", unique("will"));
    watcher.subscribe(&topic, 1);
    let id = unique("willkill");
    let (mut child, _out) = spawn_will_client(
        env!("CARGO_BIN_EXE_will_client"),
        broker.port(),
        &id,
        &topic,
        "wait",
        "connected",
    );
    child.kill().unwrap(); // SIGKILL: no DISCONNECT
    child.wait().unwrap();
    let will = watcher.expect_message(&topic, T);
    assert_eq!(will.payload(), b"gone");
}

#[test]
fn last_will_is_not_published_after_a_clean_disconnect() {
    let broker = Broker::start();
    let watcher = Observer::connect(&broker);
    let topic = format!("status/{}", unique("will"));
    watcher.subscribe(&topic, 1);
    let id = unique("willclean");
    let (mut child, mut out) = spawn_will_client(
        env!("CARGO_BIN_EXE_will_client"),
        broker.port(),
        &id,
        &topic,
        "clean",
        "connected",
    );
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "disconnected");
    assert!(child.wait().unwrap().success());
    assert!(
        broker.wait_for_log(&format!("Client {id} disconnected"), 1, T),
        "{}",
        broker.log_tail(20)
    );
    expect_no_will(
        &watcher,
        &topic,
        T,
        "a last will was published after a clean disconnect",
    );
}

#[test]
fn three_brokers_each_with_its_own_credentials_and_handlers() {
    let brokers = [
        Broker::builder().password("u1", "p1").start(),
        Broker::builder().password("u2", "p2").start(),
        Broker::builder().password("u3", "p3").start(),
    ];
    let mut clients = Vec::new();
    for (i, (prefix, broker)) in ["MQTT", "MQTT2", "MQTT3"].iter().zip(&brokers).enumerate() {
        let n = i + 1;
        // Each named client from its own prefixed keys, as Flask-MQTT's config_prefix.
        let env = [
            (
                format!("{prefix}_BROKER_URL"),
                format!("tcp://127.0.0.1:{}", broker.port()),
            ),
            (format!("{prefix}_USERNAME"), format!("u{n}")),
            (format!("{prefix}_PASSWORD"), format!("p{n}")),
            (format!("{prefix}_CLIENT_ID"), unique(&format!("multi{n}"))),
            (format!("{prefix}_RECONNECT_MIN_DELAY"), "0.1".to_owned()),
        ];
        let config = Config::from_lookup(prefix, |k| {
            Ok(env.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()))
        })
        .unwrap();
        assert_eq!(config.prefix(), *prefix);
        let client = Client::start(config).unwrap();
        wait_connected(&client.handle(), T);
        wait_subscribed(broker, client.handle().client_id(), "multi/#");
        clients.push(client);
    }
    for (n, broker) in brokers.iter().enumerate() {
        let obs = Observer::connect_with(broker, &format!("u{}", n + 1), &format!("p{}", n + 1));
        obs.publish("multi/x", format!("to broker {}", n + 1), 1);
    }
    for (n, (client, handler)) in clients.iter().zip(["MQTT", "MQTT2", "MQTT3"]).enumerate() {
        let id = client.handle().client_id().to_owned();
        let want = (
            id.clone(),
            handler.to_owned(),
            format!("multi/x to broker {} []", n + 1),
        );
        assert!(
            EVENTS.wait_for(T, |e| e.contains(&want)),
            "missing {want:?}: {:?}",
            EVENTS.snapshot()
        );
    }
    // Each handler saw only its own broker's message: one event per client, from the
    // handler bound to it.
    for (client, handler) in clients.iter().zip(["MQTT", "MQTT2", "MQTT3"]) {
        let id = client.handle().client_id().to_owned();
        let seen: Vec<_> = EVENTS
            .snapshot()
            .into_iter()
            .filter(|(c, _, _)| *c == id)
            .collect();
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].1, handler);
    }
}

/// Every log record of this process, at every level, including Paho C's trace.
const ALL_LINES: LogLines = LogLines::new("", log::Level::Trace);

/// Every line so far as `LEVEL target: text`.
fn all_lines() -> Vec<String> {
    ALL_LINES
        .records()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn the_password_never_reaches_a_log_line_or_debug_output() {
    ALL_LINES.install();
    let broker = Broker::builder()
        .password("carol", "pw-never-logged")
        .start();
    let good = Client::start(
        base(&broker)
            .credentials("carol", "pw-never-logged")
            .build()
            .unwrap(),
    )
    .unwrap();
    wait_connected(&good.handle(), T);
    futures::executor::block_on(
        good.handle()
            .publish("multi/y", "payload")
            .qos(QoS::AtLeastOnce)
            .send(),
    )
    .unwrap();
    let bad = Client::start(
        base(&broker)
            .credentials("carol", "pw-wrong-never-logged")
            .build()
            .unwrap(),
    )
    .unwrap();
    assert!(wait_until(T, || bad
        .handle()
        .last_connect_error()
        .is_some()));
    let config = base(&broker)
        .credentials("carol", "pw-never-logged")
        .build()
        .unwrap();
    drop(good);
    drop(bad);
    let lines = all_lines();
    assert!(
        lines.len() > 20,
        "the capture saw the client's log lines: {}",
        lines.len()
    );
    assert!(
        lines.iter().any(|l| l.contains("paho_mqtt_c")),
        "Paho's trace was captured too"
    );
    // Also as the numbers a derived `Debug` of the password's bytes prints.
    let as_bytes = format!("{:?}", b"never-logged");
    let as_bytes = as_bytes.trim_start_matches('[').trim_end_matches(']');
    for l in &lines {
        assert!(!l.contains("never-logged"), "password in a log line: {l}");
        assert!(!l.contains(as_bytes), "password's bytes in a log line: {l}");
    }
    for shown in [
        format!("{config:?}"),
        format!("{:?}", Client::start(config.clone()).unwrap()),
    ] {
        assert!(!shown.contains("never-logged"), "{shown}");
    }
}

/// A client configured with another prefix (`ALERTS_*`) is told to check its own keys
/// when the broker refuses its credentials, on MQTT 3.1.1 and 5, in the error it keeps
/// and in a `required` connect's error: not the default client's `MQTT_USERNAME`.
#[test]
fn a_refusal_names_the_clients_own_keys() {
    let broker = Broker::builder().password("erin", "right-pw").start();
    let alerts = || {
        ConfigBuilder::with_prefix("ALERTS")
            .broker_url("127.0.0.1")
            .port(broker.port())
            .client_id(unique("alerts"))
            .credentials("erin", "wrong-pw")
            .reconnect_delay(Duration::from_millis(100), Duration::from_millis(500))
    };
    for version in [mqtt::ProtocolVersion::V311, mqtt::ProtocolVersion::V5] {
        let client = Client::start(alerts().protocol_version(version).build().unwrap()).unwrap();
        let m = client.handle();
        assert!(wait_until(T, || m.last_connect_error().is_some()));
        let text = m.last_connect_error().unwrap().to_string();
        assert!(
            text.contains("check ALERTS_USERNAME and ALERTS_PASSWORD"),
            "{version:?}: {text}"
        );
        assert!(!text.contains("MQTT_"), "{version:?}: {text}");
        let err = Client::start(
            alerts()
                .protocol_version(version)
                .connect_mode(mqtt::ConnectMode::Required)
                .build()
                .unwrap(),
        )
        .expect_err("wrong password");
        let text = err.to_string();
        assert!(
            text.contains("check ALERTS_USERNAME and ALERTS_PASSWORD"),
            "{version:?}: {text}"
        );
        assert!(!text.contains("MQTT_"), "{version:?}: {text}");
    }
}

/// A presigned WebSocket URL carries its credentials in the query: no log line (flask-mqtt's,
/// the Paho Rust client's create and connect options, Paho C's trace) and no `Debug` of
/// the client, its handle, its configuration or a connect event shows the query's values.
#[test]
fn the_query_of_a_websocket_url_never_reaches_a_log_line_or_debug_output() {
    const SECRET: &str = "QuerySecret0042";
    ALL_LINES.install();
    let broker = Broker::start();
    let ws = flask_mqtt_tests::WsProxy::start(&broker);
    let config = Config::builder()
        .broker_url(format!(
            "{}?token={SECRET}&X-Amz-Signature=sig{SECRET}",
            ws.uri()
        ))
        .client_id(unique("wsquery"))
        .build()
        .unwrap();
    assert!(
        config.server_uri().contains(SECRET),
        "Paho gets the URL as given"
    );
    let client = Client::start(config.clone()).unwrap();
    wait_connected(&client.handle(), T);
    assert!(ws.connections() >= 1, "{ws:?}");
    let id = client.handle().client_id().to_owned();
    assert!(
        CONNECTS.wait_for(T, |c| c.iter().any(|(who, _)| *who == id)),
        "no on_connect for {id}"
    );
    let connected: Vec<String> = CONNECTS
        .snapshot()
        .into_iter()
        .filter(|(who, _)| *who == id)
        .map(|(_, shown)| shown)
        .collect();
    let shown = [
        format!("{config:?}"),
        format!("{client:?}"),
        format!("{:?}", client.handle()),
        connected.join("\n"),
    ];
    drop(client);
    let lines = all_lines();
    assert!(
        lines.iter().any(|l| l.contains("Create options")),
        "the Paho Rust client's lines were captured"
    );
    for l in lines.iter().chain(&shown) {
        assert!(!l.contains(SECRET), "the URL's query in: {l}");
    }
}

#[test]
fn mqtt5_refusal_is_a_typed_reason_code() {
    let broker = Broker::builder().password("dave", "right-pw").start();
    let client = Client::start(
        base(&broker)
            .protocol_version(mqtt::ProtocolVersion::V5)
            .credentials("dave", "wrong-pw")
            .build()
            .unwrap(),
    )
    .unwrap();
    let m = client.handle();
    assert!(wait_until(T, || m.last_connect_error().is_some()));
    let err = m.last_connect_error().unwrap();
    // Mosquitto 2.0 answers a wrong password with 0x87 (not authorised) on MQTT 5 too,
    // not 0x86 (bad user name or password).
    assert!(
        matches!(&err, mqtt::ConnectError::RefusedV5 { code: 0x87, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "connection refused by the broker: not authorised: the broker refused this client or its credentials; check MQTT_USERNAME and MQTT_PASSWORD (Mosquitto answers a wrong password with this code) (reason code 0x87)"
    );
}

/// `MQTT_KEEPALIVE=0` turns keep-alive off: the CONNECT carries 0 (Mosquitto logs it as
/// `k0`), not the 1 second upstream paho-mqtt made of it; other values go as they are.
#[test]
fn the_connect_carries_the_keepalive_as_configured_zero_included() {
    let broker = Broker::start();
    for secs in [0, 7] {
        let config = base(&broker)
            .keepalive(Duration::from_secs(secs))
            .build()
            .unwrap();
        let id = config.client_id().to_owned();
        let client = Client::start(config).unwrap();
        wait_connected(&client.handle(), T);
        let line = format!(" as {id} (p2, c1, k{secs}).");
        assert!(
            broker.wait_for_log(&line, 1, T),
            "no `{line}` in the broker log: {}",
            broker.log_tail(20)
        );
    }
}
