//! The clock of handler calls: the CPU's time-stamp counter where it is invariant
//! (`quanta`), a few instructions per read against about 85 for `Instant::now`
//! (callgrind). It is read once per call (the end of one call is the start of the next),
//! to time calls for their metrics and for the probation of inline calls (`trust`).

use std::sync::OnceLock;
use std::time::Duration;

/// The clock of handler calls, in raw ticks (see [`ticks`]).
fn clock() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// Now, in raw ticks of the calls' clock.
pub(super) fn ticks() -> u64 {
    clock().raw()
}

/// The time from `start` to `end` (raw ticks; zero if `end` is not later).
pub(super) fn elapsed(start: u64, end: u64) -> Duration {
    clock().delta(start, end)
}

/// Starts the calls' clock (its calibration takes a few milliseconds, once per process)
/// before the first call needs it.
pub(super) fn start_clock() {
    let _ = clock();
}

/// Now (raw ticks) and the nanoseconds since `start`, with no `Duration` made: one lookup
/// of the clock for both (the end of every call; BENCHMARKS.md item 44).
#[inline]
pub(super) fn now_and_since(start: u64) -> (u64, u64) {
    let clock = clock();
    let now = clock.raw();
    (now, clock.delta_as_nanos(start, now))
}
