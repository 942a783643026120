//! The embedded broker (`MQTT_BROKER_URL=embedded`) notices when rumqttd's router thread
//! dies: it says so through the error a user sees with or without a logger (target
//! `flask_mqtt::embedded`), stops listening, and the readiness endpoint answers 503.
//! Before, the only sign was rumqttd's panic message on stderr: every connection then
//! failed and the app's client reconnected for ever.
//!
//! What kills the router here is a real client, not a hook: rumqttd 0.20.0 checks, in
//! builds with debug assertions (what `cargo run` and `cargo test` build), that a client
//! has no two subscriptions reading the same topic log (`debug_assert!` in
//! `Router::prepare_filter`), and a filter and its shared form (`t` and `$share/g/t`)
//! do. One SUBSCRIBE with both (`mosquitto_sub -t t -t '$share/g/t'`) fails that
//! assertion and the router thread panics. In a build without debug assertions there is
//! no panic, and this test says so and checks nothing.
//!
//! One test per binary: the broker and the plugin's clients are per process, and this
//! one kills its broker.

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::net::TcpStream;
use std::sync::{Mutex, Once};
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{http, read_packet, unique, wait_until};
use mqtt::EmbeddedBroker;

const T: Duration = Duration::from_secs(20);

// ---- log capture -----------------------------------------------------------------

static LINES: Mutex<Vec<(log::Level, String, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target().starts_with("flask_mqtt")
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            LINES.lock().unwrap().push((
                record.level(),
                record.target().to_owned(),
                record.args().to_string(),
            ));
        }
    }

    fn flush(&self) {}
}

fn capture_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&Capture).unwrap();
        log::set_max_level(log::LevelFilter::Info);
    });
}

/// The errors logged under `flask_mqtt::embedded` so far.
fn embedded_errors() -> Vec<String> {
    LINES
        .lock()
        .unwrap()
        .iter()
        .filter(|(level, target, _)| {
            *level == log::Level::Error && target == "flask_mqtt::embedded"
        })
        .map(|(_, _, text)| text.clone())
        .collect()
}

// ---- a client speaking MQTT 3.1.1 over a plain socket ------------------------------

fn put_str(buf: &mut Vec<u8>, s: &[u8]) {
    buf.extend_from_slice(&u16::try_from(s.len()).unwrap().to_be_bytes());
    buf.extend_from_slice(s);
}

/// Connects as `client_id` (clean session, keep-alive 60 s) and waits for the CONNACK.
fn connect(addr: std::net::SocketAddr, client_id: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(T)).unwrap();
    let mut body = Vec::new();
    put_str(&mut body, b"MQTT");
    body.extend_from_slice(&[4, 0x02, 0, 60]);
    put_str(&mut body, client_id.as_bytes());
    let mut packet = vec![0x10, u8::try_from(body.len()).unwrap()];
    packet.extend_from_slice(&body);
    stream.write_all(&packet).unwrap();
    let connack = read_packet(&mut stream).expect("CONNACK");
    assert_eq!(connack, vec![0x20, 2, 0, 0], "accepted");
    stream
}

/// One SUBSCRIBE (packet identifier 1) with `filters`, each at QoS 1.
fn subscribe(stream: &mut TcpStream, filters: &[&str]) {
    let mut body = vec![0, 1];
    for f in filters {
        put_str(&mut body, f.as_bytes());
        body.push(1);
    }
    let mut packet = vec![0x82, u8::try_from(body.len()).unwrap()];
    packet.extend_from_slice(&body);
    stream.write_all(&packet).unwrap();
}

// ---- the test --------------------------------------------------------------------

#[actix_web::test]
async fn a_dead_router_is_reported_and_makes_the_app_not_ready() {
    if !cfg!(debug_assertions) {
        eprintln!(
            "skipped: without debug assertions no client can make rumqttd's router panic \
             (see the module documentation)"
        );
        return;
    }
    capture_logs();
    mqtt::init_with(
        mqtt::Config::builder()
            .broker_url("embedded")
            .client_id(unique("embedded-router-death"))
            .reconnect_delay(Duration::from_millis(100), Duration::from_millis(300))
            .build()
            .unwrap(),
    )
    .unwrap();
    let server = HttpServer::new(|| {
        App::new()
            .configure(mqtt::configure)
            .route("/ready", web::get().to(mqtt::readiness))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let http_addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let checked = actix_web::rt::task::spawn_blocking(move || {
        let ready = |want: u16, within: Duration| {
            let mut last = String::new();
            let ok = wait_until(within, || {
                let (code, body) = http(http_addr, "GET", "/ready", "");
                last = body;
                code == want
            });
            (ok, last)
        };
        let (ok, body) = ready(200, T);
        assert!(ok, "the app never got ready on the embedded broker: {body}");
        let broker = EmbeddedBroker::running().expect("started by the app's client");

        // A client subscribes to a filter and to its shared form in one SUBSCRIBE: the
        // router thread panics (its message is on stderr).
        let topic = unique("embedded-router-death");
        let mut killer = connect(broker.addr(), &unique("embedded-router-killer"));
        subscribe(&mut killer, &[&topic, &format!("$share/g/{topic}")]);

        assert!(
            wait_until(T, || embedded_errors().iter().any(
                |e| e.contains("router") && e.contains(&broker.addr().to_string())
            )),
            "the router's end was never reported; errors under flask_mqtt::embedded: {:?}",
            embedded_errors()
        );
        let (ok, body) = ready(503, T);
        assert!(ok, "still ready after the router died: {body}");
        // It stays so (3 s, some thirty reconnect attempts): the app's client cannot
        // connect again.
        let (ok, body) = ready(200, Duration::from_secs(3));
        assert!(!ok, "ready again without a router: {body}");
        // And the broker no longer takes connections that could only hang.
        assert!(
            TcpStream::connect(broker.addr()).is_err(),
            "the dead broker still listens on {}",
            broker.addr()
        );
        assert_eq!(embedded_errors().len(), 1, "{:?}", embedded_errors());
    })
    .await;
    handle.stop(true).await;
    if let Err(e) = checked {
        std::panic::resume_unwind(e.into_panic());
    }
}
