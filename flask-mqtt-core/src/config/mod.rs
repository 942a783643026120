//! Connection settings, with Flask-MQTT's key names.
//!
//! Three ways to say the same thing, one precedence: defaults, then a TOML file (if
//! `MQTT_CONFIG_FILE` names one, or [`Config::from_file_and_env`]), then environment
//! variables. A [`ConfigBuilder`] used in code is taken as it is. Every path ends in
//! [`ConfigBuilder::build`], which checks every value the same way.
//!
//! | key (environment) | TOML field in `[MQTT]` | builder | default | meaning |
//! |---|---|---|---|---|
//! | `MQTT_BROKER_URL` | `broker_url` | `.broker_url(..)` | `localhost` | host, or `mqtt://`/`tcp://`, `mqtts://`/`ssl://` (TLS), `ws://`, `wss://` URI with optional `:port` and websocket `/path` (a query after the host, `wss://host?token=...`, is the path `/`'s); a comma-separated list (one scheme) names fallback brokers, tried in order at every (re)connect; `embedded`: the development broker inside the process (feature `embedded-broker`); credentials go in `MQTT_USERNAME`/`MQTT_PASSWORD`, a URL with `user:password@` is refused |
//! | `MQTT_BROKER_PORT` | `broker_port` | `.port(..)` | `1883`; `8883` TLS; `80`/`443` ws/wss | TCP port, 1-65535; wins over a port in the URL |
//! | `MQTT_USERNAME` | `username` | `.credentials(user, _)` / `.username(..)` | none | user name (at most 65535 bytes) |
//! | `MQTT_PASSWORD` | `password` | `.credentials(_, pass)` | none | password; needs a user name; never logged or shown by `Debug` |
//! | `MQTT_KEEPALIVE` | `keepalive` | `.keepalive(..)` | `60` | keep-alive in whole seconds, 0-65535 |
//! | `MQTT_CONNECTION_TIMEOUT` | `connection_timeout` | `.connect_timeout(..)` | `5` | seconds one connection attempt may take (positive, at most 86400; Paho counts whole seconds, so a fraction rounds up: `2.7` waits 3 s) |
//! | `MQTT_PUBLISH_TIMEOUT` | `publish_timeout` | `.publish_timeout(..)` | `10` | seconds `publish` waits while the client is disconnected before it fails (positive, at most 86400) |
//! | `MQTT_CLIENT_ID` | `client_id` | `.client_id(..)` | `flask-mqtt-` + 12 characters unique to the process | client identifier; `{pid}` and `{hostname}` are replaced, so replicas sharing one setting (`app-{hostname}-{pid}`) never take over each other's connection; empty: the broker assigns one at each connect, so only with a clean session |
//! | `MQTT_CLEAN_SESSION` | `clean_session` | `.clean_session(..)` | `true` | clean session (3.1.1) / clean start (5) |
//! | `MQTT_SESSION_EXPIRY` | `session_expiry` | `.session_expiry(..)` | `0`; 1 day when clean session is off on MQTT 5 | MQTT 5 session expiry, whole seconds |
//! | `MQTT_TRANSPORT` | `transport` | `.transport(..)` | `tcp` | `tcp` or `websockets` |
//! | `MQTT_WEBSOCKET_PATH` | `websocket_path` | `.websocket_path(..)` | `/mqtt` | websocket HTTP path, with an optional `?query` (a presigned URL's credentials: logs, errors and `Debug` show its parameters' names, never their values; the AsyncAPI document leaves the query out) |
//! | `MQTT_PROTOCOL_VERSION` | `protocol_version` | `.protocol_version(..)` | `3.1.1` | `3.1.1` (also `4`, `311`) or `5` |
//! | `MQTT_TLS_ENABLED` | `tls_enabled` | `.tls(..)` | `false` (`true` for `mqtts`/`wss`) | use TLS; the server certificate and host name are verified (unless `MQTT_TLS_INSECURE` or `MQTT_TLS_VERIFY_CERTIFICATE=false` turns a check off) |
//! | `MQTT_TLS_CA_CERTS` | `tls_ca_certs` | `.tls_ca_certs(..)` | system trust store | CA file (PEM); checked to exist at startup |
//! | `MQTT_TLS_CERTFILE` | `tls_certfile` | `.tls_client_cert(cert, _)` | none | client certificate (PEM) for mutual TLS |
//! | `MQTT_TLS_KEYFILE` | `tls_keyfile` | `.tls_client_cert(_, key)` | none | its private key (PEM); a key needs a certificate |
//! | `MQTT_TLS_VERSION` | `tls_version` | `.tls_version(..)` | `tlsv1.2` | lowest TLS version accepted: `tlsv1.2` (TLS 1.2 or 1.3, whichever the broker offers) or `tlsv1.3` (a broker offering at most TLS 1.2 is refused) |
//! | `MQTT_TLS_INSECURE` | `tls_insecure` | `.tls_insecure(..)` | `false` | skip the host name check only, as Flask-MQTT: the certificate must still come from a trusted CA; a warning is logged at every connect |
//! | `MQTT_TLS_VERIFY_CERTIFICATE` | `tls_verify_certificate` | `.tls_verify_certificate(..)` | `true` | `false`: accept any server certificate (no CA nor host name check; Flask-MQTT's `MQTT_TLS_CERT_REQS=ssl.CERT_NONE`): anyone on the path can read and change the connection; a warning is logged at every connect |
//! | `MQTT_TLS_CIPHERS` | `tls_ciphers` | `.tls_ciphers(..)` | OpenSSL's default | OpenSSL cipher list (TLS 1.2) |
//! | `MQTT_LAST_WILL_TOPIC` | `last_will_topic` | `.last_will(topic, ..)` | none | last will topic |
//! | `MQTT_LAST_WILL_MESSAGE` | `last_will_message` | `.last_will(_, message, ..)` | empty | last will payload (at most 65535 bytes) |
//! | `MQTT_LAST_WILL_QOS` | `last_will_qos` | `.last_will(.., qos, _)` | `0` | 0, 1 or 2 |
//! | `MQTT_LAST_WILL_RETAIN` | `last_will_retain` | `.last_will(.., retain)` | `false` | retain the last will |
//! | `MQTT_RECONNECT_MIN_DELAY` | `reconnect_min_delay` | `.reconnect_delay(min, _)` | `0.5` | seconds before the first retry (positive, at most 86400) |
//! | `MQTT_RECONNECT_MAX_DELAY` | `reconnect_max_delay` | `.reconnect_delay(_, max)` | `30` | the retry delay doubles up to this (at least the min delay, at most 86400) |
//! | `MQTT_MAX_BUFFERED_MESSAGES` | `max_buffered_messages` | `.max_buffered_messages(..)` | `10000` | publishes Paho holds that are not yet sent (while disconnected, and queued while connected); past it `publish` fails at once with `Error::BufferFull` |
//! | `MQTT_CONNECT_MODE` | `connect_mode` | `.connect_mode(..)` | `background` | `background`: serve HTTP and keep retrying; `required`: `mqtt::init()` fails if the first connect does not succeed, naming host, port and reason, after at most the connection timeout (rounded up to whole seconds) per broker of the list plus 1 s (without `init`, `configure` connects in the background and warns once) |
//! | `MQTT_ACK_POLICY` | `ack_policy` | `.ack_policy(..)` | `after` | when a QoS 1/2 message is acknowledged to the broker, for handlers without `ack = "..."`: `after` every handler it went to has finished (nothing acknowledged is lost if the app dies), or `first`, on arrival, before the handlers run; `manual` is a per-handler choice only |
//! | `MQTT_RECEIVE_MAXIMUM` | `receive_maximum` | `.receive_maximum(..)` | `100` | MQTT 5 Receive Maximum (sent in CONNECT): how many QoS 1/2 messages the broker sends before earlier ones are acknowledged, so it bounds the unacknowledged messages in the app; 1-65535. MQTT 3.1.1 has no such setting (the broker's inflight window does it): a warning if set |
//! | `MQTT_METRICS` | `metrics` | `.metrics(..)` | `true` | record Prometheus metrics for this client (`mqtt::metrics` serves them); `false`: nothing is recorded and the client is left out of `mqtt::metrics`, which answers 404 when no client records |
//!
//! Another prefix configures another named client (Flask-MQTT's `config_prefix`):
//! `MQTT2_BROKER_URL`, `MQTT2_USERNAME`, ... Booleans accept `true`/`false`, `1`/`0`,
//! `yes`/`no`, `on`/`off`. A value that cannot be used is a [`ConfigError`] naming the key,
//! the value (never for the password) and what is accepted: text that reaches Paho C has
//! no NUL character, MQTT strings (user name, password, client id, will topic and
//! payload) are at most 65535 bytes, and timeouts and delays are positive and at most a
//! day, whether they come from the environment, a file or code.
//!
//! An environment variable that starts like a key of a client in use but is none
//! (`MQTT_BROKER_URI`) is ignored with a warning naming the closest key ("did you mean
//! MQTT_BROKER_URL?"), once per process, under the log target `flask_mqtt::config`;
//! with no logger installed, it goes to stderr. `MQTT_C_CLIENT_TRACE`,
//! `MQTT_C_CLIENT_TRACE_LEVEL` and `MQTT_C_CLIENT_TRACE_MAX_LINES` are no keys but are
//! read by Paho C itself: its trace then goes to stdout or a file, unredacted; that is
//! warned about the same way when a client starts, however its `Config` was made.
//!
//! # Layout
//! One concept per file, imported from the file that defines it; nothing here knows the
//! client, dispatch or the embedded broker's runtime.
//! ```text
//!  mod.rs       Config: the validated settings and their accessors; the constructors
//!  validate.rs  ConfigBuilder::build: every check, for every source
//!  source.rs    reading through a lookup (the environment); unknown keys
//!  file.rs      ConfigFile, BrokerSection: the TOML form
//!  keys.rs      KEYS: every key once (name, field, setter, default, meaning, reader)
//!  builder.rs   ConfigBuilder: the setters
//!  will.rs  tls.rs  url.rs  client_id.rs  embedded.rs   one setting each
//!  values.rs  prefix.rs   value types and their text form; key prefixes
//! ```

mod builder;
mod client_id;
pub(crate) mod embedded;
mod file;
pub(crate) mod keys;
mod prefix;
pub(crate) mod source;
mod tls;
mod url;
mod validate;
mod values;
mod will;

use std::path::Path;
use std::time::Duration;

pub use self::builder::ConfigBuilder;
pub use self::file::{BrokerSection, ConfigFile, Scalar};
pub use self::prefix::DEFAULT_PREFIX;
pub use self::tls::{TlsConfig, TlsVersion};
pub use self::values::{ConnectMode, ProtocolVersion, Secret, Transport};
pub use self::will::LastWill;

use self::values::WebSocketPath;
use crate::ack::policy::AckPolicy;
use crate::error::ConfigError;

/// The default of `MQTT_RECEIVE_MAXIMUM`.
pub(crate) const DEFAULT_RECEIVE_MAXIMUM: u16 = 100;

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
    pub(crate) websocket_path: WebSocketPath,
    pub(crate) protocol: ProtocolVersion,
    pub(crate) tls: Option<TlsConfig>,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Secret>,
    pub(crate) keepalive: Duration,
    pub(crate) client_id: String,
    /// Whether the client id is new in every process (the default id, or `{pid}` in
    /// `MQTT_CLIENT_ID`): no later process takes up a session it leaves.
    pub(crate) client_id_per_process: bool,
    pub(crate) clean_session: bool,
    pub(crate) session_expiry: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) publish_timeout: Duration,
    pub(crate) reconnect_min_delay: Duration,
    pub(crate) reconnect_max_delay: Duration,
    pub(crate) max_buffered_messages: usize,
    pub(crate) last_will: Option<LastWill>,
    pub(crate) connect_mode: ConnectMode,
    pub(crate) ack_policy: AckPolicy,
    pub(crate) receive_maximum: u16,
    pub(crate) metrics: bool,
}

impl Default for Config {
    /// Settings with every default (broker `localhost:1883`, a client id unique to the
    /// process).
    fn default() -> Self {
        Config {
            prefix: DEFAULT_PREFIX.to_owned(),
            host: "localhost".to_owned(),
            port: 1883,
            port_given: false,
            fallbacks: Vec::new(),
            transport: Transport::Tcp,
            websocket_path: WebSocketPath("/mqtt".to_owned()),
            protocol: ProtocolVersion::V311,
            tls: None,
            username: None,
            password: None,
            keepalive: Duration::from_secs(60),
            client_id: client_id::default_id(),
            client_id_per_process: true,
            clean_session: true,
            session_expiry: Duration::ZERO,
            connect_timeout: Duration::from_secs(5),
            publish_timeout: Duration::from_secs(10),
            reconnect_min_delay: Duration::from_millis(500),
            reconnect_max_delay: Duration::from_secs(30),
            max_buffered_messages: 10_000,
            last_will: None,
            connect_mode: ConnectMode::Background,
            ack_policy: AckPolicy::After,
            receive_maximum: DEFAULT_RECEIVE_MAXIMUM,
            metrics: true,
        }
    }
}

impl Config {
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
    /// environment. An environment variable that starts with `{prefix}_` but is no key
    /// is warned about, once per process, naming the closest key.
    pub fn from_env_prefix(prefix: &str) -> Result<Config, ConfigError> {
        match source::env_var(keys::CONFIG_FILE)? {
            Some(path) => Config::from_file_and_env(Path::new(&path), prefix),
            None => {
                source::warn_unknown_env(prefix);
                Config::from_lookup(prefix, source::env_var)
            }
        }
    }

    /// Settings from the section `[prefix]` of a TOML file, overridden by environment
    /// variables with that prefix.
    pub fn from_file_and_env(path: &Path, prefix: &str) -> Result<Config, ConfigError> {
        source::warn_unknown_env(prefix);
        let file = ConfigFile::read(path, Some(prefix))?;
        file.warn_if_unread(&path.display().to_string(), prefix);
        let section = file.section(prefix);
        Config::from_lookup(prefix, |key| match source::env_var(key)? {
            Some(v) => Ok(Some(v)),
            None => Ok(section.and_then(|s| s.raw(key, prefix))),
        })
    }

    /// Settings from the section `[prefix]` of a TOML document (no environment).
    pub fn from_toml_str(toml: &str, prefix: &str) -> Result<Config, ConfigError> {
        let file = ConfigFile::parse(toml, "<string>", Some(prefix))?;
        file.warn_if_unread("<string>", prefix);
        let section = file.section(prefix);
        Config::from_lookup(prefix, |key| Ok(section.and_then(|s| s.raw(key, prefix))))
    }

    /// Reads `{prefix}_BROKER_URL`, `{prefix}_BROKER_PORT`, ... through `lookup`, which
    /// returns the raw value of a full key name (like `std::env::var`).
    pub fn from_lookup<F>(prefix: &str, lookup: F) -> Result<Config, ConfigError>
    where
        F: FnMut(&str) -> Result<Option<String>, ConfigError>,
    {
        source::read(prefix, lookup)?.build()
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
    /// broker of [`server_uris`](Config::server_uris). A WebSocket path's query is
    /// included as configured (a presigned URL's credentials, e.g. `X-Amz-Signature`), so
    /// do not log it; the configuration's `Debug` shows the query's values as `***`.
    pub fn server_uri(&self) -> String {
        self.uri_for(&self.host, self.port)
    }

    /// Every broker, in the order they are tried at each (re)connect: the first one, then
    /// the fallbacks listed after it in `MQTT_BROKER_URL` (comma separated). Each with the
    /// WebSocket path's query as configured, as [`server_uri`](Config::server_uri): do not
    /// log them.
    pub fn server_uris(&self) -> Vec<String> {
        std::iter::once(self.server_uri())
            .chain(self.fallbacks.iter().map(|(h, p)| self.uri_for(h, *p)))
            .collect()
    }

    fn uri_for(&self, host: &str, port: u16) -> String {
        let tls = self.tls.is_some();
        url::uri(self.transport, tls, host, port, &self.websocket_path.0)
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

    /// What a user must hear about this session at start: a session the broker keeps
    /// (`MQTT_CLEAN_SESSION=false`) under a client id that is new in every process, so
    /// that no later process takes up the messages it holds.
    pub(crate) fn session_warning(&self) -> Option<String> {
        (!self.clean_session && self.client_id_per_process).then(|| {
            let why = if self.client_id.contains(&std::process::id().to_string()) {
                "holds this process's id (`{pid}`)"
            } else {
                "is the default, new in every process"
            };
            format!(
                "{} is false, but the client id `{}` {why}: no later process takes up this session, so messages the broker keeps for it are never delivered; set {} to an id that stays the same across restarts (e.g. `app-{{hostname}}`)",
                keys::CLEAN_SESSION.full(&self.prefix),
                values::shown(&self.client_id),
                keys::CLIENT_ID.full(&self.prefix)
            )
        })
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

    /// How long one connection attempt may take as Paho waits for it: the connection
    /// timeout rounded up to whole seconds, Paho C's resolution (it would cut 2.7 s down
    /// to 2 s). Saturating.
    pub(crate) fn attempt_timeout(&self) -> Duration {
        let up = u64::from(self.connect_timeout.subsec_nanos() > 0);
        Duration::from_secs(self.connect_timeout.as_secs().saturating_add(up))
    }

    /// How long the first connect may take in all, with connect mode `required` (what
    /// `Client::start` waits): every broker of the list may take the whole connection
    /// timeout, rounded up to whole seconds as Paho counts it, plus a second for the
    /// answer to arrive. Saturating: never overflows, whatever the settings.
    pub fn first_connect_budget(&self) -> Duration {
        let brokers = u32::try_from(self.fallbacks.len().saturating_add(1)).unwrap_or(u32::MAX);
        self.attempt_timeout()
            .saturating_mul(brokers)
            .saturating_add(Duration::from_secs(1))
    }

    /// First and last retry delay.
    pub fn reconnect_delay(&self) -> (Duration, Duration) {
        (self.reconnect_min_delay, self.reconnect_max_delay)
    }

    /// Publishes the client holds that are not yet sent (while disconnected, and queued
    /// while connected).
    pub fn max_buffered_messages(&self) -> usize {
        self.max_buffered_messages
    }

    /// When QoS 1/2 messages are acknowledged, for the handlers whose attribute chooses
    /// no `ack = "..."` (`MQTT_ACK_POLICY`; default [`AckPolicy::After`]; never
    /// [`AckPolicy::Manual`], which is a per-handler choice).
    pub fn ack_policy(&self) -> AckPolicy {
        self.ack_policy
    }

    /// The MQTT 5 Receive Maximum sent in CONNECT (`MQTT_RECEIVE_MAXIMUM`; default 100):
    /// how many QoS 1/2 messages the broker sends before earlier ones are acknowledged.
    /// Unused on MQTT 3.1.1, where the broker's own inflight window bounds them.
    pub fn receive_maximum(&self) -> u16 {
        self.receive_maximum
    }

    /// Whether the client records Prometheus metrics (`MQTT_METRICS`; default `true`).
    pub fn metrics(&self) -> bool {
        self.metrics
    }
}

#[cfg(test)]
mod tests;
