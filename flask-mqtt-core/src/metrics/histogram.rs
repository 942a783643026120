//! [`DurationHistogram`]: handler durations, recorded without a lock.
//!
//! prometheus-client's `Histogram` takes a mutex and scans its buckets on every
//! observation (about 65 instructions, measured with callgrind on the bench's 100-handler
//! app, where every message makes 10 calls); this one is a bucket found by binary search
//! over integer nanoseconds and two relaxed adds, written through the same
//! prometheus-client encoder. A scrape may see a sum one observation ahead of or behind
//! the buckets; the count is always the buckets' total.
//!
//! The adds are atomic read-modify-writes only where two calls of one handler may end at
//! once ([`add`]): a handler whose calls end one after the other (concurrency 1, the
//! default) records with plain loads and stores (BENCHMARKS.md item 53).

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
    /// Records one duration; `exclusive` as for [`add`].
    #[inline]
    pub(crate) fn observe_nanos(&self, nanos: u64, exclusive: bool) {
        // Most handler calls end within the first bound: no search for them.
        let bucket = match DURATION_BOUNDS_NANOS.first() {
            Some(&first) if nanos <= first => 0,
            _ => DURATION_BOUNDS_NANOS.partition_point(|&bound| bound < nanos),
        };
        if let Some(b) = self.buckets.get(bucket) {
            add(b, 1, exclusive);
        }
        add(&self.sum_nanos, nanos, exclusive);
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

/// Adds `n` to `cell` (wrapping, as `fetch_add` does). `exclusive`: no other thread
/// adds to it meanwhile (every add to it happens before the next, as the calls of a
/// handler that runs one at a time do), so a relaxed load and store do: on x86 a plain
/// add to memory instead of a locked one, which also drains the store buffer (~20
/// cycles). Readers (scrapes) only load, and see each value whole either way.
#[inline]
pub(super) fn add(cell: &AtomicU64, n: u64, exclusive: bool) {
    if exclusive {
        cell.store(
            cell.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    } else {
        cell.fetch_add(n, Ordering::Relaxed);
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
        const OBSERVED: [u64; 6] = [
            1,
            100_000,
            100_001,
            10_000_000_000,
            11_000_000_000,
            u64::MAX,
        ];
        for exclusive in [false, true] {
            let h = DurationHistogram::default();
            for nanos in OBSERVED {
                h.observe_nanos(nanos, exclusive);
            }
            let c = counts(&h);
            assert_eq!(c[0], 2, "1 ns and exactly 100 us (exclusive: {exclusive})");
            assert_eq!(c[1], 1, "just over 100 us (exclusive: {exclusive})");
            assert_eq!(c[BUCKETS - 2], 1, "exactly 10 s (exclusive: {exclusive})");
            assert_eq!(c[BUCKETS - 1], 2, "over 10 s (exclusive: {exclusive})");
            assert_eq!(c.iter().sum::<u64>(), 6);
            // Wrapping, as `fetch_add` does, with or without it.
            let sum = OBSERVED.into_iter().fold(0u64, u64::wrapping_add);
            assert_eq!(
                h.sum_nanos.load(Ordering::Relaxed),
                sum,
                "exclusive: {exclusive}"
            );
        }
    }

    /// Adds from several threads at once are all counted when not `exclusive`; one
    /// thread's adds, when it is.
    #[test]
    fn shared_adds_are_atomic() {
        let h = DurationHistogram::default();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        h.observe_nanos(1, false);
                    }
                });
            }
        });
        for _ in 0..10_000 {
            h.observe_nanos(1, true);
        }
        assert_eq!(counts(&h)[0], 50_000);
        assert_eq!(h.sum_nanos.load(Ordering::Relaxed), 50_000);
    }
}
