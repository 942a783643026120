//! [`EventContext`]: an event with the client it came from and the handler it is for,
//! which is what extractors read.

use std::sync::{Arc, Mutex};

use flask_mqtt_topic::TopicTemplate;

use crate::ack::watermark::Slot;
use crate::event::completion::Pending;
use crate::event::{Event, HandlerKind};
use crate::handle::Mqtt;
use crate::message::Message;

/// An event together with the client it came from and the handler it is for: what
/// extractors read.
#[derive(Debug)]
pub struct EventContext {
    client: Mqtt,
    event: Event,
    /// The handler's topic template, when its filter names levels.
    template: Option<Arc<TopicTemplate>>,
    /// The event's completion, reported when the dispatcher's context of the event is
    /// dropped (after every handler call that shares it); clones do not hold it.
    pending: Option<Pending>,
    /// For a handler's own context (with its template): the dispatcher's context of the
    /// event, held until this one is dropped.
    parent: Option<Arc<EventContext>>,
    /// For a `manual` handler's own context: the message's acknowledgement, until its
    /// `mqtt::Ack` argument takes it. An `Ack` dropped without `ack()` while the call
    /// runs puts it back here, so that the call's outcome decides (see [`AckHome`]).
    /// `None` in every other context: most contexts never hold one, and an empty home
    /// cost each message an allocation and each handler call a lock.
    ack: Option<AckHome>,
}

/// Where a `manual` handler's acknowledgement waits: in its call's context until the
/// `mqtt::Ack` takes it, and again after the `Ack` was dropped without `ack()` while the
/// call runs. Shared by the context and that `Ack`; the call takes what is left here
/// when it ends ([`EventContext::end_call`]).
pub(crate) type AckHome = Arc<Mutex<Home>>;

/// What an [`AckHome`] holds.
#[derive(Debug)]
pub(crate) struct Home {
    /// The message's acknowledgement, while the context holds it.
    pub(crate) slot: Option<Slot>,
    /// The call ended: an `Ack` dropped without `ack()` from now on releases the message
    /// itself.
    pub(crate) ended: bool,
}

/// A clone does not hold the event's completion back (a handler may keep it).
impl Clone for EventContext {
    fn clone(&self) -> Self {
        EventContext {
            client: self.client.clone(),
            event: self.event.clone(),
            template: self.template.clone(),
            pending: None,
            parent: None,
            ack: None,
        }
    }
}

impl Drop for EventContext {
    fn drop(&mut self) {
        if let Some(pending) = self.pending.take() {
            pending.settle(&self.event);
        }
    }
}

impl EventContext {
    pub(crate) fn new(client: Mqtt, event: Event) -> Self {
        EventContext {
            client,
            event,
            template: None,
            pending: None,
            parent: None,
            ack: None,
        }
    }

    /// The same, reporting its completion when dropped.
    pub(crate) fn pending(mut self, pending: Pending) -> Self {
        self.pending = Some(pending);
        self
    }

    /// The context of `base`'s event for one handler: its filter's `template` when it
    /// names levels, and the message's acknowledgement `ack` for a `manual` handler.
    /// Holds `base` (and so the event's completion) until dropped.
    pub(crate) fn for_handler(
        base: &Arc<EventContext>,
        template: Option<Arc<TopicTemplate>>,
        ack: Option<Slot>,
    ) -> Self {
        EventContext {
            client: base.client.clone(),
            event: base.event.clone(),
            template,
            pending: None,
            parent: Some(Arc::clone(base)),
            // A home only where an `Ack` can take or put back an acknowledgement.
            ack: ack.map(|slot| {
                Arc::new(Mutex::new(Home {
                    slot: Some(slot),
                    ended: false,
                }))
            }),
        }
    }

    /// The message's acknowledgement, for a `manual` handler's `mqtt::Ack` (once).
    pub(crate) fn take_ack(&self) -> Option<Slot> {
        crate::sync::lock(self.ack.as_ref()?).slot.take()
    }

    /// Whether this context has a home for a `manual` handler's acknowledgement.
    #[inline]
    pub(crate) fn has_home(&self) -> bool {
        self.ack.is_some()
    }

    /// For the `mqtt::Ack` of a `manual` handler: where it puts the message's
    /// acknowledgement back when dropped without `ack()` while the call runs.
    pub(crate) fn ack_home(&self) -> Option<AckHome> {
        self.ack.as_ref().map(Arc::clone)
    }

    /// The handler's call ended: what this context still holds of the message's
    /// acknowledgement (a `manual` handler whose `mqtt::Ack` was not taken, or was dropped
    /// without `ack()` during the call), for the call's outcome to settle. An `Ack`
    /// dropped from now on settles the message itself.
    /// Inlined down to the check for a home (most handlers' contexts have none); the
    /// lock is taken out of line.
    #[inline]
    pub(crate) fn end_call(&self) -> Option<Slot> {
        ended(self.ack.as_ref()?)
    }

    /// The event's number in arrival order, for a context the dispatcher made.
    #[inline]
    pub(crate) fn seq(&self) -> Option<u64> {
        match &self.pending {
            Some(p) => Some(p.seq()),
            None => self.parent.as_ref()?.seq(),
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
        self.message()
            .ok_or_else(|| WrongEvent::new(extractor, HandlerKind::Message, &self.event))
    }
}

/// [`EventContext::end_call`] for a context with a `home`: marks the call ended, and
/// takes what the home still holds.
fn ended(home: &AckHome) -> Option<Slot> {
    let mut home = crate::sync::lock(home);
    home.ended = true;
    home.slot.take()
}

/// The extractor does not apply to this kind of handler (e.g. `Message` in `#[on_connect]`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{extractor}` is only available in `#[{expected}]` handlers, not in `#[{actual}]`")]
pub struct WrongEvent {
    extractor: &'static str,
    expected: &'static str,
    actual: &'static str,
}

impl WrongEvent {
    /// `extractor`, which needs an event of kind `expected`, was given `actual`.
    pub(crate) fn new(extractor: &'static str, expected: HandlerKind, actual: &Event) -> Self {
        WrongEvent {
            extractor,
            expected: expected.attribute(),
            actual: actual.kind().attribute(),
        }
    }
}
