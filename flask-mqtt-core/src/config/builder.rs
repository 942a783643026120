//! [`ConfigBuilder`]: settings in code, validated in `build`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flask_mqtt_topic::TopicName;

use super::{
    Config, ConnectMode, LastWill, ProtocolVersion, Secret, TlsConfig, TlsVersion, Transport,
    DEFAULT_PREFIX,
};
use crate::error::ConfigError;
use crate::QoS;

/// Builds a [`Config`] in code. Every setter's default is the one of the `MQTT_*` key it
/// mirrors; [`ConfigBuilder::build`] validates everything and never panics. Errors name
/// the key the setting corresponds to.
#[derive(Clone, Debug)]
pub struct ConfigBuilder {
    pub(crate) prefix: String,
    pub(crate) broker_url: Option<String>,
    pub(crate) port: Option<u16>,
    pub(crate) transport: Option<Transport>,
    pub(crate) websocket_path: Option<String>,
    pub(crate) protocol: Option<ProtocolVersion>,
    pub(crate) tls_enabled: Option<bool>,
    pub(crate) ca_certs: Option<PathBuf>,
    pub(crate) certfile: Option<PathBuf>,
    pub(crate) keyfile: Option<PathBuf>,
    pub(crate) tls_version: Option<TlsVersion>,
    pub(crate) tls_insecure: Option<bool>,
    pub(crate) tls_ciphers: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Secret>,
    pub(crate) keepalive: Option<Duration>,
    pub(crate) client_id: Option<String>,
    pub(crate) clean_session: Option<bool>,
    pub(crate) session_expiry: Option<Duration>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) publish_timeout: Option<Duration>,
    pub(crate) reconnect_min_delay: Option<Duration>,
    pub(crate) reconnect_max_delay: Option<Duration>,
    pub(crate) max_buffered_messages: Option<usize>,
    pub(crate) will_topic: Option<String>,
    pub(crate) will_message: Option<Vec<u8>>,
    pub(crate) will_qos: Option<u8>,
    pub(crate) will_retain: Option<bool>,
    pub(crate) connect_mode: Option<ConnectMode>,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        ConfigBuilder::with_prefix(DEFAULT_PREFIX)
    }
}

impl ConfigBuilder {
    /// A builder for the client named `prefix` (its keys are `{prefix}_BROKER_URL`, ...).
    pub fn with_prefix(prefix: impl Into<String>) -> Self {
        ConfigBuilder {
            prefix: prefix.into(),
            broker_url: None,
            port: None,
            transport: None,
            websocket_path: None,
            protocol: None,
            tls_enabled: None,
            ca_certs: None,
            certfile: None,
            keyfile: None,
            tls_version: None,
            tls_insecure: None,
            tls_ciphers: None,
            username: None,
            password: None,
            keepalive: None,
            client_id: None,
            clean_session: None,
            session_expiry: None,
            connect_timeout: None,
            publish_timeout: None,
            reconnect_min_delay: None,
            reconnect_max_delay: None,
            max_buffered_messages: None,
            will_topic: None,
            will_message: None,
            will_qos: None,
            will_retain: None,
            connect_mode: None,
        }
    }

    /// Broker host, or a URI such as `mqtts://broker.example:8883` (`MQTT_BROKER_URL`;
    /// default `localhost`).
    pub fn host(self, host_or_url: impl Into<String>) -> Self {
        self.broker_url(host_or_url)
    }

    /// Same as [`ConfigBuilder::host`].
    pub fn broker_url(mut self, url: impl Into<String>) -> Self {
        self.broker_url = Some(url.into());
        self
    }

    /// Broker port (`MQTT_BROKER_PORT`; default 1883, 8883 with TLS, 80/443 for
    /// websockets; 0 is rejected).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Transport (`MQTT_TRANSPORT`; default TCP).
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Websocket HTTP path (`MQTT_WEBSOCKET_PATH`; default `/mqtt`).
    pub fn websocket_path(mut self, path: impl Into<String>) -> Self {
        self.websocket_path = Some(path.into());
        self
    }

    /// MQTT version (`MQTT_PROTOCOL_VERSION`; default 3.1.1).
    pub fn protocol_version(mut self, version: ProtocolVersion) -> Self {
        self.protocol = Some(version);
        self
    }

    /// TLS on or off (`MQTT_TLS_ENABLED`; default off, on for `mqtts://`/`wss://`).
    pub fn tls(mut self, enabled: bool) -> Self {
        self.tls_enabled = Some(enabled);
        self
    }

    /// CA certificate file (`MQTT_TLS_CA_CERTS`; default: the system trust store).
    pub fn tls_ca_certs(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_certs = Some(path.into());
        self
    }

    /// Client certificate and key for mutual TLS (`MQTT_TLS_CERTFILE`,
    /// `MQTT_TLS_KEYFILE`; default none).
    pub fn tls_client_cert(
        mut self,
        certfile: impl Into<PathBuf>,
        keyfile: impl Into<PathBuf>,
    ) -> Self {
        self.certfile = Some(certfile.into());
        self.keyfile = Some(keyfile.into());
        self
    }

    /// Lowest TLS version (`MQTT_TLS_VERSION`; default TLS 1.2). `build` rejects
    /// [`TlsVersion::Tls13`]: Paho C cannot enforce it; TLS 1.3 is negotiated anyway
    /// whenever the broker supports it.
    pub fn tls_version(mut self, version: TlsVersion) -> Self {
        self.tls_version = Some(version);
        self
    }

    /// Skip certificate and host name verification (`MQTT_TLS_INSECURE`; default
    /// `false`). Logged as a warning at every connect.
    pub fn tls_insecure(mut self, insecure: bool) -> Self {
        self.tls_insecure = Some(insecure);
        self
    }

    /// OpenSSL cipher list for TLS 1.2 (`MQTT_TLS_CIPHERS`; default OpenSSL's).
    pub fn tls_ciphers(mut self, ciphers: impl Into<String>) -> Self {
        self.tls_ciphers = Some(ciphers.into());
        self
    }

    /// User name and password (`MQTT_USERNAME`, `MQTT_PASSWORD`; default none).
    pub fn credentials(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self.password = Some(Secret::new(password));
        self
    }

    /// User name without a password (`MQTT_USERNAME`; default none).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Keep-alive interval (`MQTT_KEEPALIVE`; default 60 s; whole seconds up to 65535).
    pub fn keepalive(mut self, keepalive: Duration) -> Self {
        self.keepalive = Some(keepalive);
        self
    }

    /// Client identifier (`MQTT_CLIENT_ID`; default `flask-mqtt-` and 12 characters
    /// unique to the process).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// Clean session / clean start (`MQTT_CLEAN_SESSION`; default `true`).
    pub fn clean_session(mut self, clean: bool) -> Self {
        self.clean_session = Some(clean);
        self
    }

    /// MQTT 5 session expiry (`MQTT_SESSION_EXPIRY`; default 0, or one day when clean
    /// session is off).
    pub fn session_expiry(mut self, expiry: Duration) -> Self {
        self.session_expiry = Some(expiry);
        self
    }

    /// Time one connection attempt may take (`MQTT_CONNECTION_TIMEOUT`; default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// How long `publish` waits while the client is disconnected before it fails
    /// (`MQTT_PUBLISH_TIMEOUT`; default 10 s; positive, at most 86400 s).
    pub fn publish_timeout(mut self, timeout: Duration) -> Self {
        self.publish_timeout = Some(timeout);
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

    /// The last will (`MQTT_LAST_WILL_TOPIC`, `_MESSAGE`, `_QOS`, `_RETAIN`; default
    /// none).
    pub fn last_will(
        mut self,
        topic: impl Into<String>,
        message: impl Into<Vec<u8>>,
        qos: QoS,
        retain: bool,
    ) -> Self {
        self.will_topic = Some(topic.into());
        self.will_message = Some(message.into());
        self.will_qos = Some(qos.as_u8());
        self.will_retain = Some(retain);
        self
    }

    /// Startup behaviour while the broker is away (`MQTT_CONNECT_MODE`; default
    /// background).
    pub fn connect_mode(mut self, mode: ConnectMode) -> Self {
        self.connect_mode = Some(mode);
        self
    }

    fn key(&self, name: &str) -> String {
        format!("{}_{name}", self.prefix)
    }

    /// Validates the settings.
    pub fn build(self) -> Result<Config, ConfigError> {
        let d = Config::default();
        let (url, more_urls) = match &self.broker_url {
            Some(u) => parse_url_list(&self.key("BROKER_URL"), u)?,
            None => (
                Url {
                    host: d.host.clone(),
                    ..Url::default()
                },
                Vec::new(),
            ),
        };

        let transport = match (self.transport, url.transport) {
            (Some(t), Some(u)) if t != u => {
                return Err(ConfigError::new(
                    &self.key("TRANSPORT"),
                    Some(transport_name(t)),
                    format!(
                        "`{}` to match the scheme of {} (or drop one of the two)",
                        transport_name(u),
                        self.key("BROKER_URL")
                    ),
                ))
            }
            (t, u) => t.or(u).unwrap_or_default(),
        };
        let tls_on = match (self.tls_enabled, url.tls) {
            (Some(false), Some(true)) => {
                return Err(ConfigError::new(
                    &self.key("TLS_ENABLED"),
                    Some("false"),
                    format!(
                        "`true` (or no value): {} uses a TLS scheme",
                        self.key("BROKER_URL")
                    ),
                ))
            }
            (t, u) => t.or(u).unwrap_or(false),
        };

        let scheme_port = match (transport, tls_on) {
            (Transport::Tcp, false) => 1883,
            (Transport::Tcp, true) => 8883,
            (Transport::WebSockets, false) => 80,
            (Transport::WebSockets, true) => 443,
        };
        if self.port == Some(0) {
            return Err(ConfigError::new(
                &self.key("BROKER_PORT"),
                Some("0"),
                "a port number from 1 to 65535",
            ));
        }
        // MQTT_BROKER_PORT (for every broker listed) wins over a URL's `:port`, which wins
        // over the scheme's default.
        let port = self.port.or(url.port).unwrap_or(scheme_port);
        if !more_urls.is_empty()
            && std::iter::once(&url.host)
                .chain(more_urls.iter().map(|u| &u.host))
                .any(|h| crate::embedded::is_embedded(h))
        {
            return Err(ConfigError::new(
                &self.key("BROKER_URL"),
                self.broker_url.as_deref(),
                "`embedded` alone: the development broker inside the process is not part of a failover list",
            ));
        }
        let mut fallbacks = Vec::with_capacity(more_urls.len());
        for extra in more_urls {
            let same_scheme = extra.transport.unwrap_or(transport) == transport
                && extra.tls.unwrap_or(tls_on) == tls_on
                && (extra.path.is_none() || extra.path == url.path);
            if !same_scheme {
                return Err(ConfigError::new(
                    &self.key("BROKER_URL"),
                    self.broker_url.as_deref(),
                    "brokers of one scheme, port aside: every fallback uses the first URL's transport, TLS setting and websocket path",
                ));
            }
            fallbacks.push((extra.host, self.port.or(extra.port).unwrap_or(scheme_port)));
        }

        let websocket_path = match (self.websocket_path.clone(), url.path) {
            (Some(p), _) | (None, Some(p)) => p,
            (None, None) => d.websocket_path.clone(),
        };
        if !websocket_path.starts_with('/') || websocket_path.chars().any(char::is_whitespace) {
            return Err(ConfigError::new(
                &self.key("WEBSOCKET_PATH"),
                Some(&websocket_path),
                "an HTTP path starting with `/`, without spaces",
            ));
        }

        let keepalive = self.keepalive.unwrap_or(d.keepalive);
        if keepalive.as_secs() > 65535 || keepalive.subsec_nanos() != 0 {
            return Err(ConfigError::new(
                &self.key("KEEPALIVE"),
                Some(&format!("{keepalive:?}")),
                "whole seconds from 0 to 65535",
            ));
        }
        let client_id = match &self.client_id {
            Some(template) => expand_client_id(&self.key("CLIENT_ID"), template)?,
            None => d.client_id,
        };
        if client_id.len() > 65535 || client_id.contains('\0') {
            return Err(ConfigError::new(
                &self.key("CLIENT_ID"),
                Some(&client_id),
                "a UTF-8 string without NUL, at most 65535 bytes",
            ));
        }
        if self.password.is_some() && self.username.is_none() {
            return Err(ConfigError::new(
                &self.key("USERNAME"),
                None,
                format!(
                    "a user name whenever {} is set (MQTT sends no password without one)",
                    self.key("PASSWORD")
                ),
            ));
        }
        let connect_timeout = self.connect_timeout.unwrap_or(d.connect_timeout);
        if connect_timeout.is_zero() {
            return Err(ConfigError::new(
                &self.key("CONNECTION_TIMEOUT"),
                Some("0"),
                "a positive number of seconds",
            ));
        }
        let publish_timeout = self.publish_timeout.unwrap_or(d.publish_timeout);
        if publish_timeout.is_zero() || publish_timeout > Duration::from_secs(86_400) {
            return Err(ConfigError::new(
                &self.key("PUBLISH_TIMEOUT"),
                Some(&format!("{}", publish_timeout.as_secs_f64())),
                "a positive number of seconds (decimals allowed, at most 86400)",
            ));
        }
        let min = self.reconnect_min_delay.unwrap_or(d.reconnect_min_delay);
        let max = self.reconnect_max_delay.unwrap_or(d.reconnect_max_delay);
        if min.is_zero() {
            return Err(ConfigError::new(
                &self.key("RECONNECT_MIN_DELAY"),
                Some("0"),
                "a positive number of seconds",
            ));
        }
        if max < min {
            return Err(ConfigError::new(
                &self.key("RECONNECT_MAX_DELAY"),
                Some(&format!("{}", max.as_secs_f64())),
                format!(
                    "at least {} ({} s)",
                    self.key("RECONNECT_MIN_DELAY"),
                    min.as_secs_f64()
                ),
            ));
        }
        let max_buffered = self
            .max_buffered_messages
            .unwrap_or(d.max_buffered_messages);
        if max_buffered == 0 || max_buffered > i32::MAX as usize {
            return Err(ConfigError::new(
                &self.key("MAX_BUFFERED_MESSAGES"),
                Some(&max_buffered.to_string()),
                "a whole number of messages, at least 1",
            ));
        }

        let protocol = self.protocol.unwrap_or_default();
        let clean_session = self.clean_session.unwrap_or(d.clean_session);
        let session_expiry = match (self.session_expiry, protocol) {
            (Some(e), ProtocolVersion::V5) => e,
            (Some(e), ProtocolVersion::V311) => {
                return Err(ConfigError::new(
                    &self.key("SESSION_EXPIRY"),
                    Some(&e.as_secs().to_string()),
                    format!(
                        "no value unless {} is `5` (MQTT 3.1.1 has no session expiry)",
                        self.key("PROTOCOL_VERSION")
                    ),
                ))
            }
            (None, ProtocolVersion::V5) if !clean_session => Duration::from_secs(86_400),
            (None, _) => Duration::ZERO,
        };

        let tls = if tls_on {
            Some(self.build_tls()?)
        } else {
            if let Some(name) = [
                ("TLS_CA_CERTS", self.ca_certs.is_some()),
                ("TLS_CERTFILE", self.certfile.is_some()),
                ("TLS_KEYFILE", self.keyfile.is_some()),
                ("TLS_VERSION", self.tls_version.is_some()),
                ("TLS_INSECURE", self.tls_insecure.is_some()),
                ("TLS_CIPHERS", self.tls_ciphers.is_some()),
            ]
            .iter()
            .find_map(|(k, set)| set.then_some(*k))
            {
                return Err(ConfigError::new(
                    &self.key(name),
                    None,
                    format!(
                        "no value while TLS is off; set {}=true or use an `mqtts://` / `wss://` URL",
                        self.key("TLS_ENABLED")
                    ),
                ));
            }
            None
        };

        let last_will = self.build_will()?;

        let config = Config {
            prefix: self.prefix,
            host: url.host,
            port,
            port_given: self.port.or(url.port).is_some(),
            fallbacks,
            transport,
            websocket_path,
            protocol,
            tls,
            username: self.username,
            password: self.password,
            keepalive,
            client_id,
            clean_session,
            session_expiry,
            connect_timeout,
            publish_timeout,
            reconnect_min_delay: min,
            reconnect_max_delay: max,
            max_buffered_messages: max_buffered,
            last_will,
            connect_mode: self.connect_mode.unwrap_or_default(),
        };
        // `embedded`: the feature is on and the settings are ones it can serve; said now,
        // at startup, not at the first connect.
        crate::embedded::validate(&config)?;
        Ok(config)
    }

    fn build_tls(&self) -> Result<TlsConfig, ConfigError> {
        if self.tls_version == Some(TlsVersion::Tls13) {
            // Paho C 1.3 creates its OpenSSL context with TLS_client_method() and ignores
            // the requested version, so a TLS 1.3 minimum cannot be enforced. Saying so
            // beats silently accepting TLS 1.2.
            return Err(ConfigError::new(
                &self.key("TLS_VERSION"),
                Some("tlsv1.3"),
                "`tlsv1.2`: Paho C cannot refuse TLS 1.2 (it ignores the requested version with OpenSSL 1.1+); TLS 1.3 is still used whenever the broker offers it",
            ));
        }
        if self.keyfile.is_some() && self.certfile.is_none() {
            return Err(ConfigError::new(
                &self.key("TLS_CERTFILE"),
                None,
                format!(
                    "a client certificate file whenever {} is set",
                    self.key("TLS_KEYFILE")
                ),
            ));
        }
        for (name, path) in [
            ("TLS_CA_CERTS", &self.ca_certs),
            ("TLS_CERTFILE", &self.certfile),
            ("TLS_KEYFILE", &self.keyfile),
        ] {
            if let Some(path) = path {
                check_readable(&self.key(name), path)?;
            }
        }
        if let Some(c) = &self.tls_ciphers {
            if c.trim().is_empty() || c.contains('\0') {
                return Err(ConfigError::new(
                    &self.key("TLS_CIPHERS"),
                    Some(c),
                    "an OpenSSL cipher list such as `ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES256-GCM-SHA384`",
                ));
            }
        }
        Ok(TlsConfig {
            ca_certs: self.ca_certs.clone(),
            certfile: self.certfile.clone(),
            keyfile: self.keyfile.clone(),
            version: self.tls_version.unwrap_or_default(),
            insecure: self.tls_insecure.unwrap_or(false),
            ciphers: self.tls_ciphers.clone(),
        })
    }

    fn build_will(&self) -> Result<Option<LastWill>, ConfigError> {
        let Some(topic) = &self.will_topic else {
            if let Some(name) = [
                ("LAST_WILL_MESSAGE", self.will_message.is_some()),
                ("LAST_WILL_QOS", self.will_qos.is_some()),
                ("LAST_WILL_RETAIN", self.will_retain.is_some()),
            ]
            .iter()
            .find_map(|(k, set)| set.then_some(*k))
            {
                return Err(ConfigError::new(
                    &self.key("LAST_WILL_TOPIC"),
                    None,
                    format!("a topic whenever {} is set", self.key(name)),
                ));
            }
            return Ok(None);
        };
        let topic = TopicName::new(topic.as_str()).map_err(|e| {
            ConfigError::new(
                &self.key("LAST_WILL_TOPIC"),
                Some(topic),
                format!("a valid topic name: {e}"),
            )
        })?;
        let qos_raw = self.will_qos.unwrap_or(0);
        let qos = QoS::from_u8(qos_raw).ok_or_else(|| {
            ConfigError::new(
                &self.key("LAST_WILL_QOS"),
                Some(&qos_raw.to_string()),
                "0, 1 or 2",
            )
        })?;
        Ok(Some(LastWill {
            topic,
            message: self.will_message.clone().unwrap_or_default(),
            qos,
            retain: self.will_retain.unwrap_or(false),
        }))
    }
}

fn check_readable(key: &str, path: &Path) -> Result<(), ConfigError> {
    let shown = path.display().to_string();
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => match std::fs::File::open(path) {
            Ok(_) => Ok(()),
            Err(e) => Err(ConfigError::new(
                key,
                Some(&shown),
                format!("a readable PEM file ({e})"),
            )),
        },
        Ok(_) => Err(ConfigError::new(
            key,
            Some(&shown),
            "a PEM file (this is not a regular file)",
        )),
        Err(e) => Err(ConfigError::new(
            key,
            Some(&shown),
            format!("an existing PEM file ({e})"),
        )),
    }
}

pub(crate) fn transport_name(t: Transport) -> &'static str {
    match t {
        Transport::Tcp => "tcp",
        Transport::WebSockets => "websockets",
    }
}

#[derive(Default)]
struct Url {
    host: String,
    port: Option<u16>,
    transport: Option<Transport>,
    tls: Option<bool>,
    path: Option<String>,
}

fn parse_url(key: &str, value: &str) -> Result<Url, ConfigError> {
    let bad = |what: &str| ConfigError::new(key, Some(value), what.to_owned());
    const FORM: &str = "a host name or address, or a URI `scheme://host[:port][/path]` with scheme `mqtt`, `tcp`, `mqtts`, `ssl`, `ws` or `wss`";
    let value_t = value.trim();
    let (scheme, rest) = match value_t.split_once("://") {
        None => (None, value_t),
        Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
    };
    let (transport, tls) = match scheme.as_deref() {
        None => (None, None),
        Some("mqtt" | "tcp") => (Some(Transport::Tcp), Some(false)),
        Some("mqtts" | "ssl" | "tls") => (Some(Transport::Tcp), Some(true)),
        Some("ws") => (Some(Transport::WebSockets), Some(false)),
        Some("wss") => (Some(Transport::WebSockets), Some(true)),
        Some(_) => return Err(bad(FORM)),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let path = match path {
        Some("/") | None => None,
        Some(p) if transport == Some(Transport::WebSockets) => Some(p.to_owned()),
        Some(_) => return Err(bad(FORM)),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or_else(|| bad(FORM))?;
        match after.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if after.is_empty() => (h, None),
            None => return Err(bad(FORM)),
        }
    } else if authority.matches(':').count() > 1 {
        // A bare IPv6 address.
        (authority, None)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '@') {
        return Err(bad(FORM));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n != 0 => Some(n),
            _ => return Err(bad("a port number from 1 to 65535 after the host")),
        },
    };
    Ok(Url {
        host: host.to_owned(),
        port,
        transport,
        tls,
        path,
    })
}

/// `MQTT_BROKER_URL` as a comma-separated list: the first broker and the fallbacks.
fn parse_url_list(key: &str, value: &str) -> Result<(Url, Vec<Url>), ConfigError> {
    if !value.contains(',') {
        return Ok((parse_url(key, value)?, Vec::new()));
    }
    let mut urls = Vec::new();
    for part in value.split(',') {
        if part.trim().is_empty() {
            return Err(ConfigError::new(
                key,
                Some(value),
                "a comma-separated list of brokers without empty entries",
            ));
        }
        urls.push(parse_url(key, part)?);
    }
    let first = urls.remove(0);
    Ok((first, urls))
}

/// Replaces `{pid}` and `{hostname}` in a configured client id.
fn expand_client_id(key: &str, template: &str) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        match &after[..close] {
            "pid" => out.push_str(&std::process::id().to_string()),
            "hostname" => out.push_str(&hostname()),
            other => {
                return Err(ConfigError::new(
                    key,
                    Some(template),
                    format!(
                        "only the placeholders `{{pid}}` and `{{hostname}}` (found `{{{other}}}`)"
                    ),
                ))
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// This machine's host name (the container name under Docker and Kubernetes).
fn hostname() -> String {
    let read = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    read.or_else(|| {
        ["HOSTNAME", "COMPUTERNAME"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|s| !s.is_empty()))
    })
    .unwrap_or_else(|| "localhost".to_owned())
}

pub(crate) fn default_client_id() -> String {
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
