//! The crate's error type.
//!
//! Every message says its cause (a user logs `{e}`), so no error returns that cause
//! again from `source()`, where a reporter printing the chain would show it twice; the
//! cause stays available, typed, in the variant's fields.

use std::fmt;
use std::sync::Arc;

use flask_mqtt_topic::{TopicFilterError, TopicNameError};

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A configuration value that could not be used.
///
/// Two errors are equal when key, value and expectation are, and their I/O errors (if
/// any) are of the same kind.
#[derive(Clone, Debug, thiserror::Error)]
#[error("invalid {key}{}: expected {expected}", value.as_ref().map(|v| format!(" `{v}`")).unwrap_or_default())]
pub struct ConfigError {
    key: String,
    value: Option<String>,
    expected: String,
    // Shared so that the error stays `Clone`; its text is already in `expected`.
    io: Option<Arc<std::io::Error>>,
}

impl PartialEq for ConfigError {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
            && self.value == other.value
            && self.expected == other.expected
            && self.io.as_ref().map(|e| e.kind()) == other.io.as_ref().map(|e| e.kind())
    }
}

impl Eq for ConfigError {}

impl ConfigError {
    pub(crate) fn new(key: &str, value: Option<&str>, expected: impl Into<String>) -> Self {
        ConfigError {
            key: key.to_owned(),
            value: value.map(truncate),
            expected: expected.into(),
            io: None,
        }
    }

    /// A file named by `key` could not be read: `expected` says what it should be, and
    /// the message adds the I/O error's text.
    pub(crate) fn io(key: &str, value: Option<&str>, expected: &str, e: std::io::Error) -> Self {
        let mut err = ConfigError::new(key, value, format!("{expected} ({e})"));
        err.io = Some(Arc::new(e));
        err
    }

    /// The I/O error behind it, when a file could not be read (its text is already in
    /// the message).
    pub fn io_error(&self) -> Option<&std::io::Error> {
        self.io.as_deref()
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

/// Everything that can go wrong in flask-mqtt's runtime.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid; the message names the key.
    Config(ConfigError),
    /// A topic filter given at run time (to `subscribe`/`unsubscribe`) is invalid: not
    /// MQTT's grammar, or more levels than Mosquitto accepts
    /// ([`TopicFilterError::TooManyLevels`]). Nothing was sent.
    #[non_exhaustive]
    InvalidFilter {
        /// The filter as given (truncated to 200 bytes).
        filter: String,
        /// What is wrong with it.
        source: TopicFilterError,
    },
    /// A topic name given to `publish` (or as a Response Topic, or a request's reply
    /// topic) is invalid: not MQTT's grammar, or more levels than Mosquitto accepts
    /// ([`TopicNameError::TooManyLevels`]). Nothing was sent.
    #[non_exhaustive]
    InvalidTopic {
        /// The topic as given (truncated to 200 bytes).
        topic: String,
        /// What is wrong with it.
        source: TopicNameError,
    },
    /// An MQTT 5 property given to `publish` cannot be sent: a NUL character in a
    /// string, or a value longer than 65,535 bytes.
    #[non_exhaustive]
    InvalidProperty {
        /// The property, e.g. `Content Type` or `User Property value`.
        property: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A QoS number outside `0..=2`.
    InvalidQos(u8),
    /// Connect mode `required`: the first connection attempt failed.
    #[non_exhaustive]
    ConnectRequired {
        /// The broker URI (scheme, host, port, WebSocket path), its query's values `***`
        /// (they may be credentials).
        uri: String,
        /// Why.
        source: ConnectError,
        /// The prefix of the client's settings (`MQTT`, `MQTT2`, ...), for the message.
        prefix: String,
    },
    /// The operation needs a connection and the client is not connected.
    NotConnected,

    /// The connection broke while a QoS 1 or 2 publish waited for the broker's
    /// acknowledgement, on a clean session: the broker does not resume it, so the
    /// message is not resent. The broker may or may not have received it. (With
    /// `MQTT_CLEAN_SESSION=false` the publish is resent after the reconnect instead.)
    ConnectionLost,
    /// The client was disconnected for the whole publish timeout (`MQTT_PUBLISH_TIMEOUT`)
    /// while a publish waited. The message stays buffered and goes out after the
    /// reconnect; only its confirmation was given up.
    #[non_exhaustive]
    PublishTimeout {
        /// The topic of the message.
        topic: String,
        /// The configured timeout.
        timeout: std::time::Duration,
    },
    /// The client was stopped (`disconnect()` or server shutdown); nothing more is sent.
    Closed,
    /// The client already holds its limit of publishes not yet sent (written to the
    /// network), `MQTT_MAX_BUFFERED_MESSAGES`; the message was not queued. Paho counts
    /// every such publish: those kept while disconnected, and those queued while
    /// connected, when publishes come faster than the connection takes them.
    #[non_exhaustive]
    BufferFull {
        /// The configured limit (`MQTT_MAX_BUFFERED_MESSAGES`).
        limit: usize,
        /// The topic of the message that was refused.
        topic: String,
    },
    /// The broker refused a subscription (SUBACK failure code 0x80 or an MQTT 5 reason code).
    #[non_exhaustive]
    SubscribeRejected {
        /// The refused filter.
        filter: String,
    },
    /// The connection to the broker ended, or the client was stopped, before the broker
    /// answered a subscription or an unsubscription ([`Mqtt::subscribe`](crate::Mqtt::subscribe),
    /// [`Mqtt::unsubscribe`](crate::Mqtt::unsubscribe), [`Mqtt::unsubscribe_all`](crate::Mqtt::unsubscribe_all));
    /// the message says which. After a connection ended, a subscribed filter stays
    /// recorded and is subscribed at the next connect; an unsubscribed one is not
    /// recorded any more and is not sent again, and the broker may or may not have
    /// removed it (with a persistent session it may still send messages on it after the
    /// reconnect).
    #[non_exhaustive]
    Unanswered {
        /// `SUBSCRIBE` or `UNSUBSCRIBE`.
        request: &'static str,
        /// The (first) filter of the request.
        filter: String,
        /// `true`: the client was stopped (`disconnect()`, server shutdown); `false`: the
        /// connection ended.
        stopped: bool,
    },
    /// [`Mqtt::request`](crate::Mqtt::request): no reply arrived within the request's
    /// timeout. A reply that comes later is dropped (logged at debug level).
    #[non_exhaustive]
    NoReply {
        /// The request's topic.
        topic: String,
        /// The request's timeout.
        timeout: std::time::Duration,
    },
    /// [`Mqtt::request`](crate::Mqtt::request) on an MQTT 3.1.1 connection without
    /// [`reply_to`](crate::Request::reply_to): 3.1.1 has no Response Topic property, so
    /// the caller names the topic the responder answers on.
    #[non_exhaustive]
    ReplyTopicRequired {
        /// The request's topic.
        topic: String,
    },
    /// [`Mqtt::request`](crate::Mqtt::request) on MQTT 3.1.1: another request already
    /// waits for a reply on this reply topic, and without Correlation Data the two
    /// replies could not be told apart.
    #[non_exhaustive]
    ReplyTopicBusy {
        /// The reply topic.
        reply_topic: String,
    },
    /// A declared publisher's topic could not be built from the values given.
    #[non_exhaustive]
    TopicParameter {
        /// The publisher's topic template.
        template: String,
        /// What is wrong with the values.
        source: flask_mqtt_topic::RenderError,
    },
    /// A declared publisher's payload could not be serialized as JSON.
    #[non_exhaustive]
    Serialize {
        /// The publisher's topic template.
        template: String,
        /// serde_json's error.
        source: serde_json::Error,
    },
    /// A declared publisher was given the client of another broker than it declares
    /// (`broker = "..."`).
    #[non_exhaustive]
    WrongClient {
        /// The publisher's topic template.
        template: String,
        /// The client it declares (`MQTT` by default).
        declared: String,
        /// The client it was given.
        given: String,
    },
    /// A publish the broker would answer by closing the connection (see
    /// [`PublishLimit`]). Nothing was sent; the connection stays up.
    #[non_exhaustive]
    BrokerLimit {
        /// The message's topic.
        topic: String,
        /// The limit it is over.
        limit: PublishLimit,
    },
    /// A SUBSCRIBE or UNSUBSCRIBE of `filter` would be larger than the broker accepts
    /// (see [`PublishLimit::PacketSize`]), even with no other filter in it: the broker
    /// would close the connection. It was not sent (the other filters of an
    /// `unsubscribe_all` were). For an UNSUBSCRIBE, only with a persistent session,
    /// which may hold the filter (with a clean session it was never subscribed).
    #[non_exhaustive]
    FilterLimit {
        /// `SUBSCRIBE` or `UNSUBSCRIBE`.
        request: &'static str,
        /// The filter (shortened when long).
        filter: String,
        /// The limit it is over.
        limit: PublishLimit,
    },
    /// [`MetricsCollector::new`](crate::MetricsCollector::new) was given two clients
    /// that record metrics under one configuration prefix (or one client twice): every
    /// series of theirs would repeat (their `broker` label is the prefix), which
    /// OpenMetrics forbids and Prometheus cannot tell apart. Give each client its own
    /// prefix (`MQTT`, `MQTT2`, ...), or each one a collector.
    #[non_exhaustive]
    RepeatedPrefix {
        /// The configuration prefix of the clients.
        prefix: String,
    },
    /// An error reported by the Paho MQTT library.
    Paho(paho_mqtt::Error),
    /// The client's runtime could not be started.
    Runtime(std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => e.fmt(f),
            Error::InvalidFilter { filter, source } => {
                write!(f, "invalid topic filter `{filter}`: {source}")
            }
            Error::InvalidTopic { topic, source } => {
                write!(f, "invalid topic name `{topic}`: {source}")
            }
            Error::InvalidProperty { property, reason } => {
                write!(f, "invalid MQTT 5 {property} property: {reason}")
            }
            Error::InvalidQos(qos) => write!(f, "qos must be 0, 1 or 2, found {qos}"),
            Error::ConnectRequired {
                uri,
                source,
                prefix,
            } => write!(
                f,
                "could not connect to {uri} ({prefix}_CONNECT_MODE=required): {source}"
            ),
            Error::NotConnected => f.write_str("not connected to the broker"),
            Error::ConnectionLost => f.write_str("the connection to the broker broke before it acknowledged the publish; the message may or may not have been delivered"),
            Error::PublishTimeout { topic, timeout } => write!(f, "not connected to the broker for {timeout:?}; the message to `{topic}` stays buffered and is sent after the reconnect"),
            Error::Closed => f.write_str("the MQTT client was stopped; no further operations are possible"),
            Error::BufferFull { limit, topic } => write!(f, "too many publishes not yet sent (limit {limit}); message to `{topic}` not queued"),
            Error::SubscribeRejected { filter } => {
                write!(f, "the broker refused the subscription to `{filter}`")
            }
            Error::NoReply { topic, timeout } => {
                write!(f, "no reply to the request on `{topic}` within {timeout:?}")
            }
            Error::ReplyTopicRequired { topic } => write!(f, "a request on `{topic}` over MQTT 3.1.1 needs a reply topic: call `.reply_to(\"...\")` (MQTT 3.1.1 cannot carry one in the message; MQTT 5 can)"),
            Error::ReplyTopicBusy { reply_topic } => write!(f, "another request already waits for a reply on `{reply_topic}`; over MQTT 3.1.1 each waiting request needs its own reply topic"),
            Error::TopicParameter { template, source } => {
                write!(f, "cannot publish with `{template}`: {source}")
            }
            Error::Serialize { template, source } => write!(
                f,
                "cannot serialize the payload for `{template}` as JSON: {source}"
            ),
            Error::WrongClient {
                template,
                declared,
                given,
            } => write!(f, "the publisher of `{template}` is declared for the client {declared}, but was given the client {given}"),
            Error::Unanswered {
                request,
                filter,
                stopped: true,
            } => write!(
                f,
                "the MQTT client was stopped before the broker answered the {request} of `{filter}`"
            ),
            Error::Unanswered {
                request, filter, ..
            } => write!(
                f,
                "the connection to the broker ended before it answered the {request} of `{filter}`"
            ),
            Error::BrokerLimit { topic, limit } => {
                write!(f, "message to `{topic}` not sent: {limit}")
            }
            Error::FilterLimit {
                request,
                filter,
                limit,
            } => write!(f, "{request} of `{filter}` not sent: {limit}"),
            Error::RepeatedPrefix { prefix } => write!(f, "two clients with the configuration prefix `{prefix}` (or one client twice) in one metrics collector: their series would repeat; give each client its own prefix, or each one a collector"),
            Error::Paho(e) => write!(f, "mqtt operation failed: {e}"),
            Error::Runtime(e) => write!(f, "could not start the MQTT client runtime: {e}"),
        }
    }
}

/// The message of every variant already says its cause (a user's `{e}` must), so none
/// returns it again as its `source()`: a reporter printing the chain would show it twice.
/// The cause stays available, typed, in the variant's fields.
impl std::error::Error for Error {}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

/// A limit a publish is over: MQTT's own, or one the broker announced in its MQTT 5
/// CONNACK. Sent anyway, the broker would close the connection (and, for a QoS 1/2
/// message of a persistent session, Paho would send it again after every reconnect).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishLimit {
    /// The PUBLISH packet would be `size` bytes, more than `max`: the broker's Maximum
    /// Packet Size (`announced`; for the embedded broker, which speaks MQTT 3.1.1 and
    /// cannot announce it, the most it accepts), or the most any MQTT packet may be.
    PacketSize {
        /// The packet's size in bytes, header included.
        size: u64,
        /// The largest packet allowed, in bytes.
        max: u64,
        /// Whether `max` is the broker's (Maximum Packet Size, or the embedded broker's
        /// limit) rather than MQTT's.
        announced: bool,
    },
    /// The message's QoS is above the broker's Maximum QoS.
    Qos {
        /// The message's QoS.
        qos: u8,
        /// The broker's Maximum QoS.
        max: u8,
    },
    /// The message is retained and the broker announced Retain Available 0.
    Retain,
}

impl fmt::Display for PublishLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PublishLimit::PacketSize {
                size,
                max,
                announced: true,
            } => write!(
                f,
                "the packet would be {size} bytes, more than the broker accepts ({max}: its Maximum Packet Size, or the embedded broker's limit, which it does not announce)"
            ),
            PublishLimit::PacketSize { size, max, .. } => write!(
                f,
                "the packet would be {size} bytes, more than any MQTT packet may be ({max})"
            ),
            PublishLimit::Qos { qos, max } => write!(
                f,
                "QoS {qos} is above the broker's Maximum QoS ({max})"
            ),
            PublishLimit::Retain => write!(
                f,
                "the broker does not accept retained messages (Retain Available 0)"
            ),
        }
    }
}

/// Why a connection attempt failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The broker answered CONNACK with a refusal (MQTT 3.1.1 return code 1-5); the
    /// message's advice names the refused client's own settings (`ALERTS_USERNAME`, ...).
    #[error("connection refused by the broker: {0}")]
    Refused(ConnectRefusal),
    /// The broker answered with an MQTT 5 reason code of 0x80 or more.
    #[error("connection refused by the broker: {reason} (reason code {code:#04x})")]
    #[non_exhaustive]
    RefusedV5 {
        /// The reason code.
        code: u8,
        /// Its meaning, and the usual fix, naming the refused client's own settings.
        reason: String,
    },
    /// The broker could not be reached (TCP/TLS failure, timeout, ...).
    #[error("could not reach the broker at {uri}: {reason}")]
    #[non_exhaustive]
    Unreachable {
        /// The server URI that was tried, its query's values `***` (they may be
        /// credentials).
        uri: String,
        /// What went wrong, in Paho's words.
        reason: String,
    },
    /// The client stopped before its first connection's outcome (connect mode
    /// `required`): no network failure, but a panic on its thread or in its driver task
    /// (logged as an error), or a stop asked for meanwhile (`Mqtt::disconnect()` from a
    /// handler during start-up, which logs no error).
    #[error(
        "the client stopped before its first connection's outcome: it was disconnected \
         (`Mqtt::disconnect()`), or it panicked (logged as an error)"
    )]
    Stopped,
}

/// An MQTT 3.1.1 refusal ([`ConnectError::Refused`]): the broker's return code, and the
/// settings prefix of the client it refused, so that the advice names that client's own
/// keys (`ALERTS_USERNAME` for a client configured with `ALERTS_*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectRefusal {
    code: ConnectReturnCode,
    prefix: String,
}

impl ConnectRefusal {
    pub(crate) fn new(code: ConnectReturnCode, prefix: &str) -> ConnectRefusal {
        ConnectRefusal {
            code,
            prefix: prefix.to_owned(),
        }
    }

    /// The return code.
    pub fn return_code(&self) -> ConnectReturnCode {
        self.code
    }

    /// The numeric return code (1-5).
    pub fn code(&self) -> u8 {
        self.code.code()
    }

    /// What the code means and what usually fixes it, naming the refused client's keys.
    pub fn description(&self) -> String {
        with_prefix(self.code.description(), &self.prefix)
    }

    /// The prefix of the refused client's settings (`MQTT`, `ALERTS`, ...).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

/// A refusal of the default client (`MQTT_*`).
impl From<ConnectReturnCode> for ConnectRefusal {
    fn from(code: ConnectReturnCode) -> Self {
        ConnectRefusal::new(code, DEFAULT_PREFIX)
    }
}

impl PartialEq<ConnectReturnCode> for ConnectRefusal {
    fn eq(&self, other: &ConnectReturnCode) -> bool {
        self.code == *other
    }
}

impl fmt::Display for ConnectRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (return code {})", self.description(), self.code())
    }
}

/// The default client's prefix (`config::DEFAULT_PREFIX`; not imported from there, which
/// imports this file).
const DEFAULT_PREFIX: &str = "MQTT";

/// `text` (advice naming the default client's keys, `MQTT_USERNAME`, ...) with the keys
/// of the client whose settings start with `prefix`.
fn with_prefix(text: &str, prefix: &str) -> String {
    if prefix == DEFAULT_PREFIX {
        return text.to_owned();
    }
    text.replace("MQTT_", &format!("{prefix}_"))
}

/// MQTT 3.1.1 CONNACK return codes that refuse a connection (§3.2.2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectReturnCode {
    /// 1: the broker does not support the requested protocol version.
    UnacceptableProtocolVersion,
    /// 2: the client identifier is not allowed.
    IdentifierRejected,
    /// 3: the MQTT service is unavailable.
    ServerUnavailable,
    /// 4: bad user name or password.
    BadUserNameOrPassword,
    /// 5: not authorised.
    NotAuthorized,
}

impl ConnectReturnCode {
    /// The numeric return code (1-5).
    pub const fn code(self) -> u8 {
        match self {
            ConnectReturnCode::UnacceptableProtocolVersion => 1,
            ConnectReturnCode::IdentifierRejected => 2,
            ConnectReturnCode::ServerUnavailable => 3,
            ConnectReturnCode::BadUserNameOrPassword => 4,
            ConnectReturnCode::NotAuthorized => 5,
        }
    }

    /// The return code for a number, `None` for 0 (accepted) and unknown codes.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(ConnectReturnCode::UnacceptableProtocolVersion),
            2 => Some(ConnectReturnCode::IdentifierRejected),
            3 => Some(ConnectReturnCode::ServerUnavailable),
            4 => Some(ConnectReturnCode::BadUserNameOrPassword),
            5 => Some(ConnectReturnCode::NotAuthorized),
            _ => None,
        }
    }

    /// What the code means and what usually fixes it (Flask-MQTT's troubleshooting table),
    /// naming the default client's keys (`MQTT_USERNAME`, ...); a [`ConnectRefusal`]'s
    /// [`description`](ConnectRefusal::description) names the refused client's own.
    pub const fn description(self) -> &'static str {
        match self {
            ConnectReturnCode::UnacceptableProtocolVersion => {
                "incorrect protocol version: the broker does not speak the requested MQTT version; check MQTT_PROTOCOL_VERSION"
            }
            ConnectReturnCode::IdentifierRejected => {
                "invalid client identifier: the broker rejected MQTT_CLIENT_ID"
            }
            ConnectReturnCode::ServerUnavailable => {
                "server unavailable: the broker is up but cannot serve MQTT right now"
            }
            ConnectReturnCode::BadUserNameOrPassword => {
                "bad username or password: check MQTT_USERNAME and MQTT_PASSWORD"
            }
            ConnectReturnCode::NotAuthorized => {
                "not authorised: the broker refused this client or its credentials; check MQTT_USERNAME and MQTT_PASSWORD (Mosquitto answers a wrong password with this code)"
            }
        }
    }

    fn from_paho(code: paho_mqtt::ConnectReturnCode) -> Option<Self> {
        Self::from_code(code as u8)
    }
}

/// The meaning of an MQTT 5 CONNACK reason code (§3.2.2.2), with the usual fix naming
/// the keys of the client whose settings start with `prefix`.
pub(crate) fn v5_connect_reason(code: u8, prefix: &str) -> Option<String> {
    v5_reason_text(code).map(|text| with_prefix(text, prefix))
}

/// [`v5_connect_reason`] for the default client.
fn v5_reason_text(code: u8) -> Option<&'static str> {
    Some(match code {
        0x80 => "unspecified error",
        0x81 => "malformed packet",
        0x82 => "protocol error",
        0x83 => "implementation specific error",
        0x84 => "unsupported protocol version: check MQTT_PROTOCOL_VERSION",
        0x85 => "client identifier not valid: the broker rejected MQTT_CLIENT_ID",
        0x86 => "bad username or password: check MQTT_USERNAME and MQTT_PASSWORD",
        0x87 => "not authorised: the broker refused this client or its credentials; check MQTT_USERNAME and MQTT_PASSWORD (Mosquitto answers a wrong password with this code)",
        0x88 => "server unavailable",
        0x89 => "server busy: try again later",
        0x8A => "banned: the broker banned this client",
        0x8C => "bad authentication method",
        0x90 => "topic name invalid (the last will topic)",
        0x95 => "packet too large",
        0x97 => "quota exceeded",
        0x99 => "payload format invalid",
        0x9A => "retain not supported (the last will is retained)",
        0x9B => "qos not supported (the last will's qos)",
        0x9C => "use another server",
        0x9D => "server moved",
        0x9F => "connection rate exceeded",
        _ => return None,
    })
}

impl fmt::Display for ConnectReturnCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (return code {})", self.description(), self.code())
    }
}

impl ConnectError {
    /// The error of a connect attempt to `uri` by the client whose settings start with
    /// `prefix` (named in the advice).
    pub(crate) fn from_paho(err: &paho_mqtt::Error, uri: &str, prefix: &str) -> ConnectError {
        match err {
            paho_mqtt::Error::ConnectReturn(code) => match ConnectReturnCode::from_paho(*code) {
                Some(code) => ConnectError::Refused(ConnectRefusal::new(code, prefix)),
                None => ConnectError::Unreachable {
                    uri: shown_uri(uri),
                    reason: err.to_string(),
                },
            },
            paho_mqtt::Error::ReasonCode(rc, _) => ConnectError::RefusedV5 {
                code: *rc as u8,
                reason: v5_connect_reason(*rc as u8, prefix)
                    .unwrap_or_else(|| rc.to_string().to_lowercase()),
            },
            other => ConnectError::Unreachable {
                uri: shown_uri(uri),
                reason: other.to_string(),
            },
        }
    }
}

/// What was being done when Paho reported an error: decides the [`Error`] it becomes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum PahoOp<'a> {
    /// A publish to `topic`, with at most `limit` publishes not yet sent.
    Publish { topic: &'a str, limit: usize },
    /// A subscription, the first of whose filters is `filter`.
    Subscribe { filter: &'a str },
    /// An unsubscription.
    Unsubscribe,
}

impl Error {
    /// The one translation of Paho's errors into ours (connect attempts have their own,
    /// [`ConnectError::from_paho`]).
    pub(crate) fn from_paho(e: paho_mqtt::Error, op: PahoOp<'_>) -> Error {
        use paho_mqtt::Error as Paho;
        match (e, op) {
            // paho-mqtt 0.14's `try_publish` reports a refused publish as `Publish(rc,
            // message)`, handing the message back, never as the bare error
            // (`Outbound::publish` unpacks it into `Refused`).
            (Paho::Publish(rc, _), op) => Error::from_paho(Paho::from(rc), op),
            (Paho::MaxBufferedMessages, PahoOp::Publish { topic, limit }) => Error::BufferFull {
                limit,
                topic: topic.to_owned(),
            },
            (Paho::OperationIncomplete, PahoOp::Publish { .. }) => Error::ConnectionLost,
            // An MQTT 5 SUBACK with a failure reason code.
            (Paho::ReasonCode(rc, _), PahoOp::Subscribe { filter }) if (rc as u8) >= 0x80 => {
                Error::SubscribeRejected {
                    filter: filter.to_owned(),
                }
            }
            (Paho::Disconnected, _) => Error::NotConnected,
            (other, _) => Error::Paho(other),
        }
    }

    /// Whether Paho's error `e`, failing a SUBSCRIBE or UNSUBSCRIBE, is the broker's
    /// answer (a reason code: MQTT 5 SUBACK/UNSUBACK, the broker handled the packet);
    /// any other error is Paho's (not connected, failed to send, cut short by a
    /// disconnect), and the broker may not have seen the packet.
    pub(crate) fn answered_by_broker(e: &paho_mqtt::Error) -> bool {
        matches!(e, paho_mqtt::Error::ReasonCode(..))
    }

    pub(crate) fn invalid_filter(filter: &str, source: TopicFilterError) -> Error {
        Error::InvalidFilter {
            filter: truncate(filter),
            source,
        }
    }

    pub(crate) fn invalid_topic(topic: &str, source: TopicNameError) -> Error {
        Error::InvalidTopic {
            topic: truncate(topic),
            source,
        }
    }
}

/// Shortens user input quoted in an error to 200 bytes (on a char boundary), with
/// control characters and non-characters escaped (`\u{a}`): a line break or terminal
/// escape in it is shown, not acted on, wherever the error is printed.
pub(crate) fn truncate(s: &str) -> String {
    flask_mqtt_topic::escape_disallowed(&flask_mqtt_topic::shortened(s)).into_owned()
}

/// A broker URI (or WebSocket path) as logs, errors and `Debug` show it: the value of
/// each query parameter is `***` (a presigned WebSocket URL carries its credentials there,
/// e.g. AWS IoT's `X-Amz-Signature`), control characters and non-characters are escaped.
/// The URI given to Paho is unchanged.
pub(crate) fn shown_uri(uri: &str) -> String {
    let shown = flask_mqtt_topic::escape_disallowed;
    let Some((before, query)) = uri.split_once('?') else {
        return shown(uri).into_owned();
    };
    let redacted: Vec<String> = query
        .split('&')
        .map(|part| match part.split_once('=') {
            Some((name, _)) => format!("{}=***", shown(name)),
            None if part.is_empty() => String::new(),
            None => "***".to_owned(),
        })
        .collect();
    format!("{}?{}", shown(before), redacted.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paho counts every publish not yet handed to the socket against
    /// `MQTT_MAX_BUFFERED_MESSAGES`, also while connected (BENCHMARKS.md, "Findings on the
    /// way"): the message must not blame a disconnection.
    #[test]
    fn a_full_buffer_does_not_claim_a_disconnection() {
        let e = Error::BufferFull {
            limit: 3,
            topic: "t".into(),
        };
        let text = e.to_string();
        assert!(!text.contains("disconnected"), "{text}");
        assert!(text.contains("limit 3"), "{text}");
        assert!(text.contains("`t`"), "{text}");
    }

    #[test]
    fn shown_uris_hide_the_query_values() {
        assert_eq!(
            shown_uri("wss://h:443/mqtt?X-Amz-Credential=AKID%2Fx&X-Amz-Signature=abc123"),
            "wss://h:443/mqtt?X-Amz-Credential=***&X-Amz-Signature=***"
        );
        assert_eq!(
            shown_uri("wss://h:443/mqtt?token&a="),
            "wss://h:443/mqtt?***&a=***"
        );
        assert_eq!(shown_uri("tcp://h:1883"), "tcp://h:1883");
        assert_eq!(
            shown_uri("ws://h:80/p\0?k\n=v"),
            "ws://h:80/p\\u{0}?k\\u{a}=***"
        );
        // Errors that name the broker show it so.
        let err = ConnectError::from_paho(
            &paho_mqtt::Error::Failure,
            "wss://h:443/mqtt?X-Amz-Signature=abc123",
            "MQTT",
        );
        assert!(!err.to_string().contains("abc123"), "{err}");
        assert!(!format!("{err:?}").contains("abc123"), "{err:?}");
    }

    #[test]
    fn return_codes_round_trip_and_explain() {
        for code in 1..=5u8 {
            let rc = ConnectReturnCode::from_code(code).unwrap();
            assert_eq!(rc.code(), code);
            assert!(rc.to_string().ends_with(&format!("(return code {code})")));
        }
        assert_eq!(ConnectReturnCode::from_code(0), None);
        assert_eq!(ConnectReturnCode::from_code(6), None);
        assert_eq!(
            ConnectError::Refused(ConnectReturnCode::BadUserNameOrPassword.into()).to_string(),
            "connection refused by the broker: bad username or password: check MQTT_USERNAME and MQTT_PASSWORD (return code 4)"
        );
    }

    /// A refusal of a client configured with another prefix names that client's keys,
    /// on MQTT 3.1.1 and 5; the default client's names `MQTT_*`.
    #[test]
    fn refusals_name_the_clients_own_keys() {
        let v311 = paho_mqtt::Error::ConnectReturn(paho_mqtt::ConnectReturnCode::NotAuthorized);
        let v5 = paho_mqtt::Error::ReasonCode(
            paho_mqtt::ReasonCode::BadUserNameOrPassword,
            paho_mqtt::Properties::new(),
        );
        let v5_version = paho_mqtt::Error::ReasonCode(
            paho_mqtt::ReasonCode::UnsupportedProtocolVersion,
            paho_mqtt::Properties::new(),
        );
        for (err, keys) in [
            (&v311, "check ALERTS_USERNAME and ALERTS_PASSWORD"),
            (&v5, "check ALERTS_USERNAME and ALERTS_PASSWORD"),
            (&v5_version, "check ALERTS_PROTOCOL_VERSION"),
        ] {
            let text = ConnectError::from_paho(err, "tcp://h:1883", "ALERTS").to_string();
            assert!(text.contains(keys), "{text}");
            assert!(!text.contains("MQTT_"), "{text}");
            let text = ConnectError::from_paho(err, "tcp://h:1883", "MQTT").to_string();
            assert!(text.contains(&keys.replace("ALERTS_", "MQTT_")), "{text}");
        }
        assert_eq!(DEFAULT_PREFIX, crate::config::DEFAULT_PREFIX);
        let refusal = ConnectRefusal::new(ConnectReturnCode::IdentifierRejected, "ALERTS");
        assert_eq!(refusal, ConnectReturnCode::IdentifierRejected);
        assert_eq!(refusal.code(), 2);
        assert!(
            refusal.description().ends_with("rejected ALERTS_CLIENT_ID"),
            "{refusal}"
        );
    }

    #[test]
    fn truncates_long_input_on_char_boundary() {
        let s = "é".repeat(300);
        let t = truncate(&s);
        assert!(t.len() <= 203);
        assert!(t.ends_with("..."));
        assert_eq!(truncate("short"), "short");
    }

    /// The chain of `e`'s messages: its own, then each `source()`'s.
    fn chain(e: &dyn std::error::Error) -> Vec<String> {
        let mut texts = vec![e.to_string()];
        let mut next = e.source();
        while let Some(s) = next {
            texts.push(s.to_string());
            next = s.source();
        }
        texts
    }

    /// Every error with a cause says it once: `{e}` alone names the cause (what a user
    /// logs), and a reporter that prints the `source()` chain does not repeat it.
    /// A second client's failed `required` connect names its own setting.
    #[test]
    fn a_required_connect_names_the_clients_own_setting() {
        let e = Error::ConnectRequired {
            uri: "tcp://h:1883".into(),
            source: ConnectError::Refused(ConnectReturnCode::NotAuthorized.into()),
            prefix: "MQTT2".into(),
        };
        assert!(
            e.to_string()
                .starts_with("could not connect to tcp://h:1883 (MQTT2_CONNECT_MODE=required): "),
            "{e}"
        );
    }

    #[test]
    fn errors_say_their_cause_once() {
        let filter = flask_mqtt_topic::TopicFilter::new("a/#/b").unwrap_err();
        let topic = flask_mqtt_topic::TopicName::new("a/+").unwrap_err();
        let render = flask_mqtt_topic::TopicNameTemplate::parse("d/{id}")
            .unwrap()
            .render(&["x/y"])
            .unwrap_err();
        let json = serde_json::from_str::<u8>("x").unwrap_err();
        let cases: Vec<(Error, String)> = vec![
            (
                Error::invalid_filter("a/#/b", filter.clone()),
                filter.to_string(),
            ),
            (
                Error::invalid_topic("a/+", topic.clone()),
                topic.to_string(),
            ),
            (
                Error::ConnectRequired {
                    uri: "tcp://h:1883".into(),
                    source: ConnectError::Refused(ConnectReturnCode::NotAuthorized.into()),
                    prefix: "MQTT2".into(),
                },
                ConnectReturnCode::NotAuthorized.to_string(),
            ),
            (
                Error::TopicParameter {
                    template: "d/{id}".into(),
                    source: render.clone(),
                },
                render.to_string(),
            ),
            (
                Error::Serialize {
                    template: "d/{id}".into(),
                    source: serde_json::from_str::<u8>("x").unwrap_err(),
                },
                json.to_string(),
            ),
            (
                Error::Paho(paho_mqtt::Error::Disconnected),
                paho_mqtt::Error::Disconnected.to_string(),
            ),
            (
                Error::Runtime(std::io::Error::other("no threads")),
                "no threads".to_owned(),
            ),
        ];
        for (err, cause) in cases {
            let texts = chain(&err);
            assert!(
                texts[0].contains(&cause),
                "`{}` does not say `{cause}`",
                texts[0]
            );
            for (i, earlier) in texts.iter().enumerate() {
                for later in &texts[i + 1..] {
                    assert!(
                        !earlier.contains(later.as_str()),
                        "the chain repeats itself: {texts:?}"
                    );
                }
            }
        }
    }
}
