//! [`ClientMetrics`]: what one client records, with every label set resolved when the
//! client starts, so that recording is an atomic add (a counter) or two (a histogram):
//! no label strings hashed or allocated per message, no lock.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use super::families::{qos_index, CallOutcome, PublishOutcome};
use super::histogram::DurationHistogram;
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
    /// The `handler` label: `module::function`, as the logs name it, made distinct by
    /// [`distinct_labels`].
    pub(super) name: String,
    /// By [`CallOutcome`].
    pub(super) calls: [Counter; 4],
    pub(super) duration: DurationHistogram,
    pub(super) depth: Depth,
}

impl fmt::Debug for HandlerMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerMetrics")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl HandlerMetrics {
    /// The metrics of the handler `name` (as the logs write it), whose queue depth
    /// `depth` reads.
    pub(crate) fn new(name: String, depth: Depth) -> HandlerMetrics {
        HandlerMetrics {
            name,
            calls: Default::default(),
            duration: DurationHistogram::default(),
            depth,
        }
    }

    /// A call ended with `outcome`, `nanos` after it started.
    pub(crate) fn call_ended(&self, outcome: CallOutcome, nanos: u64) {
        if let Some(c) = self.calls.get(outcome as usize) {
            c.inc();
        }
        self.duration.observe_nanos(nanos);
    }
}

/// Makes the `handler` labels of one client's `handlers` distinct: the second and further
/// handler of one `module::function` get `#2`, `#3`, ... in their order (the registry's:
/// by module, name and filter). Two handlers can share a name: one function under two
/// attributes, or functions of one name in two blocks of a module (`module_path!` does
/// not name the function around them). Without this their series would repeat one label
/// set, which OpenMetrics forbids and Prometheus cannot tell apart. A suffixed label is
/// never a handler's own name: `#` is in no Rust path.
pub(crate) fn distinct_labels(handlers: &mut [HandlerMetrics]) {
    let mut seen: HashMap<String, u32> = HashMap::new();
    for h in handlers {
        let n = seen.entry(h.name.clone()).or_insert(0);
        *n = n.saturating_add(1);
        if *n > 1 {
            h.name = format!("{}#{n}", h.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_of_one_name_get_a_number_from_the_second_on() {
        let mut handlers: Vec<HandlerMetrics> = ["m::a", "m::b", "m::a", "n::a", "m::a"]
            .into_iter()
            .map(|name| HandlerMetrics::new(name.to_owned(), Box::new(|| 0)))
            .collect();
        distinct_labels(&mut handlers);
        let labels: Vec<&str> = handlers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(labels, ["m::a", "m::b", "m::a#2", "n::a", "m::a#3"]);
    }
}
