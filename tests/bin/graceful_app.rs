//! A child process for the graceful-shutdown tests: an actix app (2 workers) with a last
//! will, whose handler for `graceful/jobs/{n}` takes a while and then publishes 100 QoS 1
//! results to `graceful/done/{n}/{i}`. It prints `listening ADDR`, `connected`,
//! `started N` and `finished N` (one line each, flushed), and `exited` when the server has
//! stopped. The tests send it SIGTERM (graceful: the job finishes, its results go out,
//! DISCONNECT, no will) or SIGKILL (the broker publishes the will).
//!
//! Usage: `graceful_app PORT CLIENT_ID`

use std::time::Duration;

use actix_web::{web, App, HttpServer};
use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::say;

/// How long a job takes before it publishes its results.
const JOB_TIME: Duration = Duration::from_millis(1500);
/// Results each job publishes.
const RESULTS: usize = 100;

#[mqtt::on_connect]
fn connected() {
    say("connected");
}

#[mqtt::on_message("graceful/jobs/{n}", qos = 1)]
async fn job(n: mqtt::Path<u32>, client: mqtt::Mqtt) {
    let n = n.into_inner();
    say(&format!("started {n}"));
    tokio::time::sleep(JOB_TIME).await;
    // Handed to Paho all at once: they are still in flight when the job returns.
    let sends = (0..RESULTS).map(|i| {
        client
            .publish(format!("graceful/done/{n}/{i}"), "ok")
            .qos(mqtt::QoS::AtLeastOnce)
            .send()
    });
    let failed = futures::future::join_all(sends)
        .await
        .into_iter()
        .filter(Result::is_err)
        .count();
    say(&format!("finished {n} failed={failed}"));
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, port, id] = args.as_slice() else {
        eprintln!("usage: graceful_app PORT CLIENT_ID");
        std::process::exit(2);
    };
    let config = mqtt::Config::builder()
        .broker_url("127.0.0.1")
        .port(port.parse().unwrap_or(1883))
        .client_id(id.as_str())
        .keepalive(Duration::from_secs(5))
        .last_will("graceful/will", "gone", mqtt::QoS::AtLeastOnce, false)
        .build()
        .map_err(std::io::Error::other)?;
    mqtt::init_with(config).map_err(std::io::Error::other)?;
    let server = HttpServer::new(|| {
        App::new()
            .configure(mqtt::configure)
            .route("/ready", web::get().to(mqtt::readiness))
    })
    .workers(2)
    .bind(("127.0.0.1", 0))?;
    for addr in server.addrs() {
        say(&format!("listening {addr}"));
    }
    server.run().await?;
    say("exited");
    Ok(())
}
