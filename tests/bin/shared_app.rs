//! A child process for the scale-out tests (`tests/scale_out.rs`): one replica of an actix
//! app (4 workers) that takes its share of a job stream through shared subscriptions.
//! Configured only through the environment (`MQTT_BROKER_URL`, `MQTT_BROKER_PORT`,
//! `MQTT_CLIENT_ID` with `{pid}`/`{hostname}`, `MQTT_PROTOCOL_VERSION`, ...), as a
//! replica in a deployment would be.
//!
//! Handlers, and the line each prints on stdout (one line per event, flushed):
//!
//! * `jobs/{n}` shared by the group `workers` through `shared = "workers"`, QoS 1:
//!   `job N TOPIC`;
//! * `$share/workers/tasks/{n}`, the same thing spelled out, QoS 1: `task N TOPIC`;
//! * `markers/#`, not shared (every replica gets each marker), QoS 1: `marker PAYLOAD`;
//! * on connect, after the subscriptions: `connected CLIENT_ID`, then `broker URI` (the
//!   broker of a failover list it is connected to).
//!
//! Also `listening ADDR` at start and `exited` once the server (and with it the MQTT
//! client, which finishes the handler calls it already accepted) has stopped, e.g.
//! after SIGTERM. `SHARED_APP_WORK_US` makes every job and task take that many
//! microseconds (a sleep) before it prints, to model real work.
//!
//! With `SHARED_APP_LEAVE_GROUP=1` the app handles SIGTERM itself: it first unsubscribes
//! from its shared subscriptions (printing `left FILTER` for each, once the broker has
//! acknowledged), so that the broker sends the group's next messages to the other
//! replicas, and only then stops the server (which drains and disconnects as usual).
//! Without it, actix's own SIGTERM handling stops the server at once.
//!
//! Usage: `shared_app` (no arguments).

use std::sync::OnceLock;
use std::time::Duration;

use actix_web::{App, HttpServer};
use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::say;

/// How long a job or task takes (`SHARED_APP_WORK_US`, 0 if not set).
fn work() -> Duration {
    static WORK: OnceLock<Duration> = OnceLock::new();
    *WORK.get_or_init(|| {
        std::env::var("SHARED_APP_WORK_US")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_micros)
            .unwrap_or_default()
    })
}

/// The client, for the SIGTERM handler.
static CLIENT: OnceLock<mqtt::Mqtt> = OnceLock::new();

#[mqtt::on_connect]
fn connected(client: mqtt::Mqtt) {
    say(&format!("connected {}", client.client_id()));
    if let Some(broker) = client.health().broker() {
        say(&format!("broker {broker}"));
    }
    let _ = CLIENT.set(client);
}

/// On SIGTERM: leave the share groups, then stop the server gracefully.
async fn leave_group_then_stop(server: actix_web::dev::ServerHandle) {
    let Ok(mut term) =
        actix_web::rt::signal::unix::signal(actix_web::rt::signal::unix::SignalKind::terminate())
    else {
        say("cannot handle SIGTERM");
        return;
    };
    term.recv().await;
    if let Some(client) = CLIENT.get() {
        for (filter, _) in client.topics() {
            if filter.starts_with("$share/") {
                match client.unsubscribe(&filter).await {
                    Ok(()) => say(&format!("left {filter}")),
                    Err(e) => say(&format!("leaving {filter} failed: {e}")),
                }
            }
        }
    }
    server.stop(true).await;
}

#[mqtt::on_message("jobs/{n}", shared = "workers", qos = 1)]
async fn job(msg: mqtt::Message, mqtt::Path(n): mqtt::Path<u64>) {
    if !work().is_zero() {
        tokio::time::sleep(work()).await;
    }
    say(&format!("job {n} {}", msg.topic()));
}

#[mqtt::on_message("$share/workers/tasks/{n}", qos = 1)]
async fn task(msg: mqtt::Message, mqtt::Path(n): mqtt::Path<u64>) {
    if !work().is_zero() {
        tokio::time::sleep(work()).await;
    }
    say(&format!("task {n} {}", msg.topic()));
}

#[mqtt::on_message("markers/#", qos = 1)]
fn marker(msg: mqtt::Message) {
    say(&format!("marker {}", msg.payload_str().unwrap_or("?")));
}

/// Info and above of the library's log on stderr (the tests keep it for failure messages);
/// with `SHARED_APP_TRACE=1` also Paho C's protocol trace (a line per packet sent or
/// received: which PUBLISH came, which PUBACK went), for a test that keeps the logs.
struct Stderr;

/// Whether `SHARED_APP_TRACE=1`.
fn trace() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var("SHARED_APP_TRACE").is_ok_and(|v| v == "1"))
}

impl log::Log for Stderr {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        (metadata.level() <= log::Level::Info && metadata.target().starts_with("flask_mqtt"))
            || (trace() && metadata.target() == "paho_mqtt_c")
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("{} {}: {}", record.level(), record.target(), record.args());
        }
    }

    fn flush(&self) {}
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let max = if trace() {
        log::LevelFilter::Trace
    } else {
        log::LevelFilter::Info
    };
    let _ = log::set_logger(&Stderr).map(|()| log::set_max_level(max));
    // A bad setting (e.g. an unknown placeholder in MQTT_CLIENT_ID) stops the replica here.
    mqtt::init().map_err(std::io::Error::other)?;
    let leave_group = std::env::var("SHARED_APP_LEAVE_GROUP").is_ok_and(|v| v == "1");
    let mut server = HttpServer::new(|| App::new().configure(mqtt::configure))
        .workers(4)
        .bind(("127.0.0.1", 0))?;
    if leave_group {
        server = server.disable_signals();
    }
    for addr in server.addrs() {
        say(&format!("listening {addr}"));
    }
    let server = server.run();
    if leave_group {
        actix_web::rt::spawn(leave_group_then_stop(server.handle()));
    }
    server.await?;
    say("exited");
    Ok(())
}
