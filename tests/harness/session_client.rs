//! [`SessionClient`]: a raw `paho_mqtt` client with a persistent session, for tests of
//! Paho itself (acknowledgements, trace lines, disconnects) without the framework.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use paho_mqtt as mqtt;

use crate::broker::{failure_message, Broker};

/// Upper bound for one connect / subscribe / disconnect round trip.
const OP_TIMEOUT: Duration = Duration::from_secs(10);

/// How a [`SessionClient`] connects.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    version: u32,
    manual_acks: bool,
    keepalive: Duration,
    uri: Option<String>,
    ssl: Option<mqtt::SslOptions>,
    will: Option<(String, Vec<u8>)>,
}

impl SessionOptions {
    /// MQTT `version` (`paho_mqtt::MQTT_VERSION_3_1_1` or `MQTT_VERSION_5`), Paho's
    /// automatic acknowledgements, keep-alive 30 s, the broker's plain listener.
    pub fn new(version: u32) -> SessionOptions {
        SessionOptions {
            version,
            manual_acks: false,
            keepalive: Duration::from_secs(30),
            uri: None,
            ssl: None,
            will: None,
        }
    }

    /// The application acknowledges QoS 1/2 messages (`CreateOptionsBuilder::manual_acks`).
    pub fn manual_acks(mut self, manual: bool) -> SessionOptions {
        self.manual_acks = manual;
        self
    }

    /// The keep-alive interval.
    pub fn keepalive(mut self, keepalive: Duration) -> SessionOptions {
        self.keepalive = keepalive;
        self
    }

    /// A last will: `payload` to `topic` at QoS 1, which the broker publishes when a
    /// connection ends without a DISCONNECT.
    pub fn will(mut self, topic: impl Into<String>, payload: impl Into<Vec<u8>>) -> SessionOptions {
        self.will = Some((topic.into(), payload.into()));
        self
    }

    /// Connects to `uri` (e.g. the broker's TLS listener or a WebSocket proxy) instead of
    /// the plain listener, with `ssl` for `ssl://` and `wss://`.
    pub fn uri(mut self, uri: impl Into<String>, ssl: Option<mqtt::SslOptions>) -> SessionOptions {
        self.uri = Some(uri.into());
        self.ssl = ssl;
        self
    }
}

/// A raw `paho_mqtt::AsyncClient` with a fixed client id and a persistent session (MQTT
/// 3.1.1: clean session off; MQTT 5: clean start off, session expiry one hour), no client
/// persistence, no automatic reconnect; its unbounded message stream is opened before it
/// connects. Methods block on paho's tokens and panic (with the broker log's tail) when
/// an operation fails. Dropping it disconnects, if connected.
pub struct SessionClient {
    client: mqtt::AsyncClient,
    stream: mqtt::AsyncReceiver<Option<mqtt::Message>>,
    opts: SessionOptions,
    id: String,
    log_path: PathBuf,
}

impl SessionClient {
    /// Creates the client and connects it, resuming the session of `id` if the broker
    /// has one.
    pub fn connect(broker: &Broker, id: &str, opts: SessionOptions) -> SessionClient {
        let mut client = mqtt::CreateOptionsBuilder::new()
            .server_uri(opts.uri.clone().unwrap_or_else(|| broker.uri()))
            .client_id(id)
            .mqtt_version(opts.version)
            .persistence(mqtt::PersistenceType::None)
            .manual_acks(opts.manual_acks)
            .create_client()
            .unwrap_or_else(|e| panic!("creating the paho client {id}: {e}"));
        let stream = client.get_stream(None);
        let c = SessionClient {
            client,
            stream,
            opts,
            id: id.to_owned(),
            log_path: broker.log_path().to_owned(),
        };
        c.connect_again();
        c
    }

    /// Ends the session of `id` on the broker: connects with a clean session and
    /// disconnects.
    pub fn remove_session(broker: &Broker, id: &str, version: u32) {
        let client = mqtt::CreateOptionsBuilder::new()
            .server_uri(broker.uri())
            .client_id(id)
            .mqtt_version(version)
            .persistence(mqtt::PersistenceType::None)
            .create_client()
            .unwrap_or_else(|e| panic!("creating the paho client {id}: {e}"));
        let mut opts = mqtt::ConnectOptionsBuilder::with_mqtt_version(version);
        if version == mqtt::MQTT_VERSION_5 {
            opts.clean_start(true);
        } else {
            opts.clean_session(true);
        }
        if let Err(e) = client.connect(opts.finalize()).wait_for(OP_TIMEOUT) {
            panic!(
                "{}",
                failure_message(
                    &format!("{id}: connect with a clean session: {e}"),
                    broker.log_path(),
                    None
                )
            );
        }
        if let Err(e) = client.disconnect(None).wait_for(OP_TIMEOUT) {
            panic!(
                "{}",
                failure_message(&format!("{id}: disconnect: {e}"), broker.log_path(), None)
            );
        }
    }

    /// The paho client.
    pub fn client(&self) -> &mqtt::AsyncClient {
        &self.client
    }

    /// The client id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Connects again (after [`disconnect`](Self::disconnect) or a lost connection),
    /// resuming the session.
    pub fn connect_again(&self) {
        let mut opts = mqtt::ConnectOptionsBuilder::with_mqtt_version(self.opts.version);
        opts.keep_alive_interval(self.opts.keepalive)
            .connect_timeout(OP_TIMEOUT);
        if self.opts.version == mqtt::MQTT_VERSION_5 {
            opts.clean_start(false)
                .properties(mqtt::properties![mqtt::PropertyCode::SessionExpiryInterval => 3600]);
        } else {
            opts.clean_session(false);
        }
        if let Some(ssl) = &self.opts.ssl {
            opts.ssl_options(ssl.clone());
        }
        if let Some((topic, payload)) = &self.opts.will {
            opts.will_message(mqtt::Message::new(topic, payload.clone(), 1));
        }
        if let Err(e) = self.client.connect(opts.finalize()).wait_for(OP_TIMEOUT) {
            panic!("{}", self.failure(&format!("{}: connect: {e}", self.id)));
        }
    }

    /// Subscribes and waits for the SUBACK.
    pub fn subscribe(&self, filter: &str, qos: i32) {
        if let Err(e) = self.client.subscribe(filter, qos).wait_for(OP_TIMEOUT) {
            panic!(
                "{}",
                self.failure(&format!("{}: subscribe {filter}: {e}", self.id))
            );
        }
    }

    /// Disconnects (a normal DISCONNECT) and waits until Paho reports it done. Messages
    /// that arrived before stay in the stream.
    pub fn disconnect(&self) {
        if let Err(e) = self.client.disconnect(None).wait_for(OP_TIMEOUT) {
            panic!("{}", self.failure(&format!("{}: disconnect: {e}", self.id)));
        }
    }

    /// The next message, waiting up to `timeout`; `None` if none came. Skips the `None`
    /// markers paho puts into the stream when a connection ends.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<mqtt::Message> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.stream.try_recv() {
                Ok(Some(msg)) => return Some(msg),
                Ok(None) => continue,
                Err(_) => {}
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The next message, waiting up to `timeout`; panics if none came.
    pub fn expect_message(&self, timeout: Duration) -> mqtt::Message {
        self.recv_timeout(timeout).unwrap_or_else(|| {
            panic!(
                "{}",
                self.failure(&format!("{}: no message within {timeout:?}", self.id))
            )
        })
    }

    fn failure(&self, what: &str) -> String {
        failure_message(what, &self.log_path, None)
    }
}

impl fmt::Debug for SessionClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionClient")
            .field("id", &self.id)
            .field("opts", &self.opts)
            .finish()
    }
}

impl Drop for SessionClient {
    fn drop(&mut self) {
        if self.client.is_connected() {
            let _ = self.client.disconnect(None).wait_for(OP_TIMEOUT);
        }
    }
}
