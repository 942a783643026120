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

/// The handlers of one event, by index; shared, so that a cached answer costs no copy.
pub(super) type Targets = Arc<[usize]>;

/// The cache of [`Routes::targets`]: topic to handlers.
pub(super) type TopicCache = HashMap<Box<str>, Targets, foldhash::fast::RandomState>;

/// Topics remembered by [`Routes::targets`]; at this size the cache starts over.
pub(super) const TOPIC_CACHE_ENTRIES: usize = 4096;
/// Longer topics are matched every time instead of remembered, so that the cache holds
/// at most about 1 MiB of topic names.
pub(super) const TOPIC_CACHE_MAX_LEN: usize = 256;

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
        if targets.is_empty() {
            log::debug!(target: TARGET, "no handler for message on `{topic}`");
        }
        targets
    }
}
