//! [`Shared`]: the state of one client that every handle shares.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};

use flask_mqtt_topic::TopicFilter;
use tokio::sync::{mpsc, watch, Notify};

use super::health::{ConnectionState, Health, Stalls};
use super::input::Input;
use super::limits::{BrokerLimits, FilterPacket, Packets};
use super::outbound::Outbound;
use super::owed::Owed;
use super::replies::Requests;
use super::state::States;
use crate::ack::watermark::Watermark;
use crate::config::{Config, ProtocolVersion};
use crate::error::Result;
use crate::metrics::recorder::ClientMetrics;
use crate::qos::QoS;
use crate::sync::lock;

/// Filters per SUBSCRIBE or UNSUBSCRIBE packet at a connect (fewer when the broker's
/// Maximum Packet Size takes fewer: [`Shared::split_packets`]).
pub(crate) const SUBSCRIBE_CHUNK: usize = 64;

pub(crate) struct Shared {
    /// Where publishes and subscriptions go.
    pub(crate) outbound: Box<dyn Outbound>,
    pub(crate) config: Config,
    pub(crate) uri: String,
    /// What is subscribed, and subscribed again at every connect.
    pub(crate) topics: Mutex<BTreeMap<String, QoS>>,
    /// The handlers' (declared) filters: a refusal leaves them in `topics`, so they are
    /// asked for again at the next connect (an ACL may change, a failover broker may
    /// allow them); only an unsubscription removes them.
    pub(crate) declared: BTreeSet<String>,
    /// The user's filters unsubscribed whose UNSUBSCRIBE the broker did not answer (not
    /// sent while disconnected, or the connection ended first, or Paho failed to send
    /// it), with a persistent session: the broker may still hold them, so the next
    /// connect that finds the session present unsubscribes them
    /// ([`Mqtt::pay_owed`](super::Mqtt::pay_owed)), before subscribing `topics` again.
    /// Subscribing one again cancels it. Lock order: before `topics`, never inside the
    /// requests' table.
    pub(crate) owed: Mutex<Owed>,
    /// To the driver task, when one runs: events to dispatch, log lines, shutdown.
    pub(crate) input: mpsc::UnboundedSender<Input>,
    /// The runtime that finishes publishes whose caller stopped waiting.
    pub(crate) rt: tokio::runtime::Handle,
    pub(crate) closed: AtomicBool,
    /// The connection state and its history; change the state with [`Shared::set_state`].
    pub(crate) health: Mutex<Health>,
    /// Whether the state is [`ConnectionState::Connected`], for waiters. Read or
    /// subscribe anywhere; change it only through [`Shared::set_state`], which also
    /// notifies `changes` (a send elsewhere would leave waiting publishes asleep).
    pub(crate) link: watch::Sender<bool>,
    /// How many broker connections have ended (lost, refused by the broker, closed by the
    /// stop), counted by the driver: a SUBSCRIBE or UNSUBSCRIBE waiting for its answer
    /// gives up when it changes, since Paho keeps waiting for an answer that a persistent
    /// session never brings ([`Shared::connection_ended`]).
    pub(crate) ends: watch::Sender<u64>,
    /// Publishes handed to the outbound side whose completion has not been reported yet.
    pub(crate) unsent: AtomicUsize,
    /// Set once the client's runtime has stopped: publishes still awaiting Paho then
    /// return [`Error::Closed`](crate::error::Error::Closed) instead of waiting for a
    /// completion that may never come. Read or subscribe anywhere; set it only through
    /// [`Shared::end`], which also notifies `changes`.
    pub(crate) ended: watch::Sender<bool>,
    /// Notified when `link` or `ended` changes: what a publish waiting for its token
    /// listens to (one registration instead of a receiver of each).
    pub(crate) changes: Notify,
    /// Whether any `on_publish` handler is registered: without one, a completed publish
    /// is not reported to the driver at all (one thread wake-up less per publish).
    pub(crate) on_publish: bool,
    /// Application state shared with handlers (`Mqtt::insert_state`).
    pub(crate) state: States,
    /// Requests waiting for their replies (`Mqtt::request`).
    pub(crate) requests: Requests,
    /// The acknowledgements of QoS 1/2 messages owed to the broker.
    pub(crate) acks: Arc<Watermark>,
    /// What the watchdog knows of this client's dispatch (none for test clients).
    pub(crate) stalls: Option<Arc<dyn Stalls>>,
    /// Whether events may be dispatched: the app has registered its handlers' state
    /// (`Client::start_paused`, `Mqtt::ready`).
    pub(crate) ready: watch::Sender<bool>,
    /// What the client records for Prometheus; `None` with `MQTT_METRICS=false`.
    pub(crate) metrics: Option<Arc<ClientMetrics>>,
    /// What the broker last connected to accepts in a PUBLISH.
    pub(crate) limits: BrokerLimits,
}

impl Shared {
    /// `items` in the `kind` packets that carry them to the broker connected to (or
    /// last): at most [`SUBSCRIBE_CHUNK`] filters each, none larger than it takes
    /// ([`BrokerLimits::split_packets`]).
    pub(crate) fn split_packets<T>(
        &self,
        items: Vec<T>,
        filter: impl Fn(&T) -> &str,
        kind: FilterPacket,
    ) -> Packets<T> {
        let v5 = self.config.protocol_version() == ProtocolVersion::V5;
        self.limits
            .split_packets(items, filter, kind, v5, SUBSCRIBE_CHUNK)
    }

    /// [`Error::FilterLimit`](crate::error::Error::FilterLimit) when a `kind` packet of
    /// `filter` alone is larger than the broker connected to (or last) takes: not to be
    /// sent, the broker would close the connection (and the next connect would send it
    /// again).
    pub(crate) fn fits_alone(&self, filter: &str, kind: FilterPacket) -> Result<()> {
        let packets = self.split_packets(vec![filter], |f| f, kind);
        match packets.too_large.first() {
            Some((_, limit)) => Err(kind.too_large(filter, *limit)),
            None => Ok(()),
        }
    }

    /// A client's state, not connected yet, with the declared `topics` recorded.
    pub(crate) fn new(
        config: Config,
        uri: String,
        outbound: Box<dyn Outbound>,
        topics: BTreeMap<String, QoS>,
        input: mpsc::UnboundedSender<Input>,
        rt: tokio::runtime::Handle,
        on_publish: bool,
    ) -> Shared {
        Shared {
            requests: Requests::new(config.client_id()),
            metrics: config
                .metrics()
                .then(|| Arc::new(ClientMetrics::new(config.prefix()))),
            outbound,
            config,
            uri,
            declared: topics.keys().cloned().collect(),
            topics: Mutex::new(topics),
            owed: Mutex::default(),
            input,
            rt,
            closed: AtomicBool::new(false),
            health: Mutex::new(Health::new()),
            link: watch::Sender::new(false),
            ends: watch::Sender::new(0),
            unsent: AtomicUsize::new(0),
            ended: watch::Sender::new(false),
            changes: Notify::new(),
            on_publish,
            state: States::default(),
            acks: Watermark::detached(),
            stalls: None,
            ready: watch::Sender::new(true),
            limits: BrokerLimits::default(),
        }
    }

    /// The same, acknowledging messages through `acks`.
    pub(crate) fn acknowledging(mut self, acks: Arc<Watermark>) -> Shared {
        self.acks = acks;
        self
    }

    /// The same, for a broker known to accept packets of at most `max` bytes without
    /// announcing it (the embedded broker); `None`: only what the broker announces.
    pub(crate) fn max_packet_size(mut self, max: Option<u32>) -> Shared {
        self.limits = BrokerLimits::known(max.unwrap_or(0));
        self
    }

    /// The same, its dispatch watched by `stalls` (for [`Health`]).
    pub(crate) fn watched(mut self, stalls: Arc<dyn Stalls>) -> Shared {
        self.stalls = Some(stalls);
        self
    }

    /// The same, dispatching nothing until [`Mqtt::ready`](super::Mqtt::ready).
    pub(crate) fn paused(self) -> Shared {
        self.ready.send_replace(false);
        self
    }

    /// Whether one of the client's own subscriptions ([`Mqtt::topics`](super::Mqtt::topics):
    /// the handlers' filters, `Mqtt::subscribe`'s) covers `topic`; the subscription a
    /// request makes for its reply topic is not one of them.
    pub(crate) fn subscribes(&self, topic: &str) -> bool {
        let topics = lock(&self.topics);
        topics.contains_key(topic)
            || topics
                .keys()
                .any(|filter| TopicFilter::new(filter.as_str()).is_ok_and(|f| f.matches(topic)))
    }

    /// A broker connection ended (or the client stopped): what waits for an answer on it
    /// stops waiting.
    pub(crate) fn connection_ended(&self) {
        self.ends.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Moves to `state` (see [`Health::set`]), with `edit` applied to the health record
    /// under the same lock.
    pub(crate) fn set_state(&self, state: ConnectionState, edit: impl FnOnce(&mut Health)) {
        let mut h = lock(&self.health);
        edit(&mut h);
        h.set(state);
        let changed = self.link.send_if_modified(|up| {
            let now = state == ConnectionState::Connected;
            std::mem::replace(up, now) != now
        });
        if changed {
            self.changes.notify_waiters();
        }
    }

    /// The client's runtime has stopped: `ended` becomes `true`, and nothing is owed any
    /// more (its connection went with it). Messages that waited for the app have no slot
    /// whose drop settles them: left counted if the driver died (a panic) or its runtime
    /// was dropped before the stop left them to the broker (`Session::abandon_waiting`).
    pub(crate) fn end(&self) {
        self.acks.connection_ended();
        self.ended.send_replace(true);
        self.changes.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use crate::handle::outbound::fake::{client, Fake};
    use crate::qos::QoS;
    use crate::sync::lock;

    /// Messages waiting for the app when the client's runtime ends without a stop (the
    /// driver panicked, or its runtime was dropped) are owed no more: they have no slot
    /// whose drop settles them. Before, they stayed counted in
    /// `Mqtt::unacknowledged_messages()` for good.
    #[tokio::test]
    async fn the_clients_end_leaves_nothing_owed() {
        let mqtt = client(Fake::default());
        for id in 1..=3 {
            let token = paho_mqtt::AckToken::from_parts(id, paho_mqtt::QoS::AtLeastOnce, 4);
            mqtt.shared.acks.wait(token);
        }
        assert_eq!(mqtt.shared.acks.unacknowledged(), 3);
        mqtt.shared.end();
        assert_eq!(mqtt.shared.acks.unacknowledged(), 0);
    }

    /// What decides whether a message on a reply topic that is no reply goes to the
    /// handlers: a filter of the client's covers it, a shared one by its inner filter.
    #[tokio::test]
    async fn the_clients_own_subscriptions_cover_topics_by_their_filters() {
        let mqtt = client(Fake::default());
        let shared = &mqtt.shared;
        assert!(!shared.subscribes("flask-mqtt/replies/app-1"));
        for filter in ["svc/r", "flask-mqtt/replies/#", "$share/g/jobs/+"] {
            lock(&shared.topics).insert(filter.to_owned(), QoS::AtLeastOnce);
        }
        assert!(shared.subscribes("svc/r"));
        assert!(shared.subscribes("flask-mqtt/replies/app-1"));
        assert!(shared.subscribes("jobs/1"));
        assert!(!shared.subscribes("svc/r/more"));
        assert!(!shared.subscribes("jobs/1/more"));
    }
}
