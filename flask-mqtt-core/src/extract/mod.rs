//! Handler arguments: the [`FromEvent`] trait and the events it extracts from.

use std::fmt;

use crate::{LogEntry, Message, Mqtt, QoS};

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
    fn attribute(&self) -> &'static str {
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

/// An event together with the client it came from: what extractors read.
#[derive(Clone, Debug)]
pub struct EventContext {
    client: Mqtt,
    event: Event,
}

impl EventContext {
    pub(crate) fn new(client: Mqtt, event: Event) -> Self {
        EventContext { client, event }
    }

    /// The client the event belongs to.
    pub fn client(&self) -> &Mqtt {
        &self.client
    }

    /// The event.
    pub fn event(&self) -> &Event {
        &self.event
    }
}

/// Types that can be arguments of `#[on_*]` handlers, built from the event being handled
/// (like axum's `FromRequestParts`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an argument of an MQTT handler",
    label = "not an MQTT extractor",
    note = "handler arguments must implement `FromEvent`: `Message`, `Mqtt`, `LogEntry`, `Connected`, `Disconnected`, `Published`, `Subscribed`, `Unsubscribed`"
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

impl FromEvent for Mqtt {
    type Rejection = std::convert::Infallible;

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

/// Details of a successful connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connected {
    pub(crate) server_uri: String,
    pub(crate) reconnect: bool,
}

impl Connected {
    /// The broker's URI.
    pub fn server_uri(&self) -> &str {
        &self.server_uri
    }

    /// `false` for the first connect of the client, `true` afterwards.
    pub fn is_reconnect(&self) -> bool {
        self.reconnect
    }
}

/// Why the connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The application called `disconnect()` or the server shut down.
    Requested,
    /// The network connection was lost; the client reconnects by itself.
    ConnectionLost,
    /// The broker sent DISCONNECT (MQTT 5) with this reason code; the client reconnects.
    ByBroker(u8),
}

/// Details of a disconnect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disconnected {
    pub(crate) reason: DisconnectReason,
}

impl Disconnected {
    /// Why the connection ended.
    pub fn reason(&self) -> &DisconnectReason {
        &self.reason
    }

    /// Whether the client will try to reconnect.
    pub fn will_reconnect(&self) -> bool {
        self.reason != DisconnectReason::Requested
    }
}

/// A publish the broker acknowledged (at QoS 0: handed to the network).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub(crate) topic: String,
    pub(crate) qos: QoS,
    pub(crate) retain: bool,
}

impl Published {
    /// The topic published to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The QoS it was published with.
    pub fn qos(&self) -> QoS {
        self.qos
    }

    /// Whether it was retained.
    pub fn retain(&self) -> bool {
        self.retain
    }
}

/// A subscription the broker acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscribed {
    pub(crate) filter: String,
    pub(crate) granted: QoS,
}

impl Subscribed {
    /// The filter subscribed to.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// The QoS the broker granted.
    pub fn granted_qos(&self) -> QoS {
        self.granted
    }
}

/// An unsubscription the broker acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsubscribed {
    pub(crate) filter: String,
}

impl Unsubscribed {
    /// The filter unsubscribed from.
    pub fn filter(&self) -> &str {
        &self.filter
    }
}
