//! The metrics of handler calls: [`Reports`] records each ended call in its handler's
//! [`HandlerMetrics`], created once per handler when dispatch starts (so a call costs
//! an index, an add and a histogram observation, atomic only where two calls of the
//! handler may end at once), then tells the [`Observer`].

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
/// read from the queue at scrape time. Recorded without atomic read-modify-writes when
/// its calls run one at a time: each is reported before its [`Room`](super::queue::Room)
/// is released, and the next starts only after that (inline: `Room::claim`; on the
/// worker: in turn), given one dispatching caller at a time (`Dispatcher::dispatch`).
pub(super) fn handler_metrics(h: &Handler, queue: &Queue) -> HandlerMetrics {
    let room = Arc::clone(&queue.room);
    HandlerMetrics::new(
        h.name.clone(),
        Box::new(move || room.len.load(Ordering::Relaxed)),
        h.concurrency() == 1,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::queue::queue;
    use crate::dispatch::trust::Trust;
    use crate::event::HandlerKind;
    use crate::handler_future::HandlerFuture;
    use crate::registry::{HandlerDescriptor, HandlerFn};

    fn nothing(_: Arc<crate::extract::context::EventContext>) -> HandlerFuture {
        HandlerFuture::new(async { Ok(None) })
    }

    static ONE: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "one",
        "dispatch::measure::tests",
        HandlerFn::Async(nothing),
    )
    .with_filter("one");

    static FOUR: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "four",
        "dispatch::measure::tests",
        HandlerFn::Async(nothing),
    )
    .with_filter("four")
    .with_concurrency(4);

    /// Only a handler whose calls run one at a time records without atomic
    /// read-modify-writes: two calls of one with `concurrency = 4` may end at once, on
    /// two threads, and a plain load and store would lose one of their counts.
    #[test]
    fn only_a_handler_of_one_call_at_a_time_records_exclusively() {
        for (descriptor, exclusive) in [(&ONE, true), (&FOUR, false)] {
            let h = Handler::new(descriptor, descriptor.name()).unwrap();
            let (tx, _rx) = queue(1, Trust::never());
            let m = handler_metrics(&h, &tx);
            assert_eq!(m.is_exclusive(), exclusive, "{}", h.name);
        }
    }
}
