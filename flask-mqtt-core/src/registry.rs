//! Handler descriptors submitted by the attribute macros, collected once at start.

use std::fmt;
use std::sync::Arc;

use flask_mqtt_topic::TopicFilter;

use crate::extract::EventContext;
use crate::handler::{HandlerFuture, Outcome};
use crate::QoS;

/// Which attribute registered a handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HandlerKind {
    /// `#[on_connect]`: every successful (re)connect.
    Connect,
    /// `#[on_disconnect]`: connection lost or closed.
    Disconnect,
    /// `#[on_message]` (with a filter, or the catch-all).
    Message,
    /// `#[on_log]`.
    Log,
    /// `#[on_publish]`: a publish the broker acknowledged.
    Publish,
    /// `#[on_subscribe]`: a SUBACK.
    Subscribe,
    /// `#[on_unsubscribe]`: an UNSUBACK.
    Unsubscribe,
}

impl HandlerKind {
    /// The attribute's name, e.g. `on_message`.
    pub const fn attribute(self) -> &'static str {
        match self {
            HandlerKind::Connect => "on_connect",
            HandlerKind::Disconnect => "on_disconnect",
            HandlerKind::Message => "on_message",
            HandlerKind::Log => "on_log",
            HandlerKind::Publish => "on_publish",
            HandlerKind::Subscribe => "on_subscribe",
            HandlerKind::Unsubscribe => "on_unsubscribe",
        }
    }
}

/// The generated wrapper around a user's handler function.
#[derive(Clone, Copy)]
pub enum HandlerFn {
    /// Wraps an `async fn`.
    Async(fn(Arc<EventContext>) -> HandlerFuture),
    /// Wraps a plain `fn`; run where blocking is allowed.
    Sync(fn(Arc<EventContext>) -> Outcome),
}

/// What `#[on_*]` registers: one per annotated function.
pub struct HandlerDescriptor {
    pub(crate) kind: HandlerKind,
    pub(crate) filter: Option<&'static str>,
    pub(crate) qos: u8,
    pub(crate) name: &'static str,
    pub(crate) module: &'static str,
    pub(crate) call: HandlerFn,
}

impl HandlerDescriptor {
    /// Used by the generated code.
    pub const fn new(
        kind: HandlerKind,
        filter: Option<&'static str>,
        qos: u8,
        name: &'static str,
        module: &'static str,
        call: HandlerFn,
    ) -> Self {
        HandlerDescriptor {
            kind,
            filter,
            qos,
            name,
            module,
            call,
        }
    }

    /// The kind of handler.
    pub fn kind(&self) -> HandlerKind {
        self.kind
    }

    /// The topic filter of an `#[on_message("...")]` handler.
    pub fn filter(&self) -> Option<&'static str> {
        self.filter
    }

    /// `module::function`, as used in log lines.
    pub fn name(&self) -> String {
        format!("{}::{}", self.module, self.name)
    }
}

impl fmt::Debug for HandlerDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerDescriptor")
            .field("kind", &self.kind)
            .field("filter", &self.filter)
            .field("qos", &self.qos)
            .field("name", &self.name())
            .finish()
    }
}

inventory::collect!(HandlerDescriptor);

/// A registered handler with its filter parsed.
#[derive(Debug)]
pub(crate) struct Handler {
    pub(crate) desc: &'static HandlerDescriptor,
    pub(crate) filter: Option<TopicFilter>,
}

/// Every handler linked into the program, in a stable order.
pub(crate) fn collect() -> Vec<Handler> {
    let mut out = Vec::new();
    for desc in inventory::iter::<HandlerDescriptor> {
        let filter = match desc.filter {
            None => None,
            // The macro validated the filter at compile time; this only guards against
            // hand-written descriptors.
            Some(f) => match TopicFilter::new(f) {
                Ok(f) => Some(f),
                Err(e) => {
                    log::error!(
                        target: "flask_mqtt::dispatch",
                        "handler {} skipped: invalid topic filter `{f}`: {e}",
                        desc.name()
                    );
                    continue;
                }
            },
        };
        out.push(Handler { desc, filter });
    }
    out.sort_by(|a, b| (a.desc.module, a.desc.name).cmp(&(b.desc.module, b.desc.name)));
    out
}

/// The filters declared by `#[on_message("...", qos = N)]`, each with the highest QoS
/// any of its handlers asked for.
pub(crate) fn declared_subscriptions(handlers: &[Handler]) -> Vec<(TopicFilter, QoS)> {
    let mut map = std::collections::BTreeMap::<TopicFilter, QoS>::new();
    for h in handlers {
        if let (HandlerKind::Message, Some(f)) = (h.desc.kind, &h.filter) {
            let qos = QoS::from_u8(h.desc.qos).unwrap_or(QoS::ExactlyOnce);
            let e = map.entry(f.clone()).or_insert(qos);
            if qos > *e {
                *e = qos;
            }
        }
    }
    map.into_iter().collect()
}
