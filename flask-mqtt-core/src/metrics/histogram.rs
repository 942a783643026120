//! [`DurationHistogram`]: handler durations, recorded without a lock.
//!
//! prometheus-client's `Histogram` takes a mutex and scans its buckets on every
//! observation (about 65 instructions, measured with callgrind on the bench's 100-handler
//! app, where every message makes 10 calls); this one is a bucket found by binary search
//! over integer nanoseconds and two relaxed atomic adds, written through the same
//! prometheus-client encoder. A scrape may see a sum one observation ahead of or behind
//! the buckets; the count is always the buckets' total.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{MetricEncoder, NoLabelSet};

use super::families::DURATION_BOUNDS_NANOS;

/// Buckets: one per bound of [`DURATION_BOUNDS_NANOS`], then `+Inf`.
const BUCKETS: usize = DURATION_BOUNDS_NANOS.len() + 1;

/// A histogram of durations with the fixed bounds of `mqtt_handler_duration_seconds`.
#[derive(Debug, Default)]
pub(crate) struct DurationHistogram {
    /// Observations per bucket (not cumulative), `+Inf` last.
    buckets: [AtomicU64; BUCKETS],
    sum_nanos: AtomicU64,
}

impl DurationHistogram {
    /// Records one duration.
    #[inline]
    pub(crate) fn observe_nanos(&self, nanos: u64) {
        // Most handler calls end within the first bound: no search for them.
        let bucket = match DURATION_BOUNDS_NANOS.first() {
            Some(&first) if nanos <= first => 0,
            _ => DURATION_BOUNDS_NANOS.partition_point(|&bound| bound < nanos),
        };
        if let Some(b) = self.buckets.get(bucket) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Writes it as an OpenMetrics / Prometheus histogram (in seconds).
    pub(crate) fn encode(&self, mut encoder: MetricEncoder<'_>) -> std::fmt::Result {
        let mut buckets = [(0.0, 0); BUCKETS];
        let mut count = 0;
        for (i, (slot, n)) in buckets.iter_mut().zip(&self.buckets).enumerate() {
            let n = n.load(Ordering::Relaxed);
            count += n;
            let bound = DURATION_BOUNDS_NANOS
                .get(i)
                .map_or(f64::INFINITY, |&b| b as f64 / 1e9);
            *slot = (bound, n);
        }
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(h: &DurationHistogram) -> Vec<u64> {
        h.buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect()
    }

    /// A duration goes to the first bucket whose bound is at least it (`le`), past the
    /// last bound to `+Inf`; the sum is kept in nanoseconds.
    #[test]
    fn bucket_bounds_are_inclusive() {
        let h = DurationHistogram::default();
        h.observe_nanos(1);
        h.observe_nanos(100_000);
        h.observe_nanos(100_001);
        h.observe_nanos(10_000_000_000);
        h.observe_nanos(11_000_000_000);
        h.observe_nanos(u64::MAX);
        let c = counts(&h);
        assert_eq!(c[0], 2, "1 ns and exactly 100 us");
        assert_eq!(c[1], 1, "just over 100 us");
        assert_eq!(c[BUCKETS - 2], 1, "exactly 10 s");
        assert_eq!(c[BUCKETS - 1], 2, "over 10 s");
        assert_eq!(c.iter().sum::<u64>(), 6);
    }
}
