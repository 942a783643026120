//! [`Ack`]: a message's acknowledgement, for handlers that acknowledge it themselves
//! (`ack = "manual"`).

use std::fmt;

use super::context::{AckHome, EventContext, WrongEvent};
use super::{FromEvent, MESSAGE_ONLY};
use crate::ack::watermark::Slot;
use crate::event::log::DISPATCH_TARGET as TARGET;
use crate::event::HandlerKinds;
use crate::sync::lock;

/// The acknowledgement of the message being handled, for a handler declared with
/// `ack = "manual"`: the broker gets the PUBACK (QoS 1) or PUBREC (QoS 2) when
/// [`ack`](Ack::ack) is called, not when the handler returns. It may be moved out of the
/// handler (into a task that finishes the work, into a batch written later).
///
/// An `Ack` dropped without `ack()` (forgotten, or in a task that failed) acknowledges
/// the message anyway and logs a warning: a message is never stuck, since one message
/// never acknowledged would hold back every later acknowledgement of the connection
/// (MQTT requires them in arrival order) until the broker's in-flight window is full.
/// In a handler with `nack_on_error`, an `Ack` dropped without `ack()` while the call is
/// still running (the handler returns `Err` or panics while it holds it) goes back to
/// the call: a call that fails releases the message without acknowledging it, one that
/// succeeds acknowledges it when it ends.
///
/// Only a handler declared with `ack = "manual"` holds its messages' acknowledgement: in
/// any other `#[on_message]` handler an `Ack` argument (or an `Option<Ack>`) is a compile
/// error saying to add it, since the policy would acknowledge the message and `ack()`
/// would do nothing. (`ack = "manual"` in turn needs `qos = 1` or 2 on a filter.) For a
/// QoS 0 message, which the catch-all may get from a subscription made at run time,
/// there is nothing to acknowledge and `ack()` does nothing.
///
/// ```
/// # use flask_mqtt_core as mqtt;
/// #[mqtt::on_message("orders/#", qos = 1, ack = "manual")]
/// async fn order(msg: mqtt::Message, ack: mqtt::Ack) {
///     // ... write `msg` somewhere durable, then:
///     ack.ack();
/// }
/// ```
pub struct Ack {
    slot: Option<Slot>,
    /// The message's topic, for the warning when dropped unacknowledged.
    topic: String,
    /// With `nack_on_error`: where the slot goes back when dropped unacknowledged.
    home: Option<AckHome>,
}

impl Ack {
    /// Acknowledges the message (in arrival order with the others: the PUBACK leaves
    /// once every message that arrived before it is acknowledged too).
    pub fn ack(mut self) {
        // Dropping the slot settles it.
        self.slot.take();
    }

    /// Whether this `Ack` still holds an acknowledgement (`false` for a QoS 0 message, and
    /// in a handler registered without the macros whose policy is not `manual`).
    pub fn is_pending(&self) -> bool {
        self.slot.is_some()
    }
}

impl Drop for Ack {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else {
            return;
        };
        match self.home.take() {
            Some(home) => {
                log::warn!(
                    target: TARGET,
                    "an `mqtt::Ack` for the message on `{}` (packet {}) was dropped without `ack()`: acknowledged when the handler's call ends, unless it fails (`nack_on_error`)",
                    self.topic,
                    slot.packet_id()
                );
                // The call's context decides if it is still there (a failed call marks
                // the slot); if it is gone, `home` is dropped last here and the slot
                // with it: acknowledged now.
                *lock(&home) = Some(slot);
            }
            None => log::warn!(
                target: TARGET,
                "an `mqtt::Ack` for the message on `{}` (packet {}) was dropped without `ack()`: acknowledged now",
                self.topic,
                slot.packet_id()
            ),
        }
    }
}

impl fmt::Debug for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ack")
            .field("topic", &self.topic)
            .field("pending", &self.is_pending())
            .finish()
    }
}

impl FromEvent for Ack {
    type Rejection = WrongEvent;
    const AVAILABLE_IN: HandlerKinds = MESSAGE_ONLY;
    const TAKES_ACK: bool = true;

    fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        let msg = ctx.require_message("Ack")?;
        Ok(Ack {
            slot: ctx.take_ack(),
            topic: msg.topic().to_owned(),
            home: ctx.ack_home(),
        })
    }
}

super::optional_when_the_event_fits!(Ack);
