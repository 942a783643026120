//! [`ConfigBuilder::build`]: every check, for every source. The environment and file
//! readers fill a builder with well-formed values; code fills it with typed ones; both end
//! here, so the same value gets the same answer whichever way it came.
//!
//! What is checked, beyond each key's own range: text that reaches Paho C as a C string
//! has no NUL (Paho's Rust builders panic on one) and MQTT strings fit their two-byte
//! length; every duration has the same bounds on every path (at most a day for timeouts
//! and delays), so no arithmetic on a configured value can overflow; settings that only
//! make sense together are given together.

use std::time::Duration;

use super::builder::ConfigBuilder;
use super::client_id;
use super::embedded;
use super::keys::{
    self, Key, ACK_MANUAL_REFUSED, BUFFERED_RANGE, EXPIRY_RANGE, KEEPALIVE_RANGE, PORT_RANGE,
    RECEIVE_MAXIMUM_RANGE, SECONDS,
};
use super::prefix;
use super::source;
use super::tls::{check_readable, check_unencrypted, TlsConfig, TlsVersion, CIPHERS_FORM};
use super::url::{self, Url};
use super::values::{
    seconds, shown, shown_url, ProtocolVersion, WebSocketPath, MAX_SECONDS, MQTT_STRING_MAX,
};
use super::will;
use super::{Config, DEFAULT_RECEIVE_MAXIMUM};
use crate::ack::policy::AckPolicy;
use crate::error::{shown_uri, ConfigError};

/// What an MQTT string (user name, client id) accepts.
const MQTT_TEXT: &str = "UTF-8 text without control characters (NUL, tabs, line breaks) or Unicode non-characters, at most 65535 bytes";
/// What a password accepts (MQTT sends it as bytes, which brokers do not check as text).
const PASSWORD_TEXT: &str = "UTF-8 text without NUL characters, at most 65535 bytes";

impl ConfigBuilder {
    /// Validates the settings, whatever set them (code, the environment, a file): the same
    /// value gets the same answer on every path. Never panics; an error names the key the
    /// setting corresponds to (`{prefix}_...`), the value (never the password) and what
    /// is accepted.
    pub fn build(self) -> Result<Config, ConfigError> {
        prefix::check(&self.prefix)?;
        let key = |k: &Key| k.full(&self.prefix);
        let d = Config::default();
        let (first, more) = match &self.broker_url {
            Some(u) => url::parse_list(&self.prefix, &u.0)?,
            None => (
                Url {
                    host: d.host.clone(),
                    ..Url::default()
                },
                Vec::new(),
            ),
        };

        let transport = match (self.transport, first.transport) {
            (Some(t), Some(u)) if t != u => {
                return Err(ConfigError::new(
                    &key(&keys::TRANSPORT),
                    Some(t.name()),
                    format!(
                        "`{}` to match the scheme of {} (or drop one of the two)",
                        u.name(),
                        key(&keys::BROKER_URL)
                    ),
                ))
            }
            (t, u) => t.or(u).unwrap_or_default(),
        };
        let tls_on = match (self.tls_enabled, first.tls) {
            (Some(false), Some(true)) => {
                return Err(ConfigError::new(
                    &key(&keys::TLS_ENABLED),
                    Some("false"),
                    format!(
                        "`true` (or no value): {} uses a TLS scheme",
                        key(&keys::BROKER_URL)
                    ),
                ))
            }
            (t, u) => t.or(u).unwrap_or(false),
        };

        let scheme_port = url::default_port(transport, tls_on);
        if self.port == Some(0) {
            return Err(ConfigError::new(
                &key(&keys::BROKER_PORT),
                Some("0"),
                PORT_RANGE,
            ));
        }
        // MQTT_BROKER_PORT (for every broker listed) wins over a URL's `:port`, which wins
        // over the scheme's default.
        let port = self.port.or(first.port).unwrap_or(scheme_port);
        if !more.is_empty()
            && std::iter::once(&first)
                .chain(&more)
                .any(|u| embedded::is_embedded(&u.host))
        {
            return Err(ConfigError::new(
                &key(&keys::BROKER_URL),
                self.broker_url.as_ref().map(|u| shown_url(&u.0)).as_deref(),
                "`embedded` alone: the development broker inside the process is not part of a failover list",
            ));
        }
        let mut fallbacks = Vec::with_capacity(more.len());
        for extra in more {
            let same_scheme = extra.transport.unwrap_or(transport) == transport
                && extra.tls.unwrap_or(tls_on) == tls_on
                && (extra.path.is_none() || extra.path == first.path);
            if !same_scheme {
                return Err(ConfigError::new(
                    &key(&keys::BROKER_URL),
                    self.broker_url.as_ref().map(|u| shown_url(&u.0)).as_deref(),
                    "brokers of one scheme, port aside: every fallback uses the first URL's transport, TLS setting and websocket path",
                ));
            }
            fallbacks.push((extra.host, self.port.or(extra.port).unwrap_or(scheme_port)));
        }

        let websocket_path = match (&self.websocket_path, first.path) {
            (Some(p), _) => p.0.clone(),
            (None, Some(p)) => p,
            (None, None) => d.websocket_path.0.clone(),
        };
        let path_problem = if websocket_path.chars().any(char::is_control) {
            Some("an HTTP path without control characters (NUL, line breaks)")
        } else if !websocket_path.starts_with('/') || websocket_path.contains(char::is_whitespace) {
            Some("an HTTP path starting with `/`, without spaces")
        } else if websocket_path.contains(':') {
            // Paho reads the port after the last `:` of the whole address, path included.
            Some("an HTTP path without `:` (Paho would read what follows it as the port and never connect; write it as `%3A`)")
        } else {
            None
        };
        if let Some(expected) = path_problem {
            return Err(ConfigError::new(
                &key(&keys::WEBSOCKET_PATH),
                Some(&shown_uri(&websocket_path)),
                expected,
            ));
        }

        let keepalive = self.keepalive.unwrap_or(d.keepalive);
        if keepalive.as_secs() > u64::from(u16::MAX) || keepalive.subsec_nanos() != 0 {
            return Err(ConfigError::new(
                &key(&keys::KEEPALIVE),
                Some(&seconds(keepalive)),
                KEEPALIVE_RANGE,
            ));
        }
        let client_id = match &self.client_id {
            Some(template) => client_id::expand(&key(&keys::CLIENT_ID), template)?,
            None => d.client_id,
        };
        mqtt_text(&key(&keys::CLIENT_ID), &client_id)?;
        if let Some(user) = &self.username {
            mqtt_text(&key(&keys::USERNAME), user)?;
        }
        if let Some(password) = &self.password {
            if self.username.is_none() {
                return Err(ConfigError::new(
                    &key(&keys::USERNAME),
                    None,
                    format!(
                        "a user name whenever {} is set (MQTT sends no password without one)",
                        key(&keys::PASSWORD)
                    ),
                ));
            }
            password_text(&key(&keys::PASSWORD), password.expose())?;
        }

        let connect_timeout = positive(
            &key(&keys::CONNECTION_TIMEOUT),
            self.connect_timeout.unwrap_or(d.connect_timeout),
        )?;
        let publish_timeout = positive(
            &key(&keys::PUBLISH_TIMEOUT),
            self.publish_timeout.unwrap_or(d.publish_timeout),
        )?;
        let min = positive(
            &key(&keys::RECONNECT_MIN_DELAY),
            self.reconnect_min_delay.unwrap_or(d.reconnect_min_delay),
        )?;
        let max = positive(
            &key(&keys::RECONNECT_MAX_DELAY),
            self.reconnect_max_delay.unwrap_or(d.reconnect_max_delay),
        )?;
        if max < min {
            return Err(ConfigError::new(
                &key(&keys::RECONNECT_MAX_DELAY),
                Some(&seconds(max)),
                format!(
                    "at least {} ({} s)",
                    key(&keys::RECONNECT_MIN_DELAY),
                    seconds(min)
                ),
            ));
        }
        let max_buffered = self
            .max_buffered_messages
            .unwrap_or(d.max_buffered_messages);
        if max_buffered == 0 || i32::try_from(max_buffered).is_err() {
            let expected = if max_buffered == 0 {
                BUFFERED_RANGE
            } else {
                "at most 2147483647 messages (Paho C counts them in an `int`)"
            };
            return Err(ConfigError::new(
                &key(&keys::MAX_BUFFERED_MESSAGES),
                Some(&max_buffered.to_string()),
                expected,
            ));
        }

        let protocol = self.protocol.unwrap_or_default();
        let clean_session = self.clean_session.unwrap_or(d.clean_session);
        let session_expiry = match (self.session_expiry, protocol) {
            (Some(e), ProtocolVersion::V5) => {
                if e.as_secs() > u64::from(u32::MAX) || e.subsec_nanos() != 0 {
                    return Err(ConfigError::new(
                        &key(&keys::SESSION_EXPIRY),
                        Some(&seconds(e)),
                        EXPIRY_RANGE,
                    ));
                }
                e
            }
            // The default, which MQTT 3.1.1 has too: a session ends with its connection
            // (clean session) or is kept for ever.
            (Some(e), ProtocolVersion::V311) if e.is_zero() => e,
            (Some(e), ProtocolVersion::V311) => {
                return Err(ConfigError::new(
                    &key(&keys::SESSION_EXPIRY),
                    Some(&seconds(e)),
                    format!(
                        "no value unless {} is `5` (MQTT 3.1.1 has no session expiry)",
                        key(&keys::PROTOCOL_VERSION)
                    ),
                ))
            }
            (None, ProtocolVersion::V5) if !clean_session => Duration::from_secs(86_400),
            (None, _) => Duration::ZERO,
        };

        // Kept after the connection, as the client defines it (`session::persistent`):
        // clean session off, and on MQTT 5 a session expiry too.
        let kept =
            !clean_session && (protocol == ProtocolVersion::V311 || !session_expiry.is_zero());
        if client_id.is_empty() && kept {
            return Err(ConfigError::new(
                &key(&keys::CLIENT_ID),
                Some(""),
                format!(
                    "an id whenever {} is false (on MQTT 5, with {} above 0): the broker gives an empty id a new one at every connect, so the session it keeps is never taken up again and the messages it holds are lost (an MQTT 3.1.1 broker refuses the connection)",
                    key(&keys::CLEAN_SESSION),
                    key(&keys::SESSION_EXPIRY)
                ),
            ));
        }

        let tls = if tls_on {
            Some(self.build_tls()?)
        } else {
            self.check_tls_off()?;
            None
        };

        let last_will = will::build(&self)?;

        let ack_policy = self.ack_policy.unwrap_or_default();
        if ack_policy == AckPolicy::Manual {
            return Err(ConfigError::new(
                &key(&keys::ACK_POLICY),
                Some(ack_policy.as_str()),
                ACK_MANUAL_REFUSED,
            ));
        }
        let receive_maximum = match (self.receive_maximum, protocol) {
            (Some(0), _) => {
                return Err(ConfigError::new(
                    &key(&keys::RECEIVE_MAXIMUM),
                    Some("0"),
                    RECEIVE_MAXIMUM_RANGE,
                ))
            }
            (Some(n), ProtocolVersion::V311) => {
                source::warn_once(
                    &key(&keys::RECEIVE_MAXIMUM),
                    &format_args!(
                        "{} = {n} has no effect: MQTT 3.1.1 has no Receive Maximum; the broker's inflight window (Mosquitto's `max_inflight_messages`, 20 by default) bounds the unacknowledged messages instead; set {}=5 to use it",
                        key(&keys::RECEIVE_MAXIMUM),
                        key(&keys::PROTOCOL_VERSION)
                    ),
                );
                n
            }
            (n, _) => n.unwrap_or(DEFAULT_RECEIVE_MAXIMUM),
        };

        let config = Config {
            port_given: self.port.or(first.port).is_some(),
            prefix: self.prefix,
            host: first.host,
            port,
            fallbacks,
            transport,
            websocket_path: WebSocketPath(websocket_path),
            protocol,
            tls,
            username: self.username,
            password: self.password,
            keepalive,
            client_id,
            client_id_per_process: self
                .client_id
                .as_deref()
                .map_or(true, |template| template.contains("{pid}")),
            clean_session,
            session_expiry,
            connect_timeout,
            publish_timeout,
            reconnect_min_delay: min,
            reconnect_max_delay: max,
            max_buffered_messages: max_buffered,
            last_will,
            connect_mode: self.connect_mode.unwrap_or_default(),
            ack_policy,
            receive_maximum,
            metrics: self.metrics.unwrap_or(true),
        };
        // `embedded`: the feature is on and the settings are ones it can serve; said now,
        // at startup, not at the first connect.
        embedded::check(&config)?;
        Ok(config)
    }

    /// TLS is off: a `MQTT_TLS_*` setting that asks for protection only TLS gives (a CA
    /// file, a client certificate, ciphers, TLS 1.3) is refused, since the connection
    /// would go in clear text while the settings say otherwise (Flask-MQTT ignores them
    /// silently); one that would only weaken TLS has no effect and is warned about; one
    /// that says what the default says (`false`, `true`, `tlsv1.2`: a Flask-style `.env`
    /// listing every key) is accepted silently.
    fn check_tls_off(&self) -> Result<(), ConfigError> {
        let key = |k: &Key| k.full(&self.prefix);
        let protection = [
            (&keys::TLS_CA_CERTS, self.ca_certs.is_some()),
            (&keys::TLS_CERTFILE, self.certfile.is_some()),
            (&keys::TLS_KEYFILE, self.keyfile.is_some()),
            (
                &keys::TLS_VERSION,
                self.tls_version.unwrap_or_default() != TlsVersion::default(),
            ),
            (&keys::TLS_CIPHERS, self.tls_ciphers.is_some()),
        ];
        if let Some((k, _)) = protection.iter().find(|(_, set)| *set) {
            return Err(ConfigError::new(
                &key(k),
                None,
                format!(
                    "no value while TLS is off (the connection would not be encrypted); set {}=true or use an `mqtts://` / `wss://` URL",
                    key(&keys::TLS_ENABLED)
                ),
            ));
        }
        for (k, weakens) in [
            (&keys::TLS_INSECURE, self.tls_insecure == Some(true)),
            (
                &keys::TLS_VERIFY_CERTIFICATE,
                self.tls_verify_certificate == Some(false),
            ),
        ] {
            if weakens {
                source::warn_once(
                    &key(k),
                    &format_args!(
                        "{} has no effect: TLS is off ({} is not `true` and the URL is not `mqtts://` / `wss://`)",
                        key(k),
                        key(&keys::TLS_ENABLED)
                    ),
                );
            }
        }
        Ok(())
    }

    fn build_tls(&self) -> Result<TlsConfig, ConfigError> {
        let key = |k: &Key| k.full(&self.prefix);
        if self.keyfile.is_some() && self.certfile.is_none() {
            return Err(ConfigError::new(
                &key(&keys::TLS_CERTFILE),
                None,
                format!(
                    "a client certificate file whenever {} is set",
                    key(&keys::TLS_KEYFILE)
                ),
            ));
        }
        // The client certificate file may hold the key too (without a key file).
        for (k, path, may_hold_a_key) in [
            (&keys::TLS_CA_CERTS, &self.ca_certs, false),
            (&keys::TLS_CERTFILE, &self.certfile, true),
            (&keys::TLS_KEYFILE, &self.keyfile, true),
        ] {
            if let Some(path) = path {
                // Opened once, read (when it may hold a key) from that opening.
                let file = check_readable(&key(k), path)?;
                if may_hold_a_key {
                    check_unencrypted(&key(k), path, file)?;
                }
            }
        }
        if let Some(c) = &self.tls_ciphers {
            if c.trim().is_empty() || c.contains('\0') {
                return Err(ConfigError::new(
                    &key(&keys::TLS_CIPHERS),
                    Some(&shown(c)),
                    CIPHERS_FORM,
                ));
            }
        }
        Ok(TlsConfig {
            ca_certs: self.ca_certs.clone(),
            certfile: self.certfile.clone(),
            keyfile: self.keyfile.clone(),
            version: self.tls_version.unwrap_or_default(),
            insecure: self.tls_insecure.unwrap_or(false),
            verify_certificate: self.tls_verify_certificate.unwrap_or(true),
            ciphers: self.tls_ciphers.clone(),
        })
    }
}

/// A timeout or delay: positive, at most [`MAX_SECONDS`].
fn positive(key: &str, d: Duration) -> Result<Duration, ConfigError> {
    if d.is_zero() || d > Duration::from_secs(MAX_SECONDS) {
        return Err(ConfigError::new(key, Some(&seconds(d)), SECONDS));
    }
    Ok(d)
}

/// An MQTT UTF-8 string: no NUL (MQTT forbids it, and Paho's Rust builders panic on it)
/// nor another character MQTT says must not be sent (brokers such as Mosquitto close the
/// connection of a client whose id or user name holds one), at most 65535 bytes.
fn mqtt_text(key: &str, value: &str) -> Result<(), ConfigError> {
    if flask_mqtt_topic::first_disallowed(value).is_some() || value.len() > MQTT_STRING_MAX {
        return Err(ConfigError::new(key, Some(&shown(value)), MQTT_TEXT));
    }
    Ok(())
}

/// A password: no NUL (Paho's Rust builders panic on it), at most 65535 bytes; never
/// shown.
fn password_text(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.contains('\0') || value.len() > MQTT_STRING_MAX {
        return Err(ConfigError::new(key, None, PASSWORD_TEXT));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use crate::ack::policy::AckPolicy;
    use crate::config::{Config, ConfigBuilder, ProtocolVersion};
    use crate::error::ConfigError;
    use crate::qos::QoS;

    /// One bad value, given the three ways: environment, TOML file, builder.
    struct Case {
        /// The settings, as environment variables (a TOML section says the same).
        env: Vec<(&'static str, &'static str)>,
        /// The same settings in code.
        code: fn(ConfigBuilder) -> ConfigBuilder,
        /// The key the error must name, and what it must say is accepted.
        key: &'static str,
        expected: &'static str,
    }

    fn from_env(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        Config::from_lookup("MQTT", |k| Ok(map.get(k).map(|v| (*v).to_owned())))
    }

    fn from_toml(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut toml = String::from("[MQTT]\n");
        for (k, v) in pairs {
            let field = k.strip_prefix("MQTT_").unwrap().to_ascii_lowercase();
            let mut quoted = String::new();
            for c in v.chars() {
                match c {
                    '"' | '\\' => quoted.extend(['\\', c]),
                    c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", c as u32)),
                    c => quoted.push(c),
                }
            }
            toml.push_str(&format!("{field} = \"{quoted}\"\n"));
        }
        Config::from_toml_str(&toml, "MQTT")
    }

    const TEXT: &str = "UTF-8 text without control characters (NUL, tabs, line breaks) or Unicode non-characters, at most 65535 bytes";
    const PASSWORD: &str = "UTF-8 text without NUL characters, at most 65535 bytes";
    const HOST: &str = "a host name or address, or a URI `scheme://host[:port][/path]` with scheme `mqtt`, `tcp`, `mqtts`, `ssl`, `ws` or `wss`";
    const SECONDS: &str = "a positive number of seconds (decimals allowed, at most 86400)";

    fn long() -> &'static str {
        Box::leak("u".repeat(65_536).into_boxed_str())
    }

    fn cases() -> Vec<Case> {
        vec![
            // NUL bytes in text that reaches Paho C.
            Case {
                env: vec![("MQTT_USERNAME", "ad\0min")],
                code: |b| b.username("ad\0min"),
                key: "MQTT_USERNAME",
                expected: TEXT,
            },
            Case {
                env: vec![("MQTT_USERNAME", "u"), ("MQTT_PASSWORD", "se\0cret")],
                code: |b| b.credentials("u", "se\0cret"),
                key: "MQTT_PASSWORD",
                expected: PASSWORD,
            },
            // Other characters MQTT says must not be sent.
            Case {
                env: vec![("MQTT_USERNAME", "ad\tmin")],
                code: |b| b.username("ad\tmin"),
                key: "MQTT_USERNAME",
                expected: TEXT,
            },
            Case {
                env: vec![("MQTT_CLIENT_ID", "app\u{FFFF}")],
                code: |b| b.client_id("app\u{FFFF}"),
                key: "MQTT_CLIENT_ID",
                expected: TEXT,
            },
            Case {
                env: vec![("MQTT_LAST_WILL_TOPIC", "status/\n")],
                code: |b| b.last_will("status/\n", "", QoS::AtMostOnce, false),
                key: "MQTT_LAST_WILL_TOPIC",
                expected: "a valid topic name: level 2 contains U+000A, a control character, which MQTT says must not be sent (brokers such as Mosquitto close the connection)",
            },
            Case {
                env: vec![("MQTT_CLIENT_ID", "app\0")],
                code: |b| b.client_id("app\0"),
                key: "MQTT_CLIENT_ID",
                expected: TEXT,
            },
            Case {
                env: vec![("MQTT_BROKER_URL", "bro\0ker")],
                code: |b| b.broker_url("bro\0ker"),
                key: "MQTT_BROKER_URL",
                expected: HOST,
            },
            Case {
                env: vec![("MQTT_BROKER_URL", "a,b\0")],
                code: |b| b.broker_url("a,b\0"),
                key: "MQTT_BROKER_URL",
                expected: HOST,
            },
            Case {
                env: vec![("MQTT_WEBSOCKET_PATH", "/mq\0tt")],
                code: |b| b.websocket_path("/mq\0tt"),
                key: "MQTT_WEBSOCKET_PATH",
                expected: "an HTTP path without control characters (NUL, line breaks)",
            },
            Case {
                env: vec![("MQTT_LAST_WILL_TOPIC", "status/\0")],
                code: |b| b.last_will("status/\0", "", QoS::AtMostOnce, false),
                key: "MQTT_LAST_WILL_TOPIC",
                expected: "a valid topic name: level 2 contains a NUL character (U+0000), which MQTT forbids",
            },
            Case {
                env: vec![("MQTT_TLS_ENABLED", "true"), ("MQTT_TLS_CIPHERS", "AES\0")],
                code: |b| b.tls(true).tls_ciphers("AES\0"),
                key: "MQTT_TLS_CIPHERS",
                expected: "an OpenSSL cipher list such as `ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES256-GCM-SHA384`",
            },
            Case {
                env: vec![("MQTT_TLS_ENABLED", "true"), ("MQTT_TLS_CA_CERTS", "/etc/ca\0.pem")],
                code: |b| b.tls(true).tls_ca_certs("/etc/ca\0.pem"),
                key: "MQTT_TLS_CA_CERTS",
                expected: "a file path without NUL characters",
            },
            // MQTT's two-byte lengths.
            Case {
                env: vec![("MQTT_USERNAME", long())],
                code: |b| b.username(long()),
                key: "MQTT_USERNAME",
                expected: TEXT,
            },
            Case {
                env: vec![("MQTT_USERNAME", "u"), ("MQTT_PASSWORD", long())],
                code: |b| b.credentials("u", long()),
                key: "MQTT_PASSWORD",
                expected: PASSWORD,
            },
            Case {
                env: vec![("MQTT_CLIENT_ID", long())],
                code: |b| b.client_id(long()),
                key: "MQTT_CLIENT_ID",
                expected: TEXT,
            },
            Case {
                env: vec![("MQTT_LAST_WILL_TOPIC", "t"), ("MQTT_LAST_WILL_MESSAGE", long())],
                code: |b| b.last_will("t", long(), QoS::AtMostOnce, false),
                key: "MQTT_LAST_WILL_MESSAGE",
                expected: "at most 65535 bytes (MQTT's limit for a will payload); found 65536 bytes",
            },
            // The same duration caps on every path.
            Case {
                env: vec![("MQTT_CONNECTION_TIMEOUT", "86401")],
                code: |b| b.connect_timeout(Duration::from_secs(86_401)),
                key: "MQTT_CONNECTION_TIMEOUT",
                expected: SECONDS,
            },
            Case {
                env: vec![("MQTT_CONNECTION_TIMEOUT", "0")],
                code: |b| b.connect_timeout(Duration::ZERO),
                key: "MQTT_CONNECTION_TIMEOUT",
                expected: SECONDS,
            },
            Case {
                env: vec![("MQTT_PUBLISH_TIMEOUT", "86400.5")],
                code: |b| b.publish_timeout(Duration::from_millis(86_400_500)),
                key: "MQTT_PUBLISH_TIMEOUT",
                expected: SECONDS,
            },
            Case {
                env: vec![("MQTT_RECONNECT_MIN_DELAY", "100000")],
                code: |b| b.reconnect_delay(Duration::from_secs(100_000), Duration::from_secs(100_000)),
                key: "MQTT_RECONNECT_MIN_DELAY",
                expected: SECONDS,
            },
            Case {
                env: vec![("MQTT_RECONNECT_MAX_DELAY", "86401")],
                code: |b| b.reconnect_delay(Duration::from_millis(500), Duration::from_secs(86_401)),
                key: "MQTT_RECONNECT_MAX_DELAY",
                expected: SECONDS,
            },
            Case {
                env: vec![("MQTT_KEEPALIVE", "65536")],
                code: |b| b.keepalive(Duration::from_secs(65_536)),
                key: "MQTT_KEEPALIVE",
                expected: "whole seconds from 0 to 65535",
            },
            Case {
                env: vec![("MQTT_PROTOCOL_VERSION", "5"), ("MQTT_SESSION_EXPIRY", "4294967296")],
                code: |b| {
                    b.protocol_version(ProtocolVersion::V5)
                        .session_expiry(Duration::from_secs(4_294_967_296))
                },
                key: "MQTT_SESSION_EXPIRY",
                expected: "whole seconds from 0 to 4294967295",
            },
            // Acknowledgements: `manual` is a handler's choice; at least one message in
            // flight.
            Case {
                env: vec![("MQTT_ACK_POLICY", "manual")],
                code: |b| b.ack_policy(AckPolicy::Manual),
                key: "MQTT_ACK_POLICY",
                expected: "`after` or `first`: `manual` is chosen per handler, with `#[on_message(.., ack = \"manual\")]` and an `mqtt::Ack` argument to acknowledge with, which a default for every handler cannot give",
            },
            Case {
                env: vec![("MQTT_PROTOCOL_VERSION", "5"), ("MQTT_RECEIVE_MAXIMUM", "0")],
                code: |b| b.protocol_version(ProtocolVersion::V5).receive_maximum(0),
                key: "MQTT_RECEIVE_MAXIMUM",
                expected: "a whole number of messages from 1 to 65535",
            },
            Case {
                env: vec![("MQTT_MAX_BUFFERED_MESSAGES", "2147483648")],
                code: |b| b.max_buffered_messages(2_147_483_648),
                key: "MQTT_MAX_BUFFERED_MESSAGES",
                expected: "at most 2147483647 messages (Paho C counts them in an `int`)",
            },
        ]
    }

    /// Every bad value is refused with a typed error naming its key, never a panic, and
    /// identically whether it came from the environment, a file or code.
    #[test]
    fn every_path_refuses_the_same_values_the_same_way() {
        for case in cases() {
            let shown: Vec<(&str, usize)> = case.env.iter().map(|(k, v)| (*k, v.len())).collect();
            let env = from_env(&case.env).unwrap_err();
            let file = from_toml(&case.env).unwrap_err();
            let code = (case.code)(Config::builder()).build().unwrap_err();
            assert_eq!(env.key(), case.key, "{shown:?}: {env}");
            assert_eq!(env.expected(), case.expected, "{shown:?}: {env}");
            assert_eq!(file, env, "{shown:?}: the file path differs");
            assert_eq!(code, env, "{shown:?}: the builder differs");
            assert!(!env.to_string().contains("se\0cret"), "{env}");
            assert!(!env.to_string().contains('\0'), "NUL shown raw: {env}");
        }
    }

    /// Durations too long for `Instant` arithmetic are refused, not carried to a panic.
    #[test]
    fn extreme_durations_are_errors_not_overflows() {
        for build in [
            Config::builder().connect_timeout(Duration::MAX),
            Config::builder().publish_timeout(Duration::MAX),
            Config::builder().reconnect_delay(Duration::MAX, Duration::MAX),
            Config::builder().keepalive(Duration::MAX),
            Config::builder()
                .protocol_version(ProtocolVersion::V5)
                .session_expiry(Duration::MAX),
        ] {
            assert!(build.build().is_err());
        }
        for huge in ["1e300", "18446744073709551616", "inf"] {
            let err = from_env(&[("MQTT_CONNECTION_TIMEOUT", huge)]).unwrap_err();
            assert_eq!(err.key(), "MQTT_CONNECTION_TIMEOUT", "{huge}");
        }
        // The longest allowed timeout over many brokers: a budget, not an overflow.
        let many = vec!["b"; 100].join(",");
        let c = Config::builder()
            .broker_url(many)
            .connect_timeout(Duration::from_secs(86_400))
            .build()
            .unwrap();
        assert_eq!(c.first_connect_budget(), Duration::from_secs(8_640_001));
        let mut c = c;
        c.connect_timeout = Duration::MAX;
        assert_eq!(c.first_connect_budget(), Duration::MAX);
    }

    /// The `required` connect's wait is what its attempts may take: Paho counts each
    /// broker's timeout in whole seconds (1.5 s waits 2 s), so the budget rounds each up
    /// before it adds them, plus 1 s for the answer.
    #[test]
    fn the_first_connect_budget_rounds_each_attempt_up_as_paho_waits() {
        let c = Config::builder()
            .broker_url("a,b")
            .connect_timeout(Duration::from_millis(1500))
            .build()
            .unwrap();
        assert_eq!(c.first_connect_budget(), Duration::from_secs(2 + 2 + 1));
        assert_eq!(
            c.first_connect_budget(),
            c.attempt_timeout() * 2 + Duration::from_secs(1)
        );
    }

    /// Paho C counts the connect timeout in whole seconds: a fraction rounds up, never
    /// down (2.7 s must not become 2 s).
    #[test]
    fn the_attempt_timeout_rounds_up_to_whole_seconds() {
        for (given, sent) in [
            (Duration::from_millis(2700), 3),
            (Duration::from_millis(2001), 3),
            (Duration::from_secs(2), 2),
            (Duration::from_millis(1), 1),
            (Duration::from_secs(86_400), 86_400),
        ] {
            let c = Config::builder().connect_timeout(given).build().unwrap();
            assert_eq!(c.attempt_timeout(), Duration::from_secs(sent), "{given:?}");
        }
        let c = Config {
            connect_timeout: Duration::MAX,
            ..Config::default()
        };
        assert_eq!(c.attempt_timeout().as_secs(), u64::MAX);
    }

    /// A builder's prefix is checked like one given to `from_env_prefix`.
    #[test]
    fn a_builder_prefix_is_checked() {
        let err = ConfigBuilder::with_prefix("mqtt").build().unwrap_err();
        assert_eq!(err.key(), "config prefix");
    }

    /// What the values at the limits give: accepted.
    #[test]
    fn values_at_the_limits_are_accepted() {
        let max = "u".repeat(65_535);
        let c = from_env(&[
            ("MQTT_USERNAME", &max),
            ("MQTT_CLIENT_ID", &max),
            ("MQTT_CONNECTION_TIMEOUT", "86400"),
            ("MQTT_PUBLISH_TIMEOUT", "0.001"),
            ("MQTT_RECONNECT_MAX_DELAY", "86400"),
            ("MQTT_KEEPALIVE", "65535"),
            ("MQTT_MAX_BUFFERED_MESSAGES", "2147483647"),
            ("MQTT_PROTOCOL_VERSION", "5"),
            ("MQTT_RECEIVE_MAXIMUM", "65535"),
        ])
        .unwrap();
        assert_eq!(c.username().map(str::len), Some(65_535));
        assert_eq!(c.connect_timeout(), Duration::from_secs(86_400));
        assert_eq!(c.keepalive(), Duration::from_secs(65_535));
        assert_eq!(c.receive_maximum(), 65_535);
        let c = from_env(&[
            ("MQTT_PROTOCOL_VERSION", "5"),
            ("MQTT_RECEIVE_MAXIMUM", "1"),
        ])
        .unwrap();
        assert_eq!(c.receive_maximum(), 1);
    }
}
