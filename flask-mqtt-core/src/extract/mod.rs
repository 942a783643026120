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

pub(crate) mod context;
pub(crate) mod message;
pub(crate) mod path;
mod path_de;
pub(crate) mod properties;
pub(crate) mod state;

use std::convert::Infallible;
use std::fmt;

use self::context::{EventContext, WrongEvent};
use crate::event::log::LogEntry;
use crate::event::payloads::{Connected, Disconnected, Published, Subscribed, Unsubscribed};
use crate::event::{Event, HandlerKind};
use crate::handle::Mqtt;
use crate::message::Message;

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
        Ok(ctx.client().clone())
    }
}

macro_rules! event_extractor {
    ($ty:ty, $variant:ident, $kind:ident) => {
        impl FromEvent for $ty {
            type Rejection = WrongEvent;

            fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
                match ctx.event() {
                    Event::$variant(v) => Ok(v.clone()),
                    other => Err(WrongEvent::new(stringify!($ty), HandlerKind::$kind, other)),
                }
            }
        }
    };
}

event_extractor!(Message, Message, Message);
event_extractor!(LogEntry, Log, Log);
event_extractor!(Connected, Connected, Connect);
event_extractor!(Disconnected, Disconnected, Disconnect);
event_extractor!(Published, Published, Publish);
event_extractor!(Subscribed, Subscribed, Subscribe);
event_extractor!(Unsubscribed, Unsubscribed, Unsubscribe);
