//! `MQTT_BROKER_URL=embedded` (feature `embedded-broker`): the client starts rumqttd in
//! the process, on loopback only, and connects to it; handlers get what `Mqtt::publish`
//! sends at QoS 0 and 1; every client of the process shares the one broker (an actix
//! server with two workers too); and rumqttd's logging reaches `log` without an ERROR or
//! WARN line for normal traffic (1000 messages, connects, disconnects).
//!
//! All tests of this binary share the process's one embedded broker, as real programs
//! do. The handlers below serve every client of the process, so they record the id of
//! the client that received each message and each test filters on its own. The test of
//! the log runs alone, in a process of its own: it checks every line the process logs.

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::{web, App, HttpResponse};
use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{
    blocking, http, serve, unique, wait_until, AppProcess, LogLine, LogLines, Recorder,
};
use mqtt::{Client, Config, ConfigBuilder, EmbeddedBroker, QoS};

const T: Duration = Duration::from_secs(20);

// ---- log capture: every record of the process, from every test -------------------

/// Every target. Debug, not trace: enough to see rumqttd's lines arrive, without Paho's
/// packet trace. Installed before anything in this process logs.
const LINES: LogLines = LogLines::new("", log::Level::Debug);

fn lines(pred: impl Fn(&LogLine) -> bool) -> Vec<LogLine> {
    LINES.records().into_iter().filter(|l| pred(l)).collect()
}

/// The warning the broker logs when it starts.
fn is_start_warning(l: &LogLine) -> bool {
    l.target == "flask_mqtt::embedded"
        && l.level == log::Level::Warn
        && l.text
            .starts_with("embedded MQTT broker listening on 127.0.0.1:")
}

// ---- handlers --------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
struct Got {
    client: String,
    topic: String,
    payload: String,
    qos: QoS,
}

static GOT: Recorder<Got> = Recorder::new();

fn record(c: &mqtt::Mqtt, m: &mqtt::Message) {
    GOT.push(Got {
        client: c.client_id().to_owned(),
        topic: m.topic().to_owned(),
        payload: String::from_utf8_lossy(m.payload()).into_owned(),
        qos: m.qos(),
    });
}

#[mqtt::on_message("embedded/+/#", qos = 1)]
fn on_embedded(c: mqtt::Mqtt, m: mqtt::Message) {
    record(&c, &m);
}

#[mqtt::on_message("embedded/+/#", qos = 1, broker = "MQTT2")]
fn on_embedded_second(c: mqtt::Mqtt, m: mqtt::Message) {
    record(&c, &m);
}

/// Clients whose `on_connect` ran (their subscriptions are in place by then).
static CONNECTED: Recorder<String> = Recorder::new();

#[mqtt::on_connect]
fn connected(c: mqtt::Mqtt) {
    CONNECTED.push(c.client_id().to_owned());
}

#[mqtt::on_connect(broker = "MQTT2")]
fn connected_second(c: mqtt::Mqtt) {
    CONNECTED.push(c.client_id().to_owned());
}

/// Waits until `client` has connected and subscribed.
fn wait_subscribed(client: &str) -> bool {
    CONNECTED.wait_for(T, |c| c.iter().any(|x| x == client))
}

/// What `client` received on topics starting with `prefix` (every client of the process
/// subscribes to `embedded/+/#`, so each test has its own second level).
fn received_by(client: &str, prefix: &str) -> Vec<Got> {
    GOT.with(|all| {
        all.iter()
            .filter(|g| g.client == client && g.topic.starts_with(prefix))
            .cloned()
            .collect()
    })
}

fn wait_received(client: &str, prefix: &str, n: usize) -> bool {
    GOT.wait_for(T, |all| {
        all.iter()
            .filter(|g| g.client == client && g.topic.starts_with(prefix))
            .count()
            >= n
    })
}

// ---- helpers ---------------------------------------------------------------------

/// The addresses listening on TCP `port`, from the kernel's socket tables (hex, as
/// /proc/net/tcp{,6} write them): proves what the broker bound, whatever it reports.
fn listening_on(port: u16) -> Vec<String> {
    let suffix = format!(":{port:04X}");
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue; // no IPv6 in this kernel: nothing can listen there
        };
        for row in text.lines().skip(1) {
            let cols: Vec<&str> = row.split_whitespace().collect();
            // cols[1]: local address:port, cols[3]: state (0A = LISTEN).
            if cols.len() > 3 && cols[3] == "0A" && cols[1].ends_with(&suffix) {
                found.push(format!("{table} {}", cols[1]));
            }
        }
    }
    found
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

// ---- tests -----------------------------------------------------------------------

#[test]
fn qos_0_and_1_reach_the_handler_through_a_loopback_only_broker() {
    LINES.install();
    let id = unique("embedded-qos");
    // As from the environment: MQTT_BROKER_URL=embedded, nothing else about the broker.
    let config = Config::from_lookup("MQTT", |key| {
        Ok(match key {
            "MQTT_BROKER_URL" => Some("embedded".to_owned()),
            "MQTT_CLIENT_ID" => Some(id.clone()),
            _ => None,
        })
    })
    .unwrap();
    let client = Client::start(config).unwrap();
    let handle = client.handle();
    assert!(wait_subscribed(&id), "never connected");
    assert!(handle.is_connected());

    let broker = EmbeddedBroker::running().expect("the client started the embedded broker");
    assert!(broker.addr().ip().is_loopback(), "{broker:?}");
    assert_ne!(broker.port(), 1883, "a free port, not the default one");
    assert_eq!(
        listening_on(broker.port()),
        vec![format!("/proc/net/tcp 0100007F:{:04X}", broker.port())],
        "the broker must listen on 127.0.0.1 only"
    );

    let rt = runtime();
    rt.block_on(async {
        handle
            .publish("embedded/qos/zero", "at most once")
            .await
            .unwrap();
        handle
            .publish("embedded/qos/one", "at least once")
            .qos(QoS::AtLeastOnce)
            .await
            .unwrap();
    });
    assert!(
        wait_received(&id, "embedded/qos/", 2),
        "got {:?}",
        received_by(&id, "")
    );
    let mut got = received_by(&id, "embedded/qos/");
    got.sort_by(|a, b| a.topic.cmp(&b.topic));
    let got: Vec<_> = got
        .iter()
        .map(|g| (g.topic.as_str(), g.payload.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("embedded/qos/one", "at least once"),
            ("embedded/qos/zero", "at most once"),
        ]
    );
    // rumqttd delivers at the subscription's QoS (1 here), even what was published at
    // QoS 0 (MQTT says the lower of the two): documented as one of its differences.
    let zero = received_by(&id, "embedded/qos/zero");
    assert_eq!(zero[0].qos, QoS::AtLeastOnce, "{zero:?}");
    let one = received_by(&id, "embedded/qos/one");
    assert_eq!(one[0].qos, QoS::AtLeastOnce, "{one:?}");
    rt.block_on(client.shutdown());
}

#[test]
fn clients_of_one_process_share_the_broker() {
    LINES.install();
    let (id1, id2) = (unique("embedded-first"), unique("embedded-second"));
    let first = Client::start(
        Config::builder()
            .broker_url("embedded")
            .client_id(&id1)
            .build()
            .unwrap(),
    )
    .unwrap();
    // Another named client (MQTT2_BROKER_URL=embedded): the same broker, not a second one.
    let second = Client::start(
        ConfigBuilder::with_prefix("MQTT2")
            .broker_url("embedded")
            .client_id(&id2)
            .build()
            .unwrap(),
    )
    .unwrap();
    let (h1, h2) = (first.handle(), second.handle());
    assert!(wait_subscribed(&id1) && wait_subscribed(&id2));
    let broker = EmbeddedBroker::running().unwrap();

    // Each sees what the other publishes.
    let rt = runtime();
    rt.block_on(async {
        h2.publish("embedded/shared/from-second", "hi first")
            .qos(QoS::AtLeastOnce)
            .await
            .unwrap();
        h1.publish("embedded/shared/from-first", "hi second")
            .qos(QoS::AtLeastOnce)
            .await
            .unwrap();
    });
    for id in [&id1, &id2] {
        assert!(
            GOT.wait_for(T, |all| {
                let mine = |t: &str| all.iter().any(|g| &g.client == id && g.topic == t);
                mine("embedded/shared/from-second") && mine("embedded/shared/from-first")
            }),
            "{id} got {:?}",
            received_by(id, "")
        );
    }

    // Asking for the port it runs on is fine; asking for another is a typed error that
    // names the key, not a second broker.
    assert_eq!(EmbeddedBroker::start(Some(broker.port())).unwrap(), broker);
    assert_eq!(EmbeddedBroker::start(None).unwrap(), broker);
    let other = if broker.port() == 65535 {
        65534
    } else {
        broker.port() + 1
    };
    let err = Client::start(
        ConfigBuilder::with_prefix("MQTT2")
            .broker_url("embedded")
            .port(other)
            .build()
            .unwrap(),
    )
    .unwrap_err();
    match &err {
        mqtt::Error::Config(e) => {
            assert_eq!(e.key(), "MQTT2_BROKER_PORT");
            assert_eq!(e.value(), Some(other.to_string().as_str()));
            assert!(e.expected().contains(&broker.addr().to_string()), "{err}");
        }
        other => panic!("expected a config error, got {other:?}"),
    }
    // Settings the broker cannot serve are refused up front (when the config is built,
    // so `init()` fails fast), naming the key.
    let err = Config::builder()
        .broker_url("embedded")
        .protocol_version(mqtt::ProtocolVersion::V5)
        .build()
        .unwrap_err();
    assert_eq!(err.key(), "MQTT_PROTOCOL_VERSION", "{err}");
    assert_eq!(EmbeddedBroker::running(), Some(broker));

    rt.block_on(first.shutdown());
    rt.block_on(second.shutdown());
}

/// Set in the process [`a_thousand_messages_log_no_error_or_warning`] runs alone in.
const ALONE: &str = "EMBEDDED_BROKER_TEST_ALONE";

/// Checks every error and warning the process logs, so it runs alone, in a process of
/// its own (this binary again, with only this test): the other tests of this binary log
/// into the same capture while it runs, and the lines of rumqttd and of flask-mqtt's
/// `log` target name no client, so no filter could tell theirs from its own.
#[test]
fn a_thousand_messages_log_no_error_or_warning() {
    const NAME: &str = "a_thousand_messages_log_no_error_or_warning";
    if std::env::var_os(ALONE).is_none() {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", NAME, "--test-threads=1"])
            .env(ALONE, "1");
        // Its libtest prints a failure's message and output among its lines, shown below.
        let mut alone = AppProcess::spawn(NAME, command);
        let status = alone.wait_exit(Duration::from_secs(120));
        // libtest's summary comes last: once it is read, so are the lines before it.
        let summed_up = wait_until(T, || alone.count(|l| l.starts_with("test result: ")) > 0);
        let ran = format!("test {NAME} ... ok");
        assert!(
            status.is_some_and(|s| s.success()) && summed_up && alone.lines().contains(&ran),
            "alone in its process: {status:?}, printed {:#?}",
            alone.lines()
        );
        return;
    }
    LINES.install();
    const N: usize = 1000;
    let id = unique("embedded-load");
    let client = Client::start(
        Config::builder()
            .broker_url("embedded")
            .client_id(&id)
            .build()
            .unwrap(),
    )
    .unwrap();
    let handle = client.handle();
    assert!(wait_subscribed(&id));

    // Half at QoS 0, half at QoS 1, all in flight at once.
    let rt = runtime();
    rt.block_on(async {
        let publishes = (0..N).map(|i| {
            let qos = if i % 2 == 0 {
                QoS::AtMostOnce
            } else {
                QoS::AtLeastOnce
            };
            handle
                .publish(format!("embedded/load/{i}"), i.to_string())
                .qos(qos)
                .into_future()
        });
        for result in futures::future::join_all(publishes).await {
            result.unwrap();
        }
    });
    assert!(
        wait_received(&id, "embedded/load/", N),
        "received {} of {N}",
        received_by(&id, "embedded/load/").len()
    );
    let got = received_by(&id, "embedded/load/");
    assert_eq!(got.len(), N, "no duplicates either");
    let mut seen: Vec<usize> = got.iter().map(|g| g.payload.parse().unwrap()).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..N).collect::<Vec<_>>());
    // A clean disconnect too (rumqttd used to log one as an error).
    rt.block_on(client.shutdown());

    // rumqttd's lines do reach `log` (routed, not swallowed)...
    assert!(
        !lines(|l| l.target.starts_with("rumqttd")).is_empty(),
        "no rumqttd line reached the logger"
    );
    // ...and nothing in this process (this test's alone) logged an error or a warning,
    // apart from the one start warning.
    let bad = lines(|l| l.level <= log::Level::Warn && !is_start_warning(l));
    assert!(bad.is_empty(), "{bad:#?}");
}

// ---- actix ------------------------------------------------------------------------

static APPS_BUILT: AtomicUsize = AtomicUsize::new(0);

async fn publish(client: mqtt::Mqtt, body: String) -> HttpResponse {
    match client
        .publish("embedded/actix/http", body)
        .qos(QoS::AtLeastOnce)
        .await
    {
        Ok(()) => HttpResponse::Ok().body("published"),
        Err(e) => HttpResponse::ServiceUnavailable().body(e.to_string()),
    }
}

async fn http_async(addr: SocketAddr, path: &'static str, body: &'static str) -> (u16, String) {
    actix_web::rt::task::spawn_blocking(move || http(addr, "POST", path, body))
        .await
        .unwrap()
}

#[actix_web::test]
async fn an_actix_server_with_two_workers_starts_the_broker_once() {
    LINES.install();
    let id = unique("embedded-actix");
    mqtt::init_with(
        Config::builder()
            .broker_url("embedded")
            .client_id(&id)
            .build()
            .unwrap(),
    )
    .unwrap();
    // A handler of this binary names MQTT2, so `configure` starts that client too.
    mqtt::init_with(
        ConfigBuilder::with_prefix("MQTT2")
            .broker_url("embedded")
            .client_id(unique("embedded-actix2"))
            .build()
            .unwrap(),
    )
    .unwrap();
    let server = serve(2, || {
        APPS_BUILT.fetch_add(1, Ordering::SeqCst);
        App::new()
            .configure(mqtt::configure)
            .route("/publish", web::post().to(publish))
    });
    let addr = server.addr;

    let built = blocking(|| wait_until(T, || APPS_BUILT.load(Ordering::SeqCst) == 2)).await;
    assert!(built, "both workers build their app");
    let id2 = id.clone();
    let subscribed = blocking(move || wait_subscribed(&id2)).await;
    assert!(subscribed, "the app's client connected and subscribed");
    let (code, body) = http_async(addr, "/publish", "from http").await;
    assert_eq!((code, body.as_str()), (200, "published"));
    let id2 = id.clone();
    assert!(blocking(move || wait_received(&id2, "embedded/actix/", 1)).await);
    assert_eq!(
        received_by(&id, "embedded/actix/")
            .iter()
            .map(|g| (g.topic.as_str(), g.payload.as_str()))
            .collect::<Vec<_>>(),
        vec![("embedded/actix/http", "from http")]
    );

    assert_eq!(APPS_BUILT.load(Ordering::SeqCst), 2);
    // One broker for the process: one start, one warning, whatever else ran in it.
    let starts = lines(is_start_warning);
    assert_eq!(starts.len(), 1, "{starts:#?}");
    let broker = EmbeddedBroker::running().unwrap();
    assert!(starts[0].text.contains(&broker.addr().to_string()));

    server.stop().await;
}
