//! Consumer "2r" of the end-to-end benchmark: raw rumqttc, what a user hand-writes
//! without a framework. One `AsyncClient` subscribed to `bench/#` at QoS 1, the
//! `EventLoop` polled on Tokio's default (multi-threaded) runtime, a loop that counts
//! incoming PUBLISH packets; rumqttc acknowledges QoS 1 on receipt. Settings from the
//! environment, progress lines on stdout, exit when stdin closes, like every consumer of
//! the bench.

// The shared modules carry helpers only the main bench binary uses.
#![allow(dead_code)]

#[path = "../src/child.rs"]
mod child;
#[path = "../src/wire.rs"]
mod wire;

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use crate::child::{Progress, Settings};
use crate::wire::LatencySummary;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rumqttc-consumer: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run() -> Result<(), String> {
    let settings = Settings::from_env()?;
    child::exit_when_stdin_closes();
    let progress = Arc::new(Progress::default());
    child::report_progress(Arc::clone(&progress));

    let mut options = MqttOptions::new(&settings.client_id, &settings.host, settings.port);
    options.set_keep_alive(Duration::from_secs(60));
    options.set_clean_session(true);
    let (client, mut eventloop) = AsyncClient::new(options, 10);
    client
        .subscribe("bench/#", QoS::AtLeastOnce)
        .await
        .map_err(|e| e.to_string())?;
    let mut count = 0u64;
    let mut latencies = Vec::new();
    loop {
        match eventloop.poll().await.map_err(|e| e.to_string())? {
            Event::Incoming(Packet::Publish(publish)) => {
                if settings.latency {
                    if let Some(sent) = wire::sent_at(&publish.payload) {
                        latencies.push(wire::now_ns().saturating_sub(sent));
                    }
                }
                count += 1;
                progress.messages.store(count, Ordering::Relaxed);
                progress.calls.store(count, Ordering::Relaxed);
                if count == settings.messages {
                    child::say(&format!("done {} {count} {count} 0", wire::now_ns()));
                    if settings.latency {
                        child::say(&LatencySummary::of(&mut latencies).line());
                    }
                }
            }
            Event::Incoming(Packet::Disconnect) => return Err("disconnected".into()),
            _ => {}
        }
    }
}
