//! The broker's in-flight window, and the messages released in it.
//!
//! A QoS 1/2 message the client releases (settles without a PUBACK/PUBREC: a `manual`
//! handler's `mqtt::Ack` dropped without `ack()`, a `nack_on_error` handler that failed,
//! a call dropped unfinished, a message left to the broker at a stop) is never
//! acknowledged, so the broker keeps it in flight: it holds one place of the broker's
//! window of unacknowledged messages until the connection ends (the broker sends it again
//! with the next session). Later acknowledgements still leave, but once released
//! messages fill the window (the Receive Maximum the client sends on MQTT 5,
//! `MQTT_RECEIVE_MAXIMUM`; the broker's own in-flight limit on MQTT 3.1.1, 20 on
//! Mosquitto: `max_inflight_messages`) the broker sends no more QoS 1/2 messages to the
//! client. Nothing else says so: a released message is no longer owed, so the owed
//! watchdog (dispatch/owed.rs) sees nothing held.
//!
//! [`Released`] counts them per connection and says so visibly (seen without a logger)
//! at [`warning_at`] and at every doubling.

use crate::event::log::DISPATCH_TARGET as TARGET;
use crate::visible::{at_first_or_doubling, report};

/// The count at which the first warning is said when the window is larger or unknown:
/// half of Mosquitto's default in-flight limit on MQTT 3.1.1 (20), and low enough for
/// brokers whose own limit is smaller than the Receive Maximum on MQTT 5.
pub(crate) const FIRST_WARNING: usize = 10;

/// The broker's window of QoS 1/2 messages in flight towards the client, as far as the
/// client knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Window {
    /// MQTT 5: at most the Receive Maximum the client sent (the broker may use fewer).
    ReceiveMaximum(u16),
    /// MQTT 3.1.1: the broker's own limit, which the client is not told.
    Unknown,
}

/// The number of released messages at which the first warning is said: half the window,
/// at most [`FIRST_WARNING`], at least 1.
pub(crate) fn warning_at(window: Window) -> usize {
    match window {
        Window::ReceiveMaximum(n) => (usize::from(n) / 2).clamp(1, FIRST_WARNING),
        Window::Unknown => FIRST_WARNING,
    }
}

/// The messages released on one connection.
#[derive(Debug, Default)]
pub(crate) struct Released {
    /// Released so far on the connection.
    count: usize,
}

impl Released {
    /// A new connection: its window is empty.
    pub(crate) fn reset(&mut self) {
        *self = Released::default();
    }

    /// Released so far on the connection.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// One more message released on the connection. Returns the count when it is to be
    /// said: at [`warning_at`] and at every doubling.
    pub(crate) fn add(&mut self, window: Window) -> Option<usize> {
        self.count = self.count.saturating_add(1);
        at_first_or_doubling(self.count, warning_at(window)).then_some(self.count)
    }
}

/// Says (visibly: the client may stop receiving) that `count` released messages of
/// client `client`, whose keys start with `prefix`, hold places in the broker's window.
pub(crate) fn warn(client: &str, prefix: &str, count: usize, window: Window) {
    let size = match window {
        Window::ReceiveMaximum(n) => format!(
            "{n} messages ({prefix}_RECEIVE_MAXIMUM), or fewer if the broker limits its in-flight messages itself"
        ),
        Window::Unknown => {
            "the broker's in-flight limit (MQTT 3.1.1: 20 on Mosquitto, `max_inflight_messages`)"
                .to_owned()
        }
    };
    report(
        TARGET,
        log::Level::Warn,
        &format_args!(
            "client `{client}`: {count} QoS 1/2 messages were released without an acknowledgement on this connection (an `mqtt::Ack` dropped without `ack()`, a `nack_on_error` handler that failed, a call dropped unfinished). Each holds a place in the broker's in-flight window until the connection ends (the broker sends them again with the next session); when the window is full, at {size}, the broker sends no more QoS 1/2 messages to this client. Call `ack()` on every `mqtt::Ack`: the window empties only when the connection ends"
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first warning comes at half the window (at most 10), then at every doubling.
    #[test]
    fn warnings_come_at_half_the_window_then_at_every_doubling() {
        for (window, expected) in [
            (Window::Unknown, vec![10, 20, 40, 80]),
            (Window::ReceiveMaximum(100), vec![10, 20, 40, 80]),
            (Window::ReceiveMaximum(8), vec![4, 8, 16, 32, 64]),
            (Window::ReceiveMaximum(1), vec![1, 2, 4, 8, 16, 32, 64]),
        ] {
            let mut released = Released::default();
            let said: Vec<usize> = (0..100).filter_map(|_| released.add(window)).collect();
            assert_eq!(said, expected, "{window:?}");
            assert_eq!(released.count(), 100);
            released.reset();
            assert_eq!(released.count(), 0);
        }
    }
}
