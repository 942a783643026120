//! [`Mqtt`], the handle handlers and HTTP routes use, and [`Publish`].

use std::any::TypeId;
use std::collections::{BTreeMap, HashMap};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use flask_mqtt_topic::{TopicFilter, TopicName};
use tokio::sync::{mpsc, oneshot};

use super::{ConnectionState, Done, Health, Input, Shared, SUBSCRIBE_CHUNK};
use crate::extract::{Event, Published, Subscribed, Unsubscribed};
use crate::log::{to_log_facade, LogEntry, LogLevel};
use crate::sync::lock;
use crate::{Config, ConnectError, Error, Message, QoS, Result};

/// A cheap-to-clone handle to the process's MQTT client: publish, subscribe, inspect.
///
/// Available as a handler argument in every `#[on_*]` handler and, with
/// `flask-mqtt-actix`, as an actix-web extractor.
#[derive(Clone)]
pub struct Mqtt {
    pub(super) shared: Arc<Shared>,
}

impl std::fmt::Debug for Mqtt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mqtt")
            .field("client_id", &self.shared.config.client_id())
            .field("server_uri", &self.shared.uri)
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl Mqtt {
    /// Publishes `payload` to `topic` at QoS 0, not retained; chain [`Publish::qos`] and
    /// [`Publish::retain`] to change that. Nothing is sent until the returned value is
    /// awaited; it resolves when the broker has the message at the requested QoS (QoS 0:
    /// when it was written to the network). While disconnected, messages are buffered up
    /// to `MQTT_MAX_BUFFERED_MESSAGES` and the future resolves after the reconnect.
    ///
    /// ```no_run
    /// # async fn f(client: flask_mqtt_core::Mqtt) -> flask_mqtt_core::Result<()> {
    /// use flask_mqtt_core::QoS;
    /// client.publish("device/command", "on").await?;
    /// client.publish("device/state", "on").qos(QoS::AtLeastOnce).retain(true).await?;
    /// # Ok(()) }
    /// ```
    pub fn publish(&self, topic: impl Into<String>, payload: impl Into<Vec<u8>>) -> Publish {
        Publish {
            mqtt: self.clone(),
            topic: topic.into(),
            payload: payload.into(),
            qos: QoS::AtMostOnce,
            retain: false,
            props: Vec::new(),
        }
    }

    /// Subscribes to `filter` and records it in [`Mqtt::topics`], so it is subscribed
    /// again after every reconnect. Subscribing to a recorded filter again replaces its
    /// QoS. While disconnected, the filter is recorded and subscribed at the next connect.
    ///
    /// Errors: [`Error::InvalidFilter`] (nothing recorded), [`Error::SubscribeRejected`]
    /// (the broker refused; the record is removed), [`Error::Closed`]; any other error
    /// means the SUBACK did not arrive now; the filter stays recorded.
    pub async fn subscribe(&self, filter: &str, qos: QoS) -> Result<()> {
        let filter = TopicFilter::new(filter).map_err(|e| Error::invalid_filter(filter, e))?;
        self.ensure_open()?;
        lock(&self.shared.topics).insert(filter.as_str().to_owned(), qos);
        if !self.shared.paho.is_connected() {
            return Ok(());
        }
        self.subscribe_now(vec![(filter.into_string(), qos)]).await
    }

    /// Unsubscribes from `filter` and removes it from [`Mqtt::topics`]. A filter that is
    /// not recorded changes nothing and sends nothing.
    pub async fn unsubscribe(&self, filter: &str) -> Result<()> {
        let filter = TopicFilter::new(filter).map_err(|e| Error::invalid_filter(filter, e))?;
        self.ensure_open()?;
        if lock(&self.shared.topics).remove(filter.as_str()).is_none() {
            return Ok(());
        }
        self.unsubscribe_now(vec![filter.into_string()]).await
    }

    /// Unsubscribes from every recorded filter, declared ones included, and empties
    /// [`Mqtt::topics`].
    pub async fn unsubscribe_all(&self) -> Result<()> {
        self.ensure_open()?;
        let filters: Vec<String> = std::mem::take(&mut *lock(&self.shared.topics))
            .into_keys()
            .collect();
        if filters.is_empty() {
            return Ok(());
        }
        self.unsubscribe_now(filters).await
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
        !self.shared.closed.load(Ordering::SeqCst)
            && (self.shared.tap.is_some() || self.shared.paho.is_connected())
    }

    /// Why the last connection attempt failed, while the client is not connected.
    pub fn last_connect_error(&self) -> Option<ConnectError> {
        lock(&self.shared.health).last_error.clone()
    }

    /// The connection state, since when, the broker and the last connect error: what a
    /// readiness probe reports (see `flask_mqtt_actix::readiness`).
    pub fn health(&self) -> Health {
        let mut h = lock(&self.shared.health).clone();
        if self.shared.tap.is_some() && !self.shared.closed.load(Ordering::SeqCst) {
            // A detached (test) handle reports itself connected.
            h.state = ConnectionState::Connected;
        }
        h
    }

    /// The MQTT client identifier in use.
    pub fn client_id(&self) -> &str {
        self.shared.config.client_id()
    }

    /// The broker's URI (`tcp://host:port`).
    pub fn server_uri(&self) -> &str {
        &self.shared.uri
    }

    /// Disconnects cleanly (DISCONNECT is sent, so the broker does not publish a last
    /// will), runs `on_disconnect` handlers and stops the client for good: later
    /// operations return [`Error::Closed`]. Calling it twice is harmless.
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
        lock(&self.shared.health).set(ConnectionState::Closed);
    }

    /// Makes `value` available to handlers (`FromEvent` extractors read it with
    /// [`Mqtt::state`]). One value per type; a second insert replaces the first.
    pub fn insert_state<T: Send + Sync + 'static>(&self, value: Arc<T>) {
        lock(&self.shared.state).insert(TypeId::of::<T>(), value);
    }

    /// The state value of type `T`, if one was inserted.
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let any = lock(&self.shared.state).get(&TypeId::of::<T>())?.clone();
        any.downcast::<T>().ok()
    }

    /// A handle that never connects, for testing handlers without a broker: it reports
    /// itself connected, records publishes (read them with [`Mqtt::take_published`])
    /// and keeps subscription bookkeeping. Must be called inside a Tokio runtime.
    pub(crate) fn detached(config: Config) -> Result<Mqtt> {
        let create = paho_mqtt::CreateOptionsBuilder::new()
            .server_uri("tcp://127.0.0.1:1")
            .client_id(config.client_id())
            .persistence(None)
            .finalize();
        let paho = paho_mqtt::AsyncClient::new(create).map_err(Error::Paho)?;
        // Nobody drives a detached handle: events it emits are discarded.
        let (input, _) = mpsc::unbounded_channel();
        let rt = tokio::runtime::Handle::try_current().map_err(|e| {
            Error::Runtime(std::io::Error::other(format!(
                "a detached client needs a Tokio runtime: {e}"
            )))
        })?;
        Ok(Mqtt {
            shared: Arc::new(Shared {
                paho,
                uri: "detached".to_owned(),
                topics: Mutex::new(BTreeMap::new()),
                input,
                rt,
                closed: AtomicBool::new(false),
                health: Mutex::new(Health::new()),
                unsent: AtomicUsize::new(0),
                ended: tokio::sync::watch::Sender::new(false),
                on_publish: false,
                state: Mutex::new(HashMap::new()),
                tap: Some(Mutex::new(Vec::new())),
                first_outcome: Mutex::new(None),
                config,
            }),
        })
    }

    /// What a detached handle's `publish` recorded since the last call, oldest first.
    /// Always empty for a real client.
    pub(crate) fn take_published(&self) -> Vec<Message> {
        match &self.shared.tap {
            Some(tap) => std::mem::take(&mut *lock(tap)),
            None => Vec::new(),
        }
    }

    fn ensure_open(&self) -> Result<()> {
        if self.shared.closed.load(Ordering::SeqCst) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    pub(super) fn emit(&self, event: Event) {
        let _ = self.shared.input.send(Input::Emit(event));
    }

    /// Logs to the `log` facade and to `on_log` handlers.
    pub(crate) fn emit_log(&self, level: LogLevel, message: String) {
        let entry = LogEntry::new(level, message);
        to_log_facade(&entry);
        let _ = self.shared.input.send(Input::Log(entry));
    }

    pub(super) async fn resubscribe(&self) {
        let all: Vec<(String, QoS)> = self.topics();
        for chunk in all.chunks(SUBSCRIBE_CHUNK) {
            if let Err(e) = self.subscribe_now(chunk.to_vec()).await {
                self.emit_log(LogLevel::Err, format!("resubscribing failed: {e}"));
            }
        }
        if !all.is_empty() {
            self.emit_log(
                LogLevel::Info,
                format!("subscribed to {} filter(s)", all.len()),
            );
        }
    }

    async fn subscribe_now(&self, subs: Vec<(String, QoS)>) -> Result<()> {
        let filters: Vec<&str> = subs.iter().map(|(f, _)| f.as_str()).collect();
        let qos: Vec<paho_mqtt::QoS> = subs.iter().map(|(_, q)| q.to_paho()).collect();
        let rsp = self
            .shared
            .paho
            .subscribe_many(&filters, &qos)
            .await
            .map_err(|e| self.subscribe_error(&subs, e))?;
        let granted = rsp.subscribe_many_response().unwrap_or_default();
        let mut rejected = None;
        for (i, (filter, qos)) in subs.iter().enumerate() {
            let code = granted.get(i).copied().unwrap_or(qos.as_u8() as i32);
            match u8::try_from(code).ok().and_then(QoS::from_u8) {
                Some(g) => {
                    log::info!(target: crate::log::CLIENT_TARGET, "subscribed to `{filter}` (granted qos {g})");
                    self.emit(Event::Subscribed(Subscribed {
                        filter: filter.clone(),
                        granted: g,
                    }));
                }
                None => {
                    lock(&self.shared.topics).remove(filter);
                    self.emit_log(
                        LogLevel::Err,
                        format!(
                            "the broker refused the subscription to `{filter}` (code {code:#04x})"
                        ),
                    );
                    rejected.get_or_insert_with(|| filter.clone());
                }
            }
        }
        match rejected {
            Some(filter) => Err(Error::SubscribeRejected { filter }),
            None => Ok(()),
        }
    }

    fn subscribe_error(&self, subs: &[(String, QoS)], e: paho_mqtt::Error) -> Error {
        match e {
            // MQTT 5 SUBACK with a failure reason code.
            paho_mqtt::Error::ReasonCode(rc, _) if (rc as u8) >= 0x80 => {
                let mut t = lock(&self.shared.topics);
                for (f, _) in subs {
                    t.remove(f);
                }
                Error::SubscribeRejected {
                    filter: subs.first().map(|(f, _)| f.clone()).unwrap_or_default(),
                }
            }
            paho_mqtt::Error::Disconnected => Error::NotConnected,
            other => Error::Paho(other),
        }
    }

    async fn unsubscribe_now(&self, filters: Vec<String>) -> Result<()> {
        if !self.shared.paho.is_connected() {
            return Ok(());
        }
        self.shared
            .paho
            .unsubscribe_many(&filters)
            .await
            .map_err(|e| match e {
                paho_mqtt::Error::Disconnected => Error::NotConnected,
                other => Error::Paho(other),
            })?;
        for filter in filters {
            log::info!(target: crate::log::CLIENT_TARGET, "unsubscribed from `{filter}`");
            self.emit(Event::Unsubscribed(Unsubscribed { filter }));
        }
        Ok(())
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
    props: Vec<Prop>,
}

/// An MQTT 5 property to attach to a publish.
#[derive(Debug)]
enum Prop {
    CorrelationData(Vec<u8>),
    ContentType(String),
    ResponseTopic(String),
    User(String, String),
}

impl Publish {
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

    /// MQTT 5 Correlation Data (for request/response). Ignored, with a debug log line,
    /// on an MQTT 3.1.1 connection, which has no properties.
    pub fn correlation_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.props.push(Prop::CorrelationData(data.into()));
        self
    }

    /// MQTT 5 Content Type (e.g. `application/json`); ignored on MQTT 3.1.1.
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.props.push(Prop::ContentType(content_type.into()));
        self
    }

    /// MQTT 5 Response Topic, where a responder should answer; ignored on MQTT 3.1.1.
    pub fn response_topic(mut self, topic: impl Into<String>) -> Self {
        self.props.push(Prop::ResponseTopic(topic.into()));
        self
    }

    /// An MQTT 5 user property (may be repeated); ignored on MQTT 3.1.1.
    pub fn user_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.props.push(Prop::User(key.into(), value.into()));
        self
    }

    /// Sends the message; the same as awaiting the `Publish`.
    pub async fn send(self) -> Result<()> {
        let Publish {
            mqtt,
            topic,
            payload,
            qos,
            retain,
            props,
        } = self;
        let name = TopicName::new(topic.as_str()).map_err(|e| Error::invalid_topic(&topic, e))?;
        if let Some(Prop::ResponseTopic(t)) =
            props.iter().find(|p| matches!(p, Prop::ResponseTopic(_)))
        {
            TopicName::new(t.as_str()).map_err(|e| Error::invalid_topic(t, e))?;
        }
        mqtt.ensure_open()?;
        let v5 = mqtt.shared.config.protocol_version() == crate::config::ProtocolVersion::V5;
        let mut builder = paho_mqtt::MessageBuilder::new()
            .topic(name.as_str())
            .payload(payload)
            .qos(qos.to_paho())
            .retained(retain);
        // A detached (test) handle records properties whatever the version.
        if !props.is_empty() && (v5 || mqtt.shared.tap.is_some()) {
            builder = builder.properties(to_properties(&props).map_err(Error::Paho)?);
        } else if !props.is_empty() {
            log::debug!(
                target: crate::log::CLIENT_TARGET,
                "MQTT 3.1.1 has no properties; {} ignored on the publish to `{topic}`",
                props.len()
            );
        }
        let msg = builder.finalize();
        if let Some(tap) = &mqtt.shared.tap {
            lock(tap).push(Message::from_paho(msg));
            return Ok(());
        }
        let token = mqtt.shared.paho.try_publish(msg).map_err(|e| {
            // paho-mqtt 0.14's `try_publish` reports a refused publish as `Publish(rc,
            // message)`, handing the message back, never as the bare error.
            let e = match e {
                paho_mqtt::Error::Publish(rc, _) => paho_mqtt::Error::from(rc),
                other => other,
            };
            match e {
                paho_mqtt::Error::MaxBufferedMessages => Error::BufferFull {
                    limit: mqtt.shared.config.max_buffered_messages,
                    topic: topic.clone(),
                },
                other => Error::Paho(other),
            }
        })?;
        log::debug!(target: crate::log::CLIENT_TARGET, "publishing to `{topic}` (qos {qos})");
        // Paho's token is awaited right here (Paho's thread wakes this task directly);
        // if the caller stops waiting, `InFlight`'s drop hands the rest to the client's
        // runtime, so that `on_publish` still runs. A graceful shutdown waits for
        // `unsent` to drain.
        mqtt.shared.unsent.fetch_add(1, Ordering::SeqCst);
        let in_flight = InFlight {
            mqtt,
            token: Some(token),
            published: Some(Published { topic, qos, retain }),
        };
        match in_flight.wait().await {
            Ok(()) => Ok(()),
            Err(Some(paho_mqtt::Error::Disconnected)) => Err(Error::NotConnected),
            Err(Some(paho_mqtt::Error::OperationIncomplete)) => Err(Error::ConnectionLost),
            Err(Some(e)) => Err(Error::Paho(e)),
            Err(None) => Err(Error::Closed),
        }
    }
}

/// A publish Paho has accepted and not yet completed; counted in `Shared::unsent`.
struct InFlight {
    mqtt: Mqtt,
    /// `None` once the outcome is known (or handed to the client's runtime).
    token: Option<paho_mqtt::DeliveryToken>,
    published: Option<Published>,
}

impl InFlight {
    /// Waits for Paho's outcome; `Err(None)` when the client's runtime stopped first.
    async fn wait(mut self) -> std::result::Result<(), Option<paho_mqtt::Error>> {
        let mut ended = self.mqtt.shared.ended.subscribe();
        let outcome = match self.token.as_mut() {
            Some(token) => tokio::select! {
                res = token => Some(res),
                _ = ended.wait_for(|ended| *ended) => None,
            },
            None => None,
        };
        // Known, or nobody will settle it any more: either way `Drop` must not try.
        self.token = None;
        let Some(outcome) = outcome else {
            return Err(None);
        };
        settle(&self.mqtt, self.published.take(), &outcome);
        outcome.map_err(Some)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // The caller stopped waiting: finish on the client's runtime (if it still runs).
        if let Some(token) = self.token.take() {
            let mqtt = self.mqtt.clone();
            let published = self.published.take();
            drop(self.mqtt.shared.rt.spawn(async move {
                let outcome = token.await;
                settle(&mqtt, published, &outcome);
            }));
        }
    }
}

/// Counts a publish as settled and, if it went out, tells `on_publish` handlers.
fn settle(
    mqtt: &Mqtt,
    published: Option<Published>,
    outcome: &std::result::Result<(), paho_mqtt::Error>,
) {
    mqtt.shared.unsent.fetch_sub(1, Ordering::SeqCst);
    if let (Ok(()), Some(published), true) = (outcome, published, mqtt.shared.on_publish) {
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

fn to_properties(props: &[Prop]) -> std::result::Result<paho_mqtt::Properties, paho_mqtt::Error> {
    use paho_mqtt::PropertyCode;
    let mut out = paho_mqtt::Properties::new();
    for p in props {
        match p {
            Prop::CorrelationData(d) => {
                out.push_binary(PropertyCode::CorrelationData, d.clone())?
            }
            Prop::ContentType(t) => out.push_string(PropertyCode::ContentType, t)?,
            Prop::ResponseTopic(t) => out.push_string(PropertyCode::ResponseTopic, t)?,
            Prop::User(k, v) => out.push_string_pair(PropertyCode::UserProperty, k, v)?,
        }
    }
    Ok(out)
}
