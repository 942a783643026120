//! The client's life cycle against a real Mosquitto: broker down at boot (`background`
//! serves at once and connects when the broker appears; `required` gives up after the
//! connection timeout naming host, port and reason), the health a readiness probe reads,
//! and graceful shutdown of an actix app (SIGTERM: running handlers finish, their QoS 1
//! publishes go out, DISCONNECT, no last will) against SIGKILL (the will is published).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App};
use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{
    blocking, http, serve, unique, wait_until, AppProcess, Broker, Observer, Recorder,
};
use mqtt::{Client, Config, ConnectionState};

const T: Duration = Duration::from_secs(20);

static RECEIVED: Recorder<String> = Recorder::new();

#[mqtt::on_message("lifecycle/+/ping")]
fn ping(msg: mqtt::Message) {
    RECEIVED.push(msg.topic().to_owned());
}

/// The only actix test of this binary (the plugin's clients are per process).
#[actix_web::test]
async fn broker_down_at_boot_the_server_answers_at_once_and_mqtt_connects_later() {
    let broker = Arc::new(Broker::start());
    let port = broker.port();
    broker.stop();
    let id = unique("boot");
    mqtt::init_with(
        Config::builder()
            .broker_url("127.0.0.1")
            .port(port)
            .client_id(&id)
            .reconnect_delay(Duration::from_millis(200), Duration::from_millis(500))
            .build()
            .unwrap(),
    )
    .unwrap();
    let booted = Instant::now();
    let server = serve(1, || {
        App::new()
            .configure(mqtt::configure)
            .route("/ready", web::get().to(mqtt::readiness))
    });
    let addr = server.addr;

    // The broker is down: the server answers anyway, not ready, and says why.
    let (code, body) = blocking(move || http(addr, "GET", "/ready", "")).await;
    let first_answer = booted.elapsed();
    assert_eq!(code, 503, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["ready"], false, "{body}");
    assert_eq!(json["clients"]["MQTT"]["state"], "connecting", "{body}");
    // The first attempt fails (connection refused) and the probe names the broker.
    let with_error = blocking(move || {
        let mut last = String::new();
        let ok = wait_until(T, || {
            last = http(addr, "GET", "/ready", "").1;
            last.contains(&format!("127.0.0.1:{port}")) && last.contains("\"last_error\":\"")
        });
        (ok, last)
    })
    .await;
    assert!(with_error.0, "no last_error in the probe: {}", with_error.1);
    println!("HTTP answered {first_answer:?} after boot with the broker down");

    // The scenario of the issue: the broker appears 3 s later.
    let b = Arc::clone(&broker);
    blocking(move || {
        std::thread::sleep(Duration::from_secs(3));
        b.start_again();
    })
    .await;
    let started = Instant::now();
    let ready = blocking(move || {
        let mut last = (0, String::new());
        let ok = wait_until(T, || {
            last = http(addr, "GET", "/ready", "");
            last.0 == 200
        });
        (ok, last)
    })
    .await;
    assert!(ready.0, "never ready: {:?}", ready.1);
    let json: serde_json::Value = serde_json::from_str(&ready.1 .1).unwrap();
    assert_eq!(json["clients"]["MQTT"]["state"], "connected");
    assert_eq!(
        json["clients"]["MQTT"]["last_error"],
        serde_json::Value::Null
    );
    assert_eq!(json["clients"]["MQTT"]["connects"], 1);
    // Present, and null while dispatch runs.
    assert_eq!(
        json["clients"]["MQTT"].get("dispatch_stalled_secs"),
        Some(&serde_json::Value::Null)
    );
    println!("ready {:?} after the broker started", started.elapsed());

    // And the declared subscription works.
    let b = Arc::clone(&broker);
    let topic = format!("lifecycle/{id}/ping");
    let t = topic.clone();
    let got = blocking(move || {
        let observer = Observer::connect(&b);
        observer.publish(&t, "x", 1);
        RECEIVED.wait_for(T, |r| r.contains(&t))
    })
    .await;
    assert!(got, "the handler never saw {topic}");
    server.stop().await;
}

#[test]
fn health_follows_the_connection_through_outages() {
    let broker = Broker::start();
    let port = broker.port();
    broker.stop();
    let client = Client::start(
        Config::builder()
            .broker_url("127.0.0.1")
            .port(port)
            .client_id(unique("health"))
            .reconnect_delay(Duration::from_millis(200), Duration::from_millis(500))
            .build()
            .unwrap(),
    )
    .unwrap();
    let h = client.handle();
    assert!(!h.health().is_ready());
    assert!(wait_until(T, || h.health().last_error().is_some()));
    let health = h.health();
    assert_eq!(health.state(), ConnectionState::Connecting);
    assert_eq!(health.connects(), 0);
    let reason = health.last_error().unwrap().to_string();
    assert!(reason.contains(&format!("127.0.0.1:{port}")), "{reason}");

    broker.start_again();
    assert!(wait_until(T, || h.health().is_ready()));
    let health = h.health();
    assert_eq!(health.state(), ConnectionState::Connected);
    assert_eq!(health.connects(), 1);
    assert_eq!(
        health.broker(),
        Some(format!("tcp://127.0.0.1:{port}").as_str())
    );
    assert!(health.last_error().is_none());

    broker.kill();
    assert!(wait_until(T, || h.health().state() == ConnectionState::Reconnecting));
    // Attempts to restore the connection fail while the broker is away.
    assert!(wait_until(T, || h.health().last_error().is_some()));
    assert_eq!(h.health().state(), ConnectionState::Reconnecting);

    broker.start_again();
    assert!(wait_until(T, || h.health().is_ready()));
    assert_eq!(h.health().connects(), 2);
    assert!(h.health().last_error().is_none());

    drop(client);
    assert_eq!(h.health().state(), ConnectionState::Closed);
}

#[test]
fn required_mode_gives_up_after_the_timeout_on_a_broker_that_never_answers() {
    // Accepts TCP connections (the kernel completes the handshake) but never speaks MQTT.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let timeout = Duration::from_secs(2);
    let started = Instant::now();
    let err = Client::start(
        Config::builder()
            .broker_url("127.0.0.1")
            .port(port)
            .client_id(unique("silent"))
            .connect_timeout(timeout)
            .connect_mode(mqtt::ConnectMode::Required)
            .build()
            .unwrap(),
    )
    .expect_err("nothing answers there");
    let took = started.elapsed();
    let text = err.to_string();
    println!("required mode gave up after {took:?}: {text}");
    assert!(
        matches!(err, mqtt::Error::ConnectRequired { .. }),
        "{err:?}"
    );
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.contains("MQTT_CONNECT_MODE=required"), "{text}");
    // It waited the whole timeout for the broker: Paho fails the attempt only once more
    // than the timeout (whole seconds, as 2 s is) has passed since the connect was queued,
    // after `started`, and `Client::start` waits for that up to the timeout plus a second.
    // And it gave up rather than waiting on: the ceiling is the test's deadline, not a
    // speed target.
    assert!(took >= timeout, "gave up before the timeout: {took:?}");
    assert!(took < T, "did not give up: {took:?}");
    drop(silent);
}

/// The graceful_app child process, once connected.
fn spawn_app(broker: &Broker, id: &str) -> AppProcess {
    let mut command = Command::new(env!("CARGO_BIN_EXE_graceful_app"));
    command.args([broker.port().to_string(), id.to_owned()]);
    let app = AppProcess::spawn("graceful_app", command);
    app.expect_line(T, |l| l == "connected");
    app
}

/// Whether the will (`gone` on `graceful/will`) was published: a marker sent after the
/// process is gone arrives after any will, so seeing the marker first proves there was
/// none.
fn will_published(broker: &Broker, observer: &Observer) -> bool {
    let probe = Observer::connect(broker);
    probe.publish("graceful/will", "marker", 1);
    let m = observer.expect_message("graceful/will", T);
    match m.payload_str().as_ref() {
        "gone" => true,
        "marker" => false,
        other => panic!("unexpected will payload {other:?}"),
    }
}

#[test]
fn sigterm_lets_the_running_handler_finish_flushes_its_publishes_and_sends_no_will() {
    let broker = Broker::start();
    let observer = Observer::connect(&broker);
    observer.subscribe("graceful/#", 1);
    let id = unique("graceful");
    let mut app = spawn_app(&broker, &id);

    observer.publish("graceful/jobs/7", "", 1);
    app.expect_line(T, |l| l == "started 7");
    let sent = Instant::now();
    app.terminate();
    let status = app
        .wait_exit(Duration::from_secs(40))
        .expect("graceful_app did not exit");
    println!("exited {:?} after SIGTERM: {status}", sent.elapsed());
    assert!(status.success(), "{status}");
    assert_eq!(
        app.expect_line(T, |l| l.starts_with("finished 7")),
        "finished 7 failed=0"
    );
    app.expect_line(T, |l| l == "exited");

    // All 100 results reached the broker before the DISCONNECT.
    let mut results = std::collections::BTreeSet::new();
    while results.len() < 100 {
        let m = observer.expect_message("graceful/done/7/+", T);
        results.insert(m.topic().to_owned());
    }
    assert!(
        !will_published(&broker, &observer),
        "SIGTERM published the will"
    );
    assert!(
        broker.wait_for_log(&format!("Client {id} disconnected."), 1, T),
        "no DISCONNECT from {id}: {}",
        broker.log_tail(20)
    );
}

#[test]
fn sigkill_publishes_the_will() {
    let broker = Broker::start();
    let observer = Observer::connect(&broker);
    observer.subscribe("graceful/will", 1);
    let app = spawn_app(&broker, &unique("killed"));
    // Dropping it sends SIGKILL and waits for the process to be gone.
    drop(app);
    assert!(will_published(&broker, &observer), "SIGKILL: no will");
}
