//! [`Ack`]: a message's acknowledgement, for handlers that acknowledge it themselves
//! (`ack = "manual"`).

use std::fmt;

use super::context::{AckHome, EventContext, WrongEvent};
use super::{FromEvent, MESSAGE_ONLY};
use crate::ack::watermark::Slot;
use crate::error::truncate;
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
    /// The message's topic as log lines show it (control characters escaped, its first
    /// 200 bytes), for the warning when dropped unacknowledged and for `Debug`.
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
            topic: truncate(msg.topic()),
            home: ctx.ack_home(),
        })
    }
}

super::optional_when_the_event_fits!(Ack);

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::sync::Arc;

    use paho_mqtt::AckToken;

    use super::*;
    use crate::ack::watermark::Watermark;
    use crate::event::Event;
    use crate::message::Message;
    use crate::qos::QoS;
    use crate::testing::TestClient;

    thread_local! {
        /// The lines logged on this thread while [`logged`] runs.
        static LINES: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
    }

    /// A logger that shows only the threads inside [`logged`]: every other thread (the
    /// other tests) still sees no logger, which `visible` tests count on.
    struct ThreadLogger;

    impl log::Log for ThreadLogger {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            LINES.with(|lines| lines.borrow().is_some())
        }

        fn log(&self, record: &log::Record<'_>) {
            LINES.with(|lines| {
                if let Some(lines) = lines.borrow_mut().as_mut() {
                    lines.push(format!(
                        "{} {}: {}",
                        record.level(),
                        record.target(),
                        record.args()
                    ));
                }
            });
        }

        fn flush(&self) {}
    }

    /// What `f` logs on this thread.
    fn logged(f: impl FnOnce()) -> Vec<String> {
        static LOGGER: ThreadLogger = ThreadLogger;
        if log::set_logger(&LOGGER).is_ok() {
            log::set_max_level(log::LevelFilter::Trace);
        }
        LINES.with(|lines| *lines.borrow_mut() = Some(Vec::new()));
        f();
        LINES
            .with(|lines| lines.borrow_mut().take())
            .unwrap_or_default()
    }

    /// The warning for an `Ack` dropped without `ack()` quotes the topic as every other
    /// log line does: control characters escaped (a terminal's escape sequence stays
    /// text), and its first 200 bytes only (a topic may be 65,535).
    #[tokio::test]
    async fn a_dropped_acks_warning_escapes_and_shortens_the_topic() {
        let app = TestClient::new().unwrap();
        let topic = format!("ack/\u{1b}[2J/{}", "x".repeat(60_000));
        let msg = Message::new(topic, "", QoS::AtLeastOnce, false);
        let base = Arc::new(EventContext::new(app.client().clone(), Event::Message(msg)));
        let acks = Watermark::detached();
        let slot = acks.slot(AckToken::from_parts(7, paho_mqtt::QoS::AtLeastOnce, 1));
        let ctx = EventContext::for_handler(&base, None, Some(slot));
        let ack = Ack::from_event(&ctx).unwrap();
        // The call ended: the dropped `Ack` releases the message itself, with the warning.
        assert!(ctx.end_call().is_none());
        let lines = logged(|| drop(ack));
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert!(
            line.starts_with(
                "WARN flask_mqtt::dispatch: an `mqtt::Ack` for the message on `ack/\\u{1b}[2J/xxx"
            ),
            "{line}"
        );
        assert!(line.contains("xxx...` (packet 7)"), "{line}");
        assert!(!line.contains('\u{1b}'), "{line}");
        assert!(line.len() < 400, "{} bytes", line.len());
    }
}
