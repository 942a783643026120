//! [`Observer`]: an independent raw MQTT client that plays the test's peer.

use std::collections::VecDeque;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use paho_mqtt as mqtt;

use crate::broker::{failure_message, Broker};

/// Upper bound for one connect / publish / subscribe round trip.
const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the blocking receive checks the message channel.
const POLL: Duration = Duration::from_millis(2);

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// A raw `paho_mqtt::AsyncClient` connected to a [`Broker`], with a blocking
/// API: publish to the application under test, subscribe to what it
/// publishes, and wait for messages.
///
/// * Client id `observer-<n>` (`n` counts up per process), MQTT 3.1.1,
///   clean session, no client persistence, no automatic reconnect.
/// * The unbounded message stream is opened *before* connecting, so nothing
///   is lost; messages skipped by [`expect_message`](Self::expect_message)
///   are kept for later receives.
/// * Every method blocks on paho's own tokens (`Token::wait_for`); no Tokio
///   runtime is needed and it is safe to call from inside one. But a
///   blocking wait inside a *current-thread* runtime (`#[actix_web::test]`)
///   also stops the tasks of that runtime: if the message you wait for must
///   be produced by such a task, use the `_async` receive methods.
/// * Panics say what failed and include the tail of the broker log.
pub struct Observer {
    client: mqtt::AsyncClient,
    stream: mqtt::AsyncReceiver<Option<mqtt::Message>>,
    pending: Mutex<VecDeque<mqtt::Message>>,
    client_id: String,
    uri: String,
    log_path: PathBuf,
}

impl Observer {
    /// Connects anonymously; panics if the connection fails.
    pub fn connect(broker: &Broker) -> Observer {
        Self::try_connect(broker, None).unwrap_or_else(|err| {
            panic!(
                "{}",
                failure_message(
                    &format!("Observer::connect to {} failed: {err:?}", broker.uri()),
                    broker.log_path(),
                    None
                )
            )
        })
    }

    /// Connects with a user name and password; panics if the connection
    /// fails.
    pub fn connect_with(broker: &Broker, user: &str, pass: &str) -> Observer {
        Self::try_connect(broker, Some((user, pass))).unwrap_or_else(|err| {
            panic!(
                "{}",
                failure_message(
                    &format!(
                        "Observer::connect_with({user:?}) to {} failed: {err:?}",
                        broker.uri()
                    ),
                    broker.log_path(),
                    None
                )
            )
        })
    }

    /// Connects, optionally with `(user, password)`, and returns paho's
    /// error instead of panicking. A refused MQTT 3.1.1 CONNECT is
    /// `Err(paho_mqtt::Error::ConnectReturn(code))`; Mosquitto 2.0 answers a
    /// wrong password with `ConnectReturnCode::NotAuthorized` (5), not
    /// `BadUserNameOrPassword` (4).
    pub fn try_connect(
        broker: &Broker,
        credentials: Option<(&str, &str)>,
    ) -> Result<Observer, mqtt::Error> {
        Self::try_connect_uri(&broker.uri(), broker.log_path(), credentials)
    }

    /// Connects anonymously to the broker at `uri` (e.g. a node of an
    /// [`RmqttCluster`](crate::RmqttCluster)), whose log is at `log_path` (quoted in
    /// failure messages); panics if the connection fails.
    pub fn connect_uri(uri: &str, log_path: &Path) -> Observer {
        Self::try_connect_uri(uri, log_path, None).unwrap_or_else(|err| {
            panic!(
                "{}",
                failure_message(
                    &format!("Observer::connect_uri to {uri} failed: {err:?}"),
                    log_path,
                    None
                )
            )
        })
    }

    /// [`connect_uri`](Self::connect_uri), optionally with `(user, password)`, returning
    /// paho's error instead of panicking.
    pub fn try_connect_uri(
        uri: &str,
        log_path: &Path,
        credentials: Option<(&str, &str)>,
    ) -> Result<Observer, mqtt::Error> {
        let client_id = format!("observer-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
        let mut client = mqtt::CreateOptionsBuilder::new()
            .server_uri(uri)
            .client_id(&client_id)
            .persistence(mqtt::PersistenceType::None)
            .create_client()?;
        // Unbounded, and before connecting, so that nothing can be dropped.
        let stream = client.get_stream(None);
        let mut opts = mqtt::ConnectOptionsBuilder::with_mqtt_version(mqtt::MQTT_VERSION_3_1_1);
        opts.clean_session(true)
            .keep_alive_interval(Duration::from_secs(30))
            .connect_timeout(OP_TIMEOUT);
        if let Some((user, pass)) = credentials {
            opts.user_name(user).password(pass);
        }
        match client
            .connect(opts.finalize())
            .wait_for(OP_TIMEOUT + Duration::from_secs(1))
        {
            Ok(_) => {}
            Err(mqtt::Error::Timeout) => {
                // The connect is still pending inside paho and its token holds
                // a clone of the client: never drop ours (see `retire`).
                std::mem::forget(client);
                return Err(mqtt::Error::Timeout);
            }
            Err(err) => {
                retire(client);
                return Err(err);
            }
        }
        Ok(Observer {
            client,
            stream,
            pending: Mutex::new(VecDeque::new()),
            client_id,
            uri: uri.to_owned(),
            log_path: log_path.to_owned(),
        })
    }

    /// The MQTT client id (`observer-<n>`).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The underlying paho client, for anything this API does not cover.
    /// Do not replace its message callback: that would stop the stream.
    pub fn client(&self) -> &mqtt::AsyncClient {
        &self.client
    }

    /// Whether the client is currently connected.
    pub fn is_connected(&self) -> bool {
        self.client.is_connected()
    }

    /// Publishes and waits until the publish is complete (written for QoS 0,
    /// PUBACK for 1, PUBCOMP for 2). Panics on failure.
    pub fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>, qos: i32) {
        self.send(mqtt::Message::new(topic, payload, qos), "publish");
    }

    /// Publishes `PREFIX/N` (payload `N`) for every `N` in `range` with QoS 1, keeping up
    /// to `window` publishes in flight (waiting for their PUBACK; keep it below the 100
    /// commands Paho queues per client); `after(n)` runs once the publish of `n` is
    /// handed to Paho. Panics if a PUBACK does not come within a minute.
    pub fn publish_numbered(
        &self,
        prefix: &str,
        range: std::ops::Range<u64>,
        window: usize,
        mut after: impl FnMut(u64),
    ) {
        const ACK: Duration = Duration::from_secs(60);
        let mut pending = VecDeque::with_capacity(window);
        for n in range {
            let msg = mqtt::Message::new(format!("{prefix}/{n}"), n.to_string(), 1);
            pending.push_back((n, self.client.publish(msg)));
            if pending.len() >= window.max(1) {
                let (m, token) = pending.pop_front().unwrap();
                if let Err(e) = token.wait_for(ACK) {
                    panic!("{}", self.failure(&format!("publish of {prefix}/{m}: {e}")));
                }
            }
            after(n);
        }
        for (m, token) in pending {
            if let Err(e) = token.wait_for(ACK) {
                panic!("{}", self.failure(&format!("publish of {prefix}/{m}: {e}")));
            }
        }
    }

    /// Like [`publish`](Self::publish), with the retain flag set.
    pub fn publish_retained(&self, topic: &str, payload: impl Into<Vec<u8>>, qos: i32) {
        self.send(
            mqtt::Message::new_retained(topic, payload, qos),
            "publish_retained",
        );
    }

    fn send(&self, msg: mqtt::Message, what: &str) {
        let topic = msg.topic().to_owned();
        if let Err(err) = self.client.publish(msg).wait_for(OP_TIMEOUT) {
            panic!(
                "{}",
                self.failure(&format!("Observer {what} to {topic:?} failed: {err}"))
            );
        }
    }

    /// Subscribes and waits for the SUBACK; panics on failure or if the
    /// broker refuses the subscription (granted QoS 0x80).
    pub fn subscribe(&self, filter: &str, qos: i32) {
        match self.client.subscribe(filter, qos).wait_for(OP_TIMEOUT) {
            // A single filter: Paho answers with its granted QoS. (Paho C reports a 0x80
            // grant as a failure, the `Err` below; this catches any other refusal code.)
            Ok(rsp) => match rsp.subscribe_response() {
                Some(granted) if (0..=2).contains(&granted) => {}
                Some(granted) => panic!(
                    "{}",
                    self.failure(&format!(
                        "Observer subscribe to {filter:?} refused by the broker \
                         (granted QoS {granted:#x})"
                    ))
                ),
                // Without a granted QoS nothing says the subscription is in place.
                None => panic!(
                    "{}",
                    self.failure(&format!(
                        "Observer subscribe to {filter:?}: no granted QoS in Paho's \
                         response {rsp:?}"
                    ))
                ),
            },
            Err(err) => panic!(
                "{}",
                self.failure(&format!("Observer subscribe to {filter:?} failed: {err}"))
            ),
        }
    }

    /// Unsubscribes and waits for the UNSUBACK; panics on failure.
    pub fn unsubscribe(&self, filter: &str) {
        if let Err(err) = self.client.unsubscribe(filter).wait_for(OP_TIMEOUT) {
            panic!(
                "{}",
                self.failure(&format!(
                    "Observer unsubscribe from {filter:?} failed: {err}"
                ))
            );
        }
    }

    /// The next received message (oldest first), or `None` if none arrives
    /// within `timeout`. Blocks the calling thread.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<mqtt::Message> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(msg) = self.next_now() {
                return Some(msg);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            std::thread::sleep(POLL.min(deadline - now));
        }
    }

    /// Async version of [`recv_timeout`](Self::recv_timeout) that does not
    /// block the runtime thread. Must be awaited inside a Tokio runtime with
    /// the time driver enabled.
    pub async fn recv_timeout_async(&self, timeout: Duration) -> Option<mqtt::Message> {
        if let Some(msg) = self.lock_pending().pop_front() {
            return Some(msg);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(remaining, self.stream.recv()).await {
                Ok(Ok(Some(msg))) => return Some(msg),
                // `None` marks a lost connection: keep waiting until the
                // deadline, the test decides what that means.
                Ok(Ok(None)) => continue,
                Ok(Err(_closed)) => {
                    tokio::time::sleep(remaining).await;
                    return None;
                }
                Err(_elapsed) => return None,
            }
        }
    }

    /// Waits for the next message whose topic matches `topic` (an exact
    /// topic or a filter with `+` / `#`) and returns it. Messages on other
    /// topics received meanwhile are kept for later receives. Panics with
    /// the received topics and the broker log tail on timeout.
    pub fn expect_message(&self, topic: &str, timeout: Duration) -> mqtt::Message {
        let deadline = Instant::now() + timeout;
        if let Some(msg) = self.take_pending_matching(topic) {
            return msg;
        }
        let mut skipped = Vec::new();
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match self.recv_from_stream(remaining) {
                Some(msg) if matches(topic, msg.topic()) => {
                    self.lock_pending().extend(skipped);
                    return msg;
                }
                Some(msg) => skipped.push(msg),
                None => {
                    let others = describe(&skipped);
                    self.lock_pending().extend(skipped);
                    self.expect_failed(topic, timeout, &others);
                }
            }
        }
    }

    /// Async version of [`expect_message`](Self::expect_message) that does
    /// not block the runtime thread. Must be awaited inside a Tokio runtime
    /// with the time driver enabled.
    pub async fn expect_message_async(&self, topic: &str, timeout: Duration) -> mqtt::Message {
        let deadline = Instant::now() + timeout;
        if let Some(msg) = self.take_pending_matching(topic) {
            return msg;
        }
        let mut skipped = Vec::new();
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let received = match tokio::time::timeout(remaining, self.stream.recv()).await {
                Ok(Ok(Some(msg))) => Some(msg),
                Ok(Ok(None)) => continue,
                Ok(Err(_closed)) => {
                    tokio::time::sleep(remaining).await;
                    None
                }
                Err(_elapsed) => None,
            };
            match received {
                Some(msg) if matches(topic, msg.topic()) => {
                    self.lock_pending().extend(skipped);
                    return msg;
                }
                Some(msg) => skipped.push(msg),
                None => {
                    let others = describe(&skipped);
                    self.lock_pending().extend(skipped);
                    self.expect_failed(topic, timeout, &others);
                }
            }
        }
    }

    /// Every message received during the next `duration` (plus those
    /// already waiting), oldest first. Useful to check that something did
    /// *not* arrive, or arrived only once.
    pub fn collect_for(&self, duration: Duration) -> Vec<mqtt::Message> {
        let deadline = Instant::now() + duration;
        let mut out: Vec<mqtt::Message> = self.lock_pending().drain(..).collect();
        while let Some(msg) =
            self.recv_from_stream(deadline.saturating_duration_since(Instant::now()))
        {
            out.push(msg);
        }
        out
    }

    /// Disconnects cleanly (also done on drop).
    pub fn disconnect(self) {
        // Drop does the work.
    }

    fn next_now(&self) -> Option<mqtt::Message> {
        if let Some(msg) = self.lock_pending().pop_front() {
            return Some(msg);
        }
        loop {
            match self.stream.try_recv() {
                Ok(Some(msg)) => return Some(msg),
                Ok(None) => continue, // connection lost marker
                Err(_) => return None,
            }
        }
    }

    /// Next message from the stream only (not from `pending`).
    fn recv_from_stream(&self, timeout: Duration) -> Option<mqtt::Message> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.stream.try_recv() {
                Ok(Some(msg)) => return Some(msg),
                Ok(None) => continue,
                Err(_) => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            std::thread::sleep(POLL.min(deadline - now));
        }
    }

    fn take_pending_matching(&self, topic: &str) -> Option<mqtt::Message> {
        let mut pending = self.lock_pending();
        let pos = pending.iter().position(|m| matches(topic, m.topic()))?;
        pending.remove(pos)
    }

    fn expect_failed(&self, topic: &str, timeout: Duration, others: &str) -> ! {
        panic!(
            "{}",
            self.failure(&format!(
                "Observer {} expected a message on {topic:?} within {timeout:?}, got none \
                 (connected: {}; other messages received meanwhile: {others})",
                self.client_id,
                self.client.is_connected()
            ))
        )
    }

    fn lock_pending(&self) -> MutexGuard<'_, VecDeque<mqtt::Message>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn failure(&self, what: &str) -> String {
        failure_message(what, &self.log_path, None)
    }
}

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observer")
            .field("client_id", &self.client_id)
            .field("uri", &self.uri)
            .field("connected", &self.client.is_connected())
            .finish()
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        if self.client.is_connected() {
            let _ = self
                .client
                .disconnect(None)
                .wait_for(Duration::from_secs(2));
        }
        self.client.stop_stream();
        retire(self.client.clone());
    }
}

/// How long a retired client is kept before the harness drops it.
const RETIRE_DELAY: Duration = Duration::from_secs(5);

/// Clients waiting to be dropped, with the time they were retired.
static RETIRED: Mutex<Vec<(Instant, mqtt::AsyncClient)>> = Mutex::new(Vec::new());

/// Drops `client` later, from a test thread, never from a paho thread.
///
/// paho-mqtt 0.14's connect token holds a clone of the client, and the paho
/// C callback thread drops that token right after completing it. If that is
/// the last reference, `MQTTAsync_destroy` runs on the callback thread while
/// it holds paho's global mutex and deadlocks every paho client of the
/// process. So the harness never drops a client right after a connect
/// completed: it keeps it for a few seconds and drops it on a later call.
fn retire(client: mqtt::AsyncClient) {
    let now = Instant::now();
    let expired: Vec<(Instant, mqtt::AsyncClient)> = {
        let mut retired = RETIRED.lock().unwrap_or_else(PoisonError::into_inner);
        retired.push((now, client));
        let (old, keep): (Vec<_>, Vec<_>) = retired
            .drain(..)
            .partition(|(at, _)| now.duration_since(*at) >= RETIRE_DELAY);
        *retired = keep;
        old
    };
    drop(expired); // outside the lock: destroying takes paho's mutex
}

fn matches(filter: &str, topic: &str) -> bool {
    filter == topic || mqtt::topic_matcher::topic_matches(filter, topic)
}

fn describe(msgs: &[mqtt::Message]) -> String {
    if msgs.is_empty() {
        return "none".to_owned();
    }
    msgs.iter()
        .map(|m| format!("{:?} ({} bytes)", m.topic(), m.payload().len()))
        .collect::<Vec<_>>()
        .join(", ")
}
