//! What happens to a client, as data: [`Event`] and its kinds, the payloads of the
//! connection and acknowledgement events, and log entries.
//!
//! Plain values: this layer knows nothing of the client that produces events nor of the
//! dispatch that hands them to handlers.

pub(crate) mod completion;
pub(crate) mod log;
pub(crate) mod payloads;

use std::fmt;

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

/// A set of [`HandlerKind`]s: the handlers an extractor can be an argument of
/// ([`FromEvent::AVAILABLE_IN`](crate::FromEvent::AVAILABLE_IN)).
///
/// ```
/// use flask_mqtt_core::{HandlerKind, HandlerKinds};
///
/// let kinds = HandlerKinds::only(HandlerKind::Connect).with(HandlerKind::Disconnect);
/// assert!(kinds.contains(HandlerKind::Disconnect));
/// assert!(!kinds.contains(HandlerKind::Message));
/// assert!(HandlerKinds::ALL.contains(HandlerKind::Log));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandlerKinds(u8);

impl HandlerKinds {
    /// Every kind of handler.
    pub const ALL: HandlerKinds = HandlerKinds((1 << HandlerKind::ALL.len()) - 1);

    /// No kind of handler.
    pub const NONE: HandlerKinds = HandlerKinds(0);

    /// `kind` alone.
    pub const fn only(kind: HandlerKind) -> Self {
        HandlerKinds(kind.bit())
    }

    /// These and `kind`.
    pub const fn with(self, kind: HandlerKind) -> Self {
        HandlerKinds(self.0 | kind.bit())
    }

    /// Whether `kind` is one of them.
    pub const fn contains(self, kind: HandlerKind) -> bool {
        self.0 & kind.bit() != 0
    }

    /// The one kind in the set, if it holds exactly one.
    pub const fn single(self) -> Option<HandlerKind> {
        let mut i = 0;
        while i < HandlerKind::ALL.len() {
            let kind = HandlerKind::ALL[i];
            if self.0 == kind.bit() {
                return Some(kind);
            }
            i += 1;
        }
        None
    }

    /// The kinds in the set, in [`HandlerKind::ALL`]'s order.
    pub fn iter(self) -> impl Iterator<Item = HandlerKind> {
        HandlerKind::ALL
            .into_iter()
            .filter(move |kind| self.contains(*kind))
    }
}

impl HandlerKind {
    /// This kind's bit in [`HandlerKinds`].
    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Debug for HandlerKinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}
