//! What dispatch reports as it goes: each handler call as it ends, and each event once
//! every call it caused has ended, to an [`Observer`] (the `testing` module's). Each
//! call's metrics are recorded before it, directly, not through this trait
//! (`measure::Reports`). Without metrics and an observer the reports cost a branch per
//! call and nothing else.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::event::completion::Settle;
use crate::event::Event;
use crate::handler::HandlerError;

/// Watches dispatch. Called on the workers' threads: return quickly, never block on a
/// Paho operation.
pub(crate) trait Observer: Send + Sync + 'static {
    /// A handler call has ended: the handler returned (and its reply, if any, was
    /// sent), failed or panicked, or was not called because an argument was rejected.
    fn call_ended(&self, call: &CallEnd<'_>);

    /// Every handler call of event number `seq` has ended (see
    /// [`event::completion`](crate::event::completion)); after each of its
    /// [`call_ended`](Observer::call_ended).
    fn event_ended(&self, seq: u64, event: &Event);
}

/// One ended handler call.
pub(crate) struct CallEnd<'a> {
    /// The event's number, in arrival order.
    pub(crate) seq: u64,
    /// The handler's name, as its log lines write it (`registry::numbered`).
    pub(crate) name: &'a str,
    pub(crate) result: &'a Result<(), HandlerError>,
    /// Nanoseconds from the start of the call (its extraction) to its end, the reply
    /// included.
    pub(crate) nanos: u64,
}

/// The dispatcher's [`Settle`]: counts events not finished yet, and tells the observer.
pub(super) struct Completions {
    /// Events dispatched and not settled.
    busy: AtomicUsize,
    observer: Option<Arc<dyn Observer>>,
}

impl Completions {
    pub(super) fn new(observer: Option<Arc<dyn Observer>>) -> Completions {
        Completions {
            busy: AtomicUsize::new(0),
            observer,
        }
    }

    /// One more event on its way.
    pub(super) fn started(&self) {
        self.busy.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether every event started has settled.
    pub(super) fn all_settled(&self) -> bool {
        self.busy.load(Ordering::SeqCst) == 0
    }

    /// Events started and not settled yet.
    pub(super) fn unsettled(&self) -> usize {
        self.busy.load(Ordering::SeqCst)
    }
}

impl Settle for Completions {
    fn settled(&self, seq: u64, event: &Event) {
        if let Some(observer) = &self.observer {
            observer.event_ended(seq, event);
        }
        self.busy.fetch_sub(1, Ordering::SeqCst);
    }
}
