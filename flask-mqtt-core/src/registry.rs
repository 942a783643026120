//! Handler descriptors submitted by the attribute macros, collected once at start.

use std::fmt;
use std::sync::Arc;

use flask_mqtt_topic::{TopicFilter, TopicTemplate};

use crate::ack::policy::AckPolicy;
use crate::config::DEFAULT_PREFIX;
use crate::describe::PayloadFn;
use crate::event::log::DISPATCH_TARGET;
use crate::event::HandlerKind;
use crate::extract::context::EventContext;
use crate::handler::Outcome;
use crate::handler_future::HandlerFuture;
use crate::qos::QoS;
use crate::visible::FirstFew;

/// The generated wrapper around a user's handler function.
#[derive(Clone, Copy)]
pub enum HandlerFn {
    /// Wraps an `async fn`.
    Async(fn(Arc<EventContext>) -> HandlerFuture),
    /// Wraps a plain `fn`; run where blocking is allowed.
    Sync(fn(Arc<EventContext>) -> Outcome),
}

/// The client names (`MQTT`, `MQTT2`, ...) that registered handlers ask for (the actix
/// plugin starts one client per name).
#[cfg(feature = "actix")]
pub fn declared_brokers() -> std::collections::BTreeSet<&'static str> {
    inventory::iter::<HandlerDescriptor>
        .into_iter()
        .map(|d| d.broker())
        .collect()
}

/// How many events may wait in a handler's queue when its attribute has no `queue = N`.
pub(crate) const DEFAULT_QUEUE: u32 = 1024;

/// What `#[on_*]` registers: one per annotated function. Built in a `const` context by
/// the generated code: [`HandlerDescriptor::new`] and then the `with_*` methods.
pub struct HandlerDescriptor {
    pub(crate) kind: HandlerKind,
    pub(crate) filter: Option<&'static str>,
    pub(crate) template: Option<&'static str>,
    pub(crate) qos: u8,
    pub(crate) name: &'static str,
    pub(crate) module: &'static str,
    pub(crate) call: HandlerFn,
    pub(crate) broker: Option<&'static str>,
    pub(crate) concurrency: u32,
    pub(crate) queue: u32,
    /// Describes the payload the handler takes (for the AsyncAPI document).
    pub(crate) payload: Option<PayloadFn>,
    /// The function's doc comment.
    pub(crate) doc: Option<&'static str>,
    /// `ack = "..."` in the attribute; `None`: the configuration's `MQTT_ACK_POLICY`.
    pub(crate) ack: Option<AckPolicy>,
    /// `nack_on_error` in the attribute.
    pub(crate) nack_on_error: bool,
    /// Where the attribute is (file, line, column): orders handlers that share module,
    /// name and filter the same way in every build.
    pub(crate) source: Option<(&'static str, u32, u32)>,
}

impl HandlerDescriptor {
    /// A handler of `kind` named `module::name`: no filter, QoS 0, the default broker,
    /// one call at a time, a queue of [`DEFAULT_QUEUE`] events.
    pub const fn new(
        kind: HandlerKind,
        name: &'static str,
        module: &'static str,
        call: HandlerFn,
    ) -> Self {
        HandlerDescriptor {
            kind,
            filter: None,
            template: None,
            qos: 0,
            name,
            module,
            call,
            broker: None,
            concurrency: 1,
            queue: DEFAULT_QUEUE,
            payload: None,
            doc: None,
            ack: None,
            nack_on_error: false,
            source: None,
        }
    }

    /// Where the attribute is (`file!()`, `line!()`, `column!()`): handlers that share
    /// module, name and filter are ordered by it (the metrics number them in this order).
    pub const fn with_source(mut self, file: &'static str, line: u32, column: u32) -> Self {
        self.source = Some((file, line, column));
        self
    }

    /// How to describe the payload the handler takes (`Json<T>`, `Text`), for the
    /// AsyncAPI document.
    pub const fn with_payload(mut self, payload: PayloadFn) -> Self {
        self.payload = Some(payload);
        self
    }

    /// The handler function's doc comment, for the AsyncAPI document.
    pub const fn with_doc(mut self, doc: &'static str) -> Self {
        self.doc = Some(doc);
        self
    }

    /// The MQTT topic filter of an `#[on_message("...")]` handler (with `+`/`#`).
    pub const fn with_filter(mut self, filter: &'static str) -> Self {
        self.filter = Some(filter);
        self
    }

    /// The topic template the filter came from, when it names levels
    /// (`sensors/{id}/temperature`); the filter must be the template's filter.
    pub const fn with_template(mut self, template: &'static str) -> Self {
        self.template = Some(template);
        self
    }

    /// The QoS to subscribe with: 0, 1 or 2.
    ///
    /// # Panics
    ///
    /// On any other QoS. In the `static` that `#[on_message]` declares (which refuses
    /// such a `qos` itself), that is a compile error:
    ///
    /// ```compile_fail
    /// use flask_mqtt_core::__private::{EventContext, HandlerDescriptor, HandlerFn, HandlerKind, Outcome};
    ///
    /// fn call(_: std::sync::Arc<EventContext>) -> Outcome {
    ///     Ok(None)
    /// }
    ///
    /// static H: HandlerDescriptor =
    ///     HandlerDescriptor::new(HandlerKind::Message, "h", "m", HandlerFn::Sync(call)).with_qos(3);
    /// ```
    ///
    /// ```
    /// use flask_mqtt_core::__private::{EventContext, HandlerDescriptor, HandlerFn, HandlerKind, Outcome};
    ///
    /// fn call(_: std::sync::Arc<EventContext>) -> Outcome {
    ///     Ok(None)
    /// }
    ///
    /// static H: HandlerDescriptor =
    ///     HandlerDescriptor::new(HandlerKind::Message, "h", "m", HandlerFn::Sync(call)).with_qos(2);
    /// ```
    pub const fn with_qos(mut self, qos: u8) -> Self {
        // A const fn used in statics: a compile error there. (The subscription would be
        // made at QoS 2 and the AsyncAPI document show the number.)
        assert!(qos <= 2, "a handler's QoS is 0, 1 or 2");
        self.qos = qos;
        self
    }

    /// The configuration prefix of the client the handler belongs to (`"MQTT2"`).
    pub const fn with_broker(mut self, broker: &'static str) -> Self {
        self.broker = Some(broker);
        self
    }

    /// How many calls of the handler may run at once (at least 1; the worker caps it at
    /// Tokio's `Semaphore::MAX_PERMITS`, 536,870,911 on 32-bit targets, the most the
    /// macros accept).
    pub const fn with_concurrency(mut self, concurrency: u32) -> Self {
        self.concurrency = if concurrency == 0 { 1 } else { concurrency };
        self
    }

    /// How many events may wait for the handler before dispatch waits (at least 1).
    pub const fn with_queue(mut self, queue: u32) -> Self {
        self.queue = if queue == 0 { 1 } else { queue };
        self
    }

    /// When the QoS 1/2 messages the handler takes are acknowledged (`ack = "..."`).
    pub const fn with_ack_policy(mut self, policy: AckPolicy) -> Self {
        self.ack = Some(policy);
        self
    }

    /// Withhold the acknowledgement of a message whose call returned `Err`, panicked or
    /// rejected its arguments (`nack_on_error`).
    pub const fn with_nack_on_error(mut self) -> Self {
        self.nack_on_error = true;
        self
    }

    /// The acknowledgement policy the attribute chose (`ack = "..."`), or `None` when it
    /// chose none: then the client's configuration decides (`MQTT_ACK_POLICY`).
    pub fn ack_policy(&self) -> Option<AckPolicy> {
        self.ack
    }

    /// Whether a message whose call returned `Err`, panicked or rejected its arguments
    /// stays unacknowledged (`nack_on_error` in the attribute), so that the broker
    /// delivers it again with the next session. `false`: it is acknowledged and the
    /// failure logged.
    pub fn nack_on_error(&self) -> bool {
        self.nack_on_error
    }

    /// The configuration prefix of the client the handler belongs to.
    pub fn broker(&self) -> &'static str {
        self.broker.unwrap_or(DEFAULT_PREFIX)
    }

    /// `module::function`: the handler's name in log lines, spans and metrics, where
    /// handlers that share it (one function under two attributes, functions of one name
    /// in two blocks of a module) are told apart by `#2`, `#3`, ... (the crate docs'
    /// "Logging").
    pub fn name(&self) -> String {
        format!("{}::{}", self.module, self.name)
    }
}

impl fmt::Debug for HandlerDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerDescriptor")
            .field("kind", &self.kind)
            .field("filter", &self.filter)
            .field("template", &self.template)
            .field("qos", &self.qos)
            .field("name", &self.name())
            .field("broker", &self.broker())
            .field("concurrency", &self.concurrency)
            .field("queue", &self.queue)
            .field("ack", &self.ack)
            .field("nack_on_error", &self.nack_on_error)
            .finish()
    }
}

inventory::collect!(HandlerDescriptor);

/// A registered handler with its filter parsed.
#[derive(Debug)]
pub(crate) struct Handler {
    pub(crate) desc: &'static HandlerDescriptor,
    /// Its name in log lines, spans and metrics: `module::function`, with `#2`, `#3`, ...
    /// for the second and further handlers of one `module::function` ([`numbered`]).
    pub(crate) name: String,
    pub(crate) filter: Option<TopicFilter>,
    /// Set when the filter names levels (`{id}`): what `Path` extracts with.
    pub(crate) template: Option<Arc<TopicTemplate>>,
    /// Its failed calls so far, for reporting (dispatch says the first few visibly).
    pub(crate) failures: FirstFew,
}

impl Handler {
    /// How many of its calls its worker runs at once (`concurrency`, at least 1). At 1,
    /// its calls end one after the other, each before the next begins, inline or on the
    /// worker (a call counts in its queue's `Room::busy` from its queueing or claim until
    /// after its report; dispatch has one caller at a time): what lets its metrics be
    /// recorded without atomic read-modify-writes (`dispatch::measure::handler_metrics`).
    pub(crate) fn concurrency(&self) -> usize {
        usize::try_from(self.desc.concurrency)
            .unwrap_or(usize::MAX)
            .clamp(1, tokio::sync::Semaphore::MAX_PERMITS)
    }

    /// Parses the descriptor's filter and template; `None` (logged, under `name`) when
    /// they are invalid, which only a hand-written descriptor can cause: the macro
    /// checked them.
    pub(crate) fn new(desc: &'static HandlerDescriptor, name: String) -> Option<Handler> {
        let skip = |what: String| {
            log::error!(target: DISPATCH_TARGET, "handler {name} skipped: {what}");
        };
        let filter = match desc.filter.map(TopicFilter::new).transpose() {
            Ok(f) => f,
            Err(e) => {
                skip(format!(
                    "invalid topic filter `{}`: {e}",
                    desc.filter.unwrap_or_default()
                ));
                return None;
            }
        };
        let template = match desc.template {
            None => None,
            Some(t) => match TopicTemplate::parse(t) {
                Ok(t) if Some(t.filter()) == filter.as_ref() => Some(Arc::new(t)),
                Ok(t) => {
                    skip(format!(
                        "topic template `{t}` stands for `{}`, not for the filter `{}`",
                        t.filter(),
                        desc.filter.unwrap_or_default()
                    ));
                    return None;
                }
                Err(e) => {
                    skip(format!("invalid topic template `{t}`: {e}"));
                    return None;
                }
            },
        };
        Some(Handler {
            desc,
            name,
            filter,
            template,
            failures: FirstFew::default(),
        })
    }
}

/// Every handler linked into the program that belongs to the client configured with
/// `prefix`: handlers without `broker = "..."` belong to `MQTT` (the default client),
/// the others to the prefix they name. In [`sort`]'s order, each with its name
/// ([`numbered`] over every handler linked in, whatever its client: a name means one
/// handler in every client's logs and metrics, and the handlers of several clients in
/// one `MetricsCollector` never repeat a series).
pub(crate) fn collect_for(prefix: &str) -> Vec<Handler> {
    named()
        .into_iter()
        .filter(|(desc, _)| desc.broker() == prefix)
        .filter_map(|(desc, name)| Handler::new(desc, name))
        .collect()
}

/// Every handler linked into the program, whatever its client, in [`sort`]'s order and
/// each with its name ([`numbered`]): what [`collect_for`] and the AsyncAPI document
/// name handlers by.
pub(crate) fn named() -> Vec<(&'static HandlerDescriptor, String)> {
    let mut all: Vec<&'static HandlerDescriptor> =
        inventory::iter::<HandlerDescriptor>.into_iter().collect();
    sort(&mut all);
    let names = numbered(all.iter().map(|desc| desc.name()).collect());
    all.into_iter().zip(names).collect()
}

/// Sorts handlers by module, name, filter and where their attribute is: handlers can
/// share a name ([`numbered`] numbers them in this order), and the order the linker
/// lists them in can change from one build to the next.
fn sort(handlers: &mut [&'static HandlerDescriptor]) {
    handlers.sort_by_key(|d| (d.module, d.name, d.filter, d.source));
}

/// The names of handlers whose `module::function`s are `names`, in [`sort`]'s order:
/// the second and further of one `module::function` get `#2`, `#3`, ... Two handlers
/// can share one: one function under two attributes, or functions of one name in two
/// blocks of a module (`module_path!` does not name the function around them). The one
/// place handler names are made: log lines, spans and metrics labels all use its names,
/// so that a log line is matched with its span and its series, and no label set repeats
/// in a metric family (which OpenMetrics forbids and Prometheus cannot tell apart), and
/// `TestClient`'s calls and the AsyncAPI document's operations are those of the handlers
/// in the logs. A numbered name is never a handler's own: `#` is in no Rust path.
fn numbered(mut names: Vec<String>) -> Vec<String> {
    let mut seen: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    for name in &mut names {
        let n = seen.entry(name.clone()).or_insert(0);
        *n = n.saturating_add(1);
        if *n > 1 {
            *name = format!("{name}#{n}");
        }
    }
    names
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

#[cfg(test)]
mod tests {
    use super::*;

    fn nothing(_: Arc<crate::extract::context::EventContext>) -> crate::handler::Outcome {
        Ok(None)
    }

    const fn setup(line: u32) -> HandlerDescriptor {
        HandlerDescriptor::new(
            HandlerKind::Connect,
            "setup",
            "registry::tests",
            HandlerFn::Sync(nothing),
        )
        .with_source("src/app.rs", line, 5)
    }
    static FIRST: HandlerDescriptor = setup(10);
    static SECOND: HandlerDescriptor = setup(20);
    static THIRD: HandlerDescriptor = setup(30);

    /// Handlers alike in module, name and filter (two `#[on_connect] fn setup` in two
    /// function bodies of one module) are ordered by where their attribute is, whatever
    /// order the linker lists them in: the names `setup`, `setup#2` stay with the same
    /// handlers from one build to the next.
    #[test]
    fn handlers_alike_but_for_their_place_are_ordered_by_it() {
        let mut handlers: Vec<&'static HandlerDescriptor> = vec![&THIRD, &FIRST, &SECOND];
        sort(&mut handlers);
        let lines: Vec<Option<u32>> = handlers
            .iter()
            .map(|d| d.source.map(|(_, line, _)| line))
            .collect();
        assert_eq!(lines, [Some(10), Some(20), Some(30)]);
    }

    #[test]
    fn names_of_one_function_get_a_number_from_the_second_on() {
        let names = ["m::a", "m::b", "m::a", "n::a", "m::a"].map(str::to_owned);
        assert_eq!(
            numbered(names.to_vec()),
            ["m::a", "m::b", "m::a#2", "n::a", "m::a#3"]
        );
    }
}
