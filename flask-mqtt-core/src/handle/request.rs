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
use super::replies::Answer;
use super::reply_topic::Waiter;
use super::Mqtt;
use crate::error::{Error, Result};
use crate::event::log::CLIENT_TARGET;
use crate::message::Message;
use crate::qos::QoS;

/// How long a request waits for its reply unless told otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl Mqtt {
    /// Publishes a request to `topic` and resolves with the reply [`Message`].
    ///
    /// On MQTT 5 the request carries a Response Topic (by default the client's own reply
    /// topic, `flask-mqtt/replies/<client id>`, subscribed at the first request of each
    /// connection, and again at a reconnect while requests wait on it; when the client id
    /// cannot be a topic level, because it has a `/`, `+` or `#`, or is too long for a
    /// topic name, 16 hex digits of a hash of it replace it, the same in every process;
    /// for an empty client id, 16 random ones) and a Correlation Data
    /// unique to it; a responder, such as a handler returning
    /// [`Reply`](crate::Reply), publishes its answer to that topic with that
    /// Correlation Data. Concurrent requests are told apart by it. Replies never reach
    /// `#[on_message]` handlers, also not a catch-all: a reply to one of the client's
    /// requests that no request waits for any more (it came after the timeout, or
    /// twice; also once its topic is no reply topic any more, whatever Response Topic it
    /// carries: the Correlation Data names the reply topic it was made for, so a request
    /// of the client's own, received by a handler on the topic it was sent to, is not
    /// taken for one) is dropped with a debug line. Anything else on a reply topic is no reply
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
    /// it go to handlers again afterwards, once its UNSUBSCRIBE is answered (until then
    /// the subscription may still bring messages, no reply, as above): also when the
    /// last request ends before the broker has confirmed the subscription, which is
    /// then undone once confirmed. With a persistent session, one whose SUBSCRIBE or
    /// UNSUBSCRIBE was unanswered when its connection ended is unsubscribed at the next
    /// connect, if the broker kept the session and no request waits on it.
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
    /// an invalid topic or reply topic; [`Error::FilterLimit`], before anything is sent,
    /// when a SUBSCRIBE of the reply topic would be larger than the broker's Maximum
    /// Packet Size (the broker would close the connection); [`Error::SubscribeRejected`] when the broker
    /// refuses the reply topic's subscription (to every request waiting on it, also
    /// when a reconnect subscribes it again); a subscription or publish error
    /// otherwise.
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
    reply: oneshot::Receiver<Answer>,
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
    wait(mqtt, reply).await
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

/// Waits for the reply (or the refusal of the reply topic's subscription at a
/// reconnect), or until the client is stopped (the caller bounds the wait by the
/// request's timeout).
async fn wait(mqtt: &Mqtt, mut reply: oneshot::Receiver<Answer>) -> Result<Wait> {
    let shared = &mqtt.shared;
    let mut ended = shared.ended.subscribe();
    let mut link = shared.link.subscribe();
    loop {
        tokio::select! {
            answer = &mut reply => return answer.map_or(Ok(Wait::Closed), |a| a.map(Wait::Reply)),
            _ = ended.wait_for(|ended| *ended) => return Ok(Wait::Closed),
            changed = link.changed() => {
                if changed.is_err() || shared.closed.load(Ordering::SeqCst) {
                    return Ok(Wait::Closed);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::Notify;

    use super::*;
    use crate::handle::health::ConnectionState;
    use crate::handle::outbound::fake::{client, connected_with_request, Fake, Subacks};
    use crate::handle::replies::Subscribing;
    use crate::sync::lock;

    /// The deadline of these tests: far past the requests' timeout.
    const DEADLINE: Duration = Duration::from_secs(10);
    const TIMEOUT: Duration = Duration::from_millis(300);

    /// The connection dropping and coming back while a request waits does not make it
    /// forget its timeout: it still ends with `NoReply`, and is no longer pending.
    #[tokio::test]
    async fn a_request_times_out_across_a_reconnect() {
        let (mqtt, waiting) = connected_with_request(Fake::default(), None, TIMEOUT);
        tokio::time::timeout(DEADLINE, async {
            while mqtt.pending_requests() == 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the request is pending");
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
        let (mqtt, waiting) = connected_with_request(fake, None, DEADLINE);
        tokio::time::timeout(DEADLINE, async {
            while lock(&sent).published.is_empty() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the request is published");
        let own = mqtt.shared.requests.own_topic().to_owned();
        assert_eq!(lock(&sent).subscribed, std::slice::from_ref(&own));
        mqtt.shared.set_state(ConnectionState::Reconnecting, |_| {});
        mqtt.shared
            .set_state(ConnectionState::Connected, |h| h.connects += 1);
        // What the driver does at each connect.
        assert!(mqtt.resubscribe(false).await);
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
        assert!(
            matches!(
                mqtt.shared
                    .requests
                    .subscribe_once(&topic, connection, || ()),
                Subscribing::Wait(_)
            ),
            "the unanswered subscription must be awaited by the next request"
        );
        mqtt.shared.requests.unregister(&key, 1, |_| ());
    }

    /// Waits (up to the deadline) until `done` holds.
    async fn until(mut done: impl FnMut() -> bool) -> bool {
        tokio::time::timeout(DEADLINE, async {
            while !done() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .is_ok()
    }

    /// A request that ends (here: its timeout) before the broker answers its reply
    /// topic's SUBSCRIBE: once the broker grants it, nobody waits on the topic any more,
    /// and it is unsubscribed, as after a request that got its reply. The own reply
    /// topic, which stays subscribed by design, is not.
    #[tokio::test]
    async fn a_reply_topic_granted_after_its_last_request_ended_is_unsubscribed() {
        let answer = Arc::new(Notify::new());
        let fake = Fake::default().subacks(Subacks::AnsweredOn(Arc::clone(&answer), 1));
        let sent = fake.sent();
        let mqtt = client(fake);
        mqtt.shared.set_state(ConnectionState::Connected, |_| {});
        let res = tokio::time::timeout(
            DEADLINE,
            mqtt.request("a/b", "?")
                .reply_to("svc/replies")
                .timeout(TIMEOUT)
                .into_future(),
        )
        .await;
        assert!(matches!(res, Ok(Err(Error::NoReply { .. }))), "{res:?}");
        assert!(lock(&sent).unsubscribed.is_empty());
        answer.notify_one();
        assert!(
            until(|| !lock(&sent).unsubscribed.is_empty()).await,
            "the reply topic granted after its request ended stays subscribed"
        );
        assert_eq!(lock(&sent).unsubscribed, ["svc/replies"]);
        // A new request on it subscribes again.
        let _ = mqtt
            .request("a/b", "?")
            .reply_to("svc/replies")
            .timeout(TIMEOUT)
            .await;
        assert_eq!(lock(&sent).subscribed, ["svc/replies", "svc/replies"]);

        // The own reply topic: kept.
        let res = mqtt.request("a/b", "?").timeout(TIMEOUT).await;
        assert!(matches!(res, Err(Error::NoReply { .. })), "{res:?}");
        // Both SUBSCRIBEs still waiting are answered now.
        answer.notify_waiters();
        let own = mqtt.shared.requests.own_topic().to_owned();
        let connection = lock(&mqtt.shared.health).connects;
        assert!(
            until(|| matches!(
                mqtt.shared.requests.subscribe_once(&own, connection, || ()),
                Subscribing::Done
            ))
            .await,
            "the own reply topic's grant must be recorded"
        );
        assert!(!lock(&sent).unsubscribed.contains(&own));
    }

    /// Two requests on one reply topic while its SUBSCRIBE awaits the broker's answer:
    /// when the broker refuses it, both fail with the refusal at once, the second too
    /// (it does not wait its whole timeout for a reply that cannot come).
    #[tokio::test]
    async fn every_request_waiting_on_a_refused_reply_topic_gets_the_refusal() {
        let answer = Arc::new(Notify::new());
        let fake = Fake::default().subacks(Subacks::AnsweredOn(Arc::clone(&answer), 0x80));
        let sent = fake.sent();
        let mqtt = client(fake);
        mqtt.shared.set_state(ConnectionState::Connected, |_| {});
        let ask = || {
            let mqtt = mqtt.clone();
            tokio::spawn(async move {
                mqtt.request("a/b", "?")
                    .reply_to("svc/replies")
                    .timeout(DEADLINE)
                    .await
            })
        };
        let first = ask();
        tokio::time::timeout(DEADLINE, async {
            while lock(&sent).subscribed.is_empty() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the first request's reply-topic SUBSCRIBE is sent");
        let second = ask();
        tokio::time::timeout(DEADLINE, async {
            while mqtt.pending_requests() < 2 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("both requests are pending");
        answer.notify_one();
        for waiting in [first, second] {
            let res = tokio::time::timeout(DEADLINE / 2, waiting).await;
            assert!(
                matches!(&res, Ok(Ok(Err(Error::SubscribeRejected { filter }))) if filter == "svc/replies"),
                "{res:?}"
            );
        }
        assert_eq!(lock(&sent).subscribed, ["svc/replies"]);
        assert!(lock(&sent).published.is_empty());
        assert_eq!(mqtt.pending_requests(), 0);
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
        tokio::time::timeout(DEADLINE, async {
            while mqtt.pending_requests() == 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the request is pending");
        // The stop: `closed` first, then Paho fails what was in flight.
        mqtt.shared.closed.store(true, Ordering::SeqCst);
        cut.notify_one();
        let res = waiting.await.map_err(|e| e.to_string());
        assert!(matches!(res, Ok(Err(Error::Closed))), "{res:?}");
    }
}
