//! How many handler calls were made inline and how many on the handlers' workers: the
//! split that decides what a message costs (a call on a worker costs ~1,800 instructions
//! more than one made inline; BENCHMARKS.md items 40 and 44).
//!
//! Counted only with the `call-split` feature, which the benchmark enables to print the
//! split (`flask-mqtt-bench --features call-split`); without it the counting functions
//! are empty and nothing is kept: zero cost.

#[cfg(feature = "call-split")]
use std::sync::atomic::{AtomicU64, Ordering};

/// Calls begun, in every process-wide dispatcher.
#[cfg(feature = "call-split")]
static BEGUN: AtomicU64 = AtomicU64::new(0);

/// Of them, calls made inline (their first poll on the dispatching task; one that had
/// to wait ended on its worker, but counts here).
#[cfg(feature = "call-split")]
static INLINE: AtomicU64 = AtomicU64::new(0);

/// A handler call began (inline or on its worker).
#[inline(always)]
pub(super) fn begun() {
    #[cfg(feature = "call-split")]
    BEGUN.fetch_add(1, Ordering::Relaxed);
}

/// A call that began was made inline.
#[inline(always)]
pub(super) fn made_inline() {
    #[cfg(feature = "call-split")]
    // Release: whoever sees this count also sees the `begun` before it (this thread's).
    INLINE.fetch_add(1, Ordering::Release);
}

/// The calls begun so far in this process: how many were made inline, how many on the
/// handlers' workers (feature `call-split`).
#[cfg(feature = "call-split")]
pub fn call_split() -> CallSplit {
    // `INLINE` first: a call counts as begun before it counts as made inline, so a call
    // made between the two reads is in `begun` and not in `inline` (counted on a worker
    // for this once), never the other way round (which `saturating_sub` would hide as
    // fewer calls on the workers). Acquire, paired with `made_inline`'s release: the
    // `begun` of every call counted here is seen by the read after it.
    let inline = INLINE.load(Ordering::Acquire);
    let begun = BEGUN.load(Ordering::Relaxed);
    CallSplit {
        inline,
        on_workers: begun.saturating_sub(inline),
    }
}

/// The split of handler calls, [`call_split`].
#[cfg(feature = "call-split")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallSplit {
    /// Calls made inline (their first poll on the dispatching task).
    pub inline: u64,
    /// Calls made on the handlers' workers.
    pub on_workers: u64,
}
