//! [`Publish`]: a message on its way to the broker, and its completion.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use flask_mqtt_topic::validate_topic_name;
use futures::FutureExt;
use tokio::sync::oneshot;
use tracing::{Instrument, Span};

use super::limits::PublishPacket;
use super::outbound::{Delivery, Refused};
use super::Mqtt;
use crate::error::{Error, PahoOp, Result};
use crate::event::log::CLIENT_TARGET;
use crate::event::payloads::Published;
use crate::event::Event;
use crate::message::properties::Properties;
use crate::metrics::families::PublishOutcome;
use crate::qos::QoS;
use crate::spans;

impl Mqtt {
    /// Publishes `payload` to `topic` at QoS 0, not retained; chain [`Publish::qos`] and
    /// [`Publish::retain`] to change that. Nothing is sent until the returned value is
    /// awaited; it resolves when the broker has the message at the requested QoS (QoS 0:
    /// when it was written to the network). While disconnected, messages are buffered up
    /// to `MQTT_MAX_BUFFERED_MESSAGES` and the future resolves after the reconnect, or
    /// fails with [`Error::PublishTimeout`] once the client has been disconnected for
    /// `MQTT_PUBLISH_TIMEOUT` (default 10 s) while it waited; the message then stays
    /// buffered and still goes out after the reconnect. See [`Publish::send`] for every
    /// error.
    ///
    /// ```no_run
    /// # async fn f(client: flask_mqtt_core::Mqtt) -> flask_mqtt_core::Result<()> {
    /// use flask_mqtt_core::QoS;
    /// client.publish("device/command", "on").await?;
    /// client.publish("device/state", "on").qos(QoS::AtLeastOnce).retain(true).await?;
    /// # Ok(()) }
    /// ```
    pub fn publish(&self, topic: impl Into<String>, payload: impl Into<Vec<u8>>) -> Publish {
        Publish::new(self.clone(), topic.into(), payload.into())
    }
}

/// A publish being prepared: set [`qos`](Publish::qos) and [`retain`](Publish::retain),
/// then `.await` it (it implements [`IntoFuture`]).
#[must_use = "a publish does nothing until it is awaited"]
#[derive(Debug)]
pub struct Publish {
    mqtt: Mqtt,
    topic: String,
    payload: Vec<u8>,
    qos: QoS,
    retain: bool,
    props: Properties,
}

impl Publish {
    pub(crate) fn new(mqtt: Mqtt, topic: String, payload: Vec<u8>) -> Self {
        Publish {
            mqtt,
            topic,
            payload,
            qos: QoS::AtMostOnce,
            retain: false,
            props: Properties::default(),
        }
    }

    /// The QoS to publish with (default: [`QoS::AtMostOnce`]).
    pub fn qos(mut self, qos: QoS) -> Self {
        self.qos = qos;
        self
    }

    /// Whether the broker keeps the message for later subscribers (default: `false`).
    pub fn retain(mut self, retain: bool) -> Self {
        self.retain = retain;
        self
    }

    /// MQTT 5 Correlation Data (for request/response), at most 65,535 bytes; a second
    /// call replaces the first. Ignored, with a debug log line, on an MQTT 3.1.1
    /// connection, which has no properties.
    pub fn correlation_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.props.set_correlation_data(data.into());
        self
    }

    /// MQTT 5 Content Type (e.g. `application/json`); a second call replaces the first;
    /// ignored on MQTT 3.1.1.
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.props.set_content_type(content_type.into());
        self
    }

    /// MQTT 5 Response Topic, where a responder should answer (a topic name, checked
    /// like the topic); a second call replaces the first; ignored on MQTT 3.1.1.
    pub fn response_topic(mut self, topic: impl Into<String>) -> Self {
        self.props.set_response_topic(topic.into());
        self
    }

    /// An MQTT 5 user property (may be repeated; the order is kept); ignored on MQTT
    /// 3.1.1.
    pub fn user_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.props.add_user(key.into(), value.into());
        self
    }

    /// Sends the message; the same as awaiting the `Publish`.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidTopic`] for an invalid topic or Response Topic (also one of
    ///   more than [`MAX_TOPIC_LEVELS`](flask_mqtt_topic::MAX_TOPIC_LEVELS) levels, for
    ///   which Mosquitto closes the connection: with a persistent session a QoS 1/2
    ///   publish would be sent again after every reconnect),
    ///   [`Error::InvalidProperty`] for a property MQTT cannot carry (a NUL character
    ///   in a string, a value over 65,535 bytes): nothing is sent.
    /// - [`Error::BufferFull`]: `MQTT_MAX_BUFFERED_MESSAGES` publishes are already
    ///   waiting to be sent (kept while disconnected, or queued while connected when
    ///   publishes come faster than the connection takes them); the message is not kept.
    /// - [`Error::PublishTimeout`]: the client was disconnected for the whole of
    ///   `MQTT_PUBLISH_TIMEOUT` (default 10 s) while the publish waited. The message
    ///   stays in the client's buffer and is sent after the reconnect (`on_publish`
    ///   handlers then run); the error only means its delivery was not confirmed in time.
    /// - [`Error::ConnectionLost`]: the connection broke before the broker acknowledged a
    ///   QoS 1/2 message on a clean session; it may or may not have arrived.
    /// - [`Error::Closed`]: the client was stopped before the message went out.
    ///
    /// So the wait is bounded while the broker is away: a web server stopping gracefully
    /// (SIGTERM), which waits for the HTTP requests in flight, waits at most
    /// `MQTT_PUBLISH_TIMEOUT` for those in a publish, then stops the client (at once
    /// while disconnected).
    pub fn send(self) -> impl Future<Output = Result<()>> + Send + 'static {
        // Nothing happens before the first poll (`lazy`), and the publish's fields and
        // its wait share the future's memory (`then` is an enum of the two): a future
        // half the size, which `IntoFuture` boxes from the allocator's per-thread cache.
        futures::future::lazy(move |_| self.start()).then(Started::finish)
    }

    /// The publish's span, and the message checked and handed over inside it.
    fn start(mut self) -> Started {
        let span = spans::publish(
            &self.topic,
            self.qos,
            self.retain,
            &self.mqtt.shared.config.prefix,
        );
        if self.mqtt.shared.outbound.carries_properties() {
            spans::inject(&span, &mut self.props);
        }
        let next = span.in_scope(|| self.hand_over());
        Started { span, next }
    }

    /// Checks the message and hands it to the outbound side.
    fn hand_over(self) -> Next {
        let Publish {
            mqtt,
            topic,
            payload,
            qos,
            retain,
            props,
        } = self;
        let checked = validate_topic_name(&topic)
            .map_err(|e| Error::invalid_topic(&topic, e))
            .and_then(|()| {
                props.validate()?;
                mqtt.ensure_open()
            });
        if let Err(e) = checked {
            count(&mqtt, qos, PublishOutcome::Error);
            return Next::Settled(Err(e));
        }
        let shared = &mqtt.shared;
        let v5 = shared.outbound.carries_properties();
        let paho_props = (v5 && props.len() > 0).then(|| props.to_paho());
        if !v5 && props.len() > 0 {
            log::debug!(
                target: CLIENT_TARGET,
                "MQTT 3.1.1 has no properties; {} ignored on the publish to `{topic}`",
                props.len()
            );
        }
        let packet = PublishPacket {
            topic_len: topic.len(),
            payload_len: payload.len(),
            properties_len: v5.then(|| paho_props.as_ref().map_or(1, |p| p.byte_len())),
            qos,
            retain,
        };
        if let Err(limit) = shared.limits.check(&packet) {
            count(&mqtt, qos, PublishOutcome::Error);
            return Next::Settled(Err(Error::BrokerLimit {
                topic: crate::error::truncate(&topic),
                limit,
            }));
        }
        log::debug!(target: CLIENT_TARGET, "handing a publish to `{topic}` (qos {qos}) to Paho");
        // The topic's one copy goes to Paho (errors read it back from the message): only
        // an `on_publish` handler needs one of its own.
        let published = shared.on_publish.then(|| Published {
            topic: topic.clone(),
            qos,
            retain,
        });
        let mut builder = paho_mqtt::MessageBuilder::new()
            .topic(topic)
            .payload(payload)
            .qos(qos.to_paho())
            .retained(retain);
        if let Some(p) = paho_props {
            builder = builder.properties(p);
        }
        let limit = shared.config.max_buffered_messages;
        let delivery = match shared.outbound.publish(builder.finalize()) {
            Ok(delivery) => delivery,
            Err(refused) => {
                count(&mqtt, qos, PublishOutcome::Error);
                let Refused { error, msg } = *refused;
                return Next::Settled(Err(Error::from_paho(
                    error,
                    PahoOp::Publish {
                        topic: msg.topic(),
                        limit,
                    },
                )));
            }
        };
        let token = match delivery {
            Delivery::Done => {
                count(&mqtt, qos, PublishOutcome::Ok);
                tell_on_publish(&mqtt, published);
                return Next::Settled(Ok(()));
            }
            Delivery::Pending(token) => token,
        };
        // The token is awaited right here (Paho's thread wakes this task directly); if the
        // caller stops waiting, `InFlight`'s drop hands the rest to the client's runtime,
        // so that `on_publish` still runs. A graceful shutdown waits for `unsent` to drain.
        shared.unsent.fetch_add(1, Ordering::SeqCst);
        let timeout = shared.config.publish_timeout();
        Next::Waiting {
            in_flight: InFlight {
                mqtt,
                qos,
                token: Some(token),
                published,
            },
            limit,
            timeout,
        }
    }
}

/// A publish after its first poll: settled, or waiting for its token.
struct Started {
    span: Span,
    next: Next,
}

/// What a publish does after its first poll.
enum Next {
    /// Nothing: it has its outcome.
    Settled(Result<()>),
    /// Waits for the token of its message.
    Waiting {
        in_flight: InFlight,
        /// `MQTT_MAX_BUFFERED_MESSAGES`, for the error.
        limit: usize,
        timeout: Duration,
    },
}

impl Started {
    /// The outcome, in the publish's span (works on `self` in place: a binding moved out
    /// of it would take room of its own in the future).
    async fn finish(mut self) -> Result<()> {
        let result = match &mut self.next {
            Next::Settled(result) => std::mem::replace(result, Ok(())),
            Next::Waiting {
                in_flight,
                limit,
                timeout,
            } => {
                let (limit, timeout) = (*limit, *timeout);
                match in_flight.wait(timeout).instrument(self.span.clone()).await {
                    Ok(()) => Ok(()),
                    Err(Wait::Failed(e, topic)) => Err(Error::from_paho(
                        e,
                        PahoOp::Publish {
                            topic: &topic,
                            limit,
                        },
                    )),
                    // Still on its way: counted when it settles (`InFlight`'s drop).
                    Err(Wait::Offline(topic)) => Err(Error::PublishTimeout { topic, timeout }),
                    Err(Wait::Ended) => Err(Error::Closed),
                }
            }
        };
        spans::publish_ended(&self.span, &result);
        result
    }
}

/// A publish the outbound side has accepted and not yet completed; counted in
/// `Shared::unsent`.
struct InFlight {
    mqtt: Mqtt,
    qos: QoS,
    /// `None` once the outcome is known (or handed to the client's runtime).
    token: Option<paho_mqtt::DeliveryToken>,
    /// What `on_publish` handlers are told; `None` without any.
    published: Option<Published>,
}

/// Why [`InFlight::wait`] returned without a delivery.
enum Wait {
    /// The outbound side reported an error (publishing to this topic).
    Failed(paho_mqtt::Error, String),
    /// The client stayed disconnected for the whole publish timeout (publishing to this
    /// topic).
    Offline(String),
    /// The client's runtime stopped first.
    Ended,
}

impl InFlight {
    /// Waits for the outcome, at most `timeout` at a time while the client is
    /// disconnected. After [`Wait::Offline`] the message is still on its way: `Drop`
    /// hands it to the client's runtime.
    async fn wait(&mut self, timeout: Duration) -> std::result::Result<(), Wait> {
        let shared = Arc::clone(&self.mqtt.shared);
        let Some(token) = self.token.as_mut() else {
            return Err(Wait::Ended);
        };
        let outcome = loop {
            // Made before the state is read: a change after this wakes it.
            let changed = shared.changes.notified();
            if *shared.ended.borrow() {
                break None;
            }
            // While disconnected, a timer on the client's runtime (the caller's runtime may
            // have no timers), abandoned when the connection comes back.
            let offline = (!*shared.link.borrow()).then(|| Timer::start(&shared.rt, timeout));
            tokio::select! {
                // The token first: polled again when Paho's thread wakes this task, it is
                // the one that is ready, and nothing else is polled then.
                biased;
                res = &mut *token => break Some(res),
                () = changed => {}
                () = Timer::fired(offline) => {
                    return Err(Wait::Offline(token.message().topic().to_owned()));
                }
            }
        };
        // Known, or nobody will settle it any more: either way `Drop` must not try.
        let Some(token) = self.token.take() else {
            return Err(Wait::Ended);
        };
        let Some(outcome) = outcome else {
            // Never sent: the client stopped first.
            count(&self.mqtt, self.qos, PublishOutcome::Error);
            return Err(Wait::Ended);
        };
        settle(&self.mqtt, self.qos, self.published.take(), &outcome);
        outcome.map_err(|e| Wait::Failed(e, token.message().topic().to_owned()))
    }
}

/// A timer running on the client's runtime, cancelled when dropped.
pub(super) struct Timer {
    fired: oneshot::Receiver<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Timer {
    pub(super) fn start(rt: &tokio::runtime::Handle, after: Duration) -> Timer {
        let (tx, fired) = oneshot::channel();
        let task = rt.spawn(async move {
            tokio::time::sleep(after).await;
            let _ = tx.send(());
        });
        Timer { fired, task }
    }

    /// Resolves when `timer` fires; never without one (or when its runtime is gone).
    pub(super) async fn fired(timer: Option<Timer>) {
        match timer {
            Some(mut t) => {
                if (&mut t.fired).await.is_err() {
                    futures::future::pending::<()>().await;
                }
            }
            None => futures::future::pending().await,
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // The caller stopped waiting: finish on the client's runtime (if it still runs).
        if let Some(token) = self.token.take() {
            let mqtt = self.mqtt.clone();
            let qos = self.qos;
            let published = self.published.take();
            drop(self.mqtt.shared.rt.spawn(async move {
                let outcome = token.await;
                settle(&mqtt, qos, published, &outcome);
            }));
        }
    }
}

/// Counts a publish as settled and, if it went out, tells `on_publish` handlers.
fn settle(
    mqtt: &Mqtt,
    qos: QoS,
    published: Option<Published>,
    outcome: &std::result::Result<(), paho_mqtt::Error>,
) {
    mqtt.shared.unsent.fetch_sub(1, Ordering::SeqCst);
    let counted = match outcome {
        Ok(()) => PublishOutcome::Ok,
        Err(_) => PublishOutcome::Error,
    };
    count(mqtt, qos, counted);
    if outcome.is_ok() {
        tell_on_publish(mqtt, published);
    }
}

/// Records how a publish ended in `mqtt_messages_published_total` (once per publish).
fn count(mqtt: &Mqtt, qos: QoS, outcome: PublishOutcome) {
    if let Some(metrics) = &mqtt.shared.metrics {
        metrics.published(qos, outcome);
    }
}

/// Hands a completed publish to the `on_publish` handlers, if there are any (then
/// `published` is `Some`).
fn tell_on_publish(mqtt: &Mqtt, published: Option<Published>) {
    if let Some(published) = published {
        mqtt.emit(Event::Published(published));
    }
}

impl IntoFuture for Publish {
    type Output = Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<()>> + Send + 'static>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handle::health::ConnectionState;
    use crate::handle::outbound::fake::{client, Connection, Fake, Publishes};

    /// Accepts every publish and never completes one: a broker that is not there.
    fn stuck_client() -> Mqtt {
        client(
            Fake::default()
                .connection(Connection::Down)
                .publishes(Publishes::Held),
        )
    }

    /// Disconnected: the publish fails after the timeout, and stays counted as unsent
    /// (it is still buffered, and goes out after a reconnect).
    #[tokio::test(start_paused = true)]
    async fn a_publish_gives_up_after_the_timeout_while_disconnected() {
        let mqtt = stuck_client();
        let timeout = mqtt.shared.config.publish_timeout();
        let started = tokio::time::Instant::now();
        let res = mqtt.publish("a/b", "x").qos(QoS::AtLeastOnce).await;
        match res {
            Err(Error::PublishTimeout { topic, timeout: t }) => {
                assert_eq!(topic, "a/b");
                assert_eq!(t, timeout);
            }
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() >= timeout);
        assert_eq!(mqtt.shared.unsent.load(Ordering::SeqCst), 1);
    }

    /// Connected, the wait has no limit (the broker sets the pace); a connection lost
    /// meanwhile starts the timeout then.
    #[tokio::test(start_paused = true)]
    async fn the_timeout_runs_only_while_disconnected() {
        let mqtt = stuck_client();
        let timeout = mqtt.shared.config.publish_timeout();
        mqtt.shared.set_state(ConnectionState::Connected, |_| {});
        let publish = tokio::spawn(mqtt.publish("a/b", "x").qos(QoS::AtLeastOnce).send());
        tokio::time::sleep(timeout * 3).await;
        assert!(!publish.is_finished(), "gave up while connected");
        let lost = tokio::time::Instant::now();
        mqtt.shared.set_state(ConnectionState::Reconnecting, |_| {});
        // Bounded: a publish the state change does not wake would otherwise hang the test.
        let res = tokio::time::timeout(timeout * 100, publish).await;
        assert!(
            matches!(res, Ok(Ok(Err(Error::PublishTimeout { .. })))),
            "{res:?}"
        );
        assert!(lost.elapsed() >= timeout);
    }

    /// A publish waiting for its token while connected returns `Closed` when the
    /// client's runtime ends (`Shared::end` wakes it; without the wake it would wait
    /// until the test's timeout).
    #[tokio::test(start_paused = true)]
    async fn the_clients_end_ends_a_waiting_publish() {
        let mqtt = stuck_client();
        mqtt.shared.set_state(ConnectionState::Connected, |_| {});
        let publish = tokio::spawn(mqtt.publish("a/b", "x").qos(QoS::AtLeastOnce).send());
        while mqtt.shared.unsent.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;
        mqtt.shared.end();
        let res = tokio::time::timeout(Duration::from_secs(3600), publish).await;
        assert!(matches!(res, Ok(Ok(Err(Error::Closed)))), "{res:?}");
    }

    /// A reconnect within the timeout cancels it; the next loss starts a new one.
    #[tokio::test(start_paused = true)]
    async fn a_reconnect_cancels_the_timeout() {
        let mqtt = stuck_client();
        let timeout = mqtt.shared.config.publish_timeout();
        let publish = tokio::spawn(mqtt.publish("a/b", "x").qos(QoS::AtLeastOnce).send());
        tokio::time::sleep(timeout / 2).await;
        mqtt.shared.set_state(ConnectionState::Connected, |_| {});
        tokio::time::sleep(timeout).await;
        assert!(!publish.is_finished(), "the first timer was not cancelled");
        mqtt.shared.set_state(ConnectionState::Reconnecting, |_| {});
        let res = tokio::time::timeout(timeout * 100, publish).await;
        assert!(
            matches!(res, Ok(Ok(Err(Error::PublishTimeout { .. })))),
            "{res:?}"
        );
    }

    /// A refusal names the topic whatever the error's shape (a bare
    /// `MaxBufferedMessages`, with no message inside, once gave `BufferFull { topic: "" }`).
    #[tokio::test]
    async fn a_refused_publish_names_its_topic() {
        let mqtt = client(Fake::default().publishes(Publishes::Refused));
        let res = mqtt.publish("a/b", "x").qos(QoS::AtLeastOnce).await;
        match res {
            Err(Error::BufferFull { topic, .. }) => assert_eq!(topic, "a/b"),
            other => panic!("{other:?}"),
        }
        assert_eq!(mqtt.shared.unsent.load(Ordering::SeqCst), 0);
    }

    /// Properties MQTT cannot carry are refused before anything reaches the outbound
    /// side (Paho's property builders panic on a NUL).
    #[tokio::test]
    async fn unsendable_properties_are_a_typed_error() {
        let mqtt = stuck_client();
        let res = mqtt.publish("a/b", "x").content_type("a\0b").await;
        assert!(
            matches!(
                res,
                Err(Error::InvalidProperty {
                    property: "Content Type",
                    ..
                })
            ),
            "{res:?}"
        );
        let res = mqtt.publish("a/b", "x").user_property("k", "\0").await;
        assert!(
            matches!(
                res,
                Err(Error::InvalidProperty {
                    property: "User Property value",
                    ..
                })
            ),
            "{res:?}"
        );
        let res = mqtt.publish("a/b", "x").response_topic("r/\0").await;
        assert!(matches!(res, Err(Error::InvalidTopic { .. })), "{res:?}");
        assert_eq!(mqtt.shared.unsent.load(Ordering::SeqCst), 0);
    }
}
