//! Handler arguments: the [`FromEvent`] trait (like axum's `FromRequestParts`), its
//! optional form [`OptionalFromEvent`], and the extractors, one file per kind: the parts
//! of a message (`message.rs`), named topic levels (`path.rs`), MQTT 5 properties
//! (`properties.rs`), shared state (`state.rs`), and the events themselves (here).
//! [`FromEvent`]'s documentation has the table users read.

pub(crate) mod ack;
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
/// | argument | what | rejected when | `Option<_>` is `None` when |
/// |---|---|---|---|
/// | [`Message`] | the whole message | not a message handler | not a message handler |
/// | [`Topic`](crate::Topic) | the topic, as a `String`-like value | not a message handler | not a message handler |
/// | [`Payload`](crate::Payload) | the payload bytes | not a message handler | not a message handler |
/// | [`Text`](crate::Text) | the payload as UTF-8 | invalid UTF-8 ([`TextRejection`](crate::TextRejection)) | not a message handler |
/// | [`Json<T>`](crate::Json) | the payload as JSON, for any `T: DeserializeOwned` | invalid UTF-8, syntax, or not a `T` ([`JsonRejection`](crate::JsonRejection)) | not a message handler, or an empty payload (e.g. a retained message being cleared) |
/// | [`Path<T>`](crate::Path) | named topic levels, `sensors/{sensor_id}/temperature` | a level that is not a `T` ([`PathRejection`](crate::PathRejection)) | not a message handler |
/// | [`QoS`](crate::QoS), [`Retain`](crate::Retain) | how the message was delivered | not a message handler | not a message handler |
/// | [`UserProperties`](crate::UserProperties) | MQTT 5 user properties (empty when none) | not a message handler | not a message handler, or no user property |
/// | [`ContentType`](crate::ContentType), [`ResponseTopic`](crate::ResponseTopic), [`CorrelationData`](crate::CorrelationData) | MQTT 5 properties | absent ([`PropertyRejection`](crate::PropertyRejection)) | absent |
/// | [`Mqtt`] | the client | never | never |
/// | [`Ack`](crate::Ack) | the message's acknowledgement (`ack = "manual"`) | not a message handler | not a message handler |
/// | [`State<T>`](crate::State) (and `web::Data<T>` with the `actix` feature) | shared application state | none of type `T` registered ([`MissingState`](crate::MissingState)) | none registered |
/// | [`LogEntry`], [`Connected`], [`Disconnected`], [`Published`], [`Subscribed`], [`Unsubscribed`] | the event of other handlers | another kind of handler | another kind of handler |
/// | `Result<T, T::Rejection>` | the rejection, to handle it yourself | never | |
///
/// When an argument is rejected the handler is not called; a warning (target
/// `flask_mqtt::dispatch`) names the topic, the handler and the reason, and the other
/// handlers of the event run as usual.
///
/// `Option<T>` follows axum 0.8's optional extractors: `None` when what `T` reads is
/// absent, and still a rejection when it is there but malformed (a payload that is not
/// JSON is not "no JSON"). Take `Result<T, T::Rejection>` to see every rejection
/// yourself. `Option<T>` needs `T:` [`OptionalFromEvent`].
///
/// Implement `FromEvent` for your own extractors; the rejection's `Display` is what the
/// warning says when extraction fails:
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
    note = "handler arguments must implement `FromEvent`: `Message`, `Topic`, `Payload`, `Text`, `Json<T>`, `Path<T>`, `QoS`, `Retain`, `UserProperties`, `ContentType`, `ResponseTopic`, `CorrelationData`, `Mqtt`, `Ack`, `State<T>`, `LogEntry`, `Connected`, `Disconnected`, `Published`, `Subscribed`, `Unsubscribed`, and `Option`/`Result` of those",
    note = "to read a named level of the topic, name it in the filter (`\"sensors/{{sensor_id}}/temperature\"`) and take `Path<T>`"
)]
pub trait FromEvent: Sized {
    /// Why extraction can fail; logged with topic and handler name.
    type Rejection: fmt::Display;

    /// Builds the argument.
    fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection>;
}

/// Extractors that may be absent: what `Option<T>` as a handler argument uses (like
/// axum 0.8's `OptionalFromRequestParts`). `Ok(None)` when what the extractor reads is
/// not there, `Err` when it is there but unusable.
///
/// ```
/// use flask_mqtt_core::{EventContext, FromEvent, OptionalFromEvent};
///
/// /// The `tenant` user property.
/// struct Tenant(String);
///
/// impl OptionalFromEvent for Tenant {
///     type Rejection = &'static str;
///
///     fn from_event_optional(ctx: &EventContext) -> Result<Option<Self>, Self::Rejection> {
///         let Some(msg) = ctx.message() else { return Ok(None) };
///         let tenant = msg.as_paho().properties().find_user_property("tenant");
///         match tenant {
///             Some(t) if t.is_empty() => Err("the tenant property is empty"),
///             t => Ok(t.map(Tenant)),
///         }
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`Option<{Self}>` cannot be an argument of an MQTT handler",
    label = "`{Self}` has no optional form",
    note = "`Option<T>` needs `T: OptionalFromEvent` (absent is `None`, malformed is still a rejection); take `Result<T, T::Rejection>` to handle every rejection yourself"
)]
pub trait OptionalFromEvent: Sized {
    /// Why extraction can fail although the value is there; logged with topic and
    /// handler name.
    type Rejection: fmt::Display;

    /// Builds the argument, `None` when absent.
    fn from_event_optional(ctx: &EventContext) -> Result<Option<Self>, Self::Rejection>;
}

/// `None` when what `T` reads is absent; a rejection when it is malformed.
impl<T: OptionalFromEvent> FromEvent for Option<T> {
    type Rejection = T::Rejection;

    fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        T::from_event_optional(ctx)
    }
}

/// `T`'s rejection as a value: the handler runs either way and decides.
impl<T: FromEvent> FromEvent for Result<T, T::Rejection> {
    type Rejection = Infallible;

    fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(T::from_event(ctx))
    }
}

/// For an extractor whose only rejection is the wrong kind of event
/// ([`WrongEvent`]): `Option<T>` is `None` then.
macro_rules! optional_when_the_event_fits {
    ($($ty:ty),* $(,)?) => {
        $(impl $crate::extract::OptionalFromEvent for $ty {
            type Rejection = ::std::convert::Infallible;

            fn from_event_optional(
                ctx: &$crate::extract::context::EventContext,
            ) -> Result<Option<Self>, Self::Rejection> {
                Ok(<$ty as $crate::extract::FromEvent>::from_event(ctx).ok())
            }
        })*
    };
}
pub(crate) use optional_when_the_event_fits;

optional_when_the_event_fits!(
    Message,
    LogEntry,
    Connected,
    Disconnected,
    Published,
    Subscribed,
    Unsubscribed,
);

impl OptionalFromEvent for Mqtt {
    type Rejection = Infallible;

    fn from_event_optional(ctx: &EventContext) -> Result<Option<Self>, Self::Rejection> {
        Ok(Some(ctx.client().clone()))
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
