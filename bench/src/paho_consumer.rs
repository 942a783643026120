//! Consumer 2, raw paho-mqtt: what a user hand-writes without a framework. One
//! `AsyncClient`, an unbounded message stream, a loop that counts.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::child::{self, Progress, Settings};
use crate::wire::{self, LatencySummary};

pub(crate) fn run() -> Result<(), String> {
    let settings = Settings::from_env()?;
    child::exit_when_stdin_closes();
    let progress = Arc::new(Progress::default());
    child::report_progress(Arc::clone(&progress));

    let create = paho_mqtt::CreateOptionsBuilder::new()
        .server_uri(format!("tcp://{}:{}", settings.host, settings.port))
        .client_id(&settings.client_id)
        .persistence(None)
        .finalize();
    let mut client = paho_mqtt::AsyncClient::new(create).map_err(|e| e.to_string())?;
    // Unbounded: a bounded stream loses messages when the loop falls behind.
    let stream = client.get_stream(None);
    let mut latencies = Vec::new();
    futures::executor::block_on(async {
        let opts = paho_mqtt::ConnectOptionsBuilder::new()
            .clean_session(true)
            .finalize();
        client.connect(opts).await.map_err(|e| e.to_string())?;
        client
            .subscribe("bench/#", 1)
            .await
            .map_err(|e| e.to_string())?;
        let mut count = 0u64;
        while let Ok(msg) = stream.recv().await {
            let Some(msg) = msg else {
                return Err("connection lost".to_owned());
            };
            if settings.latency {
                if let Some(sent) = wire::sent_at(msg.payload()) {
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
        Ok(())
    })
}
