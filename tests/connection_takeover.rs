//! An MQTT 5 broker that ends the connection with DISCONNECT 0x8E (session taken over:
//! another client connected with the same client id) makes the app say so at once, in
//! one line that names the client id key, even without a logger. Mosquitto 2.0.11 did
//! not bring the driver such a DISCONNECT in tests/connection_races.rs (two processes
//! with one id are found out by their short connections instead), so a loopback server
//! plays the broker here and takes the session over when the test says so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use flask_mqtt_tests::{
    accept_v5, encode_connack_session_v5, encode_disconnect_v5, http, read_packet, serve_v5,
    unique, wait_until, AppProcess, Broker, LoopbackSeen,
};

const T: Duration = Duration::from_secs(20);

/// MQTT 5's DISCONNECT reason "session taken over".
const SESSION_TAKEN_OVER: u8 = 0x8E;

/// A loopback broker: `first` plays the client's first connection and ends it; then it
/// serves the client's next connection until it ends (or for [`T`]). Returns its port.
fn loopback_broker(first: impl FnOnce(&TcpListener) + Send + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        first(&listener);
        let mut next = accept_v5(&listener, false, T);
        serve_v5(
            &mut next,
            &mut LoopbackSeen::default(),
            Instant::now() + T,
            |_| false,
        );
    });
    port
}

/// The loopback broker: accepts a connection, and ends it with DISCONNECT 0x8E once `go`
/// says so; then serves the client's next connection until it ends (or for [`T`]).
/// Returns its port.
fn taking_over_broker(go: mpsc::Receiver<()>) -> u16 {
    loopback_broker(move |listener| {
        let mut first = accept_v5(listener, false, T);
        go.recv_timeout(T).unwrap();
        let mut out = Vec::new();
        encode_disconnect_v5(&mut out, SESSION_TAKEN_OVER);
        first.write_all(&out).unwrap();
    })
}

/// The loopback broker of a takeover right after the CONNACK: the first connection's
/// CONNACK and DISCONNECT 0x8E go in one write, so the DISCONNECT comes before the
/// driver handles the connection's `Connected` (which finds it gone); then it serves the
/// client's next connection. Returns its port.
fn taking_over_at_once_broker() -> u16 {
    loopback_broker(|listener| {
        let (mut first, _) = listener.accept().unwrap();
        first.set_read_timeout(Some(T)).unwrap();
        let connect = read_packet(&mut first).unwrap();
        assert_eq!(connect[0] >> 4, 1, "a CONNECT first: {connect:?}");
        let mut out = Vec::new();
        encode_connack_session_v5(&mut out, false, 0, &[]);
        encode_disconnect_v5(&mut out, SESSION_TAKEN_OVER);
        first.write_all(&out).unwrap();
    })
}

/// `config_app` (as below) on a loopback broker at `port`, MQTT 5; with its stderr.
fn config_app(port: u16, id: &str, mosquitto: &Broker) -> (AppProcess, tempfile::NamedTempFile) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_config_app"));
    for (k, v) in [
        ("MQTT_BROKER_URL", "127.0.0.1".to_owned()),
        ("MQTT_BROKER_PORT", port.to_string()),
        ("MQTT_CLIENT_ID", id.to_owned()),
        ("MQTT_PROTOCOL_VERSION", "5".to_owned()),
        ("MQTT_RECONNECT_MIN_DELAY", "0.1".to_owned()),
        ("MQTT2_BROKER_URL", "127.0.0.1".to_owned()),
        ("MQTT2_BROKER_PORT", mosquitto.port().to_string()),
        ("MQTT2_CLIENT_ID", unique("taken-over-2")),
    ] {
        command.env(k, v);
    }
    let stderr = tempfile::NamedTempFile::new().unwrap();
    command.stderr(stderr.reopen().unwrap());
    (AppProcess::spawn("config_app", command), stderr)
}

/// What `stderr` says of the takeover, once it says it (or after [`T`]): one line,
/// naming `MQTT_CLIENT_ID` and `id`.
fn expect_takeover_said(stderr: &tempfile::NamedTempFile, id: &str) {
    let err = || std::fs::read_to_string(stderr.path()).unwrap();
    let said = || {
        err()
            .lines()
            .filter(|l| l.contains("session taken over"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert!(
        wait_until(T, || !said().is_empty()),
        "the takeover was not said; stderr: {}",
        err()
    );
    let said = said();
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(
        said[0].contains("MQTT_CLIENT_ID")
            && said[0].contains(&format!("`{id}`"))
            && said[0].contains("reconnecting"),
        "{said:?}"
    );
}

/// A takeover's DISCONNECT 0x8E that comes before the driver handled the connection's
/// `Connected` is said too. Before, the driver dropped an end that came while no
/// connection was up, and the warning never came.
#[test]
fn a_session_taken_over_right_after_the_connack_is_said() {
    let mosquitto = Broker::start();
    let port = taking_over_at_once_broker();
    let id = unique("taken-over-at-once");
    let (app, stderr) = config_app(port, &id, &mosquitto);
    expect_takeover_said(&stderr, &id);
    drop(app);
}

/// `tests/bin/config_app.rs` (no logger; its default client on the loopback broker,
/// MQTT 5, its `MQTT2` client on Mosquitto) is taken over once it is ready: its stderr
/// says so in one line, naming `MQTT_CLIENT_ID` and the id.
#[test]
fn a_session_taken_over_is_said_at_once_naming_the_client_id_key() {
    let mosquitto = Broker::start();
    let (go, gate) = mpsc::channel();
    let port = taking_over_broker(gate);
    let id = unique("taken-over");
    let (app, stderr) = config_app(port, &id, &mosquitto);
    let line = app.expect_line(T, |l| l.starts_with("listening "));
    let addr = line["listening ".len()..].parse().unwrap();
    // Connected (the driver knows it): a DISCONNECT now ends a connection it knows.
    assert!(
        wait_until(T, || http(addr, "GET", "/ready", "").0 == 200),
        "the app's clients never got ready: {}",
        http(addr, "GET", "/ready", "").1
    );
    go.send(()).unwrap();
    expect_takeover_said(&stderr, &id);
    drop(app);
}
