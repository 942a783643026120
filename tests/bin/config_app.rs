//! A child process for tests/config_visible.rs: the README's `main` (no `init()`, just
//! `configure`) with 4 workers, and a handler on the broker `MQTT2`, so that two key
//! prefixes are in use. With `APP_LOGGER=1` it installs a logger that writes
//! `LOG <LEVEL> <target>: <message>` lines to stderr; without, none, like the README.
//!
//! On stdout it prints `listening ADDR`, `app built` once per worker,
//! `connect failed` for every failed connect round of the default client, and
//! `<handler> got <payload>` for every message its `MQTT2` handlers (`second` on
//! `visible/two`, `marker` on `visible/marker`) receive.
//! `GET /mqtt` answers 200 when the `Mqtt` extractor works, and 503 with its reason
//! otherwise; `GET /mqtt2` the same for the client `MQTT2` (through `mqtt::Clients`);
//! `GET /ready` is `mqtt::readiness`.
//!
//! With `APP_INIT=1` it calls `mqtt::init()` first (and exits with its error); with
//! `APP_PORT_TAKEN=1` it then binds to a port already taken, so that `main` returns the
//! error (after `init` has started the clients of connect mode `required`). It prints
//! `init done` after `init`.

use std::io::Write;

use actix_web::{web, App, HttpResponse, HttpServer};
use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::say;

#[mqtt::on_message("visible/two", broker = "MQTT2")]
async fn second(msg: mqtt::Message) {
    say(&format!(
        "second got {}",
        String::from_utf8_lossy(msg.payload())
    ));
}

#[mqtt::on_message("visible/marker", broker = "MQTT2")]
async fn marker(msg: mqtt::Message) {
    say(&format!(
        "marker got {}",
        String::from_utf8_lossy(msg.payload())
    ));
}

#[mqtt::on_disconnect]
async fn disconnected(event: mqtt::Disconnected) {
    if matches!(event.reason(), mqtt::DisconnectReason::ConnectFailed(_)) {
        say("connect failed");
    }
}

async fn client(client: mqtt::Mqtt) -> HttpResponse {
    HttpResponse::Ok().body(client.client_id().to_owned())
}

async fn second_client(clients: mqtt::Clients) -> actix_web::Result<HttpResponse> {
    let client = clients.require("MQTT2")?;
    Ok(HttpResponse::Ok().body(client.client_id().to_owned()))
}

/// A logger like env_logger's, to stderr, at info and above.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(
                err,
                "LOG {} {}: {}",
                record.level(),
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    if std::env::var_os("APP_LOGGER").is_some() {
        log::set_logger(&LOGGER).map_err(std::io::Error::other)?;
        log::set_max_level(log::LevelFilter::Info);
    }
    if std::env::var_os("APP_INIT").is_some() {
        mqtt::init().map_err(std::io::Error::other)?;
        say("init done");
    }
    // A port some other socket listens on: `bind` fails.
    let taken = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    let port = if std::env::var_os("APP_PORT_TAKEN").is_some() {
        taken.local_addr()?.port()
    } else {
        0
    };
    let server = HttpServer::new(|| {
        let app = App::new()
            .configure(mqtt::configure)
            .route("/mqtt", web::get().to(client))
            .route("/mqtt2", web::get().to(second_client))
            .route("/ready", web::get().to(mqtt::readiness));
        say("app built");
        app
    })
    .workers(4)
    .bind(("127.0.0.1", port))?;
    for addr in server.addrs() {
        say(&format!("listening {addr}"));
    }
    server.run().await
}
