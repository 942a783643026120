//! [`Requests`]: the requests of a client that wait for replies, and the routing of
//! incoming replies to them (the driver asks [`Requests::route`] before dispatching a
//! message to handlers).

use std::collections::hash_map::{Entry, RandomState};
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use flask_mqtt_topic::TopicName;
use paho_mqtt::PropertyCode;
use tokio::sync::{oneshot, watch};

use super::limits::Packets;
use super::owed::Released;
use crate::error::{truncate, Error, Result};
use crate::event::log::CLIENT_TARGET;
use crate::message::Message;
use crate::sync::lock;

/// The client's own reply topic: this, then its client id (or a nonce).
const OWN_PREFIX: &str = "flask-mqtt/replies/";

/// The length of the Correlation Data of a request: the client's nonce, the request's
/// number and a hash of its reply topic (FNV-1a), 8 bytes each, big-endian.
const CORRELATION_LEN: usize = 24;

/// What identifies a reply: its topic and, on MQTT 5, its Correlation Data.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) topic: String,
    pub(crate) correlation: Option<Vec<u8>>,
}

/// The broker's answer to a reply topic's SUBSCRIBE, told to every request waiting on
/// the topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Suback {
    Granted,
    /// Refused by the broker: every request waiting on the topic fails with it.
    Refused,
    /// Failed by Paho (the request that sent it has the error); another tries again.
    Failed,
    /// The connection ended, or the client stopped, before the answer.
    Unanswered,
}

/// What a waiting request is told: its reply, or the broker's refusal of its reply
/// topic's subscription ([`Error::SubscribeRejected`]).
pub(crate) type Answer = Result<Message>;

/// Where a reply topic's subscription stands; connections are numbered as in
/// `Health::connects`.
#[derive(Debug)]
enum Subscription {
    /// Not subscribed: never, refused, or its SUBSCRIBE failed in Paho.
    None,
    /// The SUBSCRIBE numbered `id`, sent on `connection`, awaits its answer, which
    /// `answer` tells.
    Sent {
        id: u64,
        connection: u64,
        answer: watch::Receiver<Option<Suback>>,
    },
    /// Granted on `connection`.
    Granted { connection: u64 },
    /// No request waits on it any more and its UNSUBSCRIBE, numbered `id`, sent on
    /// `connection` (or, when sent between connections, numbered as the one before),
    /// awaits its answer ([`Requests::released`]). At a later connect it is in doubt
    /// ([`Requests::release_owed`]): whether that answer came may be learnt only afterwards.
    Releasing { id: u64, connection: u64 },
    /// Its SUBSCRIBE or UNSUBSCRIBE went unanswered (the connection ended first, or Paho
    /// could not send the UNSUBSCRIBE): the broker may have handled it or not, and a
    /// persistent session keeps what it handled. The next request on it subscribes it
    /// (as after [`None`](Self::None)); with no request left, the next connect
    /// unsubscribes it when the broker kept the session ([`Requests::release_owed`]).
    Unknown,
}

/// What a request does about its reply topic's subscription
/// ([`Requests::subscribe_once`]).
pub(crate) enum Subscribing<F> {
    /// Nothing: granted on this connection already.
    Done,
    /// Wait for the answer to another request's SUBSCRIBE.
    Wait(watch::Receiver<Option<Suback>>),
    /// Its own SUBSCRIBE, numbered `id`, was sent (`sent`: what the call returned);
    /// settle it with [`Requests::settle`] and tell its answer through `answer`.
    Sent {
        sent: F,
        id: u64,
        answer: watch::Sender<Option<Suback>>,
    },
}

/// A reply topic requests wait on; with no request left (`users` 0), one whose
/// subscription may still bring messages until its SUBSCRIBE is answered and undone:
/// they are no reply, and no handler's unless the client's own subscriptions cover it.
#[derive(Debug)]
struct ReplyTopic {
    subscription: Subscription,
    /// Requests waiting on it.
    users: usize,
    /// Whether it is the client's own reply topic, which stays subscribed.
    own: bool,
}

#[derive(Debug, Default)]
struct Table {
    /// The next request's number (the middle of its Correlation Data).
    next: u64,
    /// The next reply-topic SUBSCRIBE's number.
    next_subscribe: u64,
    waiting: HashMap<Key, oneshot::Sender<Answer>>,
    topics: HashMap<String, ReplyTopic>,
}

/// The requests of one client that wait for their replies.
#[derive(Debug)]
pub(crate) struct Requests {
    /// Set at the first request: until then only a message on the own reply topic can be
    /// a reply, and routing another costs a comparison and a load of this flag.
    active: AtomicBool,
    table: Mutex<Table>,
    /// Random per client: the start of every Correlation Data.
    nonce: u64,
    /// The client's own reply topic (MQTT 5).
    own_topic: String,
}

impl Requests {
    pub(crate) fn new(client_id: &str) -> Requests {
        let nonce = {
            let mut h = RandomState::new().build_hasher();
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
            );
            h.write_u32(std::process::id());
            h.finish()
        };
        // The client id names the topic when it can be a topic level (brokers' access
        // rules can then allow `flask-mqtt/replies/%c`); a hash of it otherwise (one
        // with `/`, a wildcard or NUL, or one too long for a topic name: an id may have
        // 65,535 bytes, a topic too, prefix included), the same in every process, so
        // that a persistent session keeps one reply subscription, not one per process;
        // the nonce for an empty id (the broker assigns one, new at every connect).
        let named = format!("{OWN_PREFIX}{client_id}");
        let own_topic = if client_id.is_empty() {
            format!("{OWN_PREFIX}{nonce:016x}")
        } else if !client_id.contains('/') && TopicName::new(named.as_str()).is_ok() {
            named
        } else {
            format!("{OWN_PREFIX}{:016x}", fnv1a(client_id.as_bytes()))
        };
        Requests {
            active: AtomicBool::new(false),
            table: Mutex::new(Table::default()),
            nonce,
            own_topic,
        }
    }

    /// The client's own reply topic.
    pub(crate) fn own_topic(&self) -> &str {
        &self.own_topic
    }

    /// Whether the table is locked now (by another caller: a registration would wait).
    #[cfg(test)]
    pub(crate) fn is_locked(&self) -> bool {
        matches!(
            self.table.try_lock(),
            Err(std::sync::TryLockError::WouldBlock)
        )
    }

    /// How many requests wait.
    pub(crate) fn pending(&self) -> usize {
        lock(&self.table).waiting.len()
    }

    /// Whether a message on `topic` may be a reply, which [`Requests::route`] decides:
    /// never before the first request, except on the client's own reply topic. Inlined,
    /// so that a message no request can wait for costs dispatch a comparison and a load,
    /// not a call that moves it in and out.
    #[inline]
    pub(crate) fn may_be_reply(&self, topic: &str) -> bool {
        topic == self.own_topic || self.active.load(Ordering::Acquire)
    }

    /// Hands `msg` to the request waiting for it, if it is its reply (`None`); gives it
    /// back for the handlers when it is no reply and `subscribed(topic)` says one of the
    /// client's own subscriptions ([`Mqtt::topics`](super::Mqtt::topics): a handler's
    /// filter, `Mqtt::subscribe`) covers its topic; drops it otherwise (`None`).
    ///
    /// - A reply to one of this client's requests (its Correlation Data says so: made
    ///   here, for a request whose reply topic is the message's topic) that no request
    ///   waits for any more (it came after the timeout, or twice, also as the second
    ///   copy a broker sends through an overlapping subscription, also once its topic is
    ///   no reply topic any more, whatever Response Topic it carries) is dropped with a
    ///   debug line: it never reaches handlers. The client's own request, received by a
    ///   handler of the client on the topic it was sent to, is no reply.
    /// - Anything else on a reply topic is no reply: the handlers' when the client
    ///   subscribes the topic for them (on a topic the caller named, the request may
    ///   share their subscription; a handler may also subscribe the own reply topic),
    ///   dropped otherwise: only the request's subscription brought it, and dispatching
    ///   it would say "no handler" about a message nobody asked for.
    ///
    /// The client's own reply topic is a reply topic from the start: with a persistent
    /// session its subscription outlives the process, and a late reply to the previous
    /// one arrives before this one made any request. A retained message is a reply only
    /// by its Correlation Data: the broker sets the flag on what it sends because of a
    /// new subscription (the reply topic's, made by the request), so it is older than
    /// the request, unless it carries the Correlation Data made for the request (a reply
    /// published retained, sent again when a reconnect subscribes the topic again). On
    /// MQTT 3.1.1, which has no Correlation Data, a retained message is never a reply.
    pub(crate) fn route(
        &self,
        msg: paho_mqtt::Message,
        subscribed: impl FnOnce(&str) -> bool,
    ) -> Option<paho_mqtt::Message> {
        // The callers' own test, so that the two cannot drift apart. A message that may
        // be a reply compares its topic once more below (it takes the lock anyway).
        if !self.may_be_reply(msg.topic()) {
            return Some(msg);
        }
        let own = msg.topic() == self.own_topic;
        let correlation = {
            let mut table = lock(&self.table);
            if !own && !table.topics.contains_key(msg.topic()) {
                drop(table);
                // A late reply on a reply topic given back (to the handlers, or
                // unsubscribed): still no handler's.
                let correlation = msg.properties().get_binary(PropertyCode::CorrelationData);
                if correlation.is_some_and(|c| self.made_for(&c, msg.topic())) {
                    log::debug!(
                        target: CLIENT_TARGET,
                        "a reply on `{}` matches no waiting request (it came after the timeout, or twice); dropped",
                        truncate(msg.topic())
                    );
                    return None;
                }
                return Some(msg);
            }
            let key = Key {
                topic: msg.topic().to_owned(),
                correlation: msg.properties().get_binary(PropertyCode::CorrelationData),
            };
            let may_reply = !msg.retained() || key.correlation.is_some();
            if let Some(tx) = may_reply.then(|| table.waiting.remove(&key)).flatten() {
                // A request dropped meanwhile has also dropped its receiver: nothing to do.
                let _ = tx.send(Ok(Message::from_paho(msg)));
                return None;
            }
            key.correlation
        };
        // Lock order: the table is let go before the client's subscriptions are looked at.
        if correlation
            .as_deref()
            .is_some_and(|c| self.made_for(c, msg.topic()))
        {
            log::debug!(
                target: CLIENT_TARGET,
                "a reply on `{}` matches no waiting request (it came after the timeout, or twice); dropped",
                truncate(msg.topic())
            );
            return None;
        }
        if subscribed(msg.topic()) {
            return Some(msg);
        }
        let topic = truncate(msg.topic());
        if msg.retained() {
            log::debug!(
                target: CLIENT_TARGET,
                "a retained message on the reply topic `{topic}` is no reply (it was there before the request), and no subscription of the client covers the topic; dropped"
            );
        } else if own && correlation.is_none() {
            log::warn!(
                target: CLIENT_TARGET,
                "a reply on `{topic}` carries no Correlation Data, so it matches no request; the responder must copy the request's Correlation Data (MQTT 5 §4.10)"
            );
        } else {
            log::debug!(
                target: CLIENT_TARGET,
                "a message on the reply topic `{topic}` matches no waiting request (a late reply to a previous process, or another's), and no subscription of the client covers the topic; dropped"
            );
        }
        None
    }

    /// Whether `correlation` is one this client made for a request whose reply topic is
    /// `topic`: a message on `topic` carrying it is a reply to that request, whatever
    /// else it carries (a responder may copy the request's Response Topic, or set one of
    /// its own). The client's own request carries it too, but on the topic it was sent
    /// to, where a handler of the client may well receive it: not its reply topic.
    fn made_for(&self, correlation: &[u8], topic: &str) -> bool {
        correlation.len() == CORRELATION_LEN
            && correlation.starts_with(&self.nonce.to_be_bytes())
            && correlation.ends_with(&fnv1a(topic.as_bytes()).to_be_bytes())
    }

    /// Registers a request waiting on `topic`, with a fresh Correlation Data when
    /// `correlated` (MQTT 5); [`Error::ReplyTopicBusy`] when another request waits there
    /// without one.
    pub(crate) fn register(
        &self,
        topic: String,
        correlated: bool,
    ) -> Result<(Key, oneshot::Receiver<Answer>)> {
        let mut table = lock(&self.table);
        let correlation = correlated.then(|| {
            let n = table.next;
            table.next = n.wrapping_add(1);
            let mut id = Vec::with_capacity(CORRELATION_LEN);
            id.extend_from_slice(&self.nonce.to_be_bytes());
            id.extend_from_slice(&n.to_be_bytes());
            id.extend_from_slice(&fnv1a(topic.as_bytes()).to_be_bytes());
            id
        });
        let key = Key { topic, correlation };
        let (tx, rx) = oneshot::channel();
        match table.waiting.entry(key.clone()) {
            Entry::Occupied(_) => {
                return Err(Error::ReplyTopicBusy {
                    reply_topic: key.topic,
                })
            }
            Entry::Vacant(slot) => {
                slot.insert(tx);
            }
        }
        let own = key.topic == self.own_topic;
        table
            .topics
            .entry(key.topic.clone())
            .or_insert(ReplyTopic {
                subscription: Subscription::None,
                users: 0,
                own,
            })
            .users += 1;
        self.active.store(true, Ordering::Release);
        Ok((key, rx))
    }

    /// Calls `subscribe` for `topic`, under the table's lock, unless it is subscribed on
    /// `connection` already, or a SUBSCRIBE of it on `connection` awaits its answer (then
    /// the request waits for that answer: the broker may refuse). It counts as sent from
    /// then on, so that a concurrent request publishes after this SUBSCRIBE, never
    /// before it, and learns its answer.
    pub(crate) fn subscribe_once<F>(
        &self,
        topic: &str,
        connection: u64,
        subscribe: impl FnOnce() -> F,
    ) -> Subscribing<F> {
        let mut table = lock(&self.table);
        let id = table.next_subscribe;
        let Some(entry) = table.topics.get_mut(topic) else {
            return Subscribing::Done;
        };
        match &entry.subscription {
            Subscription::Granted { connection: c } if *c == connection => Subscribing::Done,
            Subscription::Sent {
                connection: c,
                answer,
                ..
            } if *c == connection => Subscribing::Wait(answer.clone()),
            _ => {
                let (answer, rx) = watch::channel(None);
                entry.subscription = Subscription::Sent {
                    id,
                    connection,
                    answer: rx,
                };
                table.next_subscribe = id.wrapping_add(1);
                Subscribing::Sent {
                    sent: subscribe(),
                    id,
                    answer,
                }
            }
        }
    }

    /// At a connect: the reply topics that requests wait on, not subscribed on
    /// `connection` (nor sent) and not `skip`ped (the client's own filters, subscribed
    /// anyway), as `pick` chooses among them (those of one SUBSCRIBE packet), marked sent
    /// on it as in [`subscribe_once`](Self::subscribe_once), each with its SUBSCRIBE's
    /// number and the sender of its answer, and the result of `subscribe` called with
    /// them under the table's lock; `None` when none are picked (or left).
    #[allow(clippy::type_complexity)]
    pub(crate) fn subscribe_waited_on<F>(
        &self,
        connection: u64,
        skip: impl Fn(&str) -> bool,
        pick: impl FnOnce(Vec<String>) -> Vec<String>,
        subscribe: impl FnOnce(&[String]) -> F,
    ) -> Option<(Vec<(String, u64, watch::Sender<Option<Suback>>)>, F)> {
        let mut table = lock(&self.table);
        let mut waited_on: Vec<String> = table
            .topics
            .iter()
            .filter(|(topic, t)| {
                let on = match t.subscription {
                    Subscription::None | Subscription::Releasing { .. } | Subscription::Unknown => {
                        None
                    }
                    Subscription::Sent { connection, .. }
                    | Subscription::Granted { connection } => Some(connection),
                };
                t.users > 0 && on != Some(connection) && !skip(topic)
            })
            .map(|(topic, _)| topic.clone())
            .collect();
        // In one order whatever the map's, so that a connect's packets are the same.
        waited_on.sort_unstable();
        let mut id = table.next_subscribe;
        let mut sent = Vec::new();
        for topic in pick(waited_on) {
            let Some(t) = table.topics.get_mut(&topic) else {
                continue;
            };
            let this = id;
            id = id.wrapping_add(1);
            let (answer, rx) = watch::channel(None);
            t.subscription = Subscription::Sent {
                id: this,
                connection,
                answer: rx,
            };
            sent.push((topic, this, answer));
        }
        table.next_subscribe = id;
        if sent.is_empty() {
            return None;
        }
        let topics: Vec<String> = sent.iter().map(|(t, _, _)| t.clone()).collect();
        let subscribed = subscribe(&topics);
        Some((sent, subscribed))
    }

    /// Records the answer to the SUBSCRIBE `id` of `topic` (unless a later one replaced
    /// it): granted, the topic is subscribed on its connection; unanswered, it may be
    /// (`Subscription::Unknown`: kept, also with no request left, until the next connect
    /// settles it, [`release_owed`](Self::release_owed)); otherwise it is not, and the next
    /// request subscribes again. A refusal ends every request waiting on the
    /// topic with [`Error::SubscribeRejected`] (also those that wait for their reply
    /// already: at a reconnect's resubscription). When no request waits on the topic
    /// any more (the last ended before the answer) and it was granted, `unsubscribe` is
    /// called with it under the lock, as in [`unregister`](Self::unregister) (sent on
    /// `connection`, the current one); its result is returned, with the number to give
    /// [`released`](Self::released).
    pub(crate) fn settle<F>(
        &self,
        topic: &str,
        id: u64,
        suback: Suback,
        connection: u64,
        unsubscribe: impl FnOnce(&str) -> F,
    ) -> Option<(F, u64)> {
        let mut guard = lock(&self.table);
        let table = &mut *guard;
        let release = table.next_subscribe;
        let Some(entry) = table.topics.get_mut(topic) else {
            return (suback == Suback::Granted).then(|| (unsubscribe(topic), release));
        };
        let Subscription::Sent {
            id: sent,
            connection: granted_on,
            ..
        } = entry.subscription
        else {
            return None;
        };
        if sent != id {
            return None;
        }
        if suback == Suback::Refused {
            let refused: Vec<Key> = table
                .waiting
                .keys()
                .filter(|k| k.topic == topic)
                .cloned()
                .collect();
            for key in refused {
                if let Some(tx) = table.waiting.remove(&key) {
                    let _ = tx.send(Err(Error::SubscribeRejected {
                        filter: topic.to_owned(),
                    }));
                }
            }
        }
        match suback {
            Suback::Granted if entry.users == 0 && !entry.own => {
                entry.subscription = Subscription::Releasing {
                    id: release,
                    connection,
                };
                table.next_subscribe = release.wrapping_add(1);
                Some((unsubscribe(topic), release))
            }
            Suback::Granted => {
                entry.subscription = Subscription::Granted {
                    connection: granted_on,
                };
                None
            }
            // The broker may have granted it: a persistent session keeps it.
            Suback::Unanswered => {
                entry.subscription = Subscription::Unknown;
                None
            }
            _ if entry.users == 0 && !entry.own => {
                table.topics.remove(topic);
                None
            }
            _ => {
                entry.subscription = Subscription::None;
                None
            }
        }
    }

    /// The UNSUBSCRIBE numbered `id` of `topic` (from [`unregister`](Self::unregister),
    /// [`settle`](Self::settle) or [`release_owed`](Self::release_owed)) was `answered`, or not
    /// sent (the topic is one of the client's own), or the client stopped: the topic is
    /// no reply topic any more, unless a request waits on it again. Not `answered` (its
    /// connection ended first, or Paho could not send it): a persistent session may
    /// still hold the subscription, which the next connect undoes.
    ///
    /// An UNSUBSCRIBE Paho failed while the connection stays up is not sent again at
    /// once either: the topic waits in doubt (its messages dropped, a new request on it
    /// subscribing it anew) until the next connect. On a live connection Paho C fails
    /// one only for what a second try at once meets again: a topic that is no UTF-8
    /// (a reply topic is a checked topic name), every packet identifier in use, no
    /// memory, or a connection that just went (`Disconnected`, whose end the next
    /// connect follows). A retry would add a second send path, which must be made
    /// under this lock like the first (or a request registering the topic meanwhile
    /// has its SUBSCRIBE undone), for a case with no known cause in practice.
    pub(crate) fn released(&self, topic: &str, id: u64, answered: bool) {
        let mut table = lock(&self.table);
        let Some(entry) = table.topics.get_mut(topic) else {
            return;
        };
        if entry.users > 0
            || !matches!(entry.subscription, Subscription::Releasing { id: i, .. } if i == id)
        {
            return;
        }
        if answered {
            table.topics.remove(topic);
        } else {
            entry.subscription = Subscription::Unknown;
        }
    }

    /// At a connect (numbered `connection`), the one pass over what the broker's
    /// session may hold that the client no longer wants: `owed`, the user's filters
    /// whose UNSUBSCRIBE it did not answer ([`Owed`](super::owed::Owed)), except those a
    /// request waits on as its reply topic, or the own reply topic ([`Released::wanted`]:
    /// no UNSUBSCRIBE may undo them); and the reply topics no request waits on whose
    /// subscription an ended connection left in doubt (a SUBSCRIBE or UNSUBSCRIBE
    /// unanswered, also when that is not known yet: the task awaiting it may learn the
    /// end only after this connect, and its late [`released`](Self::released) then
    /// finds a newer number and changes nothing). When the broker kept the session
    /// (`session_present`) it may hold them all: `unsubscribe` is called under the lock
    /// with each string once (a user's filter in doubt as a reply topic too is one
    /// subscription), in order, in the packets `split` cuts them into (one UNSUBSCRIBE
    /// each: one of every string could exceed the broker's Maximum Packet Size; a string
    /// too large for any is not sent, [`Released::too_large`]), except the own reply topic (which stays subscribed) and topics `skip`
    /// says are the client's own filters (subscribed anyway: forgotten). Without the
    /// session the broker holds none of them: forgotten. Under the lock, a request
    /// registering one of them afterwards sends its SUBSCRIBE after these UNSUBSCRIBEs.
    pub(crate) fn release_owed<F>(
        &self,
        connection: u64,
        session_present: bool,
        owed: Vec<String>,
        split: impl FnOnce(Vec<String>) -> Packets<String>,
        skip: impl Fn(&str) -> bool,
        mut unsubscribe: impl FnMut(&[String]) -> F,
    ) -> Released<F> {
        let mut guard = lock(&self.table);
        let table = &mut *guard;
        let mut replies = Vec::new();
        let mut forgotten = Vec::new();
        for (topic, entry) in &mut table.topics {
            let doubtful = match entry.subscription {
                Subscription::Unknown => true,
                // Sent on a connection that ended: its answer never comes (it is being
                // told so), and it is one as well.
                Subscription::Sent { connection: c, .. }
                | Subscription::Releasing { connection: c, .. } => c != connection,
                _ => false,
            };
            if entry.users > 0 || !doubtful {
                continue;
            }
            if entry.own {
                entry.subscription = Subscription::None;
            } else if session_present && !skip(topic) {
                let id = table.next_subscribe;
                table.next_subscribe = id.wrapping_add(1);
                entry.subscription = Subscription::Releasing { id, connection };
                replies.push((topic.clone(), id));
            } else {
                forgotten.push(topic.clone());
            }
        }
        for topic in forgotten {
            table.topics.remove(&topic);
        }
        let (wanted, owed): (BTreeSet<String>, BTreeSet<String>) = owed
            .into_iter()
            .partition(|f| table.topics.get(f).is_some_and(|t| t.users > 0 || t.own));
        let mut all: BTreeSet<String> = owed;
        all.extend(replies.iter().map(|(topic, _)| topic.clone()));
        let packets = split(all.into_iter().collect());
        Released {
            sent: packets
                .chunks
                .into_iter()
                .map(|strings| {
                    let sent = unsubscribe(&strings);
                    (strings, sent)
                })
                .collect(),
            too_large: packets.too_large,
            wanted,
            replies,
        }
    }

    /// Forgets the request `key`. When it was the last on a reply topic the caller named,
    /// the topic is given back to the handlers and, if it was subscribed, `unsubscribe` is
    /// called with it under the lock (so that a request registering the topic again
    /// subscribes after this UNSUBSCRIBE, not before); its result is returned, with the
    /// number to give [`released`](Self::released) once it is answered (`connection`:
    /// the current one, which it is sent on): until then the topic stays a reply topic
    /// with no request. If its SUBSCRIBE still awaits an
    /// answer, the topic stays one too, and [`settle`](Self::settle) unsubscribes it
    /// once granted; if an ended connection left it in doubt, it stays one until the
    /// next connect ([`release_owed`](Self::release_owed)).
    pub(crate) fn unregister<F>(
        &self,
        key: &Key,
        connection: u64,
        unsubscribe: impl FnOnce(&str) -> F,
    ) -> Option<(F, u64)> {
        let mut guard = lock(&self.table);
        let table = &mut *guard;
        table.waiting.remove(key);
        let release = table.next_subscribe;
        let reply_topic = table.topics.get_mut(&key.topic)?;
        reply_topic.users = reply_topic.users.saturating_sub(1);
        if reply_topic.users > 0 || reply_topic.own {
            return None;
        }
        match reply_topic.subscription {
            Subscription::Granted { .. } => {
                reply_topic.subscription = Subscription::Releasing {
                    id: release,
                    connection,
                };
                table.next_subscribe = release.wrapping_add(1);
                Some((unsubscribe(&key.topic), release))
            }
            Subscription::Sent { .. } | Subscription::Releasing { .. } | Subscription::Unknown => {
                None
            }
            Subscription::None => {
                table.topics.remove(&key.topic);
                None
            }
        }
    }
}

/// FNV-1a, 64 bits: a hash that stays the same across processes and Rust versions.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(topic: &str, correlation: Option<&[u8]>) -> paho_mqtt::Message {
        message(topic, correlation, false)
    }

    fn message(topic: &str, correlation: Option<&[u8]>, retained: bool) -> paho_mqtt::Message {
        let mut b = paho_mqtt::MessageBuilder::new()
            .topic(topic)
            .payload("r")
            .retained(retained);
        if let Some(c) = correlation {
            let mut props = paho_mqtt::Properties::new();
            props
                .push_binary(PropertyCode::CorrelationData, c.to_vec())
                .unwrap();
            b = b.properties(props);
        }
        b.finalize()
    }

    /// No subscription of the client covers the topic: only a reply topic's brought it.
    fn unsubscribed(_: &str) -> bool {
        false
    }

    /// A subscription of the client (a handler's filter) covers the topic.
    fn subscribed(_: &str) -> bool {
        true
    }

    #[test]
    fn replies_reach_their_request_and_nothing_else() {
        let r = Requests::new("app-1");
        assert_eq!(r.own_topic(), "flask-mqtt/replies/app-1");
        // Before any request, nothing but the own reply topic is a reply.
        assert!(r.route(reply("other", None), unsubscribed).is_some());
        let (a, mut rx_a) = r.register(r.own_topic().to_owned(), true).unwrap();
        let (b, mut rx_b) = r.register(r.own_topic().to_owned(), true).unwrap();
        assert_ne!(a.correlation, b.correlation);
        assert_eq!(r.pending(), 2);
        // Not a reply topic: for the handlers.
        assert!(r.route(reply("other", None), unsubscribed).is_some());
        // Matched by Correlation Data, whatever the order.
        let to_b = reply(&b.topic, b.correlation.as_deref());
        assert!(r.route(to_b, subscribed).is_none());
        assert!(rx_b.try_recv().is_ok());
        assert!(rx_a.try_recv().is_err());
        // Unknown or missing Correlation Data on the reply topic: dropped, not handled.
        assert!(r
            .route(reply(&a.topic, Some(b"nope")), unsubscribed)
            .is_none());
        assert!(r.route(reply(&a.topic, None), unsubscribed).is_none());
        assert!(rx_a.try_recv().is_err());
        let to_a = reply(&a.topic, a.correlation.as_deref());
        assert!(r.route(to_a, unsubscribed).is_none());
        assert!(rx_a.try_recv().is_ok());
        // The own topic is never given back: no unsubscription.
        assert!(r.unregister(&a, 1, |_| ()).is_none());
        assert!(r.unregister(&b, 1, |_| ()).is_none());
        assert_eq!(r.pending(), 0);
        // A late reply, or a duplicate: this client's, never the handlers', also when
        // a handler's subscription covers the topic (and brought a second copy).
        let late = reply(&a.topic, a.correlation.as_deref());
        assert!(r.route(late, subscribed).is_none());
        let late = reply(&b.topic, b.correlation.as_deref());
        assert!(r.route(late, unsubscribed).is_none());
    }

    /// A persistent session keeps the own reply topic subscribed across a restart: a
    /// late reply to the previous process arrives before this one made any request, and
    /// must not reach handlers all the same, unless a handler subscribes the topic.
    #[test]
    fn the_own_reply_topic_reaches_no_handler_that_does_not_subscribe_it() {
        let r = Requests::new("app-1");
        let own = "flask-mqtt/replies/app-1";
        assert!(r.route(reply(own, Some(b"old")), unsubscribed).is_none());
        assert!(r.route(reply(own, None), unsubscribed).is_none());
        assert!(r
            .route(reply("flask-mqtt/replies/app-2", None), unsubscribed)
            .is_some());
        assert_eq!(r.pending(), 0);
    }

    /// A handler may subscribe the own reply topic (`flask-mqtt/replies/#`, `#`): what
    /// arrives there and is no reply to this client's requests is the handler's, before
    /// and while requests wait; the replies (also late ones) are not.
    #[test]
    fn a_handler_subscribing_the_own_reply_topic_gets_what_is_no_reply() {
        let r = Requests::new("app-1");
        let own = "flask-mqtt/replies/app-1";
        assert!(r.route(reply(own, Some(b"old")), subscribed).is_some());
        assert!(r.route(reply(own, None), subscribed).is_some());
        assert!(r.route(message(own, None, true), subscribed).is_some());
        let (k, mut rx) = r.register(own.to_owned(), true).unwrap();
        assert!(r
            .route(reply(own, Some(b"another's")), subscribed)
            .is_some());
        assert!(r.route(reply(own, None), subscribed).is_some());
        assert!(rx.try_recv().is_err());
        assert!(r
            .route(reply(own, k.correlation.as_deref()), subscribed)
            .is_none());
        assert!(rx.try_recv().is_ok());
        assert!(r
            .route(reply(own, k.correlation.as_deref()), subscribed)
            .is_none());
        assert!(r.unregister(&k, 1, |_| ()).is_none());
    }

    /// A retained message on a reply topic is sent by the broker because the topic was
    /// just subscribed: old news, never the reply to the request that subscribed it. It
    /// is the handlers' when one subscribes the topic, dropped otherwise.
    #[test]
    fn a_retained_message_on_a_reply_topic_is_no_reply() {
        let r = Requests::new("app-1");
        let (k, mut rx) = r.register("v3/replies".to_owned(), false).unwrap();
        let stale = || message("v3/replies", None, true);
        assert!(r.route(stale(), unsubscribed).is_none());
        assert!(r.route(stale(), subscribed).is_some());
        assert!(rx.try_recv().is_err());
        assert_eq!(r.pending(), 1);
        assert!(r.route(reply("v3/replies", None), unsubscribed).is_none());
        assert_eq!(
            rx.try_recv()
                .ok()
                .and_then(Result::ok)
                .map(|m| m.payload().to_vec()),
            Some(b"r".to_vec())
        );
        assert!(r.unregister(&k, 1, |_| ()).is_none());
    }

    /// MQTT 5: a retained message is the reply when it carries the Correlation Data made
    /// for the request, which cannot predate it (a reply published retained and sent
    /// again when a reconnect subscribes the reply topic again); with any other, or
    /// none, it is no reply.
    #[test]
    fn a_retained_message_with_the_requests_correlation_data_is_its_reply() {
        let r = Requests::new("app-1");
        let (k, mut rx) = r.register("svc/r".to_owned(), true).unwrap();
        let foreign = message("svc/r", Some(b"someone else's"), true);
        assert!(r.route(foreign, subscribed).is_some());
        assert!(r.route(message("svc/r", None, true), subscribed).is_some());
        assert!(rx.try_recv().is_err());
        let retained_reply = message("svc/r", k.correlation.as_deref(), true);
        assert!(r.route(retained_reply, subscribed).is_none());
        assert!(rx.try_recv().is_ok());
        assert!(r.unregister(&k, 1, |_| ()).is_none());
    }

    /// A topic the caller named may also be a handler's (its own filter, whose
    /// subscription the request shares, or one its wildcard covers): while a request
    /// waits there, a message that is no reply is the handlers', not dropped (which
    /// would acknowledge it unhandled). A late or duplicate reply to this client's
    /// request is not theirs.
    #[test]
    fn a_message_on_a_handlers_reply_topic_matching_no_request_goes_to_handlers() {
        let r = Requests::new("app-1");
        let (k, mut rx) = r.register("svc/r".to_owned(), true).unwrap();
        let (other, _rx) = r.register("svc/r".to_owned(), true).unwrap();
        assert!(r.route(reply("svc/r", None), subscribed).is_some());
        let foreign = reply("svc/r", Some(b"someone else's"));
        assert!(r.route(foreign, subscribed).is_some());
        assert!(rx.try_recv().is_err());
        assert!(r
            .route(reply("svc/r", k.correlation.as_deref()), subscribed)
            .is_none());
        assert!(rx.try_recv().is_ok());
        // The same reply again: no request waits for it any more, and it is no one
        // else's.
        assert!(r
            .route(reply("svc/r", k.correlation.as_deref()), subscribed)
            .is_none());
        assert!(r.unregister(&k, 1, |_| ()).is_none());
        assert!(r.unregister(&other, 1, |_| ()).is_none());
    }

    /// A topic the caller named that no subscription of the client covers: only the
    /// request's subscription brings messages there, and what is no reply to a waiting
    /// request (late, duplicate, another's) is dropped at debug level, not dispatched
    /// to no handler (a "matched no handler" warning).
    #[test]
    fn an_unmatched_message_on_a_reply_topic_no_handler_subscribes_is_dropped() {
        let r = Requests::new("app-1");
        let (k, mut rx) = r.register("svc/r".to_owned(), true).unwrap();
        let (other, _rx) = r.register("svc/r".to_owned(), true).unwrap();
        assert!(r.route(reply("svc/r", None), unsubscribed).is_none());
        let foreign = reply("svc/r", Some(b"someone else's"));
        assert!(r.route(foreign, unsubscribed).is_none());
        let answer = || reply("svc/r", k.correlation.as_deref());
        assert!(r.route(answer(), unsubscribed).is_none());
        assert!(rx.try_recv().is_ok());
        assert!(r.route(answer(), unsubscribed).is_none());
        assert_eq!(r.pending(), 1);
        assert!(r.unregister(&k, 1, |_| ()).is_none());
        assert!(r.unregister(&other, 1, |_| ()).is_none());
    }

    #[test]
    fn a_named_reply_topic_is_exclusive_without_correlation_and_given_back() {
        let r = Requests::new("a/b");
        assert!(r.own_topic().starts_with("flask-mqtt/replies/"));
        assert!(!r.own_topic()["flask-mqtt/replies/".len()..].contains('/'));
        let (k, _rx) = r.register("v3/replies".to_owned(), false).unwrap();
        assert!(matches!(
            r.register("v3/replies".to_owned(), false),
            Err(Error::ReplyTopicBusy { .. })
        ));
        let Subscribing::Sent { sent: 7, id, .. } = r.subscribe_once("v3/replies", 1, || 7) else {
            panic!("not sent")
        };
        // Its answer awaited: a concurrent request waits for it, then needs nothing.
        assert!(matches!(
            r.subscribe_once("v3/replies", 1, || 8),
            Subscribing::Wait(_)
        ));
        assert!(r
            .settle("v3/replies", id, Suback::Granted, 1, |_| ())
            .is_none());
        assert!(matches!(
            r.subscribe_once("v3/replies", 1, || 8),
            Subscribing::Done
        ));
        // After a reconnect it is subscribed again; refused, again at the next request.
        let Subscribing::Sent { sent: 9, id, .. } = r.subscribe_once("v3/replies", 2, || 9) else {
            panic!("not sent")
        };
        assert!(r
            .settle("v3/replies", id, Suback::Refused, 1, |_| ())
            .is_none());
        let Subscribing::Sent { sent: 10, id, .. } = r.subscribe_once("v3/replies", 2, || 10)
        else {
            panic!("not sent")
        };
        // An answer to an older SUBSCRIBE changes nothing.
        assert!(r
            .settle("v3/replies", id - 1, Suback::Granted, 1, |_| ())
            .is_none());
        assert!(matches!(
            r.subscribe_once("v3/replies", 2, || 11),
            Subscribing::Wait(_)
        ));
        assert!(r
            .settle("v3/replies", id, Suback::Granted, 1, |_| ())
            .is_none());
        let Some((unsubscribed_topic, release)) = r.unregister(&k, 2, str::to_owned) else {
            panic!("not unsubscribed")
        };
        assert_eq!(unsubscribed_topic, "v3/replies");
        // Until the UNSUBSCRIBE is answered, the request's subscription may still bring
        // messages: no handler's.
        assert!(r.route(reply("v3/replies", None), unsubscribed).is_none());
        // An answer to an older UNSUBSCRIBE changes nothing.
        r.released("v3/replies", release.wrapping_sub(1), true);
        assert!(r.route(reply("v3/replies", None), unsubscribed).is_none());
        r.released("v3/replies", release, true);
        // Given back: messages on it go to handlers again.
        assert!(r.route(reply("v3/replies", None), unsubscribed).is_some());
    }

    /// A client id may have 65,535 bytes, and so may a topic name, prefix included: an
    /// id too long to name the own reply topic gives it a nonce instead, as an id that
    /// cannot be a topic level does.
    #[test]
    fn the_own_reply_topic_is_a_valid_topic_name_whatever_the_client_id() {
        let longest = "i".repeat(flask_mqtt_topic::MAX_TOPIC_LEN - OWN_PREFIX.len());
        let too_long = format!("{longest}i");
        for (id, named) in [
            ("app-1", true),
            (longest.as_str(), true),
            (too_long.as_str(), false),
            ("", false),
            ("a/b", false),
            ("a+", false),
            ("a#", false),
            ("a\0b", false),
        ] {
            let r = Requests::new(id);
            let own = r.own_topic();
            assert!(TopicName::new(own).is_ok(), "{} bytes", own.len());
            assert_eq!(
                own == format!("{OWN_PREFIX}{id}"),
                named,
                "{} bytes",
                id.len()
            );
            if !named {
                assert_eq!(own.len(), OWN_PREFIX.len() + 16);
            }
        }
    }

    /// A `.reply_to` topic whose last request ended (its timeout) before the broker
    /// answered the SUBSCRIBE: until the subscription is undone, what it brings is no
    /// reply (a late one to this client, a retained message sent for the late grant),
    /// kept from handlers that do not subscribe the topic.
    #[test]
    fn a_reply_topic_released_before_its_suback_keeps_what_it_brings_from_handlers() {
        let r = Requests::new("app-1");
        let (key, _rx) = r.register("svc/replies".to_owned(), true).unwrap();
        let Subscribing::Sent { id, .. } = r.subscribe_once("svc/replies", 1, || ()) else {
            panic!("not sent")
        };
        assert!(r.unregister(&key, 1, |_| ()).is_none());
        let late = || reply("svc/replies", key.correlation.as_deref());
        let retained = || message("svc/replies", None, true);
        assert!(r.route(late(), unsubscribed).is_none(), "a late reply");
        assert!(
            r.route(late(), subscribed).is_none(),
            "a late reply, covered"
        );
        assert!(
            r.route(retained(), unsubscribed).is_none(),
            "a retained message"
        );
        assert!(r.route(retained(), subscribed).is_some());
        // Granted late: undone, and what comes until the UNSUBACK is no reply either.
        let Some(((), release)) = r.settle("svc/replies", id, Suback::Granted, 1, |_| ()) else {
            panic!("not unsubscribed")
        };
        assert!(r.route(late(), subscribed).is_none());
        assert!(r.route(retained(), unsubscribed).is_none());
        r.released("svc/replies", release, true);
        assert!(
            r.route(late(), subscribed).is_none(),
            "a late reply, released"
        );
        assert!(r.route(retained(), unsubscribed).is_some());
        // The client's own request, received by a handler of its: the handler's.
        let mut props = paho_mqtt::Properties::new();
        props
            .push_string(PropertyCode::ResponseTopic, "svc/replies")
            .unwrap();
        props
            .push_binary(
                PropertyCode::CorrelationData,
                key.correlation.clone().unwrap(),
            )
            .unwrap();
        let own_request = paho_mqtt::MessageBuilder::new()
            .topic("svc/ask")
            .properties(props)
            .finalize();
        assert!(r.route(own_request, subscribed).is_some());
    }

    /// A message carrying `correlation` and the Response Topic `response_topic`.
    fn with_response_topic(
        topic: &str,
        correlation: &[u8],
        response_topic: &str,
    ) -> paho_mqtt::Message {
        let mut props = paho_mqtt::Properties::new();
        props
            .push_string(PropertyCode::ResponseTopic, response_topic)
            .unwrap();
        props
            .push_binary(PropertyCode::CorrelationData, correlation.to_vec())
            .unwrap();
        paho_mqtt::MessageBuilder::new()
            .topic(topic)
            .payload("r")
            .properties(props)
            .finalize()
    }

    /// A late reply to one of the client's requests is no handler's once its topic is
    /// no reply topic any more, also when it carries a Response Topic (a responder that
    /// copies the request's properties, or asks for an answer of its own); the client's
    /// own request, which a handler of it receives on the topic it was sent to, is the
    /// handler's.
    #[test]
    fn a_late_reply_with_a_response_topic_reaches_no_handler() {
        let r = Requests::new("app-1");
        let (key, _rx) = r.register("svc/replies".to_owned(), true).unwrap();
        let correlation = key.correlation.clone().unwrap();
        assert!(r.unregister(&key, 1, |_| ()).is_none());
        let echoed = with_response_topic("svc/replies", &correlation, "svc/replies");
        assert!(
            r.route(echoed, subscribed).is_none(),
            "a late reply echoing the Response Topic"
        );
        let its_own = with_response_topic("svc/replies", &correlation, "svc/more");
        assert!(
            r.route(its_own, subscribed).is_none(),
            "a late reply with a Response Topic of its own"
        );
        let own_request = with_response_topic("svc/ask", &correlation, "svc/replies");
        assert!(
            r.route(own_request, subscribed).is_some(),
            "the client's own request"
        );
    }

    /// Refused: the requests waiting on the topic end with the refusal, also those past
    /// their subscription (waiting for their reply), and the topic is asked for again at
    /// the next request; once no request waits, it is forgotten.
    #[test]
    fn a_refused_reply_topic_ends_its_requests() {
        let r = Requests::new("app-1");
        let (a, mut rx_a) = r.register("svc/r".to_owned(), true).unwrap();
        let (b, mut rx_b) = r.register("svc/r".to_owned(), true).unwrap();
        let (other, mut rx_other) = r.register("svc/other".to_owned(), true).unwrap();
        let Subscribing::Sent { id, .. } = r.subscribe_once("svc/r", 2, || ()) else {
            panic!("not sent")
        };
        assert!(r.settle("svc/r", id, Suback::Refused, 1, |_| ()).is_none());
        for rx in [&mut rx_a, &mut rx_b] {
            assert!(matches!(
                rx.try_recv(),
                Ok(Err(Error::SubscribeRejected { filter })) if filter == "svc/r"
            ));
        }
        assert!(rx_other.try_recv().is_err());
        assert!(matches!(
            r.subscribe_once("svc/r", 2, || ()),
            Subscribing::Sent { .. }
        ));
        assert!(r.unregister(&a, 1, |_| ()).is_none());
        assert!(r.unregister(&b, 1, |_| ()).is_none());
        assert!(r.unregister(&other, 1, |_| ()).is_none());
    }

    /// The own reply topic of a client id that cannot name it is derived from the id:
    /// the same in every process (a persistent session keeps one subscription, and a
    /// late reply to the previous process is recognised as on the own topic), different
    /// for another id; only the empty id gets a nonce.
    #[test]
    fn the_own_reply_topic_of_an_id_that_cannot_name_it_is_the_same_in_every_process() {
        let too_long = "i".repeat(flask_mqtt_topic::MAX_TOPIC_LEN);
        for id in ["a/b", "a+", too_long.as_str()] {
            assert_eq!(Requests::new(id).own_topic(), Requests::new(id).own_topic());
        }
        assert_ne!(
            Requests::new("a/b").own_topic(),
            Requests::new("a/c").own_topic()
        );
        // FNV-1a 64 of the id: fixed, whatever the Rust version.
        assert_eq!(
            Requests::new("a/b").own_topic(),
            "flask-mqtt/replies/e620c3190468cf61"
        );
        assert_ne!(Requests::new("").own_topic(), Requests::new("").own_topic());
    }
}
