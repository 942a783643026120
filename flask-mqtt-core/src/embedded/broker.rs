//! [`EmbeddedBroker`]: the one development broker of the process, started on demand.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::server::{self, Listening, StartError, TARGET};
use crate::config::keys;
use crate::config::DEFAULT_PREFIX;
use crate::error::{ConfigError, Error, Result};
use crate::sync::lock;

/// The broker of this process started last, once one was, and whether it still runs.
static RUNNING: Mutex<Option<(EmbeddedBroker, Arc<AtomicBool>)>> = Mutex::new(None);

/// The MQTT broker inside this process: `MQTT_BROKER_URL=embedded`, for development
/// and demos (cargo feature `embedded-broker`, off by default).
///
/// ```toml
/// flask-mqtt-actix = { version = "0.1", features = ["embedded-broker"] }
/// ```
///
/// A client whose broker is `embedded` (`MQTT_BROKER_URL=embedded`, `broker_url =
/// "embedded"` in the file, or `.broker_url("embedded")`) starts
/// [rumqttd](https://docs.rs/rumqttd) on `127.0.0.1`, on a free port (or on
/// `MQTT_BROKER_PORT` when that is set, 1883 included), and
/// connects to it. So a demo, an example or a local development setup needs no
/// Mosquitto. Without the feature, `embedded` is refused at startup with
/// [`Error::Config`] naming `MQTT_BROKER_URL` and the feature.
///
/// There is one per process, started by the first client that asks for it (or by
/// [`EmbeddedBroker::start`]): every client configured with `embedded`, whatever its
/// prefix, connects to the same broker and sees the others' messages, however many
/// actix workers there are. It runs until the process exits (rumqttd cannot be
/// stopped). Asking for a port other than the one it runs on is a [`ConfigError`].
///
/// Should rumqttd's router thread die (a panic in rumqttd: its message is on stderr), the
/// broker says so with an error under `flask_mqtt::embedded`, on stderr when no logger
/// shows it, and stops listening: its clients cannot connect again, so their
/// [`Health`](crate::Health) is not ready (the readiness endpoint answers 503). The dead
/// broker is not [`running`](EmbeddedBroker::running) any more
/// ([`is_running`](EmbeddedBroker::is_running) is `false`), and the next
/// [`EmbeddedBroker::start`] (or client configured with `embedded`) starts a new one,
/// with empty state, on the same port when it is still free: the clients of the dead one,
/// which keep reconnecting to that port, then connect to it and are ready again.
///
/// # A development tool, not a broker to deploy
/// It logs a warning saying so when it starts (target `flask_mqtt::embedded`), because:
/// - nothing persists: messages, retained messages and sessions are in memory and are
///   lost when the process exits;
/// - there is no authentication (any user name and password are accepted) and no TLS,
///   which is why it listens on loopback only;
/// - it speaks MQTT 3.1.1 only: MQTT 5, TLS and websocket settings, and a keep-alive
///   of 0 (which rumqttd refuses) are [`ConfigError`]s naming the key;
/// - a packet's remaining length is limited to 4 MiB (for a PUBLISH: 2 bytes, the topic,
///   2 for the packet identifier at QoS 1 or 2, and the payload; so a 4 MiB payload is
///   too large). rumqttd closes the connection of a client that sends more. A client
///   configured with the host `embedded` knows this limit and refuses such a publish
///   itself, with [`Error::BrokerLimit`]
///   ([`PublishLimit::PacketSize`](crate::error::PublishLimit::PacketSize), `max`
///   4,194,309 bytes, the whole packet), and the connection stays. A client given the
///   broker's address as a URL (`tcp://` and [`EmbeddedBroker::addr`]) does not know it:
///   the broker announces no Maximum Packet Size (MQTT 3.1.1 has none), so that client
///   sends the publish and rumqttd closes its connection;
/// - a subscriber that falls more than 16 MiB of messages behind on a filter skips
///   ahead (rumqttd logs a warning);
/// - rumqttd differs from the MQTT specification in ways a client notices: it delivers
///   at the QoS of the subscription even what was published at a lower QoS, and a
///   message matching several of a client's subscriptions arrives once per
///   subscription;
/// - it adds rumqttd and its dependencies (an HTTP stack among them) to the build.
///
/// # Logging
/// rumqttd logs through `tracing`, which, with no `tracing` subscriber installed,
/// turns every span into a `log` line: one ERROR line per published message. So when
/// the program has no global `tracing` subscriber, the broker's own thread (its
/// listener and connections) gets a subscriber of its own that forwards rumqttd's
/// events to `log` as `tracing` itself would, except that spans are not logged, its
/// events are one level quieter (its info lines at debug), and the few errors it logs
/// for normal traffic (a client disconnecting) are logged at debug. Normal traffic
/// then logs no error and no warning.
///
/// flask-mqtt never installs a global `tracing` subscriber: the program may install
/// its own at any time, before or after the broker starts. One installed before gets
/// all of rumqttd's events, under targets `rumqttd::*`. Any thread's own subscriber
/// ends `tracing`'s `log` fallback in the whole process, though: once the broker runs,
/// `tracing` events and spans of the other threads (rumqttd's router thread among
/// them) reach no logger until the program installs a `tracing` subscriber.
///
/// ```
/// use flask_mqtt_core::{Client, Config, EmbeddedBroker};
///
/// # fn main() -> flask_mqtt_core::Result<()> {
/// let client = Client::start(Config::builder().broker_url("embedded").build()?)?;
/// let broker = EmbeddedBroker::running().expect("started by the client");
/// assert!(broker.addr().ip().is_loopback());
/// println!("watch with: mosquitto_sub -p {} -t '#' -v", broker.port());
/// # drop(client);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmbeddedBroker {
    pub(super) addr: SocketAddr,
    /// Which broker of the process this is: 1 for the first, one more for each started
    /// after one died.
    start: u64,
}

impl EmbeddedBroker {
    /// Starts this process's embedded broker on `127.0.0.1:port` (a free port when
    /// `None`), or returns the one already running. Fails if `port` is taken, or if
    /// the broker already runs on another port. When the one started before died (see
    /// above), starts a new one, on the dead one's port when `port` is `None` and that
    /// port is free.
    pub fn start(port: Option<u16>) -> Result<EmbeddedBroker> {
        EmbeddedBroker::start_for(DEFAULT_PREFIX, port)
    }

    /// The embedded broker of this process, if it was started and still runs: `None`
    /// once its router died (see above), until a new one starts.
    pub fn running() -> Option<EmbeddedBroker> {
        match &*lock(&RUNNING) {
            Some((broker, alive)) if alive.load(Ordering::SeqCst) => Some(*broker),
            _ => None,
        }
    }

    /// Whether this broker still runs: `false` once its router died (see above), even
    /// when a new broker was started since, on the same port or not.
    pub fn is_running(&self) -> bool {
        EmbeddedBroker::running() == Some(*self)
    }

    /// Its address: `127.0.0.1` and its port.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// [`EmbeddedBroker::start`] for the client with key prefix `prefix` (errors name
    /// its keys).
    pub(crate) fn start_for(prefix: &str, port: Option<u16>) -> Result<EmbeddedBroker> {
        let key = keys::BROKER_PORT.full(prefix);
        let mut running = lock(&RUNNING);
        let dead = match &*running {
            Some((broker, alive)) if alive.load(Ordering::SeqCst) => {
                return EmbeddedBroker::already(*broker, &key, port);
            }
            Some((broker, _)) => Some(*broker),
            None => None,
        };
        // A new broker after a dead one: on its port, where its clients reconnect, when
        // no other was asked for and it is free.
        let listening = match (port, dead) {
            (None, Some(dead)) => server::spawn(Some(dead.port())).or_else(|_| server::spawn(None)),
            _ => server::spawn(port),
        };
        let Listening { addr, alive } = listening.map_err(|e| match e {
            StartError::Bind(addr, io) => Error::Config(ConfigError::new(
                &key,
                Some(&addr.port().to_string()),
                format!("a free port for the embedded broker ({addr}: {io})"),
            )),
            StartError::Io(io) => Error::Runtime(std::io::Error::new(
                io.kind(),
                format!("the embedded MQTT broker did not start: {io}"),
            )),
        })?;
        log::warn!(
            target: TARGET,
            "embedded MQTT broker listening on {addr}: a development tool, not for production \
             (in memory only, nothing persists; no authentication; no TLS; loopback only; MQTT 3.1.1)"
        );
        let broker = EmbeddedBroker {
            addr,
            start: dead.map_or(1, |dead| dead.start + 1),
        };
        *running = Some((broker, alive));
        Ok(broker)
    }

    /// What [`EmbeddedBroker::start_for`] returns when `broker` runs: it, unless `port`
    /// asks for another.
    fn already(broker: EmbeddedBroker, key: &str, port: Option<u16>) -> Result<EmbeddedBroker> {
        match port {
            Some(p) if p != broker.port() => Err(ConfigError::new(
                key,
                Some(&p.to_string()),
                format!(
                    "{} or no value: the embedded broker of this process already listens on {}",
                    broker.port(),
                    broker.addr
                ),
            )
            .into()),
            _ => Ok(broker),
        }
    }
}
