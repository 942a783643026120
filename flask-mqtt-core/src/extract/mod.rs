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
use crate::event::{Event, HandlerKind, HandlerKinds};
use crate::handle::Mqtt;
use crate::message::Message;

/// Types that can be arguments of `#[on_*]` handlers, built from the event being handled
/// (like axum's `FromRequestParts`).
///
/// | argument | in handlers | what | rejected when | `Option<_>` is `None` when |
/// |---|---|---|---|---|
/// | [`Message`] | `#[on_message]` | the whole message | never | never |
/// | [`Topic`](crate::Topic) | `#[on_message]` | the topic, as a `String`-like value | never | never |
/// | [`Payload`](crate::Payload) | `#[on_message]` | the payload bytes | never | never |
/// | [`Text`](crate::Text) | `#[on_message]` | the payload as UTF-8 | invalid UTF-8 ([`TextRejection`](crate::TextRejection)) | never |
/// | [`Json<T>`](crate::Json) | `#[on_message]` | the payload as JSON, for any `T: DeserializeOwned` | invalid UTF-8, syntax, or not a `T` ([`JsonRejection`](crate::JsonRejection)) | an empty payload (e.g. a retained message being cleared) |
/// | [`Path<T>`](crate::Path) | `#[on_message]` | named topic levels, `sensors/{sensor_id}/temperature` | a level that is not a `T` ([`PathRejection`](crate::PathRejection)) | never |
/// | [`QoS`](crate::QoS), [`Retain`](crate::Retain) | `#[on_message]` | how the message was delivered | never | never |
/// | [`UserProperties`](crate::UserProperties) | `#[on_message]` | MQTT 5 user properties (empty when none) | never | no user property |
/// | [`ContentType`](crate::ContentType), [`ResponseTopic`](crate::ResponseTopic), [`CorrelationData`](crate::CorrelationData) | `#[on_message]` | MQTT 5 properties | absent ([`PropertyRejection`](crate::PropertyRejection)) | absent |
/// | [`Ack`](crate::Ack) | `#[on_message(.., ack = "manual")]` only | the message's acknowledgement | never | never |
/// | [`LogEntry`], [`Connected`], [`Disconnected`], [`Published`], [`Subscribed`], [`Unsubscribed`] | the event's own (`#[on_log]`, `#[on_connect]`, ...) | the event | never | never |
/// | [`Mqtt`] | all | the client | never | never |
/// | [`State<T>`](crate::State) (and `web::Data<T>` with the `actix` feature) | all | shared application state | none of type `T` registered ([`MissingState`](crate::MissingState)) | none registered |
/// | `Result<T, T::Rejection>` | `T`'s | the rejection, to handle it yourself | never | |
///
/// An argument in a handler it is not available in (a `Message` in `#[on_connect]`, an
/// `Option<Json<T>>` in `#[on_publish]`, an `Ack` without `ack = "manual"`) would never
/// be built: the macros make it a compile error on its type, read from
/// [`AVAILABLE_IN`](FromEvent::AVAILABLE_IN) and [`TAKES_ACK`](FromEvent::TAKES_ACK), so
/// aliases and `Option`/`Result` of one are caught too:
///
/// ```text
/// error[E0080]: evaluation panicked: `mqtt::Message` is only available in `#[on_message]` handlers, not in `#[on_connect]`; an `#[on_connect]` handler takes `mqtt::Connected` (the event), `mqtt::Mqtt` or `mqtt::State<T>`
///  --> src/main.rs:4:25
///   |
/// 4 | async fn connected(msg: mqtt::Message) {}
///   |                         ^^^^^^^^^^^^^ evaluation of `_::__FLASK_MQTT_ARGUMENT_1` failed here
/// ```
///
/// Where the compiler can't see it (your own extractor, available everywhere unless it
/// narrows `AVAILABLE_IN`, calling these), the mismatch is met at run time: the
/// rejection [`WrongEvent`], and `None` for `Option<_>`.
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

    /// The kinds of handler this extractor can be an argument of: every kind unless an
    /// implementation narrows it. The `#[on_*]` macros check it at compile time, so an
    /// argument that could never be built in its handler (a [`Message`] in
    /// `#[on_connect]`) is an error on the argument's type, not a rejection at every
    /// event. Narrow it when [`from_event`](FromEvent::from_event) always rejects the
    /// other kinds:
    ///
    /// ```
    /// use flask_mqtt_core::{EventContext, FromEvent, HandlerKind, HandlerKinds};
    ///
    /// /// The second level of the message's topic.
    /// struct DeviceId(String);
    ///
    /// impl FromEvent for DeviceId {
    ///     type Rejection = &'static str;
    ///     const AVAILABLE_IN: HandlerKinds = HandlerKinds::only(HandlerKind::Message);
    ///
    ///     fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
    ///         let topic = ctx.message().ok_or("not a message")?.topic();
    ///         Ok(DeviceId(topic.split('/').nth(1).ok_or("no second level")?.to_owned()))
    ///     }
    /// }
    /// ```
    const AVAILABLE_IN: HandlerKinds = HandlerKinds::ALL;

    /// Whether the argument takes the message's acknowledgement, as [`Ack`](crate::Ack)
    /// does: the `#[on_message]` macro then requires `ack = "manual"` (in a handler with
    /// another policy the acknowledgement is not the handler's to give). `false` unless
    /// an implementation says otherwise.
    const TAKES_ACK: bool = false;

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

    /// The kinds of handler `Option<Self>` can be an argument of, as
    /// [`FromEvent::AVAILABLE_IN`]: every kind unless an implementation narrows it.
    const AVAILABLE_IN: HandlerKinds = HandlerKinds::ALL;

    /// Whether `Option<Self>` takes the message's acknowledgement, as
    /// [`FromEvent::TAKES_ACK`].
    const TAKES_ACK: bool = false;

    /// Builds the argument, `None` when absent.
    fn from_event_optional(ctx: &EventContext) -> Result<Option<Self>, Self::Rejection>;
}

/// `None` when what `T` reads is absent; a rejection when it is malformed.
impl<T: OptionalFromEvent> FromEvent for Option<T> {
    type Rejection = T::Rejection;
    const AVAILABLE_IN: HandlerKinds = T::AVAILABLE_IN;
    const TAKES_ACK: bool = T::TAKES_ACK;

    fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        T::from_event_optional(ctx)
    }
}

/// `T`'s rejection as a value: the handler runs either way and decides.
impl<T: FromEvent> FromEvent for Result<T, T::Rejection> {
    type Rejection = Infallible;
    const AVAILABLE_IN: HandlerKinds = T::AVAILABLE_IN;
    const TAKES_ACK: bool = T::TAKES_ACK;

    fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(T::from_event(ctx))
    }
}

/// Where the extractors of a message's parts are available: `#[on_message]` handlers.
pub(crate) const MESSAGE_ONLY: HandlerKinds = HandlerKinds::only(HandlerKind::Message);

/// For an extractor whose only rejection is the wrong kind of event
/// ([`WrongEvent`]): `Option<T>` is `None` then.
macro_rules! optional_when_the_event_fits {
    ($($ty:ty),* $(,)?) => {
        $(impl $crate::extract::OptionalFromEvent for $ty {
            type Rejection = ::std::convert::Infallible;
            const AVAILABLE_IN: $crate::event::HandlerKinds =
                <$ty as $crate::extract::FromEvent>::AVAILABLE_IN;
            const TAKES_ACK: bool = <$ty as $crate::extract::FromEvent>::TAKES_ACK;

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
            const AVAILABLE_IN: HandlerKinds = HandlerKinds::only(HandlerKind::$kind);

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
