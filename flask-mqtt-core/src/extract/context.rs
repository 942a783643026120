//! [`EventContext`]: an event with the client it came from and the handler it is for,
//! which is what extractors read.

use std::sync::Arc;

use flask_mqtt_topic::TopicTemplate;

use crate::event::completion::Busy;
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
        self.message()
            .ok_or_else(|| WrongEvent::new(extractor, HandlerKind::Message, &self.event))
    }
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
