//! A child process for tests/graceful_will.rs: an actix app with a persistent session
//! (fixed client id, clean session off), a last will on `gw/{id}/will`, and a QoS 1
//! handler for `gw/{id}/data` that does nothing but count. It prints `received` once the
//! first message reached the handler (the broker is then sending its backlog) and actix
//! listens for SIGTERM, and `exited` when the server has stopped after SIGTERM.
//!
//! actix starts its workers (whose app factory starts the MQTT client) before it installs
//! its signal handlers, in the same first poll of the server: on a loaded machine a
//! message can reach the handler in between, and a SIGTERM sent then kills the process
//! instead of stopping it. So `received` waits for that first poll too.
//!
//! Usage: `graceful_will_app PORT CLIENT_ID 3|5`

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::Poll;
use std::time::Duration;

use actix_web::{App, HttpServer};
use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::say;

/// What `received` waits for.
struct Gate {
    /// The server's first poll is done: actix listens for SIGTERM.
    listening: bool,
    /// A message reached the handler.
    received: bool,
    /// `received` was printed.
    said: bool,
}

static GATE: Mutex<Gate> = Mutex::new(Gate {
    listening: false,
    received: false,
    said: false,
});

fn update(change: impl FnOnce(&mut Gate)) {
    let mut gate = GATE.lock().unwrap_or_else(|e| e.into_inner());
    change(&mut gate);
    if gate.listening && gate.received && !gate.said {
        gate.said = true;
        say("received");
    }
}

#[mqtt::on_message("gw/+/data", qos = 1)]
fn data(_msg: mqtt::Message) {
    update(|g| g.received = true);
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
    let mut server = server.run();
    // The first poll starts the workers and installs actix's signal handlers.
    let first = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut server).poll(cx))).await;
    update(|g| g.listening = true);
    if let Poll::Ready(result) = first {
        result?;
    } else {
        server.await?;
    }
    say("exited");
    Ok(())
}
