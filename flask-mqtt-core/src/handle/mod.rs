//! [`Mqtt`]: the handle to a client that handlers and HTTP routes use.
//!
//! Everything a handle does goes through [`Shared`], the client's state that every
//! handle shares; the running client (`crate::client`) drives the connection behind it.

pub(crate) mod health;
pub(crate) mod input;
pub(crate) mod limits;
pub(crate) mod metrics;
pub(crate) mod outbound;
pub(crate) mod owed;
pub(crate) mod publish;
pub(crate) mod replies;
pub(crate) mod reply_topic;
pub(crate) mod request;
pub(crate) mod session;
pub(crate) mod shared;
pub(crate) mod state;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use flask_mqtt_topic::TopicFilter;
use futures::future::BoxFuture;
use tokio::sync::{oneshot, watch};

use self::health::{ConnectionState, Health};
use self::input::{Done, Input};
use self::limits::FilterPacket;
use self::shared::Shared;
use crate::error::{truncate, ConnectError, Error, PahoOp, PublishLimit, Result};
use crate::event::log::{to_log_facade, LogEntry, LogLevel, CLIENT_TARGET};
use crate::event::payloads::{Subscribed, Unsubscribed};
use crate::event::Event;
use crate::qos::QoS;
use crate::sync::lock;
use crate::visible::stderr_unless_logged;

/// A cheap-to-clone handle to the process's MQTT client: publish, subscribe, inspect.
///
/// Available as a handler argument in every `#[on_*]` handler and, with
/// `flask-mqtt-actix`, as an actix-web extractor.
#[derive(Clone)]
pub struct Mqtt {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Mqtt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mqtt")
            .field("client_id", &self.shared.config.client_id())
            .field("server_uri", &crate::error::shown_uri(&self.shared.uri))
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl Mqtt {
    /// Subscribes to `filter` and records it in [`Mqtt::topics`], so it is subscribed
    /// again after every reconnect. Subscribing to a recorded filter again replaces its
    /// QoS. While disconnected, the filter is recorded and subscribed at the next connect.
    ///
    /// Errors: [`Error::InvalidFilter`] (nothing recorded; also a filter of more than
    /// [`MAX_TOPIC_LEVELS`](flask_mqtt_topic::MAX_TOPIC_LEVELS) levels, whose SUBSCRIBE
    /// Mosquitto answers by closing the connection), [`Error::FilterLimit`] (a SUBSCRIBE
    /// of the filter alone would be larger than the Maximum Packet Size of the broker
    /// connected to, or last: nothing recorded, nothing sent), [`Error::SubscribeRejected`]
    /// (the broker refused; the record is removed, unless a handler declares the
    /// filter), [`Error::Closed`]; any other error
    /// means the SUBACK did not arrive now ([`Error::Unanswered`]: the connection ended,
    /// or the client was stopped, first); the filter stays recorded.
    pub async fn subscribe(&self, filter: &str, qos: QoS) -> Result<()> {
        let filter = TopicFilter::new(filter).map_err(|e| Error::invalid_filter(filter, e))?;
        self.ensure_open()?;
        self.shared
            .fits_alone(filter.as_str(), FilterPacket::Subscribe)?;
        lock(&self.shared.topics).insert(filter.as_str().to_owned(), qos);
        // Subscribed again: an UNSUBSCRIBE still owed to the broker would undo it.
        lock(&self.shared.owed).cancel(filter.as_str());
        if !self.shared.outbound.is_connected() {
            return Ok(());
        }
        // The caller has the refusal as an error.
        self.subscribe_now(vec![(filter.into_string(), qos)], Refusal::Returned)
            .await
    }

    /// Unsubscribes from `filter` and removes it from [`Mqtt::topics`] (and from
    /// [`Health::refused_subscriptions`]). A filter that is not recorded changes nothing
    /// else and sends nothing. [`Error::Unanswered`] when the connection ends, or the
    /// client is stopped, before the broker's answer (the filter stays removed).
    /// An UNSUBSCRIBE of the filter alone larger than the Maximum Packet Size of the
    /// broker connected to (a filter subscribed at a broker taking more, or declared by
    /// a handler) is not sent, the broker would close the connection; the filter stays
    /// removed (not subscribed again). With a clean session the broker holds nothing of
    /// it (its SUBSCRIBE is larger still: not sent on this connection either): `Ok`,
    /// said at debug level. With a persistent session the broker may hold it:
    /// [`Error::FilterLimit`], and it is owed as below.
    ///
    /// While disconnected it returns `Ok` at once, as [`Mqtt::subscribe`] does. With a
    /// persistent session (`MQTT_CLEAN_SESSION=false`) the broker keeps the subscription
    /// until told otherwise, so an UNSUBSCRIBE not answered (not sent while disconnected,
    /// or [`Error::Unanswered`], or [`Error::FilterLimit`]) is sent at the next connect
    /// that finds the session present (within that broker's Maximum Packet Size), before
    /// the filters are subscribed again; subscribing the filter again meanwhile cancels it.
    pub async fn unsubscribe(&self, filter: &str) -> Result<()> {
        let filter = TopicFilter::new(filter).map_err(|e| Error::invalid_filter(filter, e))?;
        self.ensure_open()?;
        lock(&self.shared.health)
            .refused_subscriptions
            .retain(|f| f != filter.as_str());
        if lock(&self.shared.topics).remove(filter.as_str()).is_none() {
            return Ok(());
        }
        self.unsubscribe_packets(vec![filter.into_string()]).await
    }

    /// Unsubscribes from every recorded filter, declared ones included, and empties
    /// [`Mqtt::topics`] and [`Health::refused_subscriptions`]; while disconnected, or
    /// unanswered, or too large for the broker, as [`Mqtt::unsubscribe`] says. The
    /// filters go in UNSUBSCRIBEs of at most 64 filters, each within the Maximum Packet
    /// Size of the broker connected to when its turn comes (as a connect sends them); a
    /// filter subscribed again while an earlier one awaited its answer is not
    /// unsubscribed. The first error (in the order met: a filter too large is met when
    /// the packet it would have been in is cut), once every filter was sent or owed.
    pub async fn unsubscribe_all(&self) -> Result<()> {
        self.ensure_open()?;
        lock(&self.shared.health).refused_subscriptions.clear();
        let filters: Vec<String> = std::mem::take(&mut *lock(&self.shared.topics))
            .into_keys()
            .collect();
        if filters.is_empty() {
            return Ok(());
        }
        self.unsubscribe_packets(filters).await
    }

    /// What is subscribed (declared `#[on_message]` filters and runtime subscriptions), with
    /// QoS, sorted by filter: exactly what is subscribed again after a reconnect.
    pub fn topics(&self) -> Vec<(String, QoS)> {
        lock(&self.shared.topics)
            .iter()
            .map(|(f, q)| (f.clone(), *q))
            .collect()
    }

    /// Whether the client is connected to the broker right now.
    pub fn is_connected(&self) -> bool {
        !self.shared.closed.load(Ordering::SeqCst) && self.shared.outbound.is_connected()
    }

    /// Why the last connection attempt failed, while the client is not connected.
    pub fn last_connect_error(&self) -> Option<ConnectError> {
        lock(&self.shared.health).last_error.clone()
    }

    /// The connection state, since when, the broker and the last connect error: what a
    /// readiness probe reports (see `flask_mqtt_actix::readiness`).
    pub fn health(&self) -> Health {
        let mut health = lock(&self.shared.health).clone();
        health.dispatch_stalled = self.shared.stalls.as_ref().and_then(|s| s.stalled_for());
        health
    }

    /// The MQTT client identifier in use.
    pub fn client_id(&self) -> &str {
        self.shared.config.client_id()
    }

    /// The broker's URI (`tcp://host:port`), as handed to Paho: a WebSocket URL's query
    /// is included as configured (a presigned URL's credentials, e.g. `X-Amz-Signature`),
    /// so do not log it; this handle's `Debug` shows the query's values as `***`.
    pub fn server_uri(&self) -> &str {
        &self.shared.uri
    }

    /// QoS 1/2 messages received on the current connection and not acknowledged yet,
    /// counted from the moment the client takes them from the connection: waiting for the
    /// app to be ready (a client started with
    /// [`Client::start_paused`](crate::Client::start_paused), before [`Mqtt::ready`]),
    /// queued for a handler, in a handler call, or held by an [`Ack`](crate::Ack). What
    /// the `mqtt_unacknowledged_messages` metric reports.
    /// Bounded by the broker's in-flight window (MQTT 5: the client's Receive Maximum).
    pub fn unacknowledged_messages(&self) -> usize {
        self.shared.acks.unacknowledged()
    }

    /// QoS 1/2 messages of the current connection released without an acknowledgement
    /// (an [`Ack`](crate::Ack) dropped without `ack()`, a `nack_on_error` handler that
    /// failed, a call dropped unfinished, a message left to the broker at a stop): each
    /// holds a place in the broker's in-flight window until the connection ends, and at
    /// the window's size the broker sends no more QoS 1/2 messages. 0 again with every
    /// new connection. What the `mqtt_released_messages` metric reports.
    pub fn released_messages(&self) -> usize {
        self.shared.acks.released()
    }

    /// Lets events reach handlers, for a client started with
    /// [`Client::start_paused`](crate::Client::start_paused): what arrived meanwhile is
    /// dispatched first, in order. Call it once the state the handlers need is
    /// registered; calling it again (or on a client not paused) does nothing.
    pub fn ready(&self) {
        if !self.shared.ready.send_replace(true) {
            let _ = self.shared.input.send(Input::Ready);
        }
    }

    /// Disconnects cleanly (DISCONNECT is sent, so the broker does not publish a last
    /// will), runs `on_disconnect` handlers and stops the client for good: later
    /// operations return [`Error::Closed`]. Calling it twice is harmless. It does not
    /// wait for publishes not yet sent or acknowledged (a warning says how many may be
    /// lost); a graceful shutdown (`Client::shutdown`, the actix server's stop) does. A
    /// connection attempt under way is waited for (up to its timeout, at most 5 s), so
    /// that a connection it makes gets its DISCONNECT too.
    pub async fn disconnect(&self) {
        let (tx, rx) = oneshot::channel();
        if self
            .shared
            .input
            .send(Input::Shutdown {
                done: Done::Async(tx),
                graceful: false,
            })
            .is_ok()
        {
            let _ = rx.await;
        }
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.set_state(ConnectionState::Closed, |_| {});
    }

    /// Makes `value` available to handlers (`FromEvent` extractors read it with
    /// [`Mqtt::state`]). One value per type; a second insert replaces the first, and it
    /// comes before a value of the same type that flask-mqtt-actix's `manage` shares.
    ///
    /// Call it at start-up, before messages flow: every insert (in any client) empties
    /// every thread's state cache once, so inserting per message makes every lookup take
    /// the lock. A replaced value may be kept alive by a thread's cache until that
    /// thread's next state lookup or its exit.
    pub fn insert_state<T: Send + Sync + 'static>(&self, value: Arc<T>) {
        self.shared.state.insert_own(value);
    }

    /// The state value of type `T`, if one was inserted (or shared by `manage`).
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.shared.state.get::<T>()
    }

    pub(crate) fn ensure_open(&self) -> Result<()> {
        if self.shared.closed.load(Ordering::SeqCst) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    pub(crate) fn emit(&self, event: Event) {
        let _ = self.shared.input.send(Input::Emit(event));
    }

    /// Logs to the `log` facade and to `on_log` handlers.
    pub(crate) fn emit_log(&self, level: LogLevel, message: String) {
        let entry = LogEntry::new(level, message);
        to_log_facade(&entry);
        let _ = self.shared.input.send(Input::Log(entry));
    }

    /// [`emit_log`](Mqtt::emit_log) for what a user must see: also on stderr when no
    /// logger shows it.
    pub(crate) fn emit_visible(&self, level: LogLevel, message: String) {
        stderr_unless_logged(CLIENT_TARGET, level.to_log(), &message);
        self.emit_log(level, message);
    }

    /// Subscribes every recorded filter again, on each connect, and the reply topics
    /// requests still wait on ([`Mqtt::resubscribe_replies`]); first, when the broker kept
    /// the session (`session_present`), unsubscribes what it may still hold that the
    /// client no longer wants, in UNSUBSCRIBEs of the same chunks ([`Mqtt::pay_owed`]: the user's filters
    /// owed one, the reply topics left in doubt). Each chunk of filters is read again when
    /// its turn comes: an `unsubscribe` or a QoS changed while an earlier chunk waited
    /// for its SUBACK is not undone, nor is a `subscribe` made while the owed UNSUBSCRIBE
    /// was being sent. The SUBSCRIBEs are cut as the UNSUBSCRIBEs are
    /// ([`Shared::split_packets`]); a filter too large for any packet the broker takes is
    /// not sent, said visibly and listed refused. A filter the broker refuses is reported as
    /// [`Mqtt::subscribe`] reports it, and visibly besides: its handler would otherwise
    /// never receive anything while the client is ready.
    /// Whether the broker answered every SUBSCRIBE (granted or refused): if not, the
    /// connection went (or Paho failed writing to it) and on_connect is not told.
    pub(crate) async fn resubscribe(&self, session_present: bool) -> bool {
        let before: Vec<(String, QoS)> = self.topics();
        let handled = |filter: &str| before.iter().any(|(f, _)| f == filter);
        if !self.pay_owed(session_present, handled).await {
            return false;
        }
        // Read once the owed UNSUBSCRIBE is sent: a filter subscribed while it was being
        // sent (its SUBSCRIBE may have gone first, and been undone) is subscribed again,
        // after it. A request registering a reply topic meanwhile needs nothing: the
        // UNSUBSCRIBE is sent under the requests' lock, its SUBSCRIBE goes after.
        let all: Vec<(String, QoS)> = self.topics();
        // What the broker answered: the filters as each chunk sent them, not `all`.
        let (mut granted, mut refused) = (0usize, 0usize);
        let packets = self
            .shared
            .split_packets(all.clone(), |(f, _)| f, FilterPacket::Subscribe);
        for ((filter, _), limit) in packets.too_large {
            // Listed refused as a broker's refusal is (the run-time ones within their
            // cap): its handler receives nothing from this broker.
            refused += 1;
            lock(&self.shared.health).list_refused(&filter, |f| self.shared.declared.contains(f));
            self.not_sent(FilterPacket::Subscribe, &filter, limit);
        }
        for chunk in &packets.chunks {
            // As they are now: the earlier chunks' SUBACKs took time.
            let current: Vec<(String, QoS)> = {
                let topics = lock(&self.shared.topics);
                chunk
                    .iter()
                    .filter_map(|(f, _)| topics.get(f).map(|q| (f.clone(), *q)))
                    .collect()
            };
            if current.is_empty() {
                continue;
            }
            match self
                .subscribe_answered(current.clone(), Refusal::Visible)
                .await
            {
                // A refusal is said per filter, where it was refused, and listed refused
                // until granted (the list keeps only the last few of run time's: counted
                // from the answer, not from it).
                Ok(no) => {
                    refused += no.len();
                    granted += current.len().saturating_sub(no.len());
                }
                // At a stop nothing is wrong: the stop cut the connect short.
                Err(e) if self.shared.closed.load(Ordering::SeqCst) => {
                    log::debug!(target: CLIENT_TARGET, "resubscribing: {e}");
                    return false;
                }
                // The connection went (a reconnect subscribes again) or Paho failed.
                Err(e) => {
                    self.emit_log(
                        LogLevel::Err,
                        format!("resubscribing failed: {e}; on_connect handlers are not told of this connection"),
                    );
                    return false;
                }
            }
        }
        if !self.resubscribe_replies(&all).await {
            return false;
        }
        if granted + refused > 0 {
            let refused = match refused {
                0 => String::new(),
                n => format!(", {n} refused"),
            };
            self.emit_log(
                LogLevel::Info,
                format!("subscribed to {granted} filter(s){refused}"),
            );
        }
        true
    }

    /// Says visibly that the `kind` of `filter`, over `limit`, is not sent at a connect:
    /// the broker would close the connection, and every reconnect would send it again.
    pub(super) fn not_sent(&self, kind: FilterPacket, filter: &str, limit: PublishLimit) {
        let e = kind.too_large(filter, limit);
        self.emit_visible(LogLevel::Err, format!("{e}; the other filters are sent"));
    }

    async fn subscribe_now(&self, subs: Vec<(String, QoS)>, refusal: Refusal) -> Result<()> {
        match self
            .subscribe_answered(subs, refusal)
            .await?
            .into_iter()
            .next()
        {
            Some(filter) => Err(Error::SubscribeRejected { filter }),
            None => Ok(()),
        }
    }

    /// Subscribes `subs` in one SUBSCRIBE: the filters the broker refused (each said as
    /// [`Mqtt::refused`] says it), in their order; an error if it did not answer.
    async fn subscribe_answered(
        &self,
        subs: Vec<(String, QoS)>,
        refusal: Refusal,
    ) -> Result<Vec<String>> {
        let (filters, qos): (Vec<String>, Vec<QoS>) = subs.iter().cloned().unzip();
        let first = subs.first().map_or("", |(f, _)| f.as_str());
        let ends = self.shared.ends.subscribe();
        let answer = self.shared.outbound.subscribe(filters, qos);
        let Some(answer) = self.answered(ends, answer).await else {
            return Err(Error::Unanswered {
                request: "SUBSCRIBE",
                filter: truncate(first),
                stopped: self.shared.closed.load(Ordering::SeqCst),
            });
        };
        let granted = match answer {
            Ok(granted) => granted,
            Err(e) => {
                // Paho C fails a SUBSCRIBE of one filter that the broker refused, instead
                // of answering with its code: 0x80 (MQTT 3.1.1) or the MQTT 5 reason code.
                let code = match &e {
                    paho_mqtt::Error::ReasonCode(rc, _) => *rc as i32,
                    _ => 0x80,
                };
                let e = Error::from_paho(e, PahoOp::Subscribe { filter: first });
                if !matches!(e, Error::SubscribeRejected { .. }) {
                    return Err(e);
                }
                vec![code; subs.len()]
            }
        };
        let mut rejected = Vec::new();
        for (i, (filter, qos)) in subs.iter().enumerate() {
            let code = granted.get(i).copied().unwrap_or(qos.as_u8() as i32);
            match u8::try_from(code).ok().and_then(QoS::from_u8) {
                Some(g) => {
                    log::info!(target: CLIENT_TARGET, "subscribed to `{filter}` (granted qos {g})");
                    lock(&self.shared.health)
                        .refused_subscriptions
                        .retain(|f| f != filter);
                    self.emit(Event::Subscribed(Subscribed {
                        filter: filter.clone(),
                        granted: g,
                    }));
                }
                None => {
                    self.refused(filter, code, refusal);
                    rejected.push(filter.clone());
                }
            }
        }
        Ok(rejected)
    }

    /// The broker refused `filter` with `code`: [`Health::refused_subscriptions`] lists it
    /// (until a connect subscribes it), and the log and `on_log` say so, on stderr too
    /// when `refusal` asks and no logger shows it; a connect refused a filter already
    /// listed says so at debug level only. A filter
    /// subscribed at run time is no longer recorded (not subscribed again at the next
    /// connect); a handler's filter stays recorded and is asked for again at each
    /// connect, since its handler would otherwise stay deaf until a restart.
    fn refused(&self, filter: &str, code: i32, refusal: Refusal) {
        if !self.shared.declared.contains(filter) {
            lock(&self.shared.topics).remove(filter);
        }
        let new =
            lock(&self.shared.health).list_refused(filter, |f| self.shared.declared.contains(f));
        let message = format!(
            "the broker refused the subscription to `{filter}` (code {code:#04x}): nothing is received on it"
        );
        match refusal {
            Refusal::Visible if new => self.emit_visible(LogLevel::Err, message),
            // Said already, and still listed in the health: not again at every connect.
            Refusal::Visible => log::debug!(target: CLIENT_TARGET, "{message} (again)"),
            Refusal::Returned => self.emit_log(LogLevel::Err, message),
        }
    }

    /// Sends the UNSUBSCRIBE of `filters` and waits for the broker's answer; unanswered,
    /// they are owed to the next connect ([`Mqtt::owe`]).
    async fn unsubscribe_sent(&self, filters: Vec<String>) -> Result<()> {
        let ends = self.shared.ends.subscribe();
        let answer = self.shared.outbound.unsubscribe(filters.clone());
        let Some(answer) = self.answered(ends, answer).await else {
            self.owe(&filters);
            return Err(Error::Unanswered {
                request: "UNSUBSCRIBE",
                filter: truncate(filters.first().map_or("", String::as_str)),
                stopped: self.shared.closed.load(Ordering::SeqCst),
            });
        };
        if let Err(e) = answer {
            if !Error::answered_by_broker(&e) {
                self.owe(&filters);
            }
            return Err(Error::from_paho(e, PahoOp::Unsubscribe));
        }
        for filter in filters {
            log::info!(target: CLIENT_TARGET, "unsubscribed from `{filter}`");
            self.emit(Event::Unsubscribed(Unsubscribed { filter }));
        }
        Ok(())
    }
}

impl Mqtt {
    /// The broker's `answer` to a SUBSCRIBE or UNSUBSCRIBE, or `None` once the connection
    /// ends (`ends`, taken before the request was handed to Paho, changes) or the client's
    /// runtime stops. Paho C fails what waits for an answer only when it cleans the
    /// session: with a persistent session it would wait for ever, answers of a connection
    /// that ended being never sent again.
    pub(crate) async fn answered<T>(
        &self,
        mut ends: watch::Receiver<u64>,
        answer: BoxFuture<'static, std::result::Result<T, paho_mqtt::Error>>,
    ) -> Option<std::result::Result<T, paho_mqtt::Error>> {
        let mut ended = self.shared.ended.subscribe();
        tokio::select! {
            biased;
            answer = answer => Some(answer),
            _ = ends.changed() => None,
            _ = ended.wait_for(|ended| *ended) => None,
        }
    }
}

/// Who must hear of a subscription the broker refused.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// The caller of [`Mqtt::subscribe`], from the error it gets.
    Returned,
    /// Nobody asked at that moment (a connect subscribing the recorded filters): a user
    /// must see it, with or without a logger.
    Visible,
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_packets;

/// Shares `value` with `client`'s handlers below the client's own state (what
/// flask-mqtt-actix's `manage` does for every client of the app). Not public API.
#[cfg(feature = "actix")]
#[doc(hidden)]
pub fn share_state<T: Send + Sync + 'static>(client: &Mqtt, value: Arc<T>) {
    client.shared.state.insert_shared(value);
}
