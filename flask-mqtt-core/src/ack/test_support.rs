//! Test support: an [`Acknowledge`] that records how each message was settled.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use paho_mqtt::{AckOutcome, AckToken};

use super::watermark::Acknowledge;
use crate::sync::lock;

/// What the recorder's messages were settled as: `(packet id, acknowledged)`.
#[derive(Default)]
pub(crate) struct Settled(pub(crate) Mutex<Vec<(u16, bool)>>);

impl Settled {
    /// Waits until `n` messages were settled; fails at `deadline`.
    pub(crate) async fn wait_for(&self, n: usize, deadline: Instant) {
        while lock(&self.0).len() < n {
            let so_far = lock(&self.0).clone();
            assert!(Instant::now() < deadline, "{n} not settled: {so_far:?}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// What was settled so far.
    pub(crate) fn seen(&self) -> Vec<(u16, bool)> {
        lock(&self.0).clone()
    }
}

/// Records how each message was settled.
pub(crate) struct Recorder(pub(crate) Arc<Settled>);

impl Acknowledge for Recorder {
    fn acknowledge(&self, token: AckToken) -> Result<AckOutcome, paho_mqtt::Error> {
        lock(&self.0 .0).push((token.packet_id(), true));
        Ok(AckOutcome::Accepted)
    }

    fn release(&self, token: AckToken) -> Result<AckOutcome, paho_mqtt::Error> {
        lock(&self.0 .0).push((token.packet_id(), false));
        Ok(AckOutcome::Accepted)
    }
}
