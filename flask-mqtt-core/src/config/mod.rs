//! Connection settings, with Flask-MQTT's key names.
//!
//! Three ways to say the same thing, one precedence: defaults, then a TOML file (if
//! `MQTT_CONFIG_FILE` names one, or [`Config::from_file_and_env`]), then environment
//! variables. A [`ConfigBuilder`] used in code is taken as it is.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `MQTT_BROKER_URL` | `localhost` | host, or URI `mqtt://`/`tcp://`, `mqtts://`/`ssl://` (TLS), `ws://`, `wss://` (websockets, TLS) with optional `:port` and, for websockets, `/path`; a comma-separated list names fallback brokers tried in order at every (re)connect (same scheme for all); `embedded`: a development broker inside the process (feature `embedded-broker`) |
//! | `MQTT_BROKER_PORT` | `1883`; `8883` with TLS; `80`/`443` for `ws`/`wss` | TCP port, 1-65535 |
//! | `MQTT_USERNAME`, `MQTT_PASSWORD` | none | credentials; the password is never logged or shown |
//! | `MQTT_KEEPALIVE` | `60` | seconds, 0-65535 |
//! | `MQTT_CONNECTION_TIMEOUT` | `5` | seconds one connect attempt may take |
//! | `MQTT_PUBLISH_TIMEOUT` | `10` | seconds `publish` waits while the client is disconnected before it fails |
//! | `MQTT_CLIENT_ID` | `flask-mqtt-` + 12 characters unique per process | client identifier; `{pid}` and `{hostname}` in it are replaced by the process id and the host name, so replicas sharing one setting get distinct ids |
//! | `MQTT_CLEAN_SESSION` | `true` | clean session (MQTT 3.1.1) / clean start (MQTT 5) |
//! | `MQTT_SESSION_EXPIRY` | `0`, or 1 day when `MQTT_CLEAN_SESSION=false` on MQTT 5 | MQTT 5 session expiry in seconds |
//! | `MQTT_TRANSPORT` | `tcp` | `tcp` or `websockets` |
//! | `MQTT_WEBSOCKET_PATH` | `/mqtt` | HTTP path of the websocket endpoint |
//! | `MQTT_PROTOCOL_VERSION` | `3.1.1` | `3.1.1` (also `4`, `311`) or `5` |
//! | `MQTT_TLS_ENABLED` | `false` (`true` for `mqtts`/`wss` URLs) | use TLS |
//! | `MQTT_TLS_CA_CERTS` | system trust store | CA certificate file (PEM) |
//! | `MQTT_TLS_CERTFILE`, `MQTT_TLS_KEYFILE` | none | client certificate and key (PEM) for mutual TLS |
//! | `MQTT_TLS_VERSION` | `tlsv1.2` | `tlsv1.2`; Paho C cannot set a minimum itself, so OpenSSL's defaults (TLS 1.2+ on current distributions) decide and TLS 1.3 is used whenever offered; `tlsv1.3` is rejected with that explanation |
//! | `MQTT_TLS_INSECURE` | `false` | skip server certificate and host name checks (logged as a warning at every connect) |
//! | `MQTT_TLS_CIPHERS` | OpenSSL's default | OpenSSL cipher list for TLS 1.2 |
//! | `MQTT_LAST_WILL_TOPIC` | none | topic of the last will |
//! | `MQTT_LAST_WILL_MESSAGE` | empty | its payload |
//! | `MQTT_LAST_WILL_QOS` | `0` | its QoS, 0-2 |
//! | `MQTT_LAST_WILL_RETAIN` | `false` | whether it is retained |
//! | `MQTT_RECONNECT_MIN_DELAY` | `0.5` | seconds before the first retry |
//! | `MQTT_RECONNECT_MAX_DELAY` | `30` | the retry delay doubles up to this |
//! | `MQTT_MAX_BUFFERED_MESSAGES` | `10000` | publishes Paho holds not yet sent (while disconnected, and queued while connected) |
//! | `MQTT_CONNECT_MODE` | `background` | `background`: serve, keep retrying; `required`: startup fails after the connection timeout |
//!
//! Another prefix configures another named client (Flask-MQTT's `config_prefix`):
//! `MQTT2_BROKER_URL`, `MQTT2_USERNAME`, ... Booleans accept `true`/`false`, `1`/`0`,
//! `yes`/`no`, `on`/`off`. A value that cannot be used is a [`ConfigError`] naming the key,
//! the value (never for the password) and what is accepted.

mod builder;
mod file;
mod source;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use flask_mqtt_topic::TopicName;

pub use self::builder::ConfigBuilder;
pub use self::file::{BrokerSection, ConfigFile, Scalar};

use crate::error::ConfigError;
use crate::QoS;

/// The prefix of the default client's keys.
pub const DEFAULT_PREFIX: &str = "MQTT";

/// A secret string (the broker password): its `Debug` output is `"***"`, it has no
/// `Display`, and it is never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }

    /// The secret itself; handle with care.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// How MQTT packets travel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    /// Plain TCP (or TLS over TCP).
    #[default]
    Tcp,
    /// MQTT over websockets (or secure websockets).
    WebSockets,
}

/// The MQTT protocol version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProtocolVersion {
    /// MQTT 3.1.1.
    #[default]
    V311,
    /// MQTT 5.0.
    V5,
}

/// What startup does while the broker cannot be reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConnectMode {
    /// Serve HTTP at once and keep retrying in the background.
    #[default]
    Background,
    /// Fail startup when the first connect does not succeed within the connection timeout.
    Required,
}

/// The lowest TLS version accepted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2 or newer.
    #[default]
    Tls12,
    /// TLS 1.3 only: rejected by [`ConfigBuilder::build`], because Paho C cannot
    /// enforce it.
    Tls13,
}

/// TLS settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsConfig {
    pub(crate) ca_certs: Option<PathBuf>,
    pub(crate) certfile: Option<PathBuf>,
    pub(crate) keyfile: Option<PathBuf>,
    pub(crate) version: TlsVersion,
    pub(crate) insecure: bool,
    pub(crate) ciphers: Option<String>,
}

impl TlsConfig {
    /// CA certificate file; `None`: the system's trust store.
    pub fn ca_certs(&self) -> Option<&Path> {
        self.ca_certs.as_deref()
    }

    /// Client certificate file.
    pub fn certfile(&self) -> Option<&Path> {
        self.certfile.as_deref()
    }

    /// Client key file.
    pub fn keyfile(&self) -> Option<&Path> {
        self.keyfile.as_deref()
    }

    /// Lowest TLS version.
    pub fn version(&self) -> TlsVersion {
        self.version
    }

    /// Whether certificate and host name checks are skipped.
    pub fn insecure(&self) -> bool {
        self.insecure
    }

    /// OpenSSL cipher list.
    pub fn ciphers(&self) -> Option<&str> {
        self.ciphers.as_deref()
    }
}

/// The message the broker publishes when the client disappears without DISCONNECT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastWill {
    pub(crate) topic: TopicName,
    pub(crate) message: Vec<u8>,
    pub(crate) qos: QoS,
    pub(crate) retain: bool,
}

impl LastWill {
    /// Its topic.
    pub fn topic(&self) -> &str {
        self.topic.as_str()
    }

    /// Its payload.
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// Its QoS.
    pub fn qos(&self) -> QoS {
        self.qos
    }

    /// Whether it is retained.
    pub fn retain(&self) -> bool {
        self.retain
    }
}

/// Complete, validated connection settings for one client.
///
/// Build it with [`Config::from_env`], [`Config::from_file_and_env`],
/// [`Config::from_lookup`] or [`Config::builder`].
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) prefix: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// Whether the port was set (`MQTT_BROKER_PORT` or in the URL), not a default: the
    /// embedded broker takes a free port otherwise.
    #[cfg_attr(not(feature = "embedded-broker"), allow(dead_code))]
    pub(crate) port_given: bool,
    /// Further brokers tried in order after `host:port` (a list in `MQTT_BROKER_URL`).
    pub(crate) fallbacks: Vec<(String, u16)>,
    pub(crate) transport: Transport,
    pub(crate) websocket_path: String,
    pub(crate) protocol: ProtocolVersion,
    pub(crate) tls: Option<TlsConfig>,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Secret>,
    pub(crate) keepalive: Duration,
    pub(crate) client_id: String,
    pub(crate) clean_session: bool,
    pub(crate) session_expiry: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) publish_timeout: Duration,
    pub(crate) reconnect_min_delay: Duration,
    pub(crate) reconnect_max_delay: Duration,
    pub(crate) max_buffered_messages: usize,
    pub(crate) last_will: Option<LastWill>,
    pub(crate) connect_mode: ConnectMode,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            prefix: DEFAULT_PREFIX.to_owned(),
            host: "localhost".to_owned(),
            port: 1883,
            port_given: false,
            fallbacks: Vec::new(),
            transport: Transport::Tcp,
            websocket_path: "/mqtt".to_owned(),
            protocol: ProtocolVersion::V311,
            tls: None,
            username: None,
            password: None,
            keepalive: Duration::from_secs(60),
            client_id: builder::default_client_id(),
            clean_session: true,
            session_expiry: Duration::ZERO,
            connect_timeout: Duration::from_secs(5),
            publish_timeout: Duration::from_secs(10),
            reconnect_min_delay: Duration::from_millis(500),
            reconnect_max_delay: Duration::from_secs(30),
            max_buffered_messages: 10_000,
            last_will: None,
            connect_mode: ConnectMode::Background,
        }
    }
}

impl Config {
    /// Settings with every default (broker `localhost:1883`).
    pub fn new() -> Self {
        Config::default()
    }

    /// A builder starting from the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::default()
    }

    /// The default client's settings: the TOML file named by `MQTT_CONFIG_FILE` (if set),
    /// overridden by `MQTT_*` environment variables.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_env_prefix(DEFAULT_PREFIX)
    }

    /// A named client's settings (`prefix` `MQTT2` reads `MQTT2_BROKER_URL`, ...): the
    /// TOML file named by `MQTT_CONFIG_FILE` (section `[MQTT2]`), overridden by the
    /// environment.
    pub fn from_env_prefix(prefix: &str) -> Result<Config, ConfigError> {
        match source::env_var("MQTT_CONFIG_FILE")? {
            Some(path) => Config::from_file_and_env(Path::new(&path), prefix),
            None => Config::from_lookup(prefix, source::env_var),
        }
    }

    /// Settings from the section `[prefix]` of a TOML file, overridden by environment
    /// variables with that prefix.
    pub fn from_file_and_env(path: &Path, prefix: &str) -> Result<Config, ConfigError> {
        let file = ConfigFile::from_path(path)?;
        let section = file.section(prefix);
        Config::from_lookup(prefix, |key| match source::env_var(key)? {
            Some(v) => Ok(Some(v)),
            None => Ok(section.and_then(|s| s.get(key, prefix))),
        })
    }

    /// Settings from the section `[prefix]` of a TOML document (no environment).
    pub fn from_toml_str(toml: &str, prefix: &str) -> Result<Config, ConfigError> {
        let file = ConfigFile::from_toml_str(toml, "<string>")?;
        let section = file.section(prefix);
        Config::from_lookup(prefix, |key| Ok(section.and_then(|s| s.get(key, prefix))))
    }

    /// Reads `{prefix}_BROKER_URL`, `{prefix}_BROKER_PORT`, ... through `lookup`, which
    /// returns the raw value of a full key name (like `std::env::var`).
    pub fn from_lookup<F>(prefix: &str, lookup: F) -> Result<Config, ConfigError>
    where
        F: FnMut(&str) -> Result<Option<String>, ConfigError>,
    {
        source::read(prefix, lookup)
    }

    /// The key prefix, which is also the client's name (`MQTT` for the default client).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Broker host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Broker port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Transport.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Protocol version.
    pub fn protocol_version(&self) -> ProtocolVersion {
        self.protocol
    }

    /// TLS settings, when TLS is on.
    pub fn tls(&self) -> Option<&TlsConfig> {
        self.tls.as_ref()
    }

    /// The last will, if any.
    pub fn last_will(&self) -> Option<&LastWill> {
        self.last_will.as_ref()
    }

    /// What startup does while the broker is away.
    pub fn connect_mode(&self) -> ConnectMode {
        self.connect_mode
    }

    /// The server URI handed to Paho (`tcp://`, `ssl://`, `ws://` or `wss://`): the first
    /// broker of [`server_uris`](Config::server_uris).
    pub fn server_uri(&self) -> String {
        self.uri_for(&self.host, self.port)
    }

    /// Every broker, in the order they are tried at each (re)connect: the first one, then
    /// the fallbacks listed after it in `MQTT_BROKER_URL` (comma separated).
    pub fn server_uris(&self) -> Vec<String> {
        std::iter::once(self.server_uri())
            .chain(self.fallbacks.iter().map(|(h, p)| self.uri_for(h, *p)))
            .collect()
    }

    fn uri_for(&self, host: &str, port: u16) -> String {
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let tls = self.tls.is_some();
        match (self.transport, tls) {
            (Transport::Tcp, false) => format!("tcp://{host}:{port}"),
            (Transport::Tcp, true) => format!("ssl://{host}:{port}"),
            (Transport::WebSockets, false) => {
                format!("ws://{host}:{port}{}", self.websocket_path)
            }
            (Transport::WebSockets, true) => {
                format!("wss://{host}:{port}{}", self.websocket_path)
            }
        }
    }

    /// The MQTT client identifier.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The user name, if any.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// Keep-alive interval.
    pub fn keepalive(&self) -> Duration {
        self.keepalive
    }

    /// Whether each connect starts a clean session.
    pub fn clean_session(&self) -> bool {
        self.clean_session
    }

    /// MQTT 5 session expiry interval.
    pub fn session_expiry(&self) -> Duration {
        self.session_expiry
    }

    /// How long one connection attempt may take.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// How long `publish` waits while the client is disconnected before it fails
    /// (`MQTT_PUBLISH_TIMEOUT`; default 10 s).
    pub fn publish_timeout(&self) -> Duration {
        self.publish_timeout
    }

    /// First and last retry delay.
    pub fn reconnect_delay(&self) -> (Duration, Duration) {
        (self.reconnect_min_delay, self.reconnect_max_delay)
    }

    /// Publishes kept while disconnected.
    pub fn max_buffered_messages(&self) -> usize {
        self.max_buffered_messages
    }
}

#[cfg(test)]
mod tests;
