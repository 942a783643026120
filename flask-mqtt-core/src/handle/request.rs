//! [`Request`]: publish a request and await its reply (MQTT request/response), and
//! [`Requests`], the table the driver consults to hand replies to the requests waiting
//! for them instead of to handlers.
//!
//! MQTT 5: the request carries a Response Topic (the client's own reply topic, or the
//! one given to [`Request::reply_to`]) and a Correlation Data unique to it; the responder
//! copies both, and the reply is matched by them. MQTT 3.1.1 has neither property: the
//! caller names the reply topic, tells the responder by its own convention (payload,
//! topic scheme), and the first message (not retained) on that topic is the reply; one
//! request at a time per reply topic.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::time::Duration;

use flask_mqtt_topic::TopicName;
use tokio::sync::oneshot;

use super::publish::{Publish, Timer};
use super::replies::Key;
use super::shared::SUBSCRIBE_CHUNK;
use super::Mqtt;
use crate::error::{Error, PahoOp, Result};
use crate::event::log::CLIENT_TARGET;
use crate::message::Message;
use crate::qos::QoS;
use crate::sync::lock;

/// How long a request waits for its reply unless told otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The QoS of the reply topic subscriptions: replies are delivered at most at this QoS.
const REPLY_QOS: QoS = QoS::AtLeastOnce;

impl Mqtt {
    /// Publishes a request to `topic` and resolves with the reply [`Message`].
    ///
    /// On MQTT 5 the request carries a Response Topic (by default the client's own reply
    /// topic, `flask-mqtt/replies/<client id>`, subscribed at the first request of each
    /// connection, and again at a reconnect while requests wait on it) and a Correlation
    /// Data unique to it; a responder, such as a handler returning
    /// [`Reply`](crate::Reply), publishes its answer to that topic with that
    /// Correlation Data. Concurrent requests are told apart by it. Replies never reach
    /// `#[on_message]` handlers, also not a catch-all: a reply to one of the client's
    /// requests that no request waits for any more (it came after the timeout, or
    /// twice) is dropped with a debug line. Anything else on a reply topic is no reply
    /// (no Correlation Data, or another's, such as a late reply to a previous process
    /// with the same client id and a persistent session; a retained message, unless it
    /// carries the Correlation Data made for the request): it goes to the handlers when
    /// one of [`Mqtt::topics`] covers the topic (a handler's filter, also
    /// `flask-mqtt/replies/#` or `#`; a topic given to [`Request::reply_to`] may well
    /// be a handler's), and is dropped with a debug line otherwise (only the reply
    /// topic's subscription brought it).
    ///
    /// On MQTT 3.1.1, which has neither property, name the reply topic with
    /// [`Request::reply_to`] and tell the responder about it your own way (the payload,
    /// a topic convention); the first message on that topic is the reply (a retained
    /// message is not: the broker sends it because the request subscribed the topic, so
    /// it is older than the request; it goes where other messages that are no reply go,
    /// see above), and one request at a time may wait on it. The topic is subscribed
    /// while requests wait on it (unless it is one of [`Mqtt::topics`]) and messages on
    /// it go to handlers again afterwards.
    ///
    /// Nothing is sent until the `Request` is awaited. Dropping the future stops the
    /// wait: the request is forgotten, and a reply arriving later is dropped.
    ///
    /// ```no_run
    /// # async fn f(client: flask_mqtt_core::Mqtt) -> flask_mqtt_core::Result<()> {
    /// use std::time::Duration;
    /// use flask_mqtt_core::QoS;
    ///
    /// let reply = client
    ///     .request("rpc/sum", r#"{"a": 1, "b": 2}"#)
    ///     .qos(QoS::AtLeastOnce)
    ///     .timeout(Duration::from_secs(2))
    ///     .await?;
    /// assert_eq!(reply.payload(), b"3");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::NoReply`] when the timeout (default 10 s) passes first (it bounds the
    /// whole request: subscribing, publishing and waiting),
    /// [`Error::NotConnected`] when the client is not connected when the request starts
    /// (a request is not buffered: its reply could be lost), [`Error::Closed`] when the
    /// client is stopped before or while it waits; [`Error::ReplyTopicRequired`] and
    /// [`Error::ReplyTopicBusy`] on MQTT 3.1.1 (see above); [`Error::InvalidTopic`] for
    /// an invalid topic or reply topic; a subscription or publish error otherwise.
    pub fn request(&self, topic: impl Into<String>, payload: impl Into<Vec<u8>>) -> Request {
        Request {
            mqtt: self.clone(),
            topic: topic.into(),
            payload: payload.into(),
            qos: QoS::AtMostOnce,
            timeout: DEFAULT_REQUEST_TIMEOUT,
            reply_to: None,
            content_type: None,
        }
    }

    /// How many [`request`](Mqtt::request)s wait for their reply right now.
    pub fn pending_requests(&self) -> usize {
        self.shared.requests.pending()
    }
}

impl Mqtt {
    /// At a connect: subscribes the reply topics requests still wait on, except
    /// `handled` (the client's own filters, subscribed anyway). Their requests subscribed
    /// them on an earlier connection; a clean session lost that, and a waiting request
    /// does not subscribe again. Whether the broker answered (if not, the connection
    /// went: the next connect subscribes them). A refusal is logged, and the next
    /// request on the topic tries again.
    pub(super) async fn resubscribe_replies(&self, handled: &[(String, QoS)]) -> bool {
        let shared = &self.shared;
        let connection = lock(&shared.health).connects;
        loop {
            let ends = shared.ends.subscribe();
            let Some((topics, granted)) = shared.requests.subscribe_waited_on(
                connection,
                SUBSCRIBE_CHUNK,
                |topic| handled.iter().any(|(filter, _)| filter == topic),
                |topics| {
                    shared
                        .outbound
                        .subscribe(topics.to_vec(), vec![REPLY_QOS; topics.len()])
                },
            ) else {
                return true;
            };
            let codes = match self.answered(ends, granted).await {
                None => return false,
                Some(Ok(codes)) => codes,
                Some(Err(e)) => {
                    let first = topics.first().map_or("", String::as_str);
                    let e = Error::from_paho(e, PahoOp::Subscribe { filter: first });
                    log::warn!(target: CLIENT_TARGET, "subscribing again to the reply topics requests wait on failed: {e}");
                    Vec::new()
                }
            };
            for (i, topic) in topics.iter().enumerate() {
                let granted = codes
                    .get(i)
                    .and_then(|&code| u8::try_from(code).ok())
                    .and_then(QoS::from_u8);
                if granted.is_some() {
                    log::debug!(target: CLIENT_TARGET, "subscribed again to the reply topic `{topic}`: a request waits on it");
                } else {
                    shared.requests.subscribe_failed(topic, connection);
                    log::warn!(target: CLIENT_TARGET, "the reply topic `{topic}` could not be subscribed again: a request waiting on it may get no reply");
                }
            }
        }
    }
}

/// A request being prepared: set [`qos`](Request::qos), [`timeout`](Request::timeout),
/// [`reply_to`](Request::reply_to), then `.await` it (it implements [`IntoFuture`]).
#[must_use = "a request does nothing until it is awaited"]
#[derive(Debug)]
pub struct Request {
    mqtt: Mqtt,
    topic: String,
    payload: Vec<u8>,
    qos: QoS,
    timeout: Duration,
    reply_to: Option<String>,
    content_type: Option<String>,
}

impl Request {
    /// The QoS of the request message (default: [`QoS::AtMostOnce`]). The reply arrives
    /// at the QoS the responder chose, at most 1.
    pub fn qos(mut self, qos: QoS) -> Self {
        self.qos = qos;
        self
    }

    /// How long the whole request may take, from when it is awaited (default: 10 s):
    /// the reply topic's subscription, the publish and the wait for the reply all count,
    /// also across a reconnect; then it ends with [`Error::NoReply`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The topic the reply is expected on (a topic name, no wildcards): required on MQTT
    /// 3.1.1; on MQTT 5 it replaces the client's own reply topic (e.g. for a broker whose
    /// access rules allow only certain topics).
    pub fn reply_to(mut self, topic: impl Into<String>) -> Self {
        self.reply_to = Some(topic.into());
        self
    }

    /// MQTT 5 Content Type of the request (e.g. `application/json`); ignored on 3.1.1.
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Sends the request and waits for the reply; the same as awaiting the `Request`.
    pub async fn send(self) -> Result<Message> {
        let Request {
            mqtt,
            topic,
            payload,
            qos,
            timeout,
            reply_to,
            content_type,
        } = self;
        TopicName::new(topic.as_str()).map_err(|e| Error::invalid_topic(&topic, e))?;
        if let Some(reply_to) = &reply_to {
            TopicName::new(reply_to.as_str()).map_err(|e| Error::invalid_topic(reply_to, e))?;
        }
        mqtt.ensure_open()?;
        let v5 = mqtt.shared.outbound.carries_properties();
        let reply_topic = match (reply_to, v5) {
            (Some(t), _) => t,
            (None, true) => mqtt.shared.requests.own_topic().to_owned(),
            (None, false) => return Err(Error::ReplyTopicRequired { topic }),
        };
        if !mqtt.shared.outbound.is_connected() {
            return Err(Error::NotConnected);
        }
        let (key, reply) = mqtt.shared.requests.register(reply_topic, v5)?;
        let waiter = Waiter {
            mqtt: mqtt.clone(),
            key,
        };
        let mut publish = mqtt.publish(topic.clone(), payload).qos(qos);
        if let Some(correlation) = &waiter.key.correlation {
            publish = publish
                .response_topic(waiter.key.topic.clone())
                .correlation_data(correlation.clone());
        }
        if let Some(content_type) = content_type {
            publish = publish.content_type(content_type);
        }
        // One timer for the whole request, started once (on the client's runtime: the
        // caller's may have no timers): the subscription, the publish and the wait all
        // count, whatever the connection does meanwhile.
        let timer = Timer::fired(Some(Timer::start(&mqtt.shared.rt, timeout)));
        tokio::pin!(timer);
        let outcome = tokio::select! {
            outcome = exchange(&mqtt, &waiter, &topic, publish, reply) => outcome,
            () = &mut timer => Ok(Wait::TimedOut),
        };
        drop(waiter);
        match outcome? {
            Wait::Reply(msg) => Ok(msg),
            Wait::TimedOut => Err(Error::NoReply { topic, timeout }),
            Wait::Closed => Err(Error::Closed),
        }
    }
}

/// Subscribes to the reply topic, sends the request `publish` and waits for the reply
/// (or the client's stop); the caller bounds it all by the request's timeout.
async fn exchange(
    mqtt: &Mqtt,
    waiter: &Waiter,
    topic: &str,
    publish: Publish,
    reply: oneshot::Receiver<Message>,
) -> Result<Wait> {
    // A SUBSCRIBE or PUBLISH cut short by the client stopping (Paho fails it with
    // "operation incomplete" once `closed` is set) is the stop, not a broken link.
    let stopped = |e: Error| match mqtt.ensure_open() {
        Err(closed) => closed,
        Ok(()) => e,
    };
    waiter.ensure_subscribed().await.map_err(stopped)?;
    publish.await.map_err(stopped)?;
    log::debug!(
        target: CLIENT_TARGET,
        "request to `{topic}` sent; waiting for the reply on `{}`",
        waiter.key.topic
    );
    Ok(wait(mqtt, reply).await)
}

impl IntoFuture for Request {
    type Output = Result<Message>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Message>> + Send + 'static>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

enum Wait {
    Reply(Message),
    TimedOut,
    Closed,
}

/// Waits for the reply, or until the client is stopped (the caller bounds the wait by
/// the request's timeout).
async fn wait(mqtt: &Mqtt, mut reply: oneshot::Receiver<Message>) -> Wait {
    let shared = &mqtt.shared;
    let mut ended = shared.ended.subscribe();
    let mut link = shared.link.subscribe();
    loop {
        tokio::select! {
            msg = &mut reply => return msg.map_or(Wait::Closed, Wait::Reply),
            _ = ended.wait_for(|ended| *ended) => return Wait::Closed,
            changed = link.changed() => {
                if changed.is_err() || shared.closed.load(Ordering::SeqCst) {
                    return Wait::Closed;
                }
            }
        }
    }
}

/// One waiting request: registered in the table until dropped.
struct Waiter {
    mqtt: Mqtt,
    key: Key,
}

impl Waiter {
    /// Subscribes to the reply topic unless it is already subscribed on this connection
    /// (by an earlier request, or as one of the client's own topics). The SUBSCRIBE is
    /// queued before the request's PUBLISH, and brokers handle a connection's packets in
    /// order; the SUBACK is awaited all the same, to report a refusal.
    async fn ensure_subscribed(&self) -> Result<()> {
        let shared = &self.mqtt.shared;
        let topic = self.key.topic.as_str();
        let connection = lock(&shared.health).connects;
        if lock(&shared.topics).contains_key(topic) {
            return Ok(());
        }
        let Some(granted) = shared.requests.subscribe_once(topic, connection, || {
            shared
                .outbound
                .subscribe(vec![topic.to_owned()], vec![REPLY_QOS])
        }) else {
            return Ok(());
        };
        // Until the SUBACK says otherwise, not subscribed: also when the request's
        // timeout drops this future first (the next request then subscribes again).
        let mut unconfirmed = Unconfirmed {
            mqtt: &self.mqtt,
            topic,
            connection: Some(connection),
        };
        let refused = match granted.await {
            Ok(codes) => {
                let code = codes
                    .first()
                    .copied()
                    .unwrap_or(i32::from(REPLY_QOS.as_u8()));
                u8::try_from(code)
                    .ok()
                    .and_then(QoS::from_u8)
                    .is_none()
                    .then(|| Error::SubscribeRejected {
                        filter: topic.to_owned(),
                    })
            }
            Err(e) => Some(Error::from_paho(e, PahoOp::Subscribe { filter: topic })),
        };
        match refused {
            None => {
                unconfirmed.connection = None;
                log::debug!(target: CLIENT_TARGET, "subscribed to the reply topic `{topic}`");
                Ok(())
            }
            Some(e) => Err(e),
        }
    }
}

/// A reply topic's subscription on `connection` not confirmed (yet, or `None`: it is):
/// forgotten when dropped, so that the next request subscribes again.
struct Unconfirmed<'a> {
    mqtt: &'a Mqtt,
    topic: &'a str,
    connection: Option<u64>,
}

impl Drop for Unconfirmed<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection {
            self.mqtt
                .shared
                .requests
                .subscribe_failed(self.topic, connection);
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let shared = &self.mqtt.shared;
        // A topic the caller named and no request waits on any more goes back to the
        // handlers: unsubscribed, unless it is also one of the client's own topics.
        let unsubscribed = shared.requests.unregister(&self.key, |topic| {
            (!lock(&shared.topics).contains_key(topic))
                .then(|| shared.outbound.unsubscribe(vec![topic.to_owned()]))
        });
        if let Some(unsubscribed) = unsubscribed.flatten() {
            let topic = self.key.topic.clone();
            drop(shared.rt.spawn(async move {
                if let Err(e) = unsubscribed.await {
                    log::debug!(target: CLIENT_TARGET, "unsubscribing from the reply topic `{topic}` failed: {e}");
                }
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::Notify;

    use super::*;
    use crate::handle::health::ConnectionState;
    use crate::handle::outbound::fake::{client, Fake, Subacks};

    /// The deadline of these tests: far past the requests' timeout.
    const DEADLINE: Duration = Duration::from_secs(10);
    const TIMEOUT: Duration = Duration::from_millis(300);

    /// The connection dropping and coming back while a request waits does not make it
    /// forget its timeout: it still ends with `NoReply`, and is no longer pending.
    #[tokio::test]
    async fn a_request_times_out_across_a_reconnect() {
        let mqtt = client(Fake::default());
        mqtt.shared.set_state(ConnectionState::Connected, |_| {});
        let waiting = tokio::spawn({
            let mqtt = mqtt.clone();
            async move { mqtt.request("a/b", "?").timeout(TIMEOUT).await }
        });
        while mqtt.pending_requests() == 0 {
            tokio::task::yield_now().await;
        }
        mqtt.shared.set_state(ConnectionState::Reconnecting, |_| {});
        tokio::task::yield_now().await;
        mqtt.shared.set_state(ConnectionState::Connected, |_| {});
        let res = tokio::time::timeout(DEADLINE, waiting).await;
        assert!(
            matches!(res, Ok(Ok(Err(Error::NoReply { .. })))),
            "{res:?}; pending: {}",
            mqtt.pending_requests()
        );
        assert_eq!(mqtt.pending_requests(), 0);
    }

    /// A clean session loses the reply topic's subscription with the connection: a
    /// request still waiting has it made again on the next one (the connect's
    /// resubscription), and its reply, answered after the reconnect, arrives.
    #[tokio::test]
    async fn a_request_waiting_across_a_reconnect_subscribes_its_reply_topic_again() {
        let fake = Fake::default();
        let sent = fake.sent();
        let mqtt = client(fake);
        mqtt.shared
            .set_state(ConnectionState::Connected, |h| h.connects += 1);
        let waiting = tokio::spawn({
            let mqtt = mqtt.clone();
            async move { mqtt.request("a/b", "?").timeout(DEADLINE).await }
        });
        while lock(&sent).published.is_empty() {
            tokio::task::yield_now().await;
        }
        let own = mqtt.shared.requests.own_topic().to_owned();
        assert_eq!(lock(&sent).subscribed, std::slice::from_ref(&own));
        mqtt.shared.set_state(ConnectionState::Reconnecting, |_| {});
        mqtt.shared
            .set_state(ConnectionState::Connected, |h| h.connects += 1);
        // What the driver does at each connect.
        assert!(mqtt.resubscribe().await);
        assert_eq!(
            lock(&sent).subscribed,
            [own.clone(), own.clone()],
            "the reply topic must be subscribed on the new connection"
        );
        // The responder answers after the reconnect.
        let correlation = lock(&sent).published[0]
            .properties()
            .get_binary(paho_mqtt::PropertyCode::CorrelationData);
        let mut props = paho_mqtt::Properties::new();
        props
            .push_binary(
                paho_mqtt::PropertyCode::CorrelationData,
                correlation.unwrap(),
            )
            .unwrap();
        let reply = paho_mqtt::MessageBuilder::new()
            .topic(own)
            .payload("answer")
            .properties(props)
            .finalize();
        assert!(mqtt.shared.requests.route(reply, |_| false).is_none());
        let res = tokio::time::timeout(DEADLINE, waiting).await;
        assert!(
            matches!(&res, Ok(Ok(Ok(m))) if m.payload() == b"answer"),
            "{res:?}"
        );
        assert_eq!(mqtt.pending_requests(), 0);
    }

    /// The timeout also bounds the reply topic's subscription: a SUBACK that never
    /// comes ends the request with `NoReply`, and the next request subscribes again.
    #[tokio::test]
    async fn a_request_whose_subscription_never_completes_times_out() {
        let mqtt = client(Fake::default().subacks(Subacks::Never));
        mqtt.shared.set_state(ConnectionState::Connected, |_| {});
        let res = tokio::time::timeout(
            DEADLINE,
            mqtt.request("a/b", "?").timeout(TIMEOUT).into_future(),
        )
        .await;
        assert!(matches!(res, Ok(Err(Error::NoReply { .. }))), "{res:?}");
        assert_eq!(mqtt.pending_requests(), 0);
        let topic = mqtt.shared.requests.own_topic().to_owned();
        let connection = lock(&mqtt.shared.health).connects;
        let (key, _rx) = mqtt.shared.requests.register(topic.clone(), true).unwrap();
        assert_eq!(
            mqtt.shared
                .requests
                .subscribe_once(&topic, connection, || ()),
            Some(()),
            "the unconfirmed subscription must be tried again"
        );
        mqtt.shared.requests.unregister(&key, |_| ());
    }

    /// A request whose reply-topic SUBSCRIBE is cut short by the client stopping ends
    /// with `Error::Closed`, as documented, not with Paho's error.
    #[tokio::test]
    async fn a_request_cut_short_by_the_stop_is_closed() {
        let cut = Arc::new(Notify::new());
        let mqtt = client(Fake::default().subacks(Subacks::CutShortBy(Arc::clone(&cut))));
        let waiting = tokio::spawn({
            let mqtt = mqtt.clone();
            async move { mqtt.request("a/b", "?").await }
        });
        while mqtt.pending_requests() == 0 {
            tokio::task::yield_now().await;
        }
        // The stop: `closed` first, then Paho fails what was in flight.
        mqtt.shared.closed.store(true, Ordering::SeqCst);
        cut.notify_one();
        let res = waiting.await.map_err(|e| e.to_string());
        assert!(matches!(res, Ok(Err(Error::Closed))), "{res:?}");
    }
}
