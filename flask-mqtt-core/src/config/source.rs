//! Reading `{PREFIX}_*` keys from a lookup function (the environment, a file section).

use std::time::Duration;

use super::{Config, ConfigBuilder, ConnectMode, ProtocolVersion, Secret, TlsVersion, Transport};
use crate::error::ConfigError;

/// One environment variable; non-UTF-8 values are an error naming the key.
pub(crate) fn env_var(key: &str) -> Result<Option<String>, ConfigError> {
    match std::env::var(key) {
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::new(
            key,
            None,
            "valid UTF-8 (the environment variable is not)",
        )),
    }
}

pub(crate) fn read<F>(prefix: &str, mut lookup: F) -> Result<Config, ConfigError>
where
    F: FnMut(&str) -> Result<Option<String>, ConfigError>,
{
    if prefix.is_empty()
        || !prefix.starts_with(|c: char| c.is_ascii_uppercase())
        || !prefix
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(ConfigError::new(
            "config prefix",
            Some(prefix),
            "upper-case ASCII letters, digits and `_`, starting with a letter (like `MQTT2`)",
        ));
    }
    let mut b = ConfigBuilder::with_prefix(prefix);
    let mut get = |name: &str| -> Result<Option<(String, String)>, ConfigError> {
        let key = format!("{prefix}_{name}");
        Ok(lookup(&key)?.map(|v| (key, v)))
    };

    if let Some((_, v)) = get("BROKER_URL")? {
        b.broker_url = Some(v);
    }
    if let Some((key, v)) = get("BROKER_PORT")? {
        b.port = Some(parse_port(&key, &v)?);
    }
    if let Some((_, v)) = get("USERNAME")? {
        b.username = Some(v);
    }
    if let Some((_, v)) = get("PASSWORD")? {
        b.password = Some(Secret::new(v));
    }
    if let Some((key, v)) = get("KEEPALIVE")? {
        let secs = parse_u64(&key, &v, 0, 65535, "whole seconds from 0 to 65535")?;
        b.keepalive = Some(Duration::from_secs(secs));
    }
    if let Some((_, v)) = get("CLIENT_ID")? {
        b.client_id = Some(v);
    }
    if let Some((key, v)) = get("CLEAN_SESSION")? {
        b.clean_session = Some(parse_bool(&key, &v)?);
    }
    if let Some((key, v)) = get("SESSION_EXPIRY")? {
        let secs = parse_u64(
            &key,
            &v,
            0,
            u64::from(u32::MAX),
            "whole seconds from 0 to 4294967295",
        )?;
        b.session_expiry = Some(Duration::from_secs(secs));
    }
    if let Some((key, v)) = get("CONNECTION_TIMEOUT")? {
        b.connect_timeout = Some(parse_secs(&key, &v)?);
    }
    if let Some((key, v)) = get("PUBLISH_TIMEOUT")? {
        b.publish_timeout = Some(parse_secs(&key, &v)?);
    }
    if let Some((key, v)) = get("TRANSPORT")? {
        b.transport = Some(match v.trim().to_ascii_lowercase().as_str() {
            "tcp" => Transport::Tcp,
            "websockets" | "websocket" => Transport::WebSockets,
            _ => return Err(ConfigError::new(&key, Some(&v), "`tcp` or `websockets`")),
        });
    }
    if let Some((_, v)) = get("WEBSOCKET_PATH")? {
        b.websocket_path = Some(v);
    }
    if let Some((key, v)) = get("PROTOCOL_VERSION")? {
        b.protocol = Some(match v.trim().to_ascii_lowercase().as_str() {
            "3.1.1" | "4" | "311" | "mqttv311" => ProtocolVersion::V311,
            "5" | "5.0" | "mqttv5" => ProtocolVersion::V5,
            _ => {
                return Err(ConfigError::new(
                    &key,
                    Some(&v),
                    "`3.1.1` (also `4`, `311`) or `5`",
                ))
            }
        });
    }
    if let Some((key, v)) = get("TLS_ENABLED")? {
        b.tls_enabled = Some(parse_bool(&key, &v)?);
    }
    if let Some((_, v)) = get("TLS_CA_CERTS")? {
        b.ca_certs = Some(v.into());
    }
    if let Some((_, v)) = get("TLS_CERTFILE")? {
        b.certfile = Some(v.into());
    }
    if let Some((_, v)) = get("TLS_KEYFILE")? {
        b.keyfile = Some(v.into());
    }
    if let Some((key, v)) = get("TLS_VERSION")? {
        b.tls_version = Some(match v.trim().to_ascii_lowercase().as_str() {
            "tlsv1.2" | "tls1.2" | "1.2" => TlsVersion::Tls12,
            "tlsv1.3" | "tls1.3" | "1.3" => TlsVersion::Tls13,
            _ => return Err(ConfigError::new(&key, Some(&v), "`tlsv1.2` or `tlsv1.3`")),
        });
    }
    if let Some((key, v)) = get("TLS_INSECURE")? {
        b.tls_insecure = Some(parse_bool(&key, &v)?);
    }
    if let Some((_, v)) = get("TLS_CIPHERS")? {
        b.tls_ciphers = Some(v);
    }
    if let Some((_, v)) = get("LAST_WILL_TOPIC")? {
        b.will_topic = Some(v);
    }
    if let Some((_, v)) = get("LAST_WILL_MESSAGE")? {
        b.will_message = Some(v.into_bytes());
    }
    if let Some((key, v)) = get("LAST_WILL_QOS")? {
        b.will_qos = Some(parse_u64(&key, &v, 0, 2, "0, 1 or 2")? as u8);
    }
    if let Some((key, v)) = get("LAST_WILL_RETAIN")? {
        b.will_retain = Some(parse_bool(&key, &v)?);
    }
    if let Some((key, v)) = get("RECONNECT_MIN_DELAY")? {
        b.reconnect_min_delay = Some(parse_secs(&key, &v)?);
    }
    if let Some((key, v)) = get("RECONNECT_MAX_DELAY")? {
        b.reconnect_max_delay = Some(parse_secs(&key, &v)?);
    }
    if let Some((key, v)) = get("MAX_BUFFERED_MESSAGES")? {
        let n = parse_u64(
            &key,
            &v,
            1,
            i32::MAX as u64,
            "a whole number of messages, at least 1",
        )?;
        b.max_buffered_messages = Some(n as usize);
    }
    if let Some((key, v)) = get("CONNECT_MODE")? {
        b.connect_mode = Some(match v.trim().to_ascii_lowercase().as_str() {
            "background" => ConnectMode::Background,
            "required" => ConnectMode::Required,
            _ => {
                return Err(ConfigError::new(
                    &key,
                    Some(&v),
                    "`background` or `required`",
                ))
            }
        });
    }
    b.build()
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

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
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
