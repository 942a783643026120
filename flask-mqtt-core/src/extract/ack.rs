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
/// A message acknowledged is a message handled: an `Ack` dropped without `ack()`
/// (forgotten, or in a task that failed) *releases* the message, with a warning: it is
/// not acknowledged, and the broker sends it again with the next session (a reconnect of
/// a persistent session, the app's restart). The acknowledgements of the messages after
/// it, which leave in arrival order, do not wait for it; but the broker keeps it in
/// flight, so it holds one place of the broker's in-flight window until the connection
/// ends: once released messages fill the window (MQTT 5: `MQTT_RECEIVE_MAXIMUM`, 100 by
/// default; MQTT 3.1.1: the broker's limit, 20 on Mosquitto), the broker sends no more
/// QoS 1/2 messages to the client until it reconnects. The client warns (visibly, also
/// without a logger) at half the window, at most 10, and at every doubling
/// ([`Mqtt::released_messages`](crate::Mqtt::released_messages) counts them).
/// Likewise when the handler's call is dropped before it ended (the runtime shut
/// down). An `Ack` dropped while the call still runs goes back to the call, whose outcome
/// decides: a handler that fails (returns `Err`, panics, or an argument is rejected)
/// counts as done, as under `ack = "after"` (acknowledged, or released with
/// `nack_on_error`); one that succeeds without `ack()` releases the message.
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
    /// Where the slot goes back when dropped unacknowledged while the call runs.
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
        if let Some(home) = &self.home {
            let mut home = lock(home);
            if !home.ended {
                // The call still runs: its outcome decides, and its end warns.
                home.slot = Some(slot);
                return;
            }
        }
        log::warn!(
            target: TARGET,
            "an `mqtt::Ack` for the message on `{}` (packet {}) was dropped without `ack()`: not acknowledged, the broker sends it again with the next session",
            self.topic,
            slot.packet_id()
        );
        slot.withhold();
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
