//! The value types of settings, and the grammar of their text form: what an environment
//! variable or a file may say for a boolean, a number of seconds, a port, a transport.
//!
//! Reading a value checks only its form (`abc` is not a port); whether a well-formed value
//! is allowed (a port of 0, a timeout of two days) is decided once, for every source, by
//! `ConfigBuilder::build`. So a value given in code and the same value read from the
//! environment get the same answer.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::error::{shown_uri, ConfigError};

/// The longest duration any setting accepts, in seconds (one day): timeouts and retry
/// delays. Also what keeps `Instant + delay` and `timeout * brokers` far from overflow.
pub(crate) const MAX_SECONDS: u64 = 86_400;

/// The longest MQTT string, user name, password, client id or will payload, in bytes
/// (a two-byte length prefix).
pub(crate) const MQTT_STRING_MAX: usize = 65_535;

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
///
/// More variants may come: a `match` outside this crate needs a wildcard arm.
///
/// ```compile_fail,E0004
/// fn f(v: flask_mqtt_core::Transport) {
///     match v {
///         flask_mqtt_core::Transport::Tcp => {}
///         flask_mqtt_core::Transport::WebSockets => {}
///     }
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// Plain TCP (or TLS over TCP).
    #[default]
    Tcp,
    /// MQTT over websockets (or secure websockets).
    WebSockets,
}

impl Transport {
    /// `tcp` or `websockets`: how the key `MQTT_TRANSPORT` spells it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::WebSockets => "websockets",
        }
    }
}

/// The MQTT protocol version.
///
/// More variants may come: a `match` outside this crate needs a wildcard arm.
///
/// ```compile_fail,E0004
/// fn f(v: flask_mqtt_core::ProtocolVersion) {
///     match v {
///         flask_mqtt_core::ProtocolVersion::V311 => {}
///         flask_mqtt_core::ProtocolVersion::V5 => {}
///     }
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ProtocolVersion {
    /// MQTT 3.1.1.
    #[default]
    V311,
    /// MQTT 5.0.
    V5,
}

/// What startup does while the broker cannot be reached.
///
/// More variants may come: a `match` outside this crate needs a wildcard arm.
///
/// ```compile_fail,E0004
/// fn f(v: flask_mqtt_core::ConnectMode) {
///     match v {
///         flask_mqtt_core::ConnectMode::Background => {}
///         flask_mqtt_core::ConnectMode::Required => {}
///     }
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectMode {
    /// Serve HTTP at once and keep retrying in the background.
    #[default]
    Background,
    /// Fail startup when the first connect does not succeed in time (the connection
    /// timeout, rounded up to whole seconds, per listed broker, plus 1 s):
    /// [`Client::start`](crate::Client::start) and the actix plugin's `init` connect
    /// before they return, and return the connect error. The actix plugin's `configure`
    /// alone cannot fail startup: there a `required` client connects in the background,
    /// like [`Background`](ConnectMode::Background), and a warning says so once.
    Required,
}

/// A value as an error shows it: control characters (a NUL byte above all) escaped, so
/// that the message shows where they are instead of hiding them.
pub(crate) fn shown(value: &str) -> Cow<'_, str> {
    if value.chars().any(char::is_control) {
        Cow::Owned(
            value
                .chars()
                .map(|c| {
                    if c.is_control() {
                        c.escape_default().to_string()
                    } else {
                        c.to_string()
                    }
                })
                .collect(),
        )
    } else {
        Cow::Borrowed(value)
    }
}

/// A number of seconds as errors and docs write it: `0.5`, `30`.
pub(crate) fn seconds(d: Duration) -> String {
    d.as_secs_f64().to_string()
}

/// `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`, in any case.
pub(crate) fn boolean(key: &str, value: &str) -> Result<bool, ConfigError> {
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

/// A whole number of type `T` (a port, a count); `expected` says what the key accepts.
pub(crate) fn number<T: std::str::FromStr>(
    key: &str,
    value: &str,
    expected: &str,
) -> Result<T, ConfigError> {
    value
        .trim()
        .parse::<T>()
        .map_err(|_| ConfigError::new(key, Some(value), expected))
}

/// A number of seconds, decimals allowed; `expected` says what the key accepts.
pub(crate) fn secs(key: &str, value: &str, expected: &str) -> Result<Duration, ConfigError> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| ConfigError::new(key, Some(value), expected))
}

/// One of `names` (compared without case and surrounding spaces).
pub(crate) fn one_of<T: Copy>(
    key: &str,
    value: &str,
    names: &[(&str, T)],
    expected: &str,
) -> Result<T, ConfigError> {
    let v = value.trim().to_ascii_lowercase();
    names
        .iter()
        .find(|(n, _)| *n == v)
        .map(|(_, t)| *t)
        .ok_or_else(|| ConfigError::new(key, Some(value), expected))
}

/// The names `MQTT_TRANSPORT` accepts.
pub(crate) const TRANSPORTS: &[(&str, Transport)] = &[
    ("tcp", Transport::Tcp),
    ("websockets", Transport::WebSockets),
    ("websocket", Transport::WebSockets),
];

/// The names `MQTT_PROTOCOL_VERSION` accepts.
pub(crate) const PROTOCOLS: &[(&str, ProtocolVersion)] = &[
    ("3.1.1", ProtocolVersion::V311),
    ("4", ProtocolVersion::V311),
    ("311", ProtocolVersion::V311),
    ("mqttv311", ProtocolVersion::V311),
    ("5", ProtocolVersion::V5),
    ("5.0", ProtocolVersion::V5),
    ("mqttv5", ProtocolVersion::V5),
];

/// The names `MQTT_CONNECT_MODE` accepts.
pub(crate) const CONNECT_MODES: &[(&str, ConnectMode)] = &[
    ("background", ConnectMode::Background),
    ("required", ConnectMode::Required),
];

/// A broker URL as errors show it: whatever precedes an `@` (a user name and password) is
/// `***`, so are the query's values ([`shown_uri`]), control characters are escaped.
pub(crate) fn shown_url(value: &str) -> String {
    let Some(at) = value.rfind('@') else {
        return shown_uri(value);
    };
    let start = value
        .get(..at)
        .and_then(|before| before.find("://"))
        .map_or(0, |i| i + 3);
    let scheme = value.get(..start).unwrap_or_default();
    let rest = value.get(at..).unwrap_or_default();
    format!("{}***{}", shown(scheme), shown_uri(rest))
}

/// A WebSocket path (`MQTT_WEBSOCKET_PATH`). Its `Debug` is [`shown_uri`]'s: the values
/// of its query, where a presigned URL carries credentials, never show.
#[derive(Clone)]
pub(crate) struct WebSocketPath(pub(crate) String);

impl fmt::Debug for WebSocketPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", shown_uri(&self.0))
    }
}

/// A broker URL as given (`MQTT_BROKER_URL`, `.broker_url(..)`), until `build` parses it.
/// Its `Debug` is [`shown_url`]'s: a user name and password written into it (which
/// `build` refuses) never show, not even in a `ConfigBuilder`'s `Debug`.
#[derive(Clone)]
pub(crate) struct GivenUrl(pub(crate) String);

impl fmt::Debug for GivenUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", shown_url(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        for (text, b) in [("TRUE", true), (" on ", true), ("0", false), ("No", false)] {
            assert_eq!(boolean("K", text).unwrap(), b, "{text}");
        }
        assert!(boolean("K", "maybe").is_err());
        assert_eq!(secs("K", "0.25", "").unwrap(), Duration::from_millis(250));
        // Too large for a `Duration`, negative, not a number: errors, never a panic.
        for bad in ["1e300", "-1", "NaN", "inf", "x"] {
            assert!(secs("K", bad, "").is_err(), "{bad}");
        }
        assert!(number::<u64>("K", "-1", "").is_err());
        assert!(number::<u16>("K", "70000", "").is_err());
        assert_eq!(
            one_of("K", " WebSocket ", TRANSPORTS, "").unwrap(),
            Transport::WebSockets
        );
    }

    #[test]
    fn control_characters_are_shown_escaped() {
        assert_eq!(shown("a\0b"), "a\\u{0}b");
        assert_eq!(shown("plain /path"), "plain /path");
    }
}
