//! [`Trust`]: whether a handler's calls may be made inline (see `inline`): only an
//! async handler, after [`PROBATION`] calls in a row on its worker returned from every
//! poll within [`BOUND`], and until an inline poll takes longer.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use super::clock::{elapsed, ticks};
use crate::event::log::DISPATCH_TARGET as TARGET;
use crate::registry::{Handler, HandlerFn};

/// Calls a handler must make on its worker, each returning from every poll within
/// [`BOUND`], before it is called inline.
pub(super) const PROBATION: u32 = 16;

/// The longest poll a handler called inline may take.
pub(super) const BOUND: Duration = Duration::from_micros(200);

/// Never called inline.
const NEVER: u32 = u32::MAX;

/// Whether a handler may be called inline.
pub(super) struct Trust(AtomicU32);

impl Trust {
    /// On probation if `h` is an async handler; never inline if it is a sync one.
    pub(super) fn of(h: &Handler) -> Trust {
        Trust(AtomicU32::new(match h.desc.call {
            HandlerFn::Async(_) => 0,
            HandlerFn::Sync(_) => NEVER,
        }))
    }

    /// Never inline.
    #[cfg(test)]
    pub(super) fn never() -> Trust {
        Trust(AtomicU32::new(NEVER))
    }

    /// Whether the handler's calls may be made inline.
    pub(super) fn inline(&self) -> bool {
        self.0.load(Ordering::Relaxed) == PROBATION
    }

    /// Whether the handler is still on probation: its worker times its polls.
    pub(super) fn on_probation(&self) -> bool {
        self.0.load(Ordering::Relaxed) < PROBATION
    }

    /// A call on the worker ended whose longest poll took `longest`: one more quick
    /// call, or probation starts over.
    pub(super) fn probation_call(&self, longest: Duration) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                if n >= PROBATION {
                    None
                } else if longest > BOUND {
                    Some(0)
                } else {
                    Some(n + 1)
                }
            });
    }

    /// A call made inline took `took` in one poll, more than [`BOUND`]: the handler goes
    /// back to its worker, on probation. Cold: `inline::held` checks the bound, once.
    #[cold]
    #[inline(never)]
    pub(super) fn overran(&self, h: &Handler, took: Duration) {
        if self.0.swap(0, Ordering::Relaxed) == PROBATION {
            log::debug!(
                target: TARGET,
                "handler {} held the dispatching task for {took:?} in one poll: its calls run on its own task until {PROBATION} in a row return within {BOUND:?} (an async handler should not block its thread; a sync handler may)",
                h.name
            );
        }
    }
}

/// A call on the worker of a handler on probation: its future, whose longest poll is
/// kept.
pub(super) struct Timed<F> {
    pub(super) call: F,
    pub(super) longest: Duration,
}

impl<F: Future + Unpin> Future for Timed<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let start = ticks();
        let polled = Pin::new(&mut self.call).poll(cx);
        let took = elapsed(start, ticks());
        if took > self.longest {
            self.longest = took;
        }
        polled
    }
}
