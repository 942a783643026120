//! A child process for tests/ack_ready.rs (issue 15, startup loss): an actix app with a
//! persistent session whose factory is `App::new().configure(mqtt::configure)`, then
//! 50 ms of other setup, then `.configure(mqtt::manage(data))`: the pattern the
//! plugin's own warning recommends. Its QoS 1 handler for `ready/{n}` needs that state
//! (`web::Data<Counter>`); it prints `handled N` (flushed). An argument the handler
//! cannot get (the state not registered yet) is a rejection: the message is then
//! acknowledged and never handled, which the test sees as a missing number.
//!
//! It prints `connected` at each connect and `listening ADDR`; SIGTERM stops it
//! gracefully.
//!
//! Usage: `ready_app PORT CLIENT_ID`

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::say;

#[derive(Default)]
struct Counter(AtomicU64);

#[mqtt::on_connect]
fn connected() {
    say("connected");
}

#[mqtt::on_message("ready/{n}", qos = 1)]
fn numbered(n: mqtt::Path<u64>, counter: web::Data<Counter>) {
    counter.0.fetch_add(1, Ordering::SeqCst);
    say(&format!("handled {}", n.into_inner()));
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, port, id] = args.as_slice() else {
        eprintln!("usage: ready_app PORT CLIENT_ID");
        std::process::exit(2);
    };
    let config = mqtt::Config::builder()
        .broker_url("127.0.0.1")
        .port(port.parse().unwrap_or(1883))
        .client_id(id.as_str())
        .clean_session(false)
        .build()
        .map_err(std::io::Error::other)?;
    mqtt::init_with(config).map_err(std::io::Error::other)?;
    let counter = web::Data::new(Counter::default());
    let server = HttpServer::new(move || {
        let app = App::new().configure(mqtt::configure);
        // Other setup (a database pool, templates): the client is connected by now and
        // the broker is sending what it kept for the session.
        std::thread::sleep(Duration::from_millis(50));
        app.configure(mqtt::manage(counter.clone()))
    })
    .workers(2)
    .bind(("127.0.0.1", 0))?;
    for addr in server.addrs() {
        say(&format!("listening {addr}"));
    }
    server.run().await
}
