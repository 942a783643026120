//! [`Busy`]: counts an event as not finished while its handlers have it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// An event not finished yet: waiting for the router, queued for a handler or in a
/// handler call. Held by the event's context, which every call of the event shares
/// (a handler with a topic template gets a context, and a `Busy`, of its own). See
/// `Dispatcher::is_idle`.
///
/// One per event rather than one per handler call: the counter and its `Arc` are
/// shared by the worker threads, and counting each of the 10 calls of a message cost
/// 40 atomic read-modify-writes on those two cache lines per message.
pub(crate) struct Busy(Arc<AtomicUsize>);

impl std::fmt::Debug for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Busy")
    }
}

impl Busy {
    pub(crate) fn new(count: &Arc<AtomicUsize>) -> Busy {
        count.fetch_add(1, Ordering::SeqCst);
        Busy(Arc::clone(count))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
