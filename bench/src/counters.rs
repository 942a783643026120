//! What every handler of a multi-handler consumer does (flask-mqtt's and ruststream's;
//! the Python ones do the same in `bench/python/bench_child.py`): count the call in state
//! shared by all handlers, and, once every expected call was made, report `done` with the
//! number of handlers whose count is off. Messages are reported as calls scaled by
//! messages / expected calls (`Progress::scale`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::child::{self, Progress, Settings};
use crate::wire::{self, LatencySummary};

/// Calls per handler, shared by every handler of the app.
pub(crate) struct Counters {
    /// Calls per handler, by index in the filter table.
    calls: Vec<AtomicU64>,
    /// Calls each handler should get when every message arrives (`BENCH_EXPECTED`).
    expected: Vec<u64>,
    expected_total: u64,
    progress: Arc<Progress>,
    finished: AtomicBool,
    latencies: Option<Mutex<Vec<u64>>>,
}

impl Counters {
    pub(crate) fn new(settings: &Settings, progress: Arc<Progress>) -> Counters {
        let expected = settings.expected.clone();
        let _ = progress
            .scale
            .set((settings.messages, expected.iter().sum()));
        Counters {
            calls: expected.iter().map(|_| AtomicU64::new(0)).collect(),
            expected_total: expected.iter().sum(),
            expected,
            progress,
            finished: AtomicBool::new(false),
            latencies: settings
                .latency
                .then(|| Mutex::new(Vec::with_capacity(settings.messages as usize * 10))),
        }
    }

    /// Handler calls so far.
    pub(crate) fn total(&self) -> u64 {
        self.progress.calls.load(Ordering::Relaxed)
    }

    /// What every handler does: count the call (and, in latency mode, how long ago the
    /// message was published).
    pub(crate) fn hit(&self, index: usize, payload: &[u8]) {
        if let Some(latencies) = &self.latencies {
            if let Some(sent) = wire::sent_at(payload) {
                let now = wire::now_ns();
                lock(latencies).push(now.saturating_sub(sent));
            }
        }
        if let Some(calls) = self.calls.get(index) {
            calls.fetch_add(1, Ordering::Relaxed);
        }
        let total = self.progress.calls.fetch_add(1, Ordering::AcqRel) + 1;
        if total == self.expected_total {
            self.finish();
        }
    }

    fn finish(&self) {
        let end = wire::now_ns();
        if self.finished.swap(true, Ordering::SeqCst) {
            return;
        }
        let got: Vec<u64> = self
            .calls
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let mismatched = got
            .iter()
            .zip(&self.expected)
            .filter(|(got, want)| got != want)
            .count();
        child::say(&format!(
            "done {end} {} {} {mismatched}",
            self.progress.messages(),
            got.iter().sum::<u64>()
        ));
        // The split of the calls (feature `call-split`): made inline, on the workers.
        #[cfg(feature = "call-split")]
        {
            let split = flask_mqtt_actix::__private::call_split();
            child::say(&format!("split {} {}", split.inline, split.on_workers));
        }
        if let Some(latencies) = &self.latencies {
            let mut samples = std::mem::take(&mut *lock(latencies));
            child::say(&LatencySummary::of(&mut samples).line());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
