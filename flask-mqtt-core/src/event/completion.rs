//! Event completion: the moment every handler call an event caused has ended.
//!
//! Each dispatched event gets a sequence number in arrival order and a [`Pending`]
//! guard, held by the event's context: every handler call of the event shares that
//! context (a handler with a topic template gets its own, which holds the shared one).
//! When the last of them lets go, the guard reports the event to its [`Settle`]: the
//! dispatcher's, which counts what is still busy and tells its observer (the `testing`
//! module; acknowledgement in arrival order is built on the same report).
//!
//! One guard per event, not per call: the counters behind it are shared by the worker
//! threads, and counting each of the 10 calls of a message cost 40 atomic
//! read-modify-writes on those cache lines per message.

use std::sync::Arc;

use super::Event;

/// Where an event is reported once every handler call it caused has ended.
pub(crate) trait Settle: Send + Sync + 'static {
    /// Event number `seq` has ended: every handler call it caused is over (or it never
    /// reached a handler, or its calls were abandoned at shutdown).
    fn settled(&self, seq: u64, event: &Event);
}

/// An event not finished yet: waiting for the router, queued for a handler or in a
/// handler call. Reported to its [`Settle`] by [`Pending::settle`], which the event's
/// context calls when it is dropped.
pub(crate) struct Pending {
    seq: u64,
    to: Arc<dyn Settle>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Pending").field(&self.seq).finish()
    }
}

impl Pending {
    /// Event number `seq`, to be reported to `to`.
    pub(crate) fn new(seq: u64, to: Arc<dyn Settle>) -> Pending {
        Pending { seq, to }
    }

    /// The event's number, in arrival order.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// Reports `event` as ended.
    pub(crate) fn settle(self, event: &Event) {
        self.to.settled(self.seq, event);
    }
}
