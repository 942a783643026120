//! Extractors for parts of a message: topic, payload (raw, text, JSON), QoS, retain.

use std::fmt;
use std::ops::Deref;

use serde::de::DeserializeOwned;

use super::context::{EventContext, WrongEvent};
use super::{optional_when_the_event_fits, FromEvent, OptionalFromEvent, MESSAGE_ONLY};
use crate::error::truncate;
use crate::event::HandlerKinds;
use crate::message::Message;
use crate::qos::QoS;

/// The topic of the message, e.g. `sensors/7/temperature`. Derefs to `str`.
///
/// ```
/// # use flask_mqtt_core as mqtt;
/// #[mqtt::on_message("sensors/#")]
/// fn reading(topic: mqtt::Topic) {
///     if topic.ends_with("/temperature") { /* ... */ }
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(String);

impl Topic {
    /// The topic.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The topic as a `String`.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl Deref for Topic {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Topic {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Topic {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Topic {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl From<Topic> for String {
    fn from(topic: Topic) -> String {
        topic.0
    }
}

impl FromEvent for Topic {
    type Rejection = WrongEvent;
    const AVAILABLE_IN: HandlerKinds = MESSAGE_ONLY;

    fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(Topic(ctx.require_message("Topic")?.topic().to_owned()))
    }
}

/// The payload bytes, shared with the message (no copy). Derefs to `[u8]`.
///
/// ```
/// # use flask_mqtt_core as mqtt;
/// #[mqtt::on_message("camera/frame")]
/// fn frame(payload: mqtt::Payload) {
///     println!("{} bytes", payload.len());
/// }
/// ```
#[derive(Clone)]
pub struct Payload(Message);

impl Payload {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.payload()
    }

    /// A copy of the bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        self.0.payload().to_vec()
    }
}

impl Deref for Payload {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.0.payload()
    }
}

impl AsRef<[u8]> for Payload {
    fn as_ref(&self) -> &[u8] {
        self.0.payload()
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Payload {}

impl fmt::Debug for Payload {
    /// The length only: payloads may hold secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Payload({} bytes)", self.0.payload().len())
    }
}

impl FromEvent for Payload {
    type Rejection = WrongEvent;
    const AVAILABLE_IN: HandlerKinds = MESSAGE_ONLY;

    fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(Payload(ctx.require_message("Payload")?.clone()))
    }
}

/// The payload as UTF-8 text. Derefs to `str`.
///
/// ```
/// # use flask_mqtt_core as mqtt;
/// #[mqtt::on_message("chat/+")]
/// fn line(text: mqtt::Text) {
///     println!("{}", text.trim());
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Text(String);

impl Text {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text as a `String`.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why [`Text`] was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TextRejection {
    /// The handler does not receive messages.
    #[error(transparent)]
    WrongEvent(#[from] WrongEvent),
    /// The payload is not UTF-8.
    #[error("the payload is not valid UTF-8 (invalid byte at offset {offset} of {len})")]
    InvalidUtf8 {
        /// Byte offset of the first invalid byte: the bytes before it are valid.
        offset: usize,
        /// Length of the payload in bytes.
        len: usize,
    },
}

fn utf8(payload: &[u8]) -> Result<&str, (usize, usize)> {
    std::str::from_utf8(payload).map_err(|e| (e.valid_up_to(), payload.len()))
}

impl FromEvent for Text {
    type Rejection = TextRejection;
    const AVAILABLE_IN: HandlerKinds = MESSAGE_ONLY;

    fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        text(ctx.require_message("Text")?)
    }
}

/// `None` in handlers of other events; invalid UTF-8 is still a rejection.
impl OptionalFromEvent for Text {
    type Rejection = TextRejection;
    const AVAILABLE_IN: HandlerKinds = MESSAGE_ONLY;

    fn from_event_optional(ctx: &EventContext) -> Result<Option<Self>, Self::Rejection> {
        ctx.message().map(text).transpose()
    }
}

fn text(msg: &Message) -> Result<Text, TextRejection> {
    match utf8(msg.payload()) {
        Ok(text) => Ok(Text(text.to_owned())),
        Err((offset, len)) => Err(TextRejection::InvalidUtf8 { offset, len }),
    }
}

/// The payload as JSON, deserialized into `T` with serde_json. Derefs to `T`.
///
/// ```
/// # use flask_mqtt_core as mqtt;
/// #[derive(serde::Deserialize)]
/// struct Reading {
///     celsius: f64,
/// }
///
/// #[mqtt::on_message("sensors/+/temperature")]
/// async fn temperature(mqtt::Json(reading): mqtt::Json<Reading>) {
///     println!("{} °C", reading.celsius);
/// }
/// ```
///
/// A payload that is not a `T` is a [`JsonRejection`]: the handler is not called and a
/// warning says why, with line and column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Json<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// Why [`Json<T>`] was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonRejection {
    /// The handler does not receive messages.
    #[error(transparent)]
    WrongEvent(#[from] WrongEvent),
    /// The payload is not UTF-8, so it is not JSON.
    #[error("the payload is not JSON: invalid UTF-8 at byte offset {offset} of {len}")]
    InvalidUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
        /// Length of the payload in bytes.
        len: usize,
    },
    /// The payload is not well-formed JSON (or is cut short).
    #[error("the payload is not valid JSON: {message} at line {line} column {column}")]
    Syntax {
        /// What is wrong, in serde_json's words.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// The payload is JSON, but not of the expected shape.
    #[error("the payload JSON does not fit `{target}`: {message} at line {line} column {column}")]
    Data {
        /// The type the handler asked for.
        target: &'static str,
        /// What does not fit, in serde_json's words (`missing field `celsius``), cut
        /// to 200 bytes (it may quote the payload).
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
}

impl JsonRejection {
    /// Classifies a serde_json error from reading a `T`.
    fn from_serde<T>(e: &serde_json::Error) -> JsonRejection {
        // serde_json's Display appends " at line L column C"; keep the message alone.
        let text = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        // Cut to 200 bytes (it may quote the payload: `invalid type: string "..."`, and
        // rejections are logged) and escaped: serde quotes a field or variant name as it
        // was in the payload, after JSON decoding (`"\u001b"` is a raw escape there).
        let message = truncate(text.strip_suffix(&suffix).unwrap_or(&text));
        match e.classify() {
            serde_json::error::Category::Data => JsonRejection::Data {
                target: std::any::type_name::<T>(),
                message,
                line: e.line(),
                column: e.column(),
            },
            _ => JsonRejection::Syntax {
                message,
                line: e.line(),
                column: e.column(),
            },
        }
    }
}

impl<T: DeserializeOwned> FromEvent for Json<T> {
    type Rejection = JsonRejection;
    const AVAILABLE_IN: HandlerKinds = MESSAGE_ONLY;

    fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        json(ctx.require_message("Json")?.payload())
    }
}

/// `None` in handlers of other events and for an empty payload (no JSON at all, e.g. a
/// retained message being cleared); a payload that is not a `T` is still a rejection.
impl<T: DeserializeOwned> OptionalFromEvent for Json<T> {
    type Rejection = JsonRejection;
    const AVAILABLE_IN: HandlerKinds = MESSAGE_ONLY;

    fn from_event_optional(ctx: &EventContext) -> Result<Option<Self>, Self::Rejection> {
        match ctx.message() {
            Some(msg) if !msg.payload().is_empty() => json(msg.payload()).map(Some),
            _ => Ok(None),
        }
    }
}

fn json<T: DeserializeOwned>(payload: &[u8]) -> Result<Json<T>, JsonRejection> {
    let text = utf8(payload).map_err(|(offset, len)| JsonRejection::InvalidUtf8 { offset, len })?;
    serde_json::from_str(text)
        .map(Json)
        .map_err(|e| JsonRejection::from_serde::<T>(&e))
}

impl FromEvent for QoS {
    type Rejection = WrongEvent;
    const AVAILABLE_IN: HandlerKinds = MESSAGE_ONLY;

    fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(ctx.require_message("QoS")?.qos())
    }
}

/// Whether the broker delivered the message as a retained one (sent because of the
/// subscription, not just published).
///
/// ```
/// # use flask_mqtt_core as mqtt;
/// #[mqtt::on_message("config/#")]
/// fn config(mqtt::Retain(retained): mqtt::Retain, text: mqtt::Text) {
///     if retained { /* the last known value, at subscribe time */ }
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Retain(pub bool);

impl FromEvent for Retain {
    type Rejection = WrongEvent;
    const AVAILABLE_IN: HandlerKinds = MESSAGE_ONLY;

    fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(Retain(ctx.require_message("Retain")?.retain()))
    }
}

optional_when_the_event_fits!(Topic, Payload, QoS, Retain);

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Reading {
        _celsius: f64,
    }

    #[derive(Debug, serde::Deserialize)]
    enum Kind {
        Temperature,
    }

    fn rejection<T: DeserializeOwned>(json: &str) -> JsonRejection {
        match serde_json::from_str::<T>(json) {
            Ok(_) => panic!("{json} was read"),
            Err(e) => JsonRejection::from_serde::<T>(&e),
        }
    }

    /// serde_json quotes string values in its messages: a huge one in the payload must
    /// not make a huge rejection (logged at `warn`).
    #[test]
    fn a_quoted_payload_is_cut_to_200_bytes() {
        // Control characters serde quotes (decoded from JSON escapes) are shown escaped.
        match rejection::<Kind>(r#""\u001b[2J\nERROR forged""#) {
            JsonRejection::Data { message, .. } => {
                assert!(
                    message.starts_with("unknown variant `\\u{1b}[2J\\u{a}ERROR forged`"),
                    "{message:?}"
                );
            }
            other => panic!("{other:?}"),
        }
        let huge = format!(r#"{{"_celsius": "{}"}}"#, "\u{e9}".repeat(100_000));
        match rejection::<Reading>(&huge) {
            JsonRejection::Data {
                message,
                line,
                column,
                ..
            } => {
                assert!(message.starts_with("invalid type: string \"\u{e9}\u{e9}"));
                assert!(message.ends_with("..."), "{message}");
                assert!(message.len() <= 200 + 3, "{}", message.len());
                assert_eq!((line, column), (1, 200_015));
            }
            other => panic!("{other:?}"),
        }
        // Short messages are kept whole.
        match rejection::<Reading>(r#"{"_celsius": "hot"}"#) {
            JsonRejection::Data { message, .. } => {
                assert_eq!(message, "invalid type: string \"hot\", expected f64");
            }
            other => panic!("{other:?}"),
        }
    }

    /// serde_json stops at depth 128, so deeply nested input is a rejection, not a stack
    /// overflow.
    #[test]
    fn deep_nesting_is_a_syntax_rejection() {
        let deep = "[".repeat(100_000);
        match rejection::<serde_json::Value>(&deep) {
            JsonRejection::Syntax { message, .. } => {
                assert_eq!(message, "recursion limit exceeded");
            }
            other => panic!("{other:?}"),
        }
    }
}
