//! Holds Paho clients for a while after their last handle went away, then drops them on
//! its own thread (never a Paho callback thread).

use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

type Item = (Instant, paho_mqtt::AsyncClient);

fn sender() -> Option<Sender<Item>> {
    static TX: OnceLock<Option<Mutex<Sender<Item>>>> = OnceLock::new();
    let tx = TX.get_or_init(|| {
        let (tx, rx) = channel::<Item>();
        let spawned = std::thread::Builder::new()
            .name("flask-mqtt-reaper".into())
            .spawn(move || {
                let mut held: Vec<Item> = Vec::new();
                loop {
                    let now = Instant::now();
                    held.retain(|(until, _)| *until > now);
                    let wait = held
                        .iter()
                        .map(|(until, _)| until.saturating_duration_since(now))
                        .min()
                        .unwrap_or(Duration::from_secs(3600));
                    match rx.recv_timeout(wait) {
                        Ok(item) => held.push(item),
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
            });
        spawned.ok().map(|_| Mutex::new(tx))
    });
    tx.as_ref()?.lock().ok().map(|t| t.clone())
}

pub(crate) fn keep(client: paho_mqtt::AsyncClient, grace: Duration) {
    match sender() {
        Some(tx) => {
            let now = Instant::now();
            // A grace too long for the clock (no configuration allows one): an hour.
            let until = now
                .checked_add(grace)
                .unwrap_or_else(|| now + Duration::from_secs(3600));
            if let Err(e) = tx.send((until, client)) {
                // No reaper thread: never destroy rather than risk the deadlock.
                std::mem::forget(e.0);
            }
        }
        None => std::mem::forget(client),
    }
}
