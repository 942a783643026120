//! The metrics of handler calls: [`Reports`] records each ended call in its handler's
//! [`HandlerMetrics`], created once per handler when dispatch starts (so a call costs
//! an index, an atomic add and a histogram observation), then tells the [`Observer`].

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::observe::{CallEnd, Observer};
use super::queue::Queue;
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

/// Where each ended call is reported: its handler's metrics, recorded directly (no
/// virtual call, no [`CallEnd`] built for them), then the observer, if any (the
/// `testing` module's). The dispatcher and its workers hold one when there is
/// anything to report to (BENCHMARKS.md item 49).
pub(super) struct Reports {
    /// By handler index.
    metrics: Option<Arc<[HandlerMetrics]>>,
    observer: Option<Arc<dyn Observer>>,
}

impl Reports {
    /// The reports of a dispatcher: each call recorded in `handlers` (by handler index,
    /// handed to the client's `metrics` for scrapes), when given, and told to
    /// `observer`; `None` when there is neither.
    pub(super) fn new(
        metrics: Option<(&ClientMetrics, Vec<HandlerMetrics>)>,
        observer: Option<Arc<dyn Observer>>,
    ) -> Option<Arc<Reports>> {
        let metrics = metrics.map(|(client, handlers)| {
            let handlers: Arc<[HandlerMetrics]> = Arc::from(handlers);
            client.set_handlers(Arc::clone(&handlers));
            handlers
        });
        if metrics.is_none() && observer.is_none() {
            return None;
        }
        Some(Arc::new(Reports { metrics, observer }))
    }

    /// Handler `h` (number `index`)'s call in event `seq` ended as `result`, `nanos`
    /// after it started. Not inlined: `worker::ended_call`, which calls it, must stay
    /// small enough to inline into the inline path (BENCHMARKS.md item 49).
    #[inline(never)]
    pub(super) fn call_ended(
        &self,
        h: &Handler,
        index: usize,
        seq: u64,
        result: &Result<(), HandlerError>,
        nanos: u64,
    ) {
        if let Some(m) = self.metrics.as_ref().and_then(|m| m.get(index)) {
            m.call_ended(outcome(result), nanos);
        }
        if let Some(observer) = &self.observer {
            observer.call_ended(&CallEnd {
                seq,
                name: &h.name,
                result,
                nanos,
            });
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
