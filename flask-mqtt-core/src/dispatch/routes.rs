//! Which handlers an event goes to: a topic trie, the catch-all, the other kinds, and a
//! cache of the answers for topics seen before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use flask_mqtt_topic::FilterTrie;

use super::hold::AckMode;
use crate::event::log::DISPATCH_TARGET as TARGET;
use crate::event::{Event, HandlerKind};
use crate::registry::Handler;
use crate::sync::lock;
use crate::visible::FirstFew;

/// The handlers of one event, by index; shared, so that a cached answer costs no copy.
pub(super) type Targets = Arc<[usize]>;

/// The cache of [`Routes::targets`]: topic to handlers.
pub(super) type TopicCache = HashMap<Box<str>, Targets, foldhash::fast::RandomState>;

/// Topics remembered by [`Routes::targets`]; at this size the cache starts over.
pub(super) const TOPIC_CACHE_ENTRIES: usize = 4096;
/// Longer topics are matched every time instead of remembered, so that the cache holds
/// at most about 1 MiB of topic names.
pub(super) const TOPIC_CACHE_MAX_LEN: usize = 256;
/// Topics without a handler said (warned, visibly); later ones go to `debug` only.
pub(super) const UNROUTED_SAID: usize = 10;

/// Which handlers an event goes to.
pub(super) struct Routes {
    pub(super) handlers: Vec<Arc<Handler>>,
    /// How each handler holds acknowledgements (same index as `handlers`).
    pub(super) modes: Vec<AckMode>,
    pub(super) by_kind: Vec<(HandlerKind, Targets)>,
    pub(super) trie: FilterTrie<usize>,
    pub(super) catch_all: Targets,
    /// No handler.
    pub(super) nobody: Targets,
    /// The handlers of topics seen before. Topics repeat (a device publishes to the same
    /// few), and one lookup here is one hash of the topic, where the trie walk hashes
    /// every level, once per branch (`+` and `#` filters); it also saves collecting the
    /// matches into a new list for every message. Measured with callgrind, 100 handlers
    /// of which 10 match each message: about 3,900 instructions per message before.
    /// Hashed with foldhash, seeded per process as std's SipHash is (so topics chosen
    /// to collide cannot be precomputed), at about a third of SipHash's cost.
    pub(super) topics: Mutex<TopicCache>,
    /// Topics found to have no handler so far (counted when matched, not from the cache).
    pub(super) unrouted: FirstFew,
}

impl Routes {
    /// How handler `i` holds acknowledgements.
    pub(super) fn mode(&self, i: usize) -> AckMode {
        self.modes.get(i).copied().unwrap_or(AckMode::AFTER)
    }

    /// The handlers `event` concerns, in registry order per filter.
    pub(super) fn targets(&self, event: &Event) -> Targets {
        let kind = match event {
            Event::Message(m) => return self.message_targets(m.topic()),
            Event::Connected(_) => HandlerKind::Connect,
            Event::Disconnected(_) => HandlerKind::Disconnect,
            Event::Log(_) => HandlerKind::Log,
            Event::Published(_) => HandlerKind::Publish,
            Event::Subscribed(_) => HandlerKind::Subscribe,
            Event::Unsubscribed(_) => HandlerKind::Unsubscribe,
        };
        self.by_kind
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or_else(|| Arc::clone(&self.nobody), |(_, v)| Arc::clone(v))
    }

    fn message_targets(&self, topic: &str) -> Targets {
        let cached = lock(&self.topics).get(topic).map(Arc::clone);
        let targets = match cached {
            Some(t) => t,
            None => {
                let mut found = Vec::new();
                self.trie.for_each_match(topic, |&i| found.push(i));
                let targets = if found.is_empty() {
                    if self.catch_all.is_empty() {
                        self.unrouted(topic);
                    }
                    Arc::clone(&self.catch_all)
                } else {
                    Targets::from(found)
                };
                if topic.len() <= TOPIC_CACHE_MAX_LEN {
                    let mut topics = lock(&self.topics);
                    if topics.len() >= TOPIC_CACHE_ENTRIES {
                        topics.clear();
                    }
                    topics.insert(topic.into(), Arc::clone(&targets));
                }
                targets
            }
        };
        targets
    }

    /// A message on `topic` matched no handler (when first seen: the cache remembers
    /// the answer). It is dropped, and a QoS 1/2 one acknowledged: the first
    /// [`UNROUTED_SAID`] such topics are said visibly (a filter subscribed at run time
    /// without a handler or catch-all to receive it loses every message), later ones at
    /// `debug`.
    fn unrouted(&self, topic: &str) {
        let topic = crate::error::truncate(topic);
        self.unrouted.report(
            UNROUTED_SAID,
            TARGET,
            log::Level::Warn,
            log::Level::Debug,
            &format_args!(
                "a message on `{topic}` matched no handler and was dropped (a QoS 1/2 one acknowledged): give a subscription made with `Mqtt::subscribe` a handler whose filter matches it, or add a catch-all `#[mqtt::on_message]`"
            ),
            &"; further topics without a handler are logged at debug only",
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use tokio::sync::Semaphore;

    use super::super::tests::{done, watched};
    use super::*;
    use crate::extract::context::EventContext;
    use crate::handler_future::HandlerFuture;
    use crate::message::Message;
    use crate::qos::QoS;
    use crate::registry::{HandlerDescriptor, HandlerFn};
    use crate::visible::said;

    /// A message no handler takes is said (once per topic, at most `UNROUTED_SAID`
    /// topics), whether or not a logger is installed (these tests install none).
    #[tokio::test]
    async fn a_message_no_handler_takes_is_said_once_per_topic() {
        let (d, _watch, app) = watched(Vec::new());
        let topics: Vec<String> = (0..UNROUTED_SAID + 3)
            .map(|i| format!("routes-test/unrouted/{i}"))
            .collect();
        for topic in topics.iter().chain(&topics) {
            let m = Message::new(topic.as_str(), "x", QoS::AtLeastOnce, false);
            d.dispatch(app.client(), Event::Message(m));
        }
        let lines = said::containing("routes-test/unrouted/");
        assert_eq!(lines.len(), UNROUTED_SAID, "{lines:#?}");
        assert!(
            lines[0].starts_with(
                "WARN flask_mqtt::dispatch: a message on `routes-test/unrouted/0` matched no handler and was dropped"
            ),
            "{lines:#?}"
        );
        assert!(lines[UNROUTED_SAID - 1].ends_with("logged at debug only"));
    }

    static HOLD: Semaphore = Semaphore::const_new(0);

    fn held(_: Arc<EventContext>) -> HandlerFuture {
        HandlerFuture::new(async {
            if let Ok(permit) = HOLD.acquire().await {
                permit.forget();
            }
            Ok(None)
        })
    }

    static HELD: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "held",
        "dispatch::routes::tests",
        HandlerFn::Async(held),
    )
    .with_filter("routes-test/held")
    .with_queue(1);

    /// A message no handler takes on a topic too long to be cached, dispatched while
    /// events wait for the router, is said once: its handlers were looked up again
    /// when the router took it, and it was said twice.
    #[tokio::test]
    async fn a_long_unrouted_topic_is_said_once_per_message() {
        let handlers = [&HELD]
            .into_iter()
            .filter_map(|d| Handler::new(d, d.name()))
            .collect();
        let (d, watch, app) = watched(handlers);
        // 1 is called, 2 fills the queue, 3 goes to the router, and what follows too.
        for _ in 0..3 {
            let m = Message::new("routes-test/held", "", QoS::AtMostOnce, false);
            d.dispatch(app.client(), Event::Message(m));
            tokio::task::yield_now().await;
        }
        assert!(d.backlog.len.load(Ordering::SeqCst) > 0);
        let topic = format!(
            "routes-test/long-unrouted/{}",
            "l".repeat(TOPIC_CACHE_MAX_LEN)
        );
        let m = Message::new(topic.as_str(), "", QoS::AtMostOnce, false);
        let seq = d.dispatch(app.client(), Event::Message(m));
        HOLD.add_permits(3);
        assert!(done(watch.ended(seq)).await.is_empty());
        let lines = said::containing("routes-test/long-unrouted/");
        assert_eq!(lines.len(), 1, "{lines:#?}");
    }
}
