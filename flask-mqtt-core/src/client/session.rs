//! [`Session`]: what the driver task works with, and the one place its inputs become
//! events.

use crate::dispatch::Dispatcher;
use crate::error::ConnectError;
use crate::event::Event;
use crate::handle::input::Input;
use crate::handle::Mqtt;
use crate::message::Message;

/// What the driver task works with.
pub(super) struct Session {
    /// The client's handle: its shared state, and what `on_*` handlers get.
    pub(super) mqtt: Mqtt,
    /// The Paho client, to connect and disconnect (handles publish through `Outbound`).
    pub(super) paho: paho_mqtt::AsyncClient,
    pub(super) dispatcher: Dispatcher,
    /// Told the outcome of the first connection attempt (connect mode `required`).
    pub(super) first_outcome: Option<std::sync::mpsc::Sender<Result<(), ConnectError>>>,
}

impl Session {
    pub(super) fn dispatch(&self, event: Event) {
        self.dispatcher.dispatch(&self.mqtt, event);
    }

    /// Hands an input that is an event (a message, an event a handle emitted, a log line)
    /// to dispatch, and gives back any other: the one place inputs become events.
    pub(super) fn deliver(&self, input: Input) -> Option<Input> {
        let event = match input {
            Input::Message(m) => match self.mqtt.shared.requests.route(m) {
                Some(m) => Event::Message(Message::from_paho(m)),
                // A reply: handed to the request waiting for it, never to handlers.
                None => return None,
            },
            Input::Emit(event) => event,
            Input::Log(entry) => Event::Log(entry),
            other => return Some(other),
        };
        self.dispatch(event);
        None
    }
}
