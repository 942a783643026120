//! The core scenarios against each broker we document: a real Mosquitto, a 3-node RMQTT
//! cluster (the app on node 3, its peer on node 1, so every message crosses the cluster)
//! and the embedded rumqttd (`EmbeddedBroker`, in this process). Scenarios: connect,
//! declared subscriptions, runtime subscriptions, resubscribing after the app's broker
//! restarts, the last will of a killed app process, and MQTT 5 properties (user
//! properties, content type, response topic, correlation data) from one client of ours
//! to another.
//!
//! Each test runs every scenario against one broker, prints its row of the broker
//! compatibility table in docs/scaling.md, and fails unless the row is the one expected
//! (a scenario that fails where it should pass, or passes where it is not expected to).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::IntoFuture;
use std::panic::AssertUnwindSafe;
use std::process::{Command, Stdio};
use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{unique, AppProcess, Broker, Observer, Recorder, RmqttCluster};
use mqtt::{Client, Config, EmbeddedBroker, ProtocolVersion, QoS};

const T: Duration = Duration::from_secs(30);
/// Deadline for the reconnect after a restart: an RMQTT node takes over a minute.
const RESTART: Duration = Duration::from_secs(150);

#[derive(Clone, Debug, PartialEq)]
enum Ev {
    Connect {
        client: String,
        reconnect: bool,
    },
    Msg {
        client: String,
        handler: &'static str,
        topic: String,
        payload: String,
    },
    Props {
        client: String,
        user: Vec<(String, String)>,
        content_type: String,
        response_topic: String,
        correlation: Vec<u8>,
    },
}

static EVENTS: Recorder<Ev> = Recorder::new();

fn record(c: &mqtt::Mqtt, handler: &'static str, m: &mqtt::Message) {
    EVENTS.push(Ev::Msg {
        client: c.client_id().to_owned(),
        handler,
        topic: m.topic().to_owned(),
        payload: String::from_utf8_lossy(m.payload()).into_owned(),
    });
}

#[mqtt::on_connect]
fn connected(c: mqtt::Mqtt, info: mqtt::Connected) {
    EVENTS.push(Ev::Connect {
        client: c.client_id().to_owned(),
        reconnect: info.is_reconnect(),
    });
}

#[mqtt::on_message("compat/decl/+", qos = 1)]
fn declared(m: mqtt::Message, c: mqtt::Mqtt) {
    record(&c, "declared", &m);
}

#[mqtt::on_message("compat/v5/+", qos = 1)]
fn properties(
    c: mqtt::Mqtt,
    user: mqtt::UserProperties,
    content_type: mqtt::ContentType,
    response_topic: mqtt::ResponseTopic,
    correlation: mqtt::CorrelationData,
) {
    EVENTS.push(Ev::Props {
        client: c.client_id().to_owned(),
        user: user.into_inner(),
        content_type: content_type.as_str().to_owned(),
        response_topic: response_topic.as_str().to_owned(),
        correlation: correlation.as_bytes().to_vec(),
    });
}

#[mqtt::on_message]
fn catch_all(m: mqtt::Message, c: mqtt::Mqtt) {
    record(&c, "catch_all", &m);
}

/// A broker under test.
enum Target {
    Mosquitto(Box<Broker>),
    Rmqtt(Box<RmqttCluster>),
    Embedded(EmbeddedBroker),
}

/// The RMQTT node the app connects to, and the node of its peers.
const APP_NODE: usize = 2;
const PEER_NODE: usize = 0;

impl Target {
    /// The port the app under test connects to.
    fn app_port(&self) -> u16 {
        match self {
            Target::Mosquitto(b) => b.port(),
            Target::Rmqtt(c) => c.port(APP_NODE),
            Target::Embedded(e) => e.port(),
        }
    }

    /// The port its peers (publishers, observers) connect to.
    fn peer_port(&self) -> u16 {
        match self {
            Target::Mosquitto(b) => b.port(),
            Target::Rmqtt(c) => c.port(PEER_NODE),
            Target::Embedded(e) => e.port(),
        }
    }

    /// The protocol the app speaks: MQTT 5, but 3.1.1 with the embedded rumqttd, which
    /// speaks nothing else. (The MQTT 5 scenario tries MQTT 5 with every broker.)
    fn version(&self) -> ProtocolVersion {
        match self {
            Target::Embedded(_) => ProtocolVersion::V311,
            _ => ProtocolVersion::V5,
        }
    }

    fn observer(&self) -> Observer {
        match self {
            Target::Mosquitto(b) => Observer::connect(b),
            Target::Rmqtt(c) => c.observer(PEER_NODE),
            Target::Embedded(e) => Observer::connect_uri(
                &format!("tcp://127.0.0.1:{}", e.port()),
                std::path::Path::new("/dev/null"),
            ),
        }
    }

    /// Kills the app's broker and starts it again; `false` where that is not possible
    /// (the embedded broker lives and dies with the app's process).
    fn restart_app_broker(&self) -> bool {
        match self {
            Target::Mosquitto(b) => {
                b.restart();
                true
            }
            Target::Rmqtt(c) => {
                c.kill(APP_NODE);
                let took = c.start_again(APP_NODE);
                println!("RMQTT node 3 killed, back after {took:.1?} (its raft port in TIME_WAIT)");
                true
            }
            Target::Embedded(_) => false,
        }
    }
}

/// One of our clients on `port`, connected within `within`.
fn client(port: u16, version: ProtocolVersion, within: Duration) -> (Client, mqtt::Mqtt) {
    let config = Config::builder()
        .broker_url("127.0.0.1")
        .port(port)
        .client_id(unique("compat"))
        .protocol_version(version)
        .reconnect_delay(Duration::from_millis(100), Duration::from_millis(500))
        .build()
        .unwrap();
    let client = Client::start(config).unwrap();
    let m = client.handle();
    let id = m.client_id().to_owned();
    assert!(
        EVENTS.wait_for(within, |evs| evs.contains(&Ev::Connect {
            client: id.clone(),
            reconnect: false
        })),
        "{id} ({version:?}) did not connect within {within:?}; last connect error: {}",
        m.last_connect_error()
            .map_or_else(|| "none".to_owned(), |e| e.to_string())
    );
    (client, m)
}

fn wait(what: &str, pred: impl Fn(&Ev) -> bool) {
    assert!(
        EVENTS.wait_for(T, |evs| evs.iter().any(&pred)),
        "within {T:?}: {what}"
    );
}

fn got(m: &mqtt::Mqtt, handler: &'static str, topic: &str, payload: &str) -> impl Fn(&Ev) -> bool {
    let want = Ev::Msg {
        client: m.client_id().to_owned(),
        handler,
        topic: topic.to_owned(),
        payload: payload.to_owned(),
    };
    move |e| *e == want
}

/// The scenarios, in table order.
const SCENARIOS: [&str; 6] = [
    "connect",
    "declared subscriptions",
    "runtime subscriptions",
    "resubscribe after a broker restart",
    "last will",
    "MQTT 5 properties",
];

/// What one scenario gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Pass,
    Fail,
    /// Not applicable to this broker.
    NotApplicable,
}

/// What one scenario is expected to give.
#[derive(Clone, Copy, Debug)]
enum Want {
    Pass,
    /// A failure whose message contains each of these: the expected failure, not any
    /// panic (a mistake in the test would be one too).
    Fail(&'static [&'static str]),
    NotApplicable,
}

impl Want {
    fn outcome(self) -> Outcome {
        match self {
            Want::Pass => Outcome::Pass,
            Want::Fail(_) => Outcome::Fail,
            Want::NotApplicable => Outcome::NotApplicable,
        }
    }
}

/// Runs `f`, a scenario, and records its outcome (a panic is a failure, with its message).
fn step(out: &mut Vec<(Outcome, String)>, f: impl FnOnce() -> Outcome) {
    out.push(match std::panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(o) => (o, String::new()),
        Err(e) => {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            (Outcome::Fail, msg)
        }
    });
}

/// Runs every scenario against `target` and returns the outcomes in [`SCENARIOS`] order,
/// with each failure's message.
fn run(rt: &tokio::runtime::Runtime, target: &Target) -> Vec<(Outcome, String)> {
    let mut out = Vec::new();
    let app = std::cell::RefCell::new(None::<(Client, mqtt::Mqtt)>);
    let peer = std::cell::RefCell::new(None::<Observer>);

    step(&mut out, || {
        let (c, m) = client(target.app_port(), target.version(), T);
        assert!(m.is_connected());
        *app.borrow_mut() = Some((c, m));
        *peer.borrow_mut() = Some(target.observer());
        Outcome::Pass
    });
    let m = app.borrow().as_ref().map(|(_, m)| m.clone());
    let Some(m) = m else {
        out.resize(SCENARIOS.len(), (Outcome::Fail, "no connection".to_owned()));
        return out;
    };
    let id = m.client_id().to_owned();
    let publish = |topic: &str, payload: &str| {
        peer.borrow().as_ref().unwrap().publish(topic, payload, 1);
    };

    let decl = format!("compat/decl/{id}");
    let rt_filter = format!("compat/rt/{id}/#");
    let rt_topic = format!("compat/rt/{id}/x");
    step(&mut out, || {
        publish(&decl, "one");
        wait(
            "the declared handler gets it",
            got(&m, "declared", &decl, "one"),
        );
        Outcome::Pass
    });
    step(&mut out, || {
        rt.block_on(m.subscribe(rt_filter.as_str(), QoS::AtLeastOnce))
            .unwrap();
        publish(&rt_topic, "one");
        wait(
            "the runtime subscription delivers",
            got(&m, "catch_all", &rt_topic, "one"),
        );
        Outcome::Pass
    });
    step(&mut out, || {
        if !target.restart_app_broker() {
            return Outcome::NotApplicable;
        }
        assert!(
            EVENTS.wait_for(RESTART, |evs| evs.contains(&Ev::Connect {
                client: id.clone(),
                reconnect: true,
            })),
            "on_connect after the restart, within {RESTART:?}"
        );
        // The peer's broker was not restarted (RMQTT), or the peer reconnects (Mosquitto).
        *peer.borrow_mut() = Some(target.observer());
        publish(&decl, "two");
        publish(&rt_topic, "two");
        wait(
            "the declared subscription after the restart",
            got(&m, "declared", &decl, "two"),
        );
        wait(
            "the runtime subscription after the restart",
            got(&m, "catch_all", &rt_topic, "two"),
        );
        Outcome::Pass
    });
    step(&mut out, || {
        let will_topic = format!("compat/will/{id}");
        let observer = target.observer();
        observer.subscribe(&will_topic, 1);
        let mut command = Command::new(env!("CARGO_BIN_EXE_will_client"));
        command
            .args([
                target.app_port().to_string(),
                format!("{id}-will"),
                will_topic.clone(),
                "wait".to_owned(),
            ])
            .stdin(Stdio::null());
        let mut will = AppProcess::spawn("will_client", command);
        will.expect_line(T, |l| l == "connected");
        will.kill();
        let msg = observer.expect_message(&will_topic, T);
        assert_eq!(msg.payload_str(), "gone");
        Outcome::Pass
    });
    step(&mut out, || {
        // Another client of ours, on the peers' broker, publishes with properties.
        let (_sender_client, sender) = client(
            target.peer_port(),
            ProtocolVersion::V5,
            Duration::from_secs(10),
        );
        let topic = format!("compat/v5/{id}");
        rt.block_on(
            sender
                .publish(topic.as_str(), "props")
                .qos(QoS::AtLeastOnce)
                .user_property("k", "1")
                .user_property("k", "2")
                .content_type("text/plain")
                .response_topic(format!("compat/reply/{id}"))
                .correlation_data(vec![1, 2, 3])
                .into_future(),
        )
        .unwrap();
        wait("the properties arrive", |e| {
            *e == Ev::Props {
                client: id.clone(),
                user: vec![("k".into(), "1".into()), ("k".into(), "2".into())],
                content_type: "text/plain".into(),
                response_topic: format!("compat/reply/{id}"),
                correlation: vec![1, 2, 3],
            }
        });
        Outcome::Pass
    });
    out
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs the scenarios, prints the table row and checks it against `expected`, an
/// expected failure by its message too.
fn check(name: &str, target: &Target, expected: [Want; 6]) {
    let rt = runtime();
    let outcomes = run(&rt, target);
    let cells: Vec<&str> = outcomes
        .iter()
        .map(|(o, _)| match o {
            Outcome::Pass => "yes",
            Outcome::Fail => "NO",
            Outcome::NotApplicable => "n/a",
        })
        .collect();
    println!("| {name} | {} |", cells.join(" | "));
    for (scenario, (outcome, why)) in SCENARIOS.iter().zip(&outcomes) {
        if *outcome == Outcome::Fail {
            println!("  {name}, {scenario}: {why}");
        }
    }
    for ((scenario, (outcome, why)), want) in SCENARIOS.iter().zip(&outcomes).zip(expected) {
        assert_eq!(
            *outcome,
            want.outcome(),
            "{name}, {scenario}: {outcome:?}, expected {want:?}: {why}"
        );
        if let Want::Fail(because) = want {
            assert!(
                because.iter().all(|b| why.contains(b)),
                "{name}, {scenario}: failed, but not as expected ({because:?}): {why}"
            );
        }
    }
}

use Want::{Fail as F, NotApplicable as NA, Pass as P};

#[test]
fn mosquitto() {
    check(
        "Mosquitto 2.0",
        &Target::Mosquitto(Box::new(Broker::start())),
        [P, P, P, P, P, P],
    );
}

#[test]
fn rmqtt_cluster() {
    check(
        "RMQTT 0.24 cluster (raft, 3 nodes)",
        &Target::Rmqtt(Box::new(RmqttCluster::start())),
        [P, P, P, P, P, P],
    );
}

#[test]
fn embedded_rumqttd() {
    check(
        "embedded rumqttd",
        &Target::Embedded(EmbeddedBroker::start(None).unwrap()),
        // MQTT 3.1.1 only: an MQTT 5 client does not connect (rumqttd closes the
        // connection on its CONNECT).
        [
            P,
            P,
            P,
            NA,
            P,
            F(&[
                "(V5) did not connect within",
                "last connect error: could not reach the broker at",
            ]),
        ],
    );
}
