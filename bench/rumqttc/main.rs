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
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use crate::child::{Progress, Settings, Tally};

#[tokio::main]
async fn main() -> ExitCode {
    child::exit_code("rumqttc-consumer", run().await)
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
    let mut tally = Tally::new(&settings, progress);
    loop {
        match eventloop.poll().await.map_err(|e| e.to_string())? {
            Event::Incoming(Packet::Publish(publish)) => tally.message(&publish.payload),
            Event::Incoming(Packet::Disconnect) => return Err("disconnected".into()),
            _ => {}
        }
    }
}
