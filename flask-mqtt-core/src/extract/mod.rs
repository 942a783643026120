//! Handler arguments: the [`FromEvent`] trait, the events it extracts from, and the
//! extractors (like axum's `FromRequestParts`).
//!
//! | argument | what | rejected when |
//! |---|---|---|
//! | [`Message`] | the whole message | not a message handler |
//! | [`Topic`] | the topic, as a `String`-like value | not a message handler |
//! | [`Payload`] | the payload bytes | not a message handler |
//! | [`Text`] | the payload as UTF-8 | invalid UTF-8 ([`TextRejection`]) |
//! | [`Json<T>`] | the payload as JSON, for any `T: DeserializeOwned` | invalid UTF-8, syntax, or not a `T` ([`JsonRejection`]) |
//! | [`Path<T>`] | named topic levels, `sensors/{sensor_id}/temperature` | a level that is not a `T` ([`PathRejection`]) |
//! | [`QoS`](crate::QoS), [`Retain`] | how the message was delivered | not a message handler |
//! | [`UserProperties`] | MQTT 5 user properties (empty when none) | not a message handler |
//! | [`ContentType`], [`ResponseTopic`], [`CorrelationData`] | MQTT 5 properties | absent ([`PropertyRejection`]) |
//! | [`Mqtt`] | the client | never |
//! | [`State<T>`] (and `web::Data<T>` with the `actix` feature) | shared application state | none of type `T` registered ([`MissingState`]) |
//! | [`LogEntry`], [`Connected`], [`Disconnected`], [`Published`], [`Subscribed`], [`Unsubscribed`] | the event of other handlers | another kind of handler |
//! | `Option<T>` | `None` instead of a rejection | never |
//! | `Result<T, T::Rejection>` | the rejection, to handle it yourself | never |
//!
//! When an argument is rejected the handler is not called; a warning (target
//! `flask_mqtt::dispatch`) names the topic, the handler and the reason, and the other
//! handlers of the event run as usual.

mod events;
mod message;
mod path;
mod path_de;
mod properties;
mod state;

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;

use flask_mqtt_topic::TopicTemplate;

pub use self::events::{
    Connected, DisconnectReason, Disconnected, Published, Subscribed, Unsubscribed,
};
pub use self::message::{Json, JsonRejection, Payload, Retain, Text, TextRejection, Topic};
pub use self::path::{Path, PathRejection};
pub use self::properties::{
    ContentType, CorrelationData, PropertyRejection, ResponseTopic, UserProperties,
};
#[cfg(feature = "actix")]
pub use self::state::share_with_every_client;
pub use self::state::{MissingState, State};
use crate::dispatch::Busy;
use crate::{LogEntry, Message, Mqtt};

/// What happened, as handed to handlers.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Event {
    /// A connection was established (`#[on_connect]`).
    Connected(Connected),
    /// The connection ended (`#[on_disconnect]`).
    Disconnected(Disconnected),
    /// A message arrived (`#[on_message]`).
    Message(Message),
    /// A log line (`#[on_log]`).
    Log(LogEntry),
    /// The broker acknowledged a publish (`#[on_publish]`).
    Published(Published),
    /// The broker acknowledged a subscription (`#[on_subscribe]`).
    Subscribed(Subscribed),
    /// The broker acknowledged an unsubscription (`#[on_unsubscribe]`).
    Unsubscribed(Unsubscribed),
}

impl Event {
    /// The attribute of the handlers this event goes to, e.g. `on_message`.
    pub(crate) fn attribute(&self) -> &'static str {
        match self {
            Event::Connected(_) => "on_connect",
            Event::Disconnected(_) => "on_disconnect",
            Event::Message(_) => "on_message",
            Event::Log(_) => "on_log",
            Event::Published(_) => "on_publish",
            Event::Subscribed(_) => "on_subscribe",
            Event::Unsubscribed(_) => "on_unsubscribe",
        }
    }
}

/// An event together with the client it came from and the handler it is for: what
/// extractors read.
#[derive(Debug)]
pub struct EventContext {
    client: Mqtt,
    event: Event,
    /// The handler's topic template, when its filter names levels.
    template: Option<Arc<TopicTemplate>>,
    /// Counts the event as not finished (`Dispatcher::is_idle`) while the dispatcher's
    /// context lives; clones do not count.
    busy: Option<Busy>,
}

/// A clone does not keep the event counted as busy (a handler may keep it).
impl Clone for EventContext {
    fn clone(&self) -> Self {
        EventContext {
            client: self.client.clone(),
            event: self.event.clone(),
            template: self.template.clone(),
            busy: None,
        }
    }
}

impl EventContext {
    pub(crate) fn new(client: Mqtt, event: Event) -> Self {
        EventContext {
            client,
            event,
            template: None,
            busy: None,
        }
    }

    /// The same, counted as busy until dropped.
    pub(crate) fn counted(mut self, busy: Busy) -> Self {
        self.busy = Some(busy);
        self
    }

    /// The same event, for a handler whose filter is `template` (not counted as busy).
    pub(crate) fn with_template(&self, template: Arc<TopicTemplate>) -> Self {
        EventContext {
            client: self.client.clone(),
            event: self.event.clone(),
            template: Some(template),
            busy: None,
        }
    }

    /// The client the event belongs to.
    pub fn client(&self) -> &Mqtt {
        &self.client
    }

    /// The event.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The message, for `#[on_message]` handlers.
    pub fn message(&self) -> Option<&Message> {
        match &self.event {
            Event::Message(m) => Some(m),
            _ => None,
        }
    }

    /// The handler's topic template, when its filter names levels
    /// (`sensors/{sensor_id}/temperature`).
    pub fn template(&self) -> Option<&TopicTemplate> {
        self.template.as_deref()
    }

    /// The named topic levels of the message, `[("sensor_id", "7")]`, in the order of
    /// the filter; `None` unless this is a message for a handler whose filter names levels.
    pub fn path_params(&self) -> Option<Vec<(&str, &str)>> {
        self.template.as_ref()?.captures(self.message()?.topic())
    }

    /// The message, or the rejection saying `extractor` needs one.
    pub(crate) fn require_message(&self, extractor: &'static str) -> Result<&Message, WrongEvent> {
        self.message().ok_or(WrongEvent {
            extractor,
            expected: "on_message",
            actual: self.event.attribute(),
        })
    }
}

/// Types that can be arguments of `#[on_*]` handlers, built from the event being handled
/// (like axum's `FromRequestParts`).
///
/// Implement it for your own extractors; the rejection's `Display` is what the warning
/// says when extraction fails:
///
/// ```
/// use flask_mqtt_core::{EventContext, FromEvent};
///
/// /// The device id: the second level of the topic.
/// struct DeviceId(String);
///
/// impl FromEvent for DeviceId {
///     type Rejection = &'static str;
///
///     fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
///         let topic = ctx.message().ok_or("not a message")?.topic();
///         let id = topic.split('/').nth(1).ok_or("the topic has no second level")?;
///         Ok(DeviceId(id.to_owned()))
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an argument of an MQTT handler",
    label = "not an MQTT extractor",
    note = "handler arguments must implement `FromEvent`: `Message`, `Topic`, `Payload`, `Text`, `Json<T>`, `Path<T>`, `QoS`, `Retain`, `UserProperties`, `ContentType`, `ResponseTopic`, `CorrelationData`, `Mqtt`, `State<T>`, `LogEntry`, `Connected`, `Disconnected`, `Published`, `Subscribed`, `Unsubscribed`, and `Option`/`Result` of those",
    note = "to read a named level of the topic, name it in the filter (`\"sensors/{{sensor_id}}/temperature\"`) and take `Path<T>`"
)]
pub trait FromEvent: Sized {
    /// Why extraction can fail; logged with topic and handler name.
    type Rejection: fmt::Display;

    /// Builds the argument.
    fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection>;
}

/// The extractor does not apply to this kind of handler (e.g. `Message` in `#[on_connect]`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{extractor}` is only available in `#[{expected}]` handlers, not in `#[{actual}]`")]
pub struct WrongEvent {
    extractor: &'static str,
    expected: &'static str,
    actual: &'static str,
}

/// `None` when `T` is rejected: the handler runs either way.
impl<T: FromEvent> FromEvent for Option<T> {
    type Rejection = Infallible;

    fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(T::from_event(ctx).ok())
    }
}

/// `T`'s rejection as a value: the handler runs either way and decides.
impl<T: FromEvent> FromEvent for Result<T, T::Rejection> {
    type Rejection = Infallible;

    fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(T::from_event(ctx))
    }
}

impl FromEvent for Mqtt {
    type Rejection = Infallible;

    fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(ctx.client.clone())
    }
}

macro_rules! event_extractor {
    ($ty:ty, $variant:ident, $attr:literal) => {
        impl FromEvent for $ty {
            type Rejection = WrongEvent;

            fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
                match &ctx.event {
                    Event::$variant(v) => Ok(v.clone()),
                    other => Err(WrongEvent {
                        extractor: stringify!($ty),
                        expected: $attr,
                        actual: other.attribute(),
                    }),
                }
            }
        }
    };
}

event_extractor!(Message, Message, "on_message");
event_extractor!(LogEntry, Log, "on_log");
event_extractor!(Connected, Connected, "on_connect");
event_extractor!(Disconnected, Disconnected, "on_disconnect");
event_extractor!(Published, Published, "on_publish");
event_extractor!(Subscribed, Subscribed, "on_subscribe");
event_extractor!(Unsubscribed, Unsubscribed, "on_unsubscribe");
