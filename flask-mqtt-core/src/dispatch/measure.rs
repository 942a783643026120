//! The metrics of handler calls: an [`Observer`] that records each ended call in its
//! handler's [`HandlerMetrics`], created once per handler when dispatch starts (so a
//! call costs an index, an atomic add and a histogram observation).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::observe::{CallEnd, Observer};
use super::queue::Queue;
use crate::event::Event;
use crate::handler::HandlerError;
use crate::metrics::families::CallOutcome;
use crate::metrics::recorder::{ClientMetrics, HandlerMetrics};
use crate::registry::Handler;

/// The metrics of handler `h`, whose queue is `queue`: labelled with its name (as its
/// log lines and spans name it, distinct from every other handler's), its queue depth
/// read from the queue at scrape time.
pub(super) fn handler_metrics(h: &Handler, queue: &Queue) -> HandlerMetrics {
    let room = Arc::clone(&queue.room);
    HandlerMetrics::new(
        h.name.clone(),
        Box::new(move || room.len.load(Ordering::Relaxed)),
    )
}

/// Records every call in its handler's metrics, then tells `next`, if any.
pub(super) struct Measured {
    /// By handler index.
    handlers: Arc<[HandlerMetrics]>,
    next: Option<Arc<dyn Observer>>,
}

impl Measured {
    /// Hands `handlers` (by handler index) to the client's `metrics` (for scrapes) and
    /// returns the observer that records into them, in front of `next`.
    pub(super) fn observer(
        metrics: &ClientMetrics,
        handlers: Vec<HandlerMetrics>,
        next: Option<Arc<dyn Observer>>,
    ) -> Arc<dyn Observer> {
        let handlers: Arc<[HandlerMetrics]> = Arc::from(handlers);
        metrics.set_handlers(Arc::clone(&handlers));
        Arc::new(Measured { handlers, next })
    }
}

impl Observer for Measured {
    fn call_ended(&self, call: &CallEnd<'_>) {
        if let Some(h) = self.handlers.get(call.index) {
            h.call_ended(outcome(call.result), call.nanos);
        }
        if let Some(next) = &self.next {
            next.call_ended(call);
        }
    }

    fn event_ended(&self, seq: u64, event: &Event) {
        if let Some(next) = &self.next {
            next.event_ended(seq, event);
        }
    }
}

/// The `outcome` label of a call's result (its metrics and its span's).
pub(super) fn outcome(result: &Result<(), HandlerError>) -> CallOutcome {
    match result {
        Ok(()) => CallOutcome::Ok,
        Err(HandlerError::Rejected { .. }) => CallOutcome::Rejected,
        Err(HandlerError::Panicked(_)) => CallOutcome::Panic,
        Err(HandlerError::Failed(_) | HandlerError::Reply(_)) => CallOutcome::Error,
    }
}
