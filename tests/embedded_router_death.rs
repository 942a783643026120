//! The embedded broker (`MQTT_BROKER_URL=embedded`) notices when rumqttd's router thread
//! dies: it says so through the error a user sees with or without a logger (target
//! `flask_mqtt::embedded`), stops listening, and the readiness endpoint answers 503.
//! Before, the only sign was rumqttd's panic message on stderr: every connection then
//! failed and the app's client reconnected for ever.
//!
//! What kills the router here is a test hook (`rumqttd::panic_router_for_tests`, cargo
//! feature `test-hooks` of our rumqttd, which this package enables; flask-mqtt-core does
//! not carry it): it makes the router thread of the broker started last panic, as a bug
//! in rumqttd would; what notices and reports it is the real path. No client can do it
//! any more: the last one that could (one SUBSCRIBE with `t` and `$share/g/t`, a debug
//! assertion in rumqttd) is fixed (vendor/rumqttd, PATCHED.md;
//! tests/embedded_shared_session.rs).
//!
//! Once dead, the broker is not `EmbeddedBroker::running()` any more, and the next start
//! starts a new one on its port, where the app's client reconnects and is ready again.
//!
//! One test per binary: the broker and the plugin's clients are per process, and this
//! one kills its broker.

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpStream;
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{http, unique, wait_until, LogLines};
use mqtt::EmbeddedBroker;

const T: Duration = Duration::from_secs(20);

// ---- log capture -----------------------------------------------------------------

const LINES: LogLines = LogLines::new("flask_mqtt", log::Level::Info);

/// The errors logged under `flask_mqtt::embedded` so far.
fn embedded_errors() -> Vec<String> {
    LogLines::new("flask_mqtt::embedded", log::Level::Error).snapshot()
}

// ---- the test --------------------------------------------------------------------

#[actix_web::test]
async fn a_dead_router_is_reported_and_makes_the_app_not_ready() {
    LINES.install();
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

        // The router thread panics (its message is on stderr).
        assert!(
            rumqttd::panic_router_for_tests(),
            "the router was already gone"
        );

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
        // Nor is it the process's running broker any more, and the next start starts a
        // new one, on its port: the app's client, reconnecting there, is ready again.
        assert_eq!(
            EmbeddedBroker::running(),
            None,
            "running() returned the dead broker"
        );
        assert!(!broker.is_running(), "the dead broker says it runs");
        let fresh = EmbeddedBroker::start(None).expect("a new broker after the dead one");
        assert_ne!(fresh, broker, "start returned the dead broker");
        assert_eq!(EmbeddedBroker::running(), Some(fresh));
        assert!(fresh.is_running() && !broker.is_running());
        assert_eq!(
            fresh.port(),
            broker.port(),
            "the new broker is on the dead one's port"
        );
        let (ok, body) = ready(200, T);
        assert!(
            ok,
            "the app did not get ready again on the new broker: {body}"
        );
        assert_eq!(embedded_errors().len(), 1, "{:?}", embedded_errors());
    })
    .await;
    handle.stop(true).await;
    if let Err(e) = checked {
        std::panic::resume_unwind(e.into_panic());
    }
}
