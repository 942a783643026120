//! A child process for tests/graceful_will.rs: an actix app with a persistent session
//! (fixed client id, clean session off), a last will on `gw/{id}/will`, and a QoS 1
//! handler for `gw/{id}/data` that does nothing but count. It prints `received` once the
//! first message reached the handler (the broker is then sending its backlog), and
//! `exited` when the server has stopped after SIGTERM.
//!
//! Usage: `graceful_will_app PORT CLIENT_ID 3|5`

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::{App, HttpServer};
use flask_mqtt_actix as mqtt;

static FIRST: AtomicBool = AtomicBool::new(true);

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[mqtt::on_message("gw/+/data", qos = 1)]
fn data(_msg: mqtt::Message) {
    if FIRST.swap(false, Ordering::SeqCst) {
        say("received");
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, port, id, version] = args.as_slice() else {
        eprintln!("usage: graceful_will_app PORT CLIENT_ID 3|5");
        std::process::exit(2);
    };
    let version = match version.as_str() {
        "5" => mqtt::ProtocolVersion::V5,
        _ => mqtt::ProtocolVersion::V311,
    };
    let config = mqtt::Config::builder()
        .broker_url("127.0.0.1")
        .port(port.parse().unwrap_or(1883))
        .client_id(id.as_str())
        .protocol_version(version)
        .clean_session(false)
        .keepalive(Duration::from_secs(5))
        .last_will(
            format!("gw/{id}/will"),
            "gone",
            mqtt::QoS::AtLeastOnce,
            false,
        )
        .build()
        .map_err(std::io::Error::other)?;
    mqtt::init_with(config).map_err(std::io::Error::other)?;
    let server = HttpServer::new(|| App::new().configure(mqtt::configure))
        .workers(1)
        .bind(("127.0.0.1", 0))?;
    server.run().await?;
    say("exited");
    Ok(())
}
