//! Connection settings, read from the environment with Flask-MQTT's key names or set
//! through [`ConfigBuilder`].
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `MQTT_BROKER_URL` | `localhost` | broker host name or address; `tcp://host[:port]` and `mqtt://host[:port]` are accepted too |
//! | `MQTT_BROKER_PORT` | `1883` | broker TCP port (1-65535) |
//! | `MQTT_USERNAME` | none | user name for the broker |
//! | `MQTT_PASSWORD` | none | password (never logged, never shown by `Debug`) |
//! | `MQTT_KEEPALIVE` | `60` | keep-alive interval in seconds (0 turns keep-alive off) |
//! | `MQTT_CLIENT_ID` | unique per process | MQTT client identifier |
//! | `MQTT_CLEAN_SESSION` | `true` | start a clean session on every connect |
//! | `MQTT_CONNECTION_TIMEOUT` | `5` | seconds one connection attempt may take |
//! | `MQTT_RECONNECT_MIN_DELAY` | `0.5` | seconds before the first retry after a failed or lost connection |
//! | `MQTT_RECONNECT_MAX_DELAY` | `30` | the retry delay doubles up to this many seconds |
//! | `MQTT_MAX_BUFFERED_MESSAGES` | `10000` | publishes kept while disconnected; past it `publish` fails at once |
//!
//! Booleans accept `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (any case). A value that
//! does not parse is a [`ConfigError`] naming the key, the value (never for the password)
//! and what is accepted.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A configuration value that could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {key}{}: expected {expected}", value.as_ref().map(|v| format!(" `{v}`")).unwrap_or_default())]
pub struct ConfigError {
    key: String,
    value: Option<String>,
    expected: String,
}

impl ConfigError {
    pub(crate) fn new(key: &str, value: Option<&str>, expected: impl Into<String>) -> Self {
        ConfigError {
            key: key.to_owned(),
            value: value.map(crate::error::truncate),
            expected: expected.into(),
        }
    }

    /// The key (`MQTT_BROKER_PORT`, ...) whose value is wrong.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The offending value; `None` for secrets and for missing values.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// What the key accepts.
    pub fn expected(&self) -> &str {
        &self.expected
    }
}

/// A secret string (the broker password): its `Debug` output is `"***"` and it is never logged.
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

/// Complete, validated connection settings for one client.
///
/// Build it with [`Config::from_env`], [`Config::from_lookup`] or [`Config::builder`].
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Secret>,
    pub(crate) keepalive: Duration,
    pub(crate) client_id: String,
    pub(crate) clean_session: bool,
    pub(crate) connect_timeout: Duration,
    pub(crate) reconnect_min_delay: Duration,
    pub(crate) reconnect_max_delay: Duration,
    pub(crate) max_buffered_messages: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: "localhost".to_owned(),
            port: 1883,
            username: None,
            password: None,
            keepalive: Duration::from_secs(60),
            client_id: default_client_id(),
            clean_session: true,
            connect_timeout: Duration::from_secs(5),
            reconnect_min_delay: Duration::from_millis(500),
            reconnect_max_delay: Duration::from_secs(30),
            max_buffered_messages: 10_000,
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

    /// Reads the `MQTT_*` keys from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup("MQTT", |key| match std::env::var(key) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::new(
                key,
                None,
                "valid UTF-8 (the environment variable is not)",
            )),
        })
    }

    /// Reads `{prefix}_BROKER_URL`, `{prefix}_BROKER_PORT`, ... through `lookup`, which
    /// returns the raw value of a full key name (like `std::env::var`). `prefix` is `MQTT`
    /// for the default client.
    pub fn from_lookup<F>(prefix: &str, mut lookup: F) -> Result<Config, ConfigError>
    where
        F: FnMut(&str) -> Result<Option<String>, ConfigError>,
    {
        let mut b = Config::builder();
        b.prefix = prefix.to_owned();
        let mut get = |name: &str| -> Result<Option<(String, String)>, ConfigError> {
            let key = format!("{prefix}_{name}");
            Ok(lookup(&key)?.map(|v| (key, v)))
        };
        if let Some((key, v)) = get("BROKER_URL")? {
            let (host, port) = parse_url(&key, &v)?;
            b.host = Some(host);
            if port.is_some() {
                b.port = port;
            }
        }
        if let Some((key, v)) = get("BROKER_PORT")? {
            b.port = Some(parse_port(&key, &v)?);
        }
        if let Some((_, v)) = get("USERNAME")? {
            b.username = Some(v);
        }
        if let Some((_, v)) = get("PASSWORD")? {
            b.password = Some(Secret(v));
        }
        if let Some((key, v)) = get("KEEPALIVE")? {
            b.keepalive = Some(Duration::from_secs(parse_u64(
                &key,
                &v,
                0,
                65535,
                "whole seconds from 0 to 65535",
            )?));
        }
        if let Some((_, v)) = get("CLIENT_ID")? {
            b.client_id = Some(v);
        }
        if let Some((key, v)) = get("CLEAN_SESSION")? {
            b.clean_session = Some(parse_bool(&key, &v)?);
        }
        if let Some((key, v)) = get("CONNECTION_TIMEOUT")? {
            b.connect_timeout = Some(parse_secs(&key, &v)?);
        }
        if let Some((key, v)) = get("RECONNECT_MIN_DELAY")? {
            b.reconnect_min_delay = Some(parse_secs(&key, &v)?);
        }
        if let Some((key, v)) = get("RECONNECT_MAX_DELAY")? {
            b.reconnect_max_delay = Some(parse_secs(&key, &v)?);
        }
        if let Some((key, v)) = get("MAX_BUFFERED_MESSAGES")? {
            b.max_buffered_messages = Some(parse_u64(
                &key,
                &v,
                1,
                i32::MAX as u64,
                "a whole number of messages, at least 1",
            )? as usize);
        }
        b.build()
    }

    /// Broker host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Broker port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server URI handed to Paho (`tcp://host:port`).
    pub fn server_uri(&self) -> String {
        if self.host.contains(':') {
            // IPv6 literal
            format!("tcp://[{}]:{}", self.host, self.port)
        } else {
            format!("tcp://{}:{}", self.host, self.port)
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

    /// How long one connection attempt may take.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
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

/// Builds a [`Config`] in code; every setter's default is the one of the `MQTT_*` key it
/// mirrors. [`ConfigBuilder::build`] validates and never panics.
#[derive(Clone, Debug)]
pub struct ConfigBuilder {
    prefix: String,
    host: Option<String>,
    port: Option<u16>,
    username: Option<String>,
    password: Option<Secret>,
    keepalive: Option<Duration>,
    client_id: Option<String>,
    clean_session: Option<bool>,
    connect_timeout: Option<Duration>,
    reconnect_min_delay: Option<Duration>,
    reconnect_max_delay: Option<Duration>,
    max_buffered_messages: Option<usize>,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        ConfigBuilder {
            prefix: "MQTT".to_owned(),
            host: None,
            port: None,
            username: None,
            password: None,
            keepalive: None,
            client_id: None,
            clean_session: None,
            connect_timeout: None,
            reconnect_min_delay: None,
            reconnect_max_delay: None,
            max_buffered_messages: None,
        }
    }
}

impl ConfigBuilder {
    /// Broker host name or address (`MQTT_BROKER_URL`; default `localhost`).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Broker port (`MQTT_BROKER_PORT`; default 1883; 0 is rejected by `build`).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// User name and password (`MQTT_USERNAME`, `MQTT_PASSWORD`; default none).
    pub fn credentials(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self.password = Some(Secret(password.into()));
        self
    }

    /// Keep-alive interval (`MQTT_KEEPALIVE`; default 60 s; whole seconds up to 65535).
    pub fn keepalive(mut self, keepalive: Duration) -> Self {
        self.keepalive = Some(keepalive);
        self
    }

    /// Client identifier (`MQTT_CLIENT_ID`; default `flask-mqtt-` and 12 characters unique
    /// to the process).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// Clean session on connect (`MQTT_CLEAN_SESSION`; default `true`).
    pub fn clean_session(mut self, clean: bool) -> Self {
        self.clean_session = Some(clean);
        self
    }

    /// Time one connection attempt may take (`MQTT_CONNECTION_TIMEOUT`; default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Retry delays after a failed or lost connection (`MQTT_RECONNECT_MIN_DELAY`,
    /// `MQTT_RECONNECT_MAX_DELAY`; default 0.5 s doubling up to 30 s).
    pub fn reconnect_delay(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min_delay = Some(min);
        self.reconnect_max_delay = Some(max);
        self
    }

    /// Publishes kept while disconnected (`MQTT_MAX_BUFFERED_MESSAGES`; default 10000).
    pub fn max_buffered_messages(mut self, n: usize) -> Self {
        self.max_buffered_messages = Some(n);
        self
    }

    /// Validates the settings.
    pub fn build(self) -> Result<Config, ConfigError> {
        let d = Config::default();
        let key = |name: &str| format!("{}_{name}", self.prefix);
        let host = self.host.unwrap_or(d.host);
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
            return Err(ConfigError::new(
                &key("BROKER_URL"),
                Some(&host),
                "a host name or address, optionally as `tcp://host:port`",
            ));
        }
        let port = self.port.unwrap_or(d.port);
        if port == 0 {
            return Err(ConfigError::new(
                &key("BROKER_PORT"),
                Some("0"),
                "a port number from 1 to 65535",
            ));
        }
        let keepalive = self.keepalive.unwrap_or(d.keepalive);
        if keepalive.as_secs() > 65535 || keepalive.subsec_nanos() != 0 {
            return Err(ConfigError::new(
                &key("KEEPALIVE"),
                Some(&format!("{keepalive:?}")),
                "whole seconds from 0 to 65535",
            ));
        }
        let client_id = self.client_id.unwrap_or(d.client_id);
        if client_id.len() > 65535 || client_id.contains('\0') {
            return Err(ConfigError::new(
                &key("CLIENT_ID"),
                Some(&client_id),
                "a UTF-8 string without NUL, at most 65535 bytes",
            ));
        }
        if self.password.is_some() && self.username.is_none() {
            return Err(ConfigError::new(
                &key("USERNAME"),
                None,
                "a user name whenever a password is set (MQTT sends no password without one)",
            ));
        }
        let connect_timeout = self.connect_timeout.unwrap_or(d.connect_timeout);
        if connect_timeout.is_zero() {
            return Err(ConfigError::new(
                &key("CONNECTION_TIMEOUT"),
                Some("0"),
                "a positive number of seconds",
            ));
        }
        let min = self.reconnect_min_delay.unwrap_or(d.reconnect_min_delay);
        let max = self.reconnect_max_delay.unwrap_or(d.reconnect_max_delay);
        if min.is_zero() {
            return Err(ConfigError::new(
                &key("RECONNECT_MIN_DELAY"),
                Some("0"),
                "a positive number of seconds",
            ));
        }
        if max < min {
            return Err(ConfigError::new(
                &key("RECONNECT_MAX_DELAY"),
                Some(&format!("{}", max.as_secs_f64())),
                format!(
                    "at least {}_RECONNECT_MIN_DELAY ({} s)",
                    self.prefix,
                    min.as_secs_f64()
                ),
            ));
        }
        let max_buffered = self
            .max_buffered_messages
            .unwrap_or(d.max_buffered_messages);
        if max_buffered == 0 || max_buffered > i32::MAX as usize {
            return Err(ConfigError::new(
                &key("MAX_BUFFERED_MESSAGES"),
                Some(&max_buffered.to_string()),
                "a whole number of messages, at least 1",
            ));
        }
        Ok(Config {
            host,
            port,
            username: self.username,
            password: self.password,
            keepalive,
            client_id,
            clean_session: self.clean_session.unwrap_or(d.clean_session),
            connect_timeout,
            reconnect_min_delay: min,
            reconnect_max_delay: max,
            max_buffered_messages: max_buffered,
        })
    }
}

fn default_client_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded randomly per process; mix in pid and time for good measure.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    if let Ok(t) = SystemTime::now().duration_since(UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    // 11 + 12 = 23 characters: the MQTT 3.1.1 limit every broker must accept.
    format!("flask-mqtt-{:012x}", h.finish() & 0xffff_ffff_ffff)
}

fn parse_url(key: &str, value: &str) -> Result<(String, Option<u16>), ConfigError> {
    let err = || {
        ConfigError::new(
            key,
            Some(value),
            "a host name or address, or `tcp://host[:port]` / `mqtt://host[:port]`",
        )
    };
    let rest = match value.split_once("://") {
        None => return Ok((value.trim().to_owned(), None)),
        Some((scheme, rest)) => {
            if !matches!(scheme.to_ascii_lowercase().as_str(), "tcp" | "mqtt") {
                return Err(ConfigError::new(
                    key,
                    Some(value),
                    "a host name or address, or a URI with scheme `tcp` or `mqtt`",
                ));
            }
            rest.trim_end_matches('/')
        }
    };
    // [v6]:port, host:port, host
    if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(err)?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(parse_port(key, p)?),
            None if after.is_empty() => None,
            None => return Err(err()),
        };
        return Ok((host.to_owned(), port));
    }
    match rest.rsplit_once(':') {
        Some((host, port)) => Ok((host.to_owned(), Some(parse_port(key, port)?))),
        None => Ok((rest.to_owned(), None)),
    }
}

fn parse_port(key: &str, value: &str) -> Result<u16, ConfigError> {
    match value.trim().parse::<u16>() {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(ConfigError::new(
            key,
            Some(value),
            "a port number from 1 to 65535",
        )),
    }
}

fn parse_u64(
    key: &str,
    value: &str,
    min: u64,
    max: u64,
    expected: &str,
) -> Result<u64, ConfigError> {
    match value.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ConfigError::new(key, Some(value), expected)),
    }
}

fn parse_secs(key: &str, value: &str) -> Result<Duration, ConfigError> {
    match value.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(ConfigError::new(
            key,
            Some(value),
            "a positive number of seconds (decimals allowed, at most 86400)",
        )),
    }
}

pub(crate) fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::new(
            key,
            Some(value),
            "`true` or `false` (also 1/0, yes/no, on/off)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup("MQTT", |k| Ok(map.get(k).cloned()))
    }

    #[test]
    fn defaults() {
        let c = from(&[]).unwrap();
        assert_eq!(c.host(), "localhost");
        assert_eq!(c.port(), 1883);
        assert_eq!(c.keepalive(), Duration::from_secs(60));
        assert!(c.clean_session());
        assert!(c.client_id().starts_with("flask-mqtt-"));
        assert_eq!(c.client_id().len(), 23);
        assert_eq!(c.server_uri(), "tcp://localhost:1883");
        assert_ne!(Config::new().client_id(), "", "a client id is always set");
    }

    #[test]
    fn reads_every_key() {
        let c = from(&[
            ("MQTT_BROKER_URL", "broker.example"),
            ("MQTT_BROKER_PORT", "1884"),
            ("MQTT_USERNAME", "user"),
            ("MQTT_PASSWORD", "hunter2"),
            ("MQTT_KEEPALIVE", "30"),
            ("MQTT_CLIENT_ID", "me"),
            ("MQTT_CLEAN_SESSION", "False"),
            ("MQTT_CONNECTION_TIMEOUT", "2.5"),
            ("MQTT_RECONNECT_MIN_DELAY", "0.1"),
            ("MQTT_RECONNECT_MAX_DELAY", "2"),
            ("MQTT_MAX_BUFFERED_MESSAGES", "7"),
        ])
        .unwrap();
        assert_eq!(c.server_uri(), "tcp://broker.example:1884");
        assert_eq!(c.username(), Some("user"));
        assert_eq!(c.password.as_ref().unwrap().expose(), "hunter2");
        assert_eq!(c.keepalive(), Duration::from_secs(30));
        assert_eq!(c.client_id(), "me");
        assert!(!c.clean_session());
        assert_eq!(c.connect_timeout(), Duration::from_millis(2500));
        assert_eq!(
            c.reconnect_delay(),
            (Duration::from_millis(100), Duration::from_secs(2))
        );
        assert_eq!(c.max_buffered_messages(), 7);
    }

    #[test]
    fn url_forms() {
        for (url, host, port) in [
            ("127.0.0.1", "127.0.0.1", 1883),
            ("tcp://127.0.0.1:1999", "127.0.0.1", 1999),
            ("mqtt://example.org", "example.org", 1883),
            ("TCP://[::1]:1900", "::1", 1900),
        ] {
            let c = from(&[("MQTT_BROKER_URL", url)]).unwrap();
            assert_eq!((c.host(), c.port()), (host, port), "{url}");
        }
        // An explicit port key wins over the URL's port.
        let c = from(&[
            ("MQTT_BROKER_URL", "tcp://h:1999"),
            ("MQTT_BROKER_PORT", "2000"),
        ])
        .unwrap();
        assert_eq!(c.port(), 2000);
        assert_eq!(
            from(&[("MQTT_BROKER_URL", "::1")]).unwrap().server_uri(),
            "tcp://[::1]:1883"
        );
    }

    #[test]
    fn bad_values_name_the_key_and_what_is_accepted() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("MQTT_BROKER_PORT", "abc")],
                "invalid MQTT_BROKER_PORT `abc`: expected a port number from 1 to 65535",
            ),
            (
                &[("MQTT_BROKER_PORT", "0")],
                "invalid MQTT_BROKER_PORT `0`: expected a port number from 1 to 65535",
            ),
            (
                &[("MQTT_BROKER_PORT", "70000")],
                "invalid MQTT_BROKER_PORT `70000`: expected a port number from 1 to 65535",
            ),
            (
                &[("MQTT_KEEPALIVE", "-1")],
                "invalid MQTT_KEEPALIVE `-1`: expected whole seconds from 0 to 65535",
            ),
            (
                &[("MQTT_CLEAN_SESSION", "maybe")],
                "invalid MQTT_CLEAN_SESSION `maybe`: expected `true` or `false` (also 1/0, yes/no, on/off)",
            ),
            (
                &[("MQTT_BROKER_URL", "ws://h")],
                "invalid MQTT_BROKER_URL `ws://h`: expected a host name or address, or a URI with scheme `tcp` or `mqtt`",
            ),
            (
                &[("MQTT_BROKER_URL", "tcp://h:x")],
                "invalid MQTT_BROKER_URL `x`: expected a port number from 1 to 65535",
            ),
            (
                &[("MQTT_BROKER_URL", "")],
                "invalid MQTT_BROKER_URL ``: expected a host name or address, optionally as `tcp://host:port`",
            ),
            (
                &[("MQTT_CONNECTION_TIMEOUT", "0")],
                "invalid MQTT_CONNECTION_TIMEOUT `0`: expected a positive number of seconds (decimals allowed, at most 86400)",
            ),
            (
                &[("MQTT_RECONNECT_MIN_DELAY", "5"), ("MQTT_RECONNECT_MAX_DELAY", "1")],
                "invalid MQTT_RECONNECT_MAX_DELAY `1`: expected at least MQTT_RECONNECT_MIN_DELAY (5 s)",
            ),
            (
                &[("MQTT_MAX_BUFFERED_MESSAGES", "0")],
                "invalid MQTT_MAX_BUFFERED_MESSAGES `0`: expected a whole number of messages, at least 1",
            ),
            (
                &[("MQTT_PASSWORD", "s3cret")],
                "invalid MQTT_USERNAME: expected a user name whenever a password is set (MQTT sends no password without one)",
            ),
        ];
        for (pairs, msg) in cases {
            let err = from(pairs).unwrap_err();
            assert_eq!(err.to_string(), *msg);
            assert!(!err.to_string().contains("s3cret"));
        }
    }

    #[test]
    fn other_prefix_reads_other_keys() {
        let map: HashMap<&str, &str> =
            [("MQTT2_BROKER_PORT", "1999"), ("MQTT_BROKER_PORT", "1")].into();
        let c = Config::from_lookup("MQTT2", |k| Ok(map.get(k).map(|v| v.to_string()))).unwrap();
        assert_eq!(c.port(), 1999);
    }

    #[test]
    fn password_is_hidden_from_debug() {
        let c = Config::builder()
            .credentials("u", "hunter2")
            .build()
            .unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("***"));
    }

    #[test]
    fn builder_validates() {
        assert_eq!(
            Config::builder().port(0).build().unwrap_err().key(),
            "MQTT_BROKER_PORT"
        );
        assert_eq!(
            Config::builder()
                .keepalive(Duration::from_millis(1500))
                .build()
                .unwrap_err()
                .key(),
            "MQTT_KEEPALIVE"
        );
        assert!(Config::builder().host("127.0.0.1").port(1).build().is_ok());
    }
}
