//! Acknowledgements owed for long: the watchdog's look at a client's [`Watermark`].
//!
//! Acknowledgements leave in arrival order, so one QoS 1/2 message whose handler never
//! finishes (an await without a timeout, a deadlock) or whose `mqtt::Ack` is never
//! given holds back every later acknowledgement of the connection. Once the broker's
//! window of unacknowledged messages is full (the Receive Maximum on MQTT 5, the
//! broker's in-flight limit on 3.1.1) it sends nothing more, to any handler: the app
//! goes quiet while every queue is short, so no backlog warning fires. The watchdog
//! says so when messages have been owed for [`OWED_FOR`] with none acknowledged,
//! naming the handlers with calls queued or running, and again when acknowledgements
//! go out.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::clock::{elapsed, ticks};
use super::queue::Room;
use super::watchdog::{self, Check, Looks};
use crate::ack::watermark::Watermark;
use crate::sync::lock;

/// How long messages may be owed with none acknowledged before it is said.
pub(super) const OWED_FOR: Duration = Duration::from_secs(10);

/// One client's owed acknowledgements, for the watchdog.
pub(super) struct OwedWatch {
    client_id: String,
    /// The client's key prefix, for the setting the warning names.
    prefix: String,
    acks: Weak<Watermark>,
    /// Each handler's name, with its queue's room (whether it has events queued or running).
    handlers: Box<[(String, Arc<Room>)]>,
    seen: Mutex<Seen>,
}

/// What the watchdog saw last.
struct Seen {
    settled: u64,
    /// Since when (ticks) nothing was settled while messages were owed.
    since: u64,
    looks: Looks,
}

impl OwedWatch {
    /// Watches `acks` (client `client_id`'s) as long as the result is alive.
    pub(super) fn watch(
        client_id: &str,
        acks: &Arc<Watermark>,
        handlers: Box<[(String, Arc<Room>)]>,
    ) -> Arc<OwedWatch> {
        let watch = OwedWatch::new(client_id, acks, handlers);
        let weak: Weak<OwedWatch> = Arc::downgrade(&watch);
        watchdog::watch(weak);
        watch
    }

    /// The watch, not yet looked at by the watchdog.
    fn new(
        client_id: &str,
        acks: &Arc<Watermark>,
        handlers: Box<[(String, Arc<Room>)]>,
    ) -> Arc<OwedWatch> {
        Arc::new(OwedWatch {
            client_id: client_id.to_owned(),
            prefix: acks.prefix().to_owned(),
            acks: Arc::downgrade(acks),
            handlers,
            seen: Mutex::new(Seen {
                settled: 0,
                since: ticks(),
                looks: Looks::default(),
            }),
        })
    }

    /// What to say now, if anything, given `owed` messages owed and `settled` so far, at
    /// `now` (ticks), after `held_for` without progress counts as stuck.
    fn look(&self, owed: usize, settled: u64, now: u64, held_for: Duration) -> Option<String> {
        let mut seen = lock(&self.seen);
        if owed == 0 || settled != seen.settled {
            let said = seen.looks.reported.then(|| {
                format!(
                    "client `{}`: acknowledgements go out again, after {:.1} s",
                    self.client_id,
                    elapsed(seen.since, now).as_secs_f64()
                )
            });
            *seen = Seen {
                settled,
                since: now,
                looks: Looks::default(),
            };
            return said;
        }
        let (since, held) = (seen.since, elapsed(seen.since, now));
        if !seen.looks.stalled(since, held, held_for) {
            return None;
        }
        let busy: Vec<String> = self
            .handlers
            .iter()
            .filter(|(_, room)| room.busy.load(std::sync::atomic::Ordering::Acquire) > 0)
            .map(|(name, _)| name.clone())
            .collect();
        let who = if busy.is_empty() {
            "No handler has a call queued or running: an `mqtt::Ack` of an `ack = \"manual\"` handler that was not given yet holds them".to_owned()
        } else {
            format!("Handlers with calls queued or running: {}", busy.join(", "))
        };
        Some(format!(
            "client `{}`: {owed} QoS 1/2 message(s) have been owed an acknowledgement for {:.1} s and none was given. Acknowledgements leave in arrival order, so one message whose handler does not finish holds back all later ones, and the broker sends nothing more once its window of unacknowledged messages is full ({}_RECEIVE_MAXIMUM on MQTT 5, its in-flight limit on 3.1.1). {who}. Give long awaits a timeout (tokio::time::timeout)",
            self.client_id,
            held.as_secs_f64(),
            self.prefix
        ))
    }
}

impl Check for OwedWatch {
    fn check(&self) {
        let Some(acks) = self.acks.upgrade() else {
            return;
        };
        let (owed, settled) = acks.progress();
        if let Some(message) = self.look(owed, settled, ticks(), OWED_FOR) {
            watchdog::say(&message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::trust::Trust;
    use crate::dispatch::watchdog::LOOKS;
    use crate::event::HandlerKind;
    use crate::registry::{HandlerDescriptor, HandlerFn};

    fn nothing(_: Arc<crate::extract::context::EventContext>) -> crate::handler::Outcome {
        Ok(None)
    }

    static STUCK: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "stuck",
        "dispatch::owed::tests",
        HandlerFn::Sync(nothing),
    );
    static IDLE: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "idle",
        "dispatch::owed::tests",
        HandlerFn::Sync(nothing),
    );

    fn room(busy: usize) -> Arc<Room> {
        let (queue, _rx) = super::super::queue::queue(4, Trust::never());
        queue
            .room
            .busy
            .store(busy, std::sync::atomic::Ordering::SeqCst);
        Arc::clone(&queue.room)
    }

    /// Owed and unsettled for long enough, on enough looks: said once, naming the busy
    /// handler; progress ends it, and that is said too.
    #[test]
    fn owed_acknowledgements_that_do_not_move_are_said_once() {
        let acks = Watermark::detached();
        let watch = OwedWatch::new(
            "c1",
            &acks,
            vec![(STUCK.name(), room(1)), (IDLE.name(), room(0))].into_boxed_slice(),
        );
        let start = ticks();
        let hold = Duration::from_millis(50);
        // Nothing owed: nothing to say, however long.
        assert_eq!(watch.look(0, 0, start, hold), None);
        // Owed, no progress: not before LOOKS looks and `hold`.
        for _ in 1..LOOKS {
            assert_eq!(watch.look(3, 0, ticks(), hold), None);
        }
        std::thread::sleep(hold);
        let said = watch.look(3, 0, ticks(), hold).expect("said");
        assert!(
            said.starts_with("client `c1`: 3 QoS 1/2 message(s) have been owed"),
            "{said}"
        );
        assert!(
            said.contains("Handlers with calls queued or running: "),
            "{said}"
        );
        assert!(said.contains("dispatch::owed::tests::stuck"), "{said}");
        assert!(said.contains("(MQTT_RECEIVE_MAXIMUM on MQTT 5"), "{said}");
        assert!(!said.contains("idle"), "{said}");
        assert_eq!(watch.look(3, 0, ticks(), hold), None, "once");
        // One acknowledgement goes out: said, and the count starts over.
        let again = watch.look(2, 1, ticks(), hold).expect("said");
        assert!(
            again.starts_with("client `c1`: acknowledgements go out again"),
            "{again}"
        );
        assert_eq!(watch.look(2, 1, ticks(), hold), None);
    }

    /// Messages owed while acknowledgements keep going out are not a stall.
    #[test]
    fn owed_acknowledgements_that_move_are_not_said() {
        let acks = Watermark::detached();
        let watch = OwedWatch::new("c2", &acks, Box::new([]));
        for settled in 0..(LOOKS as u64 * 4) {
            std::thread::sleep(Duration::from_millis(2));
            assert_eq!(watch.look(5, settled, ticks(), Duration::ZERO), None);
        }
    }

    /// The warning names the client's own Receive Maximum key (`ALERTS_...`), not
    /// `MQTT_...` for every client.
    #[test]
    fn the_warning_names_the_clients_own_key() {
        let acks = Watermark::windowed(
            Box::new(crate::ack::test_support::Recorder(Default::default())),
            "c3".to_owned(),
            "ALERTS".to_owned(),
            crate::ack::window::Window::Unknown,
        );
        let watch = OwedWatch::new("c3", &acks, Box::new([]));
        let hold = Duration::ZERO;
        let said = (0..=LOOKS)
            .find_map(|_| watch.look(1, 0, ticks(), hold))
            .expect("said");
        assert!(said.contains("(ALERTS_RECEIVE_MAXIMUM on MQTT 5"), "{said}");
    }
}
