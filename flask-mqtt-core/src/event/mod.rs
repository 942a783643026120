//! What happens to a client, as data: [`Event`] and its kinds, the payloads of the
//! connection and acknowledgement events, and log entries.
//!
//! Plain values: this layer knows nothing of the client that produces events nor of the
//! dispatch that hands them to handlers.

pub(crate) mod completion;
pub(crate) mod log;
pub(crate) mod payloads;

use self::log::LogEntry;
use self::payloads::{Connected, Disconnected, Published, Subscribed, Unsubscribed};
use crate::message::Message;

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
    /// The kind of handlers this event goes to.
    pub fn kind(&self) -> HandlerKind {
        match self {
            Event::Connected(_) => HandlerKind::Connect,
            Event::Disconnected(_) => HandlerKind::Disconnect,
            Event::Message(_) => HandlerKind::Message,
            Event::Log(_) => HandlerKind::Log,
            Event::Published(_) => HandlerKind::Publish,
            Event::Subscribed(_) => HandlerKind::Subscribe,
            Event::Unsubscribed(_) => HandlerKind::Unsubscribe,
        }
    }
}

/// Which attribute registered a handler: the kind of event it handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HandlerKind {
    /// `#[on_connect]`: every successful (re)connect.
    Connect,
    /// `#[on_disconnect]`: connection lost or closed.
    Disconnect,
    /// `#[on_message]` (with a filter, or the catch-all).
    Message,
    /// `#[on_log]`.
    Log,
    /// `#[on_publish]`: a publish the broker acknowledged.
    Publish,
    /// `#[on_subscribe]`: a SUBACK.
    Subscribe,
    /// `#[on_unsubscribe]`: an UNSUBACK.
    Unsubscribe,
}

impl HandlerKind {
    /// Every kind, in declaration order.
    pub const ALL: [HandlerKind; 7] = [
        HandlerKind::Connect,
        HandlerKind::Disconnect,
        HandlerKind::Message,
        HandlerKind::Log,
        HandlerKind::Publish,
        HandlerKind::Subscribe,
        HandlerKind::Unsubscribe,
    ];

    /// The attribute's name, e.g. `on_message`: the one place the crate spells it.
    pub const fn attribute(self) -> &'static str {
        match self {
            HandlerKind::Connect => "on_connect",
            HandlerKind::Disconnect => "on_disconnect",
            HandlerKind::Message => "on_message",
            HandlerKind::Log => "on_log",
            HandlerKind::Publish => "on_publish",
            HandlerKind::Subscribe => "on_subscribe",
            HandlerKind::Unsubscribe => "on_unsubscribe",
        }
    }
}
