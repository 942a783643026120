//! `MQTT_BROKER_URL=embedded`: an MQTT broker inside the process, for development and
//! demos (cargo feature `embedded-broker`). The user-facing documentation is on
//! [`EmbeddedBroker`]; without the feature, `embedded` is refused by [`resolve`] with a
//! [`ConfigError`] that says to enable it, instead of being looked up as a host name.
//!
//! Log target: `flask_mqtt::embedded`.

use crate::error::ConfigError;
use crate::{Config, Result};

#[cfg(feature = "embedded-broker")]
mod server;
#[cfg(feature = "embedded-broker")]
mod trace;

/// The broker host that selects the embedded broker.
pub(crate) const HOST: &str = "embedded";
/// Log target of this module.
#[cfg(feature = "embedded-broker")]
const TARGET: &str = "flask_mqtt::embedded";
/// Largest payload the embedded broker accepts.
#[cfg(feature = "embedded-broker")]
const MAX_PAYLOAD: usize = 4 << 20;

/// Whether `host` selects the embedded broker.
pub(crate) fn is_embedded(host: &str) -> bool {
    host.eq_ignore_ascii_case(HOST)
}

/// Whether the embedded broker can serve `config`, when its host is `embedded`: without
/// the feature it cannot; with it, not TLS, websockets, MQTT 5 or a keep-alive of 0.
/// Other configs are fine. The error names the key to change.
pub(crate) fn validate(config: &Config) -> std::result::Result<(), ConfigError> {
    if !is_embedded(&config.host) {
        return Ok(());
    }
    #[cfg(feature = "embedded-broker")]
    {
        check(config)
    }
    #[cfg(not(feature = "embedded-broker"))]
    {
        Err(feature_missing(config.prefix()))
    }
}

/// Replaces the host `embedded` by the address of this process's embedded broker,
/// starting it first if needed (see [`validate`] for what fails). Other configs are
/// returned unchanged.
pub(crate) fn resolve(config: Config) -> Result<Config> {
    validate(&config)?;
    #[cfg(feature = "embedded-broker")]
    if is_embedded(&config.host) {
        let mut config = config;
        let port = config.port_given.then_some(config.port);
        let broker = EmbeddedBroker::start_for(config.prefix(), port)?;
        config.host = broker.addr.ip().to_string();
        config.port = broker.addr.port();
        return Ok(config);
    }
    Ok(config)
}

/// The error for `embedded` without the feature.
#[cfg_attr(feature = "embedded-broker", allow(dead_code))]
fn feature_missing(prefix: &str) -> ConfigError {
    ConfigError::new(
        &format!("{prefix}_BROKER_URL"),
        Some(HOST),
        "a broker host or URI; `embedded` (an MQTT broker inside the process, for development) \
         needs the cargo feature `embedded-broker` of flask-mqtt-actix (or flask-mqtt-core): \
         `cargo add flask-mqtt-actix --features embedded-broker`",
    )
}

/// Settings the embedded broker cannot serve.
#[cfg(feature = "embedded-broker")]
fn check(config: &Config) -> std::result::Result<(), ConfigError> {
    use crate::config::{ProtocolVersion, Transport};
    let key = |name: &str| format!("{}_{name}", config.prefix());
    if config.tls.is_some() {
        return Err(ConfigError::new(
            &key("TLS_ENABLED"),
            Some("true"),
            "`false` (and no `mqtts://`): the embedded broker listens on loopback without TLS",
        ));
    }
    if config.transport == Transport::WebSockets {
        return Err(ConfigError::new(
            &key("TRANSPORT"),
            Some("websockets"),
            "`tcp` (and no `ws://`): the embedded broker has no websocket listener",
        ));
    }
    if config.protocol == ProtocolVersion::V5 {
        return Err(ConfigError::new(
            &key("PROTOCOL_VERSION"),
            Some("5"),
            "`3.1.1`: the embedded broker speaks MQTT 3.1.1 only",
        ));
    }
    if config.keepalive.is_zero() {
        return Err(ConfigError::new(
            &key("KEEPALIVE"),
            Some("0"),
            "1 to 65535: the embedded broker (rumqttd) closes connections that ask for no keep-alive",
        ));
    }
    Ok(())
}

#[cfg(feature = "embedded-broker")]
pub use self::broker::EmbeddedBroker;

#[cfg(feature = "embedded-broker")]
mod broker {
    use std::net::SocketAddr;
    use std::sync::Mutex;

    use super::server::{self, StartError};
    use super::TARGET;
    use crate::error::ConfigError;
    use crate::{Error, Result};

    /// The one broker of this process, once started.
    static RUNNING: Mutex<Option<EmbeddedBroker>> = Mutex::new(None);

    /// The MQTT broker inside this process: `MQTT_BROKER_URL=embedded`, for development
    /// and demos (cargo feature `embedded-broker`, off by default).
    ///
    /// ```toml
    /// flask-mqtt-actix = { version = "0.1", features = ["embedded-broker"] }
    /// ```
    ///
    /// A client whose broker is `embedded` (`MQTT_BROKER_URL=embedded`, `broker_url =
    /// "embedded"` in the file, or `.host("embedded")`) starts
    /// [rumqttd](https://docs.rs/rumqttd) on `127.0.0.1`, on a free port (or on
    /// `MQTT_BROKER_PORT` when that is set to a port other than the default 1883), and
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
    /// # A development tool, not a broker to deploy
    /// It logs a warning saying so when it starts (target `flask_mqtt::embedded`), because:
    /// - nothing persists: messages, retained messages and sessions are in memory and are
    ///   lost when the process exits;
    /// - there is no authentication (any user name and password are accepted) and no TLS,
    ///   which is why it listens on loopback only;
    /// - it speaks MQTT 3.1.1 only: MQTT 5, TLS and websocket settings, and a keep-alive
    ///   of 0 (which rumqttd refuses) are [`ConfigError`]s naming the key;
    /// - payloads are limited to 4 MiB, and a subscriber that falls more than 16 MiB of
    ///   messages behind on a filter skips ahead (rumqttd logs a warning);
    /// - rumqttd differs from the MQTT specification in ways a client notices: it delivers
    ///   at the QoS of the subscription even what was published at a lower QoS, and a
    ///   message matching several of a client's subscriptions arrives once per
    ///   subscription;
    /// - it adds rumqttd and its dependencies (an HTTP stack among them) to the build.
    ///
    /// # Logging
    /// rumqttd logs through `tracing`, which, with no `tracing` subscriber installed,
    /// turns every span into a `log` line: one ERROR line per published message. So when
    /// the broker starts and the program has no global `tracing` subscriber, flask-mqtt
    /// installs one that forwards `tracing` events, from every crate, to `log` as
    /// `tracing` itself would, except that spans are not logged, rumqttd's events are one
    /// level quieter (its info lines at debug), and the few errors rumqttd logs for normal
    /// traffic (a client disconnecting) are logged at debug. Normal traffic then logs no
    /// error and no warning. A program that uses `tracing` subscribers should install its
    /// own before the broker starts (setting a global subscriber later fails); rumqttd's
    /// events then go to it, under targets `rumqttd::*`.
    ///
    /// ```
    /// use flask_mqtt_core::{Client, Config, EmbeddedBroker};
    ///
    /// # fn main() -> flask_mqtt_core::Result<()> {
    /// let client = Client::start(Config::builder().host("embedded").build()?)?;
    /// let broker = EmbeddedBroker::running().expect("started by the client");
    /// assert!(broker.addr().ip().is_loopback());
    /// println!("watch with: mosquitto_sub -p {} -t '#' -v", broker.port());
    /// # drop(client);
    /// # Ok(()) }
    /// ```
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct EmbeddedBroker {
        pub(super) addr: SocketAddr,
    }

    impl EmbeddedBroker {
        /// Starts this process's embedded broker on `127.0.0.1:port` (a free port when
        /// `None`), or returns the one already running. Fails if `port` is taken, or if
        /// the broker already runs on another port.
        pub fn start(port: Option<u16>) -> Result<EmbeddedBroker> {
            EmbeddedBroker::start_for(crate::DEFAULT_PREFIX, port)
        }

        /// The embedded broker of this process, if it was started.
        pub fn running() -> Option<EmbeddedBroker> {
            *crate::sync::lock(&RUNNING)
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
            let key = format!("{prefix}_BROKER_PORT");
            let mut running = crate::sync::lock(&RUNNING);
            if let Some(broker) = *running {
                return match port {
                    Some(p) if p != broker.port() => Err(ConfigError::new(
                        &key,
                        Some(&p.to_string()),
                        format!(
                            "{} or no value: the embedded broker of this process already listens on {}",
                            broker.port(),
                            broker.addr
                        ),
                    )
                    .into()),
                    _ => Ok(broker),
                };
            }
            if super::trace::install() {
                log::debug!(
                    target: TARGET,
                    "no global `tracing` subscriber: `tracing` events (rumqttd's among them) now go to `log`"
                );
            }
            let addr = server::spawn(port).map_err(|e| match e {
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
            let broker = EmbeddedBroker { addr };
            *running = Some(broker);
            Ok(broker)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_is_recognised_in_any_case() {
        assert!(is_embedded("embedded"));
        assert!(is_embedded("EMBEDDED"));
        assert!(!is_embedded("embedded.example"));
        assert!(!is_embedded("localhost"));
    }

    #[test]
    fn missing_feature_error_names_the_key_and_the_feature() {
        let e = feature_missing("MQTT2");
        assert_eq!(e.key(), "MQTT2_BROKER_URL");
        assert_eq!(e.value(), Some("embedded"));
        assert!(e.to_string().contains("`embedded-broker`"), "{e}");
    }

    #[test]
    fn other_hosts_pass_through() {
        let config = Config::builder().host("broker.example").build().unwrap();
        let resolved = resolve(config).unwrap();
        assert_eq!(resolved.host(), "broker.example");
        assert_eq!(resolved.port(), 1883);
    }

    #[cfg(not(feature = "embedded-broker"))]
    #[test]
    fn without_the_feature_embedded_is_a_config_error() {
        // Refused when the config is built (so `init()` fails fast), and by `resolve`
        // for a config put together some other way.
        let built = Config::builder().host("embedded").build();
        assert!(
            matches!(&built, Err(e) if e.key() == "MQTT_BROKER_URL"),
            "{built:?}"
        );
        let mut config = Config::new();
        config.host = "embedded".to_owned();
        match resolve(config) {
            Err(crate::Error::Config(e)) => {
                assert_eq!(e.key(), "MQTT_BROKER_URL");
                assert!(e.expected().contains("embedded-broker"), "{e}");
            }
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[cfg(feature = "embedded-broker")]
    #[test]
    fn settings_the_broker_cannot_serve_are_refused_before_starting_it() {
        let cases = [
            (
                Config::builder().host("mqtts://embedded"),
                "MQTT_TLS_ENABLED",
            ),
            (Config::builder().host("ws://embedded"), "MQTT_TRANSPORT"),
            (
                Config::builder()
                    .host("embedded")
                    .protocol_version(crate::ProtocolVersion::V5),
                "MQTT_PROTOCOL_VERSION",
            ),
            (
                Config::builder()
                    .host("embedded")
                    .keepalive(std::time::Duration::ZERO),
                "MQTT_KEEPALIVE",
            ),
        ];
        for (builder, key) in cases {
            // Refused when the config is built, so `init()` fails before serving.
            let e = builder.build().unwrap_err();
            assert_eq!(e.key(), key, "{e}");
        }
        assert!(check(&Config::builder().host("embedded").build().unwrap()).is_ok());
    }
}
