//! [`ClientMetrics`]: what one client records, with every label set resolved when the
//! client starts, so that recording is an add (a counter) or two (a histogram), atomic
//! only where two calls of a handler may end at once (`histogram::add`): no label
//! strings hashed or allocated per message, no lock.

use std::fmt;
use std::sync::{Arc, OnceLock};

use super::families::{qos_index, CallOutcome, PublishOutcome};
use super::histogram::{add, DurationHistogram};
use crate::qos::QoS;
use prometheus_client::metrics::counter::Counter;

/// The counters of one client (its `broker` label is the configuration prefix), and
/// the handles of its handlers once dispatch has started.
pub(crate) struct ClientMetrics {
    pub(super) broker: String,
    /// By QoS.
    pub(super) received: [Counter; 3],
    /// By QoS, then [`PublishOutcome`].
    pub(super) published: [[Counter; 2]; 3],
    pub(super) connects: Counter,
    pub(super) losses: Counter,
    /// Set once, by dispatch, when the client's handlers are known.
    pub(super) handlers: OnceLock<Arc<[HandlerMetrics]>>,
}

impl fmt::Debug for ClientMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientMetrics")
            .field("broker", &self.broker)
            .finish_non_exhaustive()
    }
}

impl ClientMetrics {
    /// The metrics of the client configured with `prefix` (its `broker` label).
    pub(crate) fn new(prefix: &str) -> ClientMetrics {
        ClientMetrics {
            broker: prefix.to_owned(),
            received: Default::default(),
            published: Default::default(),
            connects: Counter::default(),
            losses: Counter::default(),
            handlers: OnceLock::new(),
        }
    }

    /// Its `broker` label: the client's configuration prefix.
    pub(crate) fn broker(&self) -> &str {
        &self.broker
    }

    /// A message arrived from the broker.
    pub(crate) fn received(&self, qos: QoS) {
        if let Some(c) = self.received.get(qos_index(qos)) {
            c.inc();
        }
    }

    /// A publish ended with `outcome`.
    pub(crate) fn published(&self, qos: QoS, outcome: PublishOutcome) {
        if let Some(c) = self
            .published
            .get(qos_index(qos))
            .and_then(|by_outcome| by_outcome.get(outcome as usize))
        {
            c.inc();
        }
    }

    /// The client connected (first connect or reconnect).
    pub(crate) fn connected(&self) {
        self.connects.inc();
    }

    /// The connection was lost or closed by the broker.
    pub(crate) fn connection_lost(&self) {
        self.losses.inc();
    }

    /// Records the client's handlers (dispatch calls it once, when it starts); a second
    /// call changes nothing.
    pub(crate) fn set_handlers(&self, handlers: Arc<[HandlerMetrics]>) {
        let _ = self.handlers.set(handlers);
    }
}

/// How many events wait in a handler's queue, read at each scrape.
pub(crate) type Depth = Box<dyn Fn() -> usize + Send + Sync>;

/// What one handler records: its calls by outcome and their durations; its queue depth
/// is read at scrape time from the queue itself (nothing recorded per message).
pub(crate) struct HandlerMetrics {
    /// The `handler` label: the handler's name, as its log lines and spans write it
    /// (`module::function`, `#2`, ... when handlers share one: `registry::numbered`).
    pub(super) name: String,
    /// By [`CallOutcome`].
    pub(super) calls: [Counter; 4],
    pub(super) duration: DurationHistogram,
    pub(super) depth: Depth,
    /// Its calls end one after the other (concurrency 1): recorded without atomic
    /// read-modify-writes (`histogram::add`).
    exclusive: bool,
}

impl fmt::Debug for HandlerMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerMetrics")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl HandlerMetrics {
    /// The metrics of the handler `name` (as its log lines write it), whose queue depth
    /// `depth` reads. `exclusive`: each of its calls is recorded before the next one ends
    /// (it runs one call at a time), so [`call_ended`](Self::call_ended) is never called
    /// for it on two threads at once.
    pub(crate) fn new(name: String, depth: Depth, exclusive: bool) -> HandlerMetrics {
        HandlerMetrics {
            name,
            calls: Default::default(),
            duration: DurationHistogram::default(),
            depth,
            exclusive,
        }
    }

    /// Whether it records without atomic read-modify-writes.
    #[cfg(test)]
    pub(crate) fn is_exclusive(&self) -> bool {
        self.exclusive
    }

    /// A call ended with `outcome`, `nanos` after it started.
    #[inline]
    pub(crate) fn call_ended(&self, outcome: CallOutcome, nanos: u64) {
        if let Some(c) = self.calls.get(outcome as usize) {
            add(c.inner(), 1, self.exclusive);
        }
        self.duration.observe_nanos(nanos, self.exclusive);
    }
}
