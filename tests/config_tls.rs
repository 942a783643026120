//! TLS and websockets against a real Mosquitto on loopback: certificate and host name
//! checks, `MQTT_TLS_INSECURE` and `MQTT_TLS_VERIFY_CERTIFICATE`, mutual TLS, `ws://` and `wss://` (through the harness's
//! [`WsProxy`], as Debian's Mosquitto has no websockets), and a TLS configuration error.

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{unique, wait_connected, wait_until, Broker, Recorder, WsProxy};
use mqtt::{Client, Config, ConfigBuilder, QoS};

const T: Duration = Duration::from_secs(15);

/// Paho C's reason when the TLS handshake fails or the server certificate does not name
/// the host. It does not say which: the OpenSSL detail is only in its trace (`on_log`
/// level `Debug`, `log` target `paho_mqtt_c` at `trace`), e.g.
/// `SSL alert write:fatal:unknown CA` or `X509_check_host for hostname 127.0.0.1 failed`.
const PAHO_TLS_FAILURE: &str = "TCP/TLS connect failure";
/// Paho C's reason when the broker drops the connection right after a TLS 1.3 handshake
/// the client thought complete (a refused client certificate): the refusal arrives
/// either during `SSL_connect` ([`PAHO_TLS_FAILURE`]) or just after it (this).
const PAHO_CONNECT_COMPLETION_FAILURE: &str = "TCP connect completion failure";
/// Paho C's reason when the websocket handshake is answered with an HTTP error.
const PAHO_SOCKET_ERROR: &str = "Socket error";

/// `(client id, "topic payload")` of every message the `tls/#` handler saw.
static MESSAGES: Recorder<(String, String)> = Recorder::new();
/// `(client id, level, text)` of the `on_log` entries the tests look for.
static LOGS: Recorder<(String, mqtt::LogLevel, String)> = Recorder::new();

#[mqtt::on_message("tls/#", qos = 1)]
fn tls_message(msg: mqtt::Message, client: mqtt::Mqtt) {
    MESSAGES.push((
        client.client_id().to_owned(),
        format!("{} {}", msg.topic(), String::from_utf8_lossy(msg.payload())),
    ));
}

#[mqtt::on_log]
fn log_entry(entry: mqtt::LogEntry, client: mqtt::Mqtt) {
    // Warnings and errors, and of Paho C's trace (level `Debug`) the TLS alerts, the
    // cipher list and the CONNECT.
    let text = entry.message();
    if matches!(entry.level(), mqtt::LogLevel::Warning | mqtt::LogLevel::Err)
        || text.starts_with("SSL alert ")
        || text.starts_with("SSL cipher available")
        || text.contains("-> CONNECT")
    {
        LOGS.push((
            client.client_id().to_owned(),
            entry.level(),
            entry.message().to_owned(),
        ));
    }
}

/// A config for `url` with a unique client id and quick retries.
fn config(url: String) -> ConfigBuilder {
    Config::builder()
        .broker_url(url)
        .client_id(unique("tls"))
        .connect_timeout(Duration::from_secs(3))
        .reconnect_delay(Duration::from_millis(100), Duration::from_millis(500))
}

fn start(builder: ConfigBuilder) -> Client {
    Client::start(builder.build().expect("valid config")).expect("client starts")
}

/// Waits for the first failed attempt and checks that it never connected, neither in
/// the client's view nor in the broker's log. Returns Paho's reason.
fn expect_unreachable(client: &Client, broker: &Broker) -> String {
    let m = client.handle();
    assert!(
        wait_until(T, || m.last_connect_error().is_some()),
        "{} neither connected nor failed",
        m.client_id()
    );
    let err = m.last_connect_error().expect("just checked");
    assert!(!m.is_connected(), "{} connected after all", m.client_id());
    assert_eq!(
        broker.connections_from(m.client_id()),
        0,
        "the broker accepted {}: {}",
        m.client_id(),
        broker.log_tail(20)
    );
    let mqtt::ConnectError::Unreachable { uri, reason, .. } = &err else {
        panic!("expected ConnectError::Unreachable, got {err:?}");
    };
    assert_eq!(*uri, m.server_uri(), "{err}");
    let text = err.to_string();
    assert!(text.contains(uri.as_str()), "{text}");
    reason.clone()
}

/// The `on_log` entries recorded for client `id`.
fn logs_of(id: &str) -> Vec<(String, mqtt::LogLevel, String)> {
    LOGS.snapshot()
        .into_iter()
        .filter(|(c, _, _)| c == id)
        .collect()
}

/// Checks that `client` failed the TLS handshake (see [`expect_unreachable`]) and waits
/// for the `on_log` entry, `(level, text)`, in which `alert` recognises OpenSSL's alert.
fn expect_tls_alert(
    client: &Client,
    broker: &Broker,
    alert: impl Fn(mqtt::LogLevel, &str) -> bool,
) {
    assert_eq!(expect_unreachable(client, broker), PAHO_TLS_FAILURE);
    let id = client.handle().client_id().to_owned();
    assert!(
        LOGS.wait_for(T, |logs| logs
            .iter()
            .any(|(c, level, text)| *c == id && alert(*level, text))),
        "no such TLS alert for {id}: {:?}",
        logs_of(&id)
    );
}

/// OpenSSL's alert when the server certificate's chain does not end at the configured
/// CA, in Paho C's trace.
fn unknown_ca(level: mqtt::LogLevel, text: &str) -> bool {
    level == mqtt::LogLevel::Debug && text == "SSL alert write:fatal:unknown CA"
}

/// The port of the listener that accepted the client `id`, from the broker log: the
/// last `New connection from ADDR on port P.` before `New client connected from ADDR as
/// ID (...`.
fn listener_port_of(broker: &Broker, id: &str) -> Option<u16> {
    const NEW_CONNECTION: &str = "New connection from ";
    const NEW_CLIENT: &str = "New client connected from ";
    let mut port_of_addr = std::collections::HashMap::new();
    for line in broker.log().lines() {
        if let Some(i) = line.find(NEW_CONNECTION) {
            let rest = &line[i + NEW_CONNECTION.len()..];
            if let Some((addr, port)) = rest.split_once(" on port ") {
                port_of_addr.insert(addr.to_owned(), port.trim_end_matches('.').parse().ok()?);
            }
        } else if let Some(i) = line.find(NEW_CLIENT) {
            let rest = &line[i + NEW_CLIENT.len()..];
            if let Some((addr, after)) = rest.split_once(" as ") {
                if after.starts_with(&format!("{id} (")) {
                    return port_of_addr.get(addr).copied();
                }
            }
        }
    }
    None
}

/// Waits until the broker logged that `id` subscribed `tls/#`, publishes one message
/// and waits for the handler to get it back.
fn assert_loop_back(broker: &Broker, client: &Client) {
    let m = client.handle();
    wait_connected(&m, T);
    let id = m.client_id().to_owned();
    assert!(
        broker.wait_for_log(&format!("{id} 1 tls/#"), 1, T),
        "{id} never subscribed: {}",
        broker.log_tail(20)
    );
    let topic = format!("tls/{}", unique("loop"));
    futures::executor::block_on(
        m.publish(topic.as_str(), "over the wire")
            .qos(QoS::AtLeastOnce)
            .send(),
    )
    .expect("publish");
    let want = (id, format!("{topic} over the wire"));
    assert!(
        MESSAGES.wait_for(T, |e| e.contains(&want)),
        "the handler never got {want:?}"
    );
}

#[test]
fn tls_with_the_harness_ca_verifies_and_loops_back() {
    let broker = Broker::builder().tls().start();
    let client = start(
        config(format!("mqtts://127.0.0.1:{}", broker.tls_port()))
            .tls_ca_certs(&broker.pki().ca_cert),
    );
    let m = client.handle();
    assert_eq!(m.server_uri(), broker.tls_uri());
    assert_loop_back(&broker, &client);
    assert_eq!(
        listener_port_of(&broker, m.client_id()),
        Some(broker.tls_port()),
        "not connected through the TLS listener: {}",
        broker.log_tail(20)
    );
    // `on_log` gets Paho's protocol lines, but not the ~60 ciphers OpenSSL offers at
    // every TLS connect.
    let id = m.client_id().to_owned();
    assert!(
        LOGS.wait_for(T, |logs| logs
            .iter()
            .any(|(c, _, text)| *c == id && text.contains("-> CONNECT"))),
        "no CONNECT line in on_log for {id}"
    );
    let ciphers: Vec<_> = LOGS
        .snapshot()
        .into_iter()
        .filter(|(c, _, text)| *c == id && text.starts_with("SSL cipher available"))
        .collect();
    assert!(
        ciphers.is_empty(),
        "{} cipher lines: {:?}",
        ciphers.len(),
        ciphers.first()
    );
}

#[test]
fn a_server_certificate_from_another_ca_is_rejected() {
    let broker = Broker::builder().tls().start();
    let client = start(
        config(format!("mqtts://127.0.0.1:{}", broker.tls_port()))
            .tls_ca_certs(&broker.pki().wrong_ca_cert),
    );
    // OpenSSL's detail reaches the client's `on_log` handlers (README, "Configuration").
    expect_tls_alert(&client, &broker, unknown_ca);
    // The broker saw a TLS handshake that the client aborted.
    assert!(
        broker.wait_for_log(&format!("on port {}.", broker.tls_port()), 1, T),
        "{}",
        broker.log_tail(20)
    );
}

#[test]
fn the_host_name_must_be_in_the_certificate() {
    // The server certificate names only `localhost`, not 127.0.0.1.
    let broker = Broker::builder()
        .tls()
        .tls_server_san("DNS:localhost")
        .start();
    let ca = &broker.pki().ca_cert;
    let by_name =
        start(config(format!("mqtts://localhost:{}", broker.tls_port())).tls_ca_certs(ca));
    assert_loop_back(&broker, &by_name);

    let by_ip = start(config(format!("mqtts://127.0.0.1:{}", broker.tls_port())).tls_ca_certs(ca));
    assert_eq!(expect_unreachable(&by_ip, &broker), PAHO_TLS_FAILURE);
}

/// The `on_log` warnings of client `id` that name `key`. (Called with the recorder
/// locked: it must not lock it again.)
fn warnings_naming(logs: &[(String, mqtt::LogLevel, String)], id: &str, key: &str) -> usize {
    logs.iter()
        .filter(|(c, level, text)| {
            c == id && *level == mqtt::LogLevel::Warning && text.contains(key)
        })
        .count()
}

#[test]
fn insecure_skips_only_the_host_name_check_and_warns_at_every_connect() {
    // The certificate names only `localhost` and the client connects to 127.0.0.1 (a
    // broker reached by address): with the right CA, MQTT_TLS_INSECURE lets the name
    // mismatch pass, as Flask-MQTT's `tls_insecure_set(True)` does.
    let broker = Broker::builder()
        .tls()
        .tls_server_san("DNS:localhost")
        .start();
    let client = start(
        config(format!("mqtts://127.0.0.1:{}", broker.tls_port()))
            .tls_ca_certs(&broker.pki().ca_cert)
            .tls_insecure(true),
    );
    assert_loop_back(&broker, &client);
    let m = client.handle();
    let id = m.client_id().to_owned();
    assert!(
        LOGS.wait_for(T, |logs| warnings_naming(logs, &id, "MQTT_TLS_INSECURE")
            >= 1),
        "no MQTT_TLS_INSECURE warning for {id}"
    );

    // Every connect warns again: make it reconnect.
    broker.restart();
    assert!(
        wait_until(T, || broker.connections_from(&id) >= 2 && m.is_connected()),
        "{id} did not reconnect: {:?}\n{}",
        m.last_connect_error(),
        broker.log_tail(20)
    );
    assert!(
        LOGS.wait_for(T, |logs| warnings_naming(logs, &id, "MQTT_TLS_INSECURE")
            >= 2),
        "the warning was not repeated at the reconnect: {:?}",
        logs_of(&id)
    );
}

#[test]
fn insecure_still_refuses_a_certificate_from_an_unknown_ca() {
    // MQTT_TLS_INSECURE turns off the host name check only: the chain is still checked
    // against MQTT_TLS_CA_CERTS, so a certificate from another CA (a man in the middle)
    // is refused, whatever name it carries.
    let broker = Broker::builder().tls().start();
    let client = start(
        config(format!("mqtts://127.0.0.1:{}", broker.tls_port()))
            .tls_ca_certs(&broker.pki().wrong_ca_cert)
            .tls_insecure(true),
    );
    expect_tls_alert(&client, &broker, unknown_ca);
}

#[test]
fn verify_certificate_false_accepts_any_certificate_and_warns() {
    // Another CA *and* another name: MQTT_TLS_VERIFY_CERTIFICATE=false turns off both
    // checks. Given as environment variables, as a migrated app would.
    let broker = Broker::builder()
        .tls()
        .tls_server_san("DNS:localhost")
        .start();
    let id = unique("tls");
    let env = [
        (
            "MQTT_BROKER_URL",
            format!("mqtts://127.0.0.1:{}", broker.tls_port()),
        ),
        ("MQTT_CLIENT_ID", id.clone()),
        ("MQTT_CONNECTION_TIMEOUT", "3".to_owned()),
        ("MQTT_RECONNECT_MIN_DELAY", "0.1".to_owned()),
        ("MQTT_RECONNECT_MAX_DELAY", "0.5".to_owned()),
        (
            "MQTT_TLS_CA_CERTS",
            broker.pki().wrong_ca_cert.display().to_string(),
        ),
        ("MQTT_TLS_VERIFY_CERTIFICATE", "false".to_owned()),
    ];
    let config = Config::from_lookup("MQTT", |key| {
        Ok(env.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()))
    })
    .expect("MQTT_TLS_VERIFY_CERTIFICATE=false is a valid setting");
    let client = Client::start(config).expect("client starts");
    assert_loop_back(&broker, &client);
    assert!(
        LOGS.wait_for(T, |logs| warnings_naming(
            logs,
            &id,
            "MQTT_TLS_VERIFY_CERTIFICATE"
        ) >= 1),
        "no MQTT_TLS_VERIFY_CERTIFICATE warning for {id}: {:?}",
        logs_of(&id)
    );
}

#[test]
fn a_tls_1_3_minimum_refuses_a_broker_that_offers_at_most_tls_1_2() {
    let broker = Broker::builder().tls().tls_max_version("TLSv1.2").start();
    let url = format!("mqtts://127.0.0.1:{}", broker.tls_port());
    let ca = &broker.pki().ca_cert;
    // The default minimum, TLS 1.2, takes what this broker offers.
    let tls12 = start(config(url.clone()).tls_ca_certs(ca));
    assert_loop_back(&broker, &tls12);

    let tls13 = start(
        config(url)
            .tls_ca_certs(ca)
            .tls_version(mqtt::TlsVersion::Tls13),
    );
    expect_tls_alert(&tls13, &broker, |_, text| {
        text.starts_with("SSL alert") && text.contains("protocol version")
    });
}

#[test]
fn a_tls_1_3_minimum_connects_to_a_broker_that_offers_it() {
    let broker = Broker::builder().tls().start();
    let client = start(
        config(format!("mqtts://127.0.0.1:{}", broker.tls_port()))
            .tls_ca_certs(&broker.pki().ca_cert)
            .tls_version(mqtt::TlsVersion::Tls13),
    );
    assert_loop_back(&broker, &client);
}

#[test]
fn mutual_tls_connects_with_a_client_certificate() {
    let broker = Broker::builder().mutual_tls().start();
    let pki = broker.pki();
    let client = start(
        config(format!("mqtts://127.0.0.1:{}", broker.mutual_tls_port()))
            .tls_ca_certs(&pki.ca_cert)
            .tls_client_cert(&pki.client_cert, &pki.client_key),
    );
    assert_loop_back(&broker, &client);
    assert_eq!(
        listener_port_of(&broker, client.handle().client_id()),
        Some(broker.mutual_tls_port())
    );
}

#[test]
fn mutual_tls_refuses_a_client_without_certificate() {
    let broker = Broker::builder().mutual_tls().start();
    let client = start(
        config(format!("mqtts://127.0.0.1:{}", broker.mutual_tls_port()))
            .tls_ca_certs(&broker.pki().ca_cert),
    );
    let reason = expect_unreachable(&client, &broker);
    assert!(
        [PAHO_TLS_FAILURE, PAHO_CONNECT_COMPLETION_FAILURE].contains(&reason.as_str()),
        "{reason}"
    );
    assert!(
        broker.wait_for_log("peer did not return a certificate", 1, T),
        "{}",
        broker.log_tail(20)
    );
}

#[test]
fn mutual_tls_refuses_a_certificate_from_another_ca() {
    let broker = Broker::builder().mutual_tls().start();
    let pki = broker.pki();
    let client = start(
        config(format!("mqtts://127.0.0.1:{}", broker.mutual_tls_port()))
            .tls_ca_certs(&pki.ca_cert)
            .tls_client_cert(&pki.wrong_client_cert, &pki.wrong_client_key),
    );
    let reason = expect_unreachable(&client, &broker);
    assert!(
        [PAHO_TLS_FAILURE, PAHO_CONNECT_COMPLETION_FAILURE].contains(&reason.as_str()),
        "{reason}"
    );
    assert!(
        broker.wait_for_log("certificate verify failed", 1, T),
        "{}",
        broker.log_tail(20)
    );
}

#[test]
fn websockets_through_the_proxy() {
    let broker = Broker::start();
    let ws = WsProxy::builder(&broker).path("/custom/ws").start();
    // The builder's spelling: host, port, transport and path separately.
    let client = start(
        config("127.0.0.1".to_owned())
            .port(ws.port())
            .transport(mqtt::Transport::WebSockets)
            .websocket_path("/custom/ws"),
    );
    assert_eq!(client.handle().server_uri(), ws.uri());
    assert_loop_back(&broker, &client);
    assert!(ws.connections() >= 1, "{ws:?}");
    assert_eq!(
        listener_port_of(&broker, client.handle().client_id()),
        Some(broker.port()),
        "the proxy talks to the plain listener"
    );
}

#[test]
fn mqtt5_over_websockets() {
    let broker = Broker::start();
    let ws = WsProxy::start(&broker);
    let client = start(config(ws.uri()).protocol_version(mqtt::ProtocolVersion::V5));
    assert_loop_back(&broker, &client);
    let id = client.handle().client_id().to_owned();
    assert!(
        broker.count_in_log(&format!("as {id} (p5")) == 1,
        "{}",
        broker.log_tail(20)
    );
    assert!(ws.connections() >= 1, "{ws:?}");
}

#[test]
fn a_wrong_websocket_path_is_refused() {
    let broker = Broker::start();
    let ws = WsProxy::start(&broker);
    let client = start(config(format!("ws://127.0.0.1:{}/elsewhere", ws.port())));
    assert_eq!(expect_unreachable(&client, &broker), PAHO_SOCKET_ERROR);
    assert!(wait_until(T, || ws.rejected() >= 1), "{ws:?}");
    assert_eq!(ws.connections(), 0, "{ws:?}");
    let why = ws.last_error().unwrap_or_default();
    assert!(why.contains("404 Not Found"), "{why}");
    assert!(why.contains("no websocket endpoint at /elsewhere"), "{why}");
}

/// Sends a websocket upgrade request for `/mqtt` (offering `protocols`, if any) and
/// returns the response head.
fn raw_handshake(port: u16, protocols: Option<&str>) -> String {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(T)).unwrap();
    let offer = protocols
        .map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n"))
        .unwrap_or_default();
    write!(
        tcp,
        "GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n{offer}\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && tcp.read(&mut byte).unwrap() == 1 {
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).to_ascii_lowercase()
}

#[test]
fn the_proxy_answers_with_the_mqtt_subprotocol() {
    let broker = Broker::start();
    let ws = WsProxy::start(&broker);
    // What Paho sends, and what a browser client may send: the answer names `mqtt`.
    for offer in ["mqtt", "mqttv3.1, mqtt"] {
        let head = raw_handshake(ws.port(), Some(offer));
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert!(
            head.contains("\r\nsec-websocket-protocol: mqtt\r\n"),
            "{head}"
        );
    }
    let head = raw_handshake(ws.port(), None);
    assert!(head.starts_with("http/1.1 400"), "{head}");
    assert!(
        wait_until(T, || ws.connections() == 2 && ws.rejected() == 1),
        "{ws:?}"
    );
}

#[test]
fn secure_websockets_through_the_proxy() {
    let broker = Broker::builder().tls().start();
    let wss = WsProxy::builder(&broker).tls(broker.pki()).start();
    assert!(wss.uri().starts_with("wss://127.0.0.1:"), "{}", wss.uri());
    let client = start(config(wss.uri()).tls_ca_certs(&broker.pki().ca_cert));
    assert_loop_back(&broker, &client);
    assert!(wss.connections() >= 1, "{wss:?}");
}

#[test]
fn secure_websockets_with_another_ca_are_rejected() {
    let broker = Broker::builder().tls().start();
    let wss = WsProxy::builder(&broker).tls(broker.pki()).start();
    let client = start(config(wss.uri()).tls_ca_certs(&broker.pki().wrong_ca_cert));
    assert_eq!(expect_unreachable(&client, &broker), PAHO_TLS_FAILURE);
    assert!(wait_until(T, || wss.rejected() >= 1), "{wss:?}");
    assert_eq!(wss.connections(), 0, "{wss:?}");
    let why = wss.last_error().unwrap_or_default();
    assert!(why.contains("TLS handshake"), "{why}");
}

#[test]
fn a_missing_ca_file_is_a_config_error_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-such-ca.crt");
    let env = [
        ("MQTT_BROKER_URL", "mqtts://127.0.0.1:8883".to_owned()),
        ("MQTT_TLS_CA_CERTS", missing.display().to_string()),
    ];
    let err = Config::from_lookup("MQTT", |key| {
        Ok(env.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()))
    })
    .expect_err("the CA file does not exist");
    assert_eq!(err.key(), "MQTT_TLS_CA_CERTS");
    assert_eq!(err.value(), Some(missing.display().to_string().as_str()));
    let text = err.to_string();
    assert!(text.contains("MQTT_TLS_CA_CERTS"), "{text}");
    assert!(text.contains("no-such-ca.crt"), "{text}");
    assert!(text.contains("existing PEM file"), "{text}");
}
