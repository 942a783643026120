//! The one Paho client of a process: connection management, subscriptions, publishing.
//!
//! Paho's callbacks only push into an unbounded channel (never a Paho call, never a
//! blocking wait, never a drop); a driver task on the client's own Tokio runtime turns
//! them into connects, resubscriptions and handler calls.
//!
//! Log target: `flask_mqtt::client`.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use flask_mqtt_topic::{TopicFilter, TopicName};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::dispatch::Dispatcher;
use crate::extract::{
    Connected, DisconnectReason, Disconnected, Event, Published, Subscribed, Unsubscribed,
};
use crate::log::{to_log_facade, LogEntry, LogLevel};
use crate::registry::{self, HandlerKind};
use crate::{Config, ConnectError, Error, Message, QoS, Result};

/// How long shutdown waits for the DISCONNECT and for queued handler calls.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// Filters per SUBSCRIBE packet when resubscribing.
const SUBSCRIBE_CHUNK: usize = 64;

/// What the driver task receives.
enum Input {
    Connected,
    ConnectionLost,
    BrokerDisconnect(u8),
    Message(paho_mqtt::Message),
    ConnectFailed(ConnectError),
    Emit(Event),
    Log(LogEntry),
    Shutdown(Done),
}

/// Tells whoever asked for the shutdown that it is complete.
enum Done {
    Async(oneshot::Sender<()>),
    Blocking(std::sync::mpsc::Sender<()>),
}

impl Done {
    fn send(self) {
        match self {
            Done::Async(tx) => {
                let _ = tx.send(());
            }
            Done::Blocking(tx) => {
                let _ = tx.send(());
            }
        }
    }
}

struct Shared {
    paho: paho_mqtt::AsyncClient,
    config: Config,
    uri: String,
    topics: Mutex<BTreeMap<String, QoS>>,
    input: mpsc::UnboundedSender<Input>,
    rt: tokio::runtime::Handle,
    closed: AtomicBool,
    last_error: Mutex<Option<ConnectError>>,
    /// Application state shared with handlers (`Mqtt::insert_state`).
    state: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    /// Set for detached (test) handles: publishes are recorded here instead of sent.
    tap: Option<Mutex<Vec<Message>>>,
}

/// A cheap-to-clone handle to the process's MQTT client: publish, subscribe, inspect.
///
/// Available as a handler argument in every `#[on_*]` handler and, with
/// `flask-mqtt-actix`, as an actix-web extractor.
#[derive(Clone)]
pub struct Mqtt {
    shared: Arc<Shared>,
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

/// Owns the running client: dropping it (or calling [`Client::shutdown`]) disconnects
/// cleanly, lets queued handler calls finish (up to 5 s) and stops the client's runtime.
#[derive(Debug)]
pub struct Client {
    mqtt: Mqtt,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Client {
    /// Starts a client with every handler linked into the program. Returns at once:
    /// connecting happens in the background, with retries, and `on_connect` handlers run
    /// when it succeeds.
    pub fn start(config: Config) -> Result<Client> {
        let handlers = registry::collect();
        let declared = registry::declared_subscriptions(&handlers);
        let uri = config.server_uri();

        let create = paho_mqtt::CreateOptionsBuilder::new()
            .server_uri(&uri)
            .client_id(config.client_id())
            .persistence(None)
            .send_while_disconnected(true)
            .allow_disconnected_send_at_anytime(true)
            .max_buffered_messages(i32::try_from(config.max_buffered_messages).unwrap_or(i32::MAX))
            .finalize();
        let paho = paho_mqtt::AsyncClient::new(create).map_err(Error::Paho)?;

        let (tx, rx) = mpsc::unbounded_channel();
        install_callbacks(&paho, &tx);

        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("flask-mqtt")
            .enable_time()
            .build()
            .map_err(Error::Runtime)?;

        let shared = Arc::new(Shared {
            paho,
            uri,
            topics: Mutex::new(
                declared
                    .into_iter()
                    .map(|(f, q)| (f.into_string(), q))
                    .collect(),
            ),
            input: tx.clone(),
            rt: rt.handle().clone(),
            closed: AtomicBool::new(false),
            last_error: Mutex::new(None),
            state: Mutex::new(HashMap::new()),
            tap: None,
            config,
        });
        let mqtt = Mqtt { shared };

        let driver_mqtt = mqtt.clone();
        let thread = std::thread::Builder::new()
            .name("flask-mqtt-driver".into())
            .spawn(move || {
                rt.block_on(async move {
                    let dispatcher = Dispatcher::start(handlers);
                    let log_sink = if dispatcher.has(HandlerKind::Log) {
                        let (ltx, mut lrx) = mpsc::unbounded_channel::<LogEntry>();
                        let itx = tx.clone();
                        tokio::spawn(async move {
                            while let Some(e) = lrx.recv().await {
                                if itx.send(Input::Log(e)).is_err() {
                                    break;
                                }
                            }
                        });
                        Some(ltx)
                    } else {
                        None
                    };
                    crate::log::install_paho_trace(log_sink);
                    drive(driver_mqtt, dispatcher, rx).await;
                });
                rt.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(Error::Runtime)?;

        Ok(Client {
            mqtt,
            thread: Some(thread),
        })
    }

    /// A handle to the client.
    pub fn handle(&self) -> Mqtt {
        self.mqtt.clone()
    }

    /// Disconnects cleanly and waits for queued handler calls (bounded by 5 s each).
    pub async fn shutdown(mut self) {
        self.mqtt.disconnect().await;
        if let Some(t) = self.thread.take() {
            // The driver has returned; the thread only shuts its runtime down.
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        let (tx, rx) = std::sync::mpsc::channel();
        if self
            .mqtt
            .shared
            .input
            .send(Input::Shutdown(Done::Blocking(tx)))
            .is_ok()
        {
            // Runs on ordinary threads (actix workers shutting down, `main`), never on a
            // Paho callback thread: block until the DISCONNECT went out, bounded.
            if rx.recv_timeout(SHUTDOWN_TIMEOUT * 2).is_ok() {
                // The driver has returned; the thread now stops its runtime (at most 1 s).
                let _ = thread.join();
            }
        }
    }
}

fn install_callbacks(paho: &paho_mqtt::AsyncClient, tx: &mpsc::UnboundedSender<Input>) {
    // Only unbounded, non-blocking sends in here: these run on Paho's threads.
    let t = tx.clone();
    paho.set_connected_callback(move |_| {
        let _ = t.send(Input::Connected);
    });
    let t = tx.clone();
    paho.set_connection_lost_callback(move |_| {
        let _ = t.send(Input::ConnectionLost);
    });
    let t = tx.clone();
    paho.set_disconnected_callback(move |_, _props, reason| {
        let _ = t.send(Input::BrokerDisconnect(reason as u8));
    });
    let t = tx.clone();
    paho.set_message_callback(move |_, msg| {
        if let Some(msg) = msg {
            let _ = t.send(Input::Message(msg));
        }
    });
}

/// The driver: connection state machine and dispatch, on the client's runtime.
async fn drive(mqtt: Mqtt, dispatcher: Dispatcher, mut rx: mpsc::UnboundedReceiver<Input>) {
    let shared = Arc::clone(&mqtt.shared);
    let (min_delay, max_delay) = shared.config.reconnect_delay();
    let mut delay = min_delay;
    let mut retry_at: Option<Instant> = None;
    let mut up = false;
    let mut ever_connected = false;

    start_attempt(&mqtt);
    loop {
        let input = tokio::select! {
            i = rx.recv() => i,
            _ = sleep_until(retry_at), if retry_at.is_some() => {
                retry_at = None;
                if !shared.closed.load(Ordering::SeqCst) {
                    start_attempt(&mqtt);
                }
                continue;
            }
        };
        let Some(input) = input else { break };
        match input {
            Input::Message(m) => dispatcher.dispatch(&mqtt, Event::Message(Message::from_paho(m))),
            Input::Emit(ev) => dispatcher.dispatch(&mqtt, ev),
            Input::Log(entry) => dispatcher.dispatch(&mqtt, Event::Log(entry)),
            Input::Connected => {
                if shared.closed.load(Ordering::SeqCst) {
                    continue;
                }
                up = true;
                delay = min_delay;
                retry_at = None;
                *lock(&shared.last_error) = None;
                let reconnect = ever_connected;
                ever_connected = true;
                mqtt.emit_log(
                    LogLevel::Info,
                    format!(
                        "connected to {} as `{}`",
                        shared.uri,
                        shared.config.client_id()
                    ),
                );
                // Subscribe first, then tell on_connect handlers (through the queue, so the
                // driver never waits on the broker itself).
                let m = mqtt.clone();
                tokio::spawn(async move {
                    m.resubscribe().await;
                    m.emit(Event::Connected(Connected {
                        server_uri: m.shared.uri.clone(),
                        reconnect,
                    }));
                });
            }
            Input::ConnectionLost | Input::BrokerDisconnect(_) => {
                let reason = match input {
                    Input::BrokerDisconnect(code) => DisconnectReason::ByBroker(code),
                    _ => DisconnectReason::ConnectionLost,
                };
                if !up || shared.closed.load(Ordering::SeqCst) {
                    continue;
                }
                up = false;
                mqtt.emit_log(
                    LogLevel::Err,
                    format!(
                        "connection to {} lost ({reason:?}); reconnecting in {delay:?}",
                        shared.uri
                    ),
                );
                dispatcher.dispatch(&mqtt, Event::Disconnected(Disconnected { reason }));
                retry_at = Some(Instant::now() + delay);
                delay = (delay * 2).min(max_delay);
            }
            Input::ConnectFailed(err) => {
                if shared.closed.load(Ordering::SeqCst) || up {
                    continue;
                }
                mqtt.emit_log(LogLevel::Err, format!("{err}; retrying in {delay:?}"));
                *lock(&shared.last_error) = Some(err);
                retry_at = Some(Instant::now() + delay);
                delay = (delay * 2).min(max_delay);
            }
            Input::Shutdown(done) => {
                shutdown(&mqtt, dispatcher, rx, up, done).await;
                return;
            }
        }
    }
}

/// Sends DISCONNECT, runs on_disconnect handlers, hands every event already received to
/// its handlers and waits (bounded) for them.
async fn shutdown(
    mqtt: &Mqtt,
    dispatcher: Dispatcher,
    mut rx: mpsc::UnboundedReceiver<Input>,
    up: bool,
    done: Done,
) {
    let shared = &mqtt.shared;
    shared.closed.store(true, Ordering::SeqCst);
    if up || shared.paho.is_connected() {
        let tok = shared.paho.disconnect(None);
        match tokio::time::timeout(SHUTDOWN_TIMEOUT, tok).await {
            Ok(Ok(_)) => mqtt.emit_log(LogLevel::Info, format!("disconnected from {}", shared.uri)),
            Ok(Err(e)) => mqtt.emit_log(
                LogLevel::Warning,
                format!("disconnect from {} failed: {e}", shared.uri),
            ),
            Err(_) => mqtt.emit_log(
                LogLevel::Warning,
                format!("disconnect from {} timed out", shared.uri),
            ),
        }
        dispatcher.dispatch(
            mqtt,
            Event::Disconnected(Disconnected {
                reason: DisconnectReason::Requested,
            }),
        );
    }
    // `Mqtt::disconnect()` may be awaited inside a handler: answer it now, before
    // waiting for the handlers. `Client`'s drop waits for the handlers too.
    let mut waiting = Vec::new();
    match done {
        d @ Done::Async(_) => d.send(),
        d => waiting.push(d),
    }
    // Events that arrived before the shutdown still reach their handlers.
    rx.close();
    while let Some(i) = rx.recv().await {
        match i {
            Input::Message(m) => dispatcher.dispatch(mqtt, Event::Message(Message::from_paho(m))),
            Input::Emit(ev) => dispatcher.dispatch(mqtt, ev),
            Input::Log(e) => dispatcher.dispatch(mqtt, Event::Log(e)),
            Input::Shutdown(d @ Done::Async(_)) => d.send(),
            Input::Shutdown(d) => waiting.push(d),
            _ => {}
        }
    }
    dispatcher.drain(SHUTDOWN_TIMEOUT).await;
    for d in waiting {
        d.send();
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => futures::future::pending().await,
    }
}

fn start_attempt(mqtt: &Mqtt) {
    let shared = Arc::clone(&mqtt.shared);
    let c = &shared.config;
    let mut b = paho_mqtt::ConnectOptionsBuilder::with_mqtt_version(paho_mqtt::MQTT_VERSION_3_1_1);
    b.keep_alive_interval(c.keepalive)
        .clean_session(c.clean_session)
        .connect_timeout(c.connect_timeout);
    if let Some(user) = &c.username {
        b.user_name(user);
    }
    if let Some(pw) = &c.password {
        b.password(pw.expose());
    }
    let opts = b.finalize();
    log::debug!(target: crate::log::CLIENT_TARGET, "connecting to {}", shared.uri);
    let rt = shared.rt.clone();
    rt.spawn(async move {
        if let Err(e) = shared.paho.connect(opts).await {
            let err = ConnectError::from_paho(&e, &shared.uri);
            let _ = shared.input.send(Input::ConnectFailed(err));
        }
    });
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the data inconsistent (every
    // critical section is a single map or option update), so poisoning is ignored.
    m.lock().unwrap_or_else(|p| p.into_inner())
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
        lock(&self.shared.last_error).clone()
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
            .send(Input::Shutdown(Done::Async(tx)))
            .is_ok()
        {
            let _ = rx.await;
        }
        self.shared.closed.store(true, Ordering::SeqCst);
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
                last_error: Mutex::new(None),
                state: Mutex::new(HashMap::new()),
                tap: Some(Mutex::new(Vec::new())),
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

    fn emit(&self, event: Event) {
        let _ = self.shared.input.send(Input::Emit(event));
    }

    /// Logs to the `log` facade and to `on_log` handlers.
    pub(crate) fn emit_log(&self, level: LogLevel, message: String) {
        let entry = LogEntry::new(level, message);
        to_log_facade(&entry);
        let _ = self.shared.input.send(Input::Log(entry));
    }

    async fn resubscribe(&self) {
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

    /// Sends the message; the same as awaiting the `Publish`.
    pub async fn send(self) -> Result<()> {
        let Publish {
            mqtt,
            topic,
            payload,
            qos,
            retain,
        } = self;
        let name = TopicName::new(topic.as_str()).map_err(|e| Error::invalid_topic(&topic, e))?;
        mqtt.ensure_open()?;
        if let Some(tap) = &mqtt.shared.tap {
            lock(tap).push(Message::new(topic, payload, qos, retain));
            return Ok(());
        }
        let msg = paho_mqtt::MessageBuilder::new()
            .topic(name.as_str())
            .payload(payload)
            .qos(qos.to_paho())
            .retained(retain)
            .finalize();
        let token = mqtt.shared.paho.try_publish(msg).map_err(|e| match e {
            paho_mqtt::Error::MaxBufferedMessages => Error::BufferFull {
                limit: mqtt.shared.config.max_buffered_messages,
                topic: topic.clone(),
            },
            other => Error::Paho(other),
        })?;
        log::debug!(target: crate::log::CLIENT_TARGET, "publishing to `{topic}` (qos {qos})");
        // Completion is awaited on the client's runtime so that `on_publish` runs even
        // if the caller stops waiting.
        let (tx, rx) = oneshot::channel();
        let m = mqtt.clone();
        mqtt.shared.rt.spawn(async move {
            let res = token.await;
            if res.is_ok() {
                m.emit(Event::Published(Published { topic, qos, retain }));
            }
            let _ = tx.send(res);
        });
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(paho_mqtt::Error::Disconnected)) => Err(Error::NotConnected),
            Ok(Err(e)) => Err(Error::Paho(e)),
            Err(_) => Err(Error::Closed),
        }
    }
}

impl IntoFuture for Publish {
    type Output = Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<()>> + Send + 'static>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}
