//! The acknowledgements a client owes: one [`Slot`] per QoS 1/2 message the driver took
//! from Paho, settled when the message's handlers are done with it (issue 15).
//!
//! A slot is pushed when the driver takes the message (before dispatch) and held by
//! every handler call that must finish first (policy `after`), by the `mqtt::Ack` of a
//! `manual` handler, and by dispatch itself until every handler queue has the message.
//! When the last holder lets go the slot is *settled*: acknowledged through Paho, or
//! released without an acknowledgement (the broker sends the message again with the next
//! session) when the message was not handled: a `nack_on_error` handler failed, a call
//! was dropped before it ended, or a `manual` handler's `mqtt::Ack` was not given.
//!
//! Order: Paho releases acknowledgements in the order the PUBLISHes arrived, per
//! connection (docs/paho-fork.md section 5): a slot settled early waits in Paho for the
//! slots before it. Acknowledging here never waits for a Paho thread (Paho takes a lock
//! of its own only), so it may run on any thread: a handler worker usually, the driver
//! for a message no handler holds.
//!
//! Waiting for the app: a message taken before the app is ready (`Client::start_paused`)
//! waits in the driver for `Mqtt::ready` before it gets its slot; it is owed from the
//! moment it is taken ([`Watermark::wait`]: the broker counts it in its in-flight window),
//! but not a sign of a stuck handler (no handler has had it yet), nor what a graceful
//! stop waits for ([`Watermark::held`] leaves it out). The client's end (`Shared::end`)
//! leaves nothing owed, waiting messages included: they have no slot to settle them.
//!
//! Connections: a slot names the connection its message came on. When that connection
//! ends, its slots can no longer be acknowledged (Paho says `ConnectionGone`; the broker
//! sends the messages again in the next connection of a persistent session): they stop
//! counting as owed at once, and settling them later does nothing.
//!
//! Released messages: never acknowledged, each keeps a place in the broker's in-flight
//! window until its connection ends; they are counted per connection and said visibly
//! before they fill it (`window`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use paho_mqtt::{AckOutcome, AckToken};

use super::window::{self, Released, Window};
use crate::event::log::DISPATCH_TARGET as TARGET;
use crate::sync::lock;

/// Where settled slots go: the Paho client (a no-op for a client without Paho).
pub(crate) trait Acknowledge: Send + Sync + 'static {
    /// Sends (in arrival order) the PUBACK/PUBREC of the message `token` names.
    fn acknowledge(&self, token: AckToken) -> Result<AckOutcome, paho_mqtt::Error>;

    /// Settles the message `token` names without acknowledging it: the broker sends it
    /// again with the next session; later acknowledgements no longer wait for it.
    fn release(&self, token: AckToken) -> Result<AckOutcome, paho_mqtt::Error>;
}

/// Nothing to acknowledge to (a test client).
struct Nobody;

impl Acknowledge for Nobody {
    fn acknowledge(&self, _: AckToken) -> Result<AckOutcome, paho_mqtt::Error> {
        Ok(AckOutcome::NotNeeded)
    }

    fn release(&self, _: AckToken) -> Result<AckOutcome, paho_mqtt::Error> {
        Ok(AckOutcome::NotNeeded)
    }
}

/// One client's owed acknowledgements.
pub(crate) struct Watermark {
    to: Box<dyn Acknowledge>,
    owed: Mutex<Owed>,
    /// The client's id, for the warnings that name it.
    client: String,
    /// The client's key prefix, for the settings the warnings name (`ALERTS_...`).
    prefix: String,
    /// The broker's in-flight window, as far as the client knows it.
    window: Window,
    /// Slots settled so far (any connection): the watchdog's sign of progress.
    settled: AtomicU64,
    /// Set when the client stops taking messages (graceful shutdown).
    closing: AtomicBool,
    /// Set when the session's connection is being closed for good and the broker keeps
    /// the session: handler calls not started yet are skipped, since their messages can
    /// no longer be acknowledged and come again with the next session.
    abandoned: AtomicBool,
}

/// The slots not settled yet, of the current connection.
#[derive(Default)]
struct Owed {
    /// The connection of the latest slot; `None` after it ended.
    connection: Option<u32>,
    /// Slots of that connection not settled yet, and its messages waiting for the app to
    /// be ready (which get their slots when they go to dispatch).
    count: usize,
    /// Of `count`, the messages waiting for the app to be ready.
    waiting: usize,
    /// Messages of that connection released in Paho (never acknowledged).
    released: Released,
}

impl Owed {
    /// The first message of connection `connection` was taken from Paho: the connection
    /// before it has ended, and its slots and released messages are gone with it.
    fn start(&mut self, connection: u32) {
        *self = Owed {
            connection: Some(connection),
            ..Owed::default()
        };
    }

    /// A message of connection `connection` that waited for the app no longer does:
    /// whether it was counted (its connection is still the current one).
    fn unwait(&mut self, connection: u32) -> bool {
        if self.connection != Some(connection) {
            return false;
        }
        self.waiting = self.waiting.saturating_sub(1);
        true
    }
}

impl Watermark {
    /// Acknowledges through `to`; the broker's window is unknown.
    pub(crate) fn new(to: Box<dyn Acknowledge>) -> Arc<Watermark> {
        Watermark::windowed(to, String::new(), String::new(), Window::Unknown)
    }

    /// Acknowledges through `to` for client `client` (whose keys start with `prefix`),
    /// whose broker sends at most `window` QoS 1/2 messages not acknowledged yet.
    pub(crate) fn windowed(
        to: Box<dyn Acknowledge>,
        client: String,
        prefix: String,
        window: Window,
    ) -> Arc<Watermark> {
        Arc::new(Watermark {
            to,
            owed: Mutex::new(Owed::default()),
            client,
            prefix,
            window,
            settled: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
        })
    }

    /// The client's key prefix (`MQTT`, `ALERTS`), for the settings messages name;
    /// `MQTT` for a watermark made without one.
    pub(crate) fn prefix(&self) -> &str {
        if self.prefix.is_empty() {
            "MQTT"
        } else {
            &self.prefix
        }
    }

    /// For a client without Paho: every slot settles into nothing.
    pub(crate) fn detached() -> Arc<Watermark> {
        Watermark::new(Box::new(Nobody))
    }

    /// A slot for the message `token` names, which the driver just took from Paho.
    pub(crate) fn slot(self: &Arc<Self>, token: AckToken) -> Slot {
        {
            let mut owed = lock(&self.owed);
            if owed.connection != Some(token.connection()) {
                owed.start(token.connection());
            }
            owed.count += 1;
        }
        self.counted_slot(token)
    }

    /// The message `token` names, which the driver just took from Paho, waits for the
    /// app to be ready: owed from now on; its slot comes with
    /// [`slot_waited`](Watermark::slot_waited), or it is left with
    /// [`unwait`](Watermark::unwait).
    pub(crate) fn wait(&self, token: AckToken) {
        let mut owed = lock(&self.owed);
        if owed.connection != Some(token.connection()) {
            owed.start(token.connection());
        }
        owed.count += 1;
        owed.waiting += 1;
    }

    /// [`slot`](Watermark::slot) for a message that [waited](Watermark::wait) for the
    /// app: counted already, unless its connection has ended meanwhile (then it is owed
    /// no more: settling it sends nothing).
    pub(crate) fn slot_waited(self: &Arc<Self>, token: AckToken) -> Slot {
        lock(&self.owed).unwait(token.connection());
        self.counted_slot(token)
    }

    /// A message that [waited](Watermark::wait) for the app is left to the broker
    /// ([`leave`](Watermark::leave)) without a slot: owed no more.
    pub(crate) fn unwait(&self, token: AckToken) {
        let mut owed = lock(&self.owed);
        if owed.unwait(token.connection()) {
            owed.count = owed.count.saturating_sub(1);
        }
    }

    /// The slot of `token`'s message, counted already.
    fn counted_slot(self: &Arc<Self>, token: AckToken) -> Slot {
        Slot(Arc::new(Held {
            token,
            to: Arc::clone(self),
            nack: AtomicBool::new(false),
            unhandled: AtomicBool::new(false),
            withheld: AtomicBool::new(false),
        }))
    }

    /// QoS 1/2 messages of the current connection taken from Paho and not settled yet
    /// (waiting for the app to be ready, queued, in a handler, or held by an `mqtt::Ack`).
    pub(crate) fn unacknowledged(&self) -> usize {
        lock(&self.owed).count
    }

    /// [`unacknowledged`](Watermark::unacknowledged) but those waiting for the app to be
    /// ready: the messages that have their slots (queued, in a handler, or held by an
    /// `mqtt::Ack`), which handlers are to settle. A waiting message is no handler's yet:
    /// neither a stuck handler ([`progress`](Watermark::progress)) nor one a graceful
    /// stop waits for (it reaches its handlers with the app's `Input::Ready`, or never).
    pub(crate) fn held(&self) -> usize {
        let owed = lock(&self.owed);
        owed.count.saturating_sub(owed.waiting)
    }

    /// Of [`unacknowledged`](Watermark::unacknowledged), the messages waiting for the app
    /// to be ready: no handler's yet (see [`held`](Watermark::held)).
    pub(crate) fn waiting(&self) -> usize {
        lock(&self.owed).waiting
    }

    /// [`held`](Watermark::held) and the number of slots settled so far: held messages
    /// while that number does not move mean a stuck handler.
    pub(crate) fn progress(&self) -> (usize, u64) {
        (self.held(), self.settled.load(Ordering::Acquire))
    }

    /// The connection ended: its slots are no longer owed (the broker sends their
    /// messages again in the next session); settling them later sends nothing.
    pub(crate) fn connection_ended(&self) {
        let mut owed = lock(&self.owed);
        owed.connection = None;
        owed.count = 0;
        owed.waiting = 0;
        owed.released.reset();
    }

    /// QoS 1/2 messages of the current connection released without an acknowledgement:
    /// each holds a place in the broker's in-flight window until the connection ends.
    pub(crate) fn released(&self) -> usize {
        lock(&self.owed).released.count()
    }

    /// `token`'s message, taken from Paho `taken`, was released in Paho (`outcome`): if
    /// its connection is the current one, it holds a place in the broker's window; said
    /// visibly at half the window and at every doubling, unless the client is stopping.
    fn count_release(
        &self,
        token: AckToken,
        outcome: &Result<AckOutcome, paho_mqtt::Error>,
        taken: Taken,
    ) {
        if !matches!(outcome, Ok(AckOutcome::Accepted)) {
            // The connection is gone (its window with it), or nothing was owed.
            return;
        }
        let say = {
            let mut owed = lock(&self.owed);
            if owed.connection != Some(token.connection()) {
                // A message left as it is taken may be its connection's first one (Paho
                // accepted its release: the connection still is); a slot settled late
                // belongs to a connection that has ended.
                if taken == Taken::Before {
                    return;
                }
                owed.start(token.connection());
            }
            owed.released.add(self.window)
        };
        if let Some(count) = say.filter(|_| !self.is_closing() && !self.is_abandoned()) {
            window::warn(&self.client, &self.prefix, count, self.window);
        }
    }

    /// From now on, messages that can come again (QoS 1/2) are left to the broker.
    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
    }

    /// Whether [`close`](Watermark::close) was called.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// The client disconnects for good and the broker keeps the session: calls not
    /// started yet for owed messages are skipped (the broker sends them again).
    pub(crate) fn abandon(&self) {
        self.abandoned.store(true, Ordering::SeqCst);
    }

    /// Whether [`abandon`](Watermark::abandon) was called.
    pub(crate) fn is_abandoned(&self) -> bool {
        self.abandoned.load(Ordering::SeqCst)
    }

    /// The message `token` names, taken from Paho, gets no slot and no handler: it is
    /// left to the broker (the client is stopping), which sends it again with the next
    /// session. Released in Paho, so that the acknowledgements after it on its connection
    /// (which leave in arrival order) do not wait for it forever.
    pub(crate) fn leave(&self, token: AckToken) {
        let outcome = self.to.release(token);
        if let Err(e) = &outcome {
            log::debug!(
                target: TARGET,
                "releasing message {} left to the broker failed: {e}",
                token.packet_id()
            );
        }
        self.count_release(token, &outcome, Taken::Now);
    }

    fn settle(&self, token: AckToken, ack: Settled) {
        self.settled.fetch_add(1, Ordering::Release);
        {
            let mut owed = lock(&self.owed);
            if owed.connection == Some(token.connection()) {
                owed.count = owed.count.saturating_sub(1);
            }
        }
        // Released: never acknowledged, so the broker keeps it in flight (one of its
        // window's places) and sends it again with the next session, not at once.
        let outcome = match ack {
            // Too late (the DISCONNECT is under way), and the call may have been
            // skipped: never acknowledged, the broker sends the message again. Released,
            // not left: Paho sends acknowledgements in arrival order, so one never
            // settled would hold back every later one of its connection.
            _ if self.abandoned.load(Ordering::SeqCst) => self.release(token),
            Settled::Handled => self.to.acknowledge(token),
            Settled::Failed => {
                log::warn!(
                    target: TARGET,
                    "message {} not acknowledged (nack_on_error): the broker sends it again with the next session",
                    token.packet_id()
                );
                self.release(token)
            }
            // The warning, naming the topic, is the `Ack`'s or its call's.
            Settled::Withheld => self.release(token),
            Settled::Unhandled => {
                log::warn!(
                    target: TARGET,
                    "message {} not acknowledged: it was dropped before its handler call ended (the runtime shut down, or a dispatch task ended by a bug); the broker sends it again with the next session",
                    token.packet_id()
                );
                self.release(token)
            }
        };
        match outcome {
            Ok(AckOutcome::ConnectionGone) => log::debug!(
                target: TARGET,
                "message {} handled after its connection ended: not acknowledged, the broker sends it again",
                token.packet_id()
            ),
            Ok(_) => {}
            Err(e) => log::warn!(
                target: TARGET,
                "acknowledging message {} failed: {e}",
                token.packet_id()
            ),
        }
    }

    /// Releases `token`'s message in Paho, and counts it in the broker's window.
    fn release(&self, token: AckToken) -> Result<AckOutcome, paho_mqtt::Error> {
        let outcome = self.to.release(token);
        self.count_release(token, &outcome, Taken::Before);
        outcome
    }
}

/// When a released message was taken from Paho.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Taken {
    /// Just now (left to the broker at once): its connection is the current one, as a new
    /// slot's is, even when it is the connection's first message.
    Now,
    /// Earlier (a slot settled): its connection may have ended since.
    Before,
}

/// How a slot was settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Settled {
    /// Acknowledged.
    Handled,
    /// Released: a `nack_on_error` handler failed.
    Failed,
    /// Released: a holder was dropped before the message reached its handler, or before
    /// the handler call that held it ended.
    Unhandled,
    /// Released: a `manual` handler's `mqtt::Ack` was dropped without `ack()`.
    Withheld,
}

/// A message's acknowledgement, owed until the last clone of its slot is dropped.
#[derive(Clone)]
pub(crate) struct Slot(Arc<Held>);

struct Held {
    token: AckToken,
    to: Arc<Watermark>,
    /// Release without acknowledging (a `nack_on_error` handler failed).
    nack: AtomicBool,
    /// Release without acknowledging: a holder that owed a handler call was dropped
    /// before making it, or before it ended ([`Owing`]).
    unhandled: AtomicBool,
    /// Release without acknowledging: a `manual` handler's `mqtt::Ack` was not given.
    withheld: AtomicBool,
}

impl Slot {
    /// When the slot settles, release the message without acknowledging it.
    pub(crate) fn nack(&self) {
        self.0.nack.store(true, Ordering::SeqCst);
    }

    /// When the slot settles, release the message without acknowledging it: a `manual`
    /// handler's `mqtt::Ack` was dropped without `ack()`. The caller warns.
    pub(crate) fn withhold(&self) {
        self.0.withheld.store(true, Ordering::SeqCst);
    }

    /// Whether the client stopped for good while the broker keeps the message for the
    /// next session: a call not started yet for it is skipped.
    pub(crate) fn is_abandoned(&self) -> bool {
        self.0.to.is_abandoned()
    }

    /// The message's packet identifier.
    pub(crate) fn packet_id(&self) -> u16 {
        self.0.token.packet_id()
    }

    /// How many holders the slot has (this one included).
    #[cfg(test)]
    pub(crate) fn holders(&self) -> usize {
        Arc::strong_count(&self.0)
    }
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Slot")
            .field(&self.0.token.packet_id())
            .finish()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let settled = if self.unhandled.load(Ordering::SeqCst) {
            Settled::Unhandled
        } else if self.nack.load(Ordering::SeqCst) {
            Settled::Failed
        } else if self.withheld.load(Ordering::SeqCst) {
            Settled::Withheld
        } else {
            Settled::Handled
        };
        self.to.settle(self.token, settled);
    }
}

/// A promise that a message reaches a handler call, holding the message's [`Slot`]
/// until [`Owing::kept`] when the call begins, which hands the slot over to the call;
/// the call holds it in an `Owing` of its own until it has ended (a `manual` call only
/// watches it: its handler's `mqtt::Ack` holds it). Dropped unkept (its queue, its task
/// or the call's future dropped by a bug of ours or by a runtime shutting down), it marks
/// the message unhandled: released, never acknowledged, whatever its other holders do.
pub(crate) struct Owing(Promise);

// `Owing::kept` forgets an `Owing` once its `Promise` is taken out, so it must hold
// nothing else: a field added to `Owing` must be handled in `kept` (taken out, or
// dropped) before `mem::forget`, or it leaks.
const _: () = assert!(std::mem::size_of::<Owing>() == std::mem::size_of::<Promise>());

/// What an [`Owing`] holds.
enum Promise {
    /// Owed: dropped so, it marks the message unhandled.
    Owed(Slot),
    /// Owed, without holding the slot (a `manual` call): dropped so, it marks the message
    /// unhandled if the slot is still held elsewhere.
    Watching(Weak<Held>),
    /// Kept in place ([`Owing::discharge`]): the slot is still held, and settles as its
    /// holders say.
    Discharged(Slot),
    /// Nothing held (no slot, or handed over by [`Owing::kept`]).
    Nothing,
}

impl Owing {
    /// Owes the message of `slot` (if any) a call, holding `slot` meanwhile.
    #[inline]
    pub(crate) fn new(slot: Option<Slot>) -> Owing {
        Owing(slot.map_or(Promise::Nothing, Promise::Owed))
    }

    /// Owes the message of `slot` (if any) the end of a call without holding `slot`: a
    /// `manual` call, whose handler's `mqtt::Ack` holds the slot and may give it before
    /// the call ends, or after.
    #[inline]
    pub(crate) fn watching(slot: Option<&Slot>) -> Owing {
        Owing(slot.map_or(Promise::Nothing, |s| {
            Promise::Watching(Arc::downgrade(&s.0))
        }))
    }

    /// Whether it holds nothing, and owes nothing (a QoS 0 message's, or handed over).
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        matches!(self.0, Promise::Nothing)
    }

    /// The slot it holds.
    pub(crate) fn slot(&self) -> Option<&Slot> {
        match &self.0 {
            Promise::Owed(slot) | Promise::Discharged(slot) => Some(slot),
            Promise::Watching(_) | Promise::Nothing => None,
        }
    }

    /// The call begins (or is skipped on purpose), or, held by the call, ended: nothing is
    /// owed any more. Returns the slot, held now by the caller.
    #[inline]
    pub(crate) fn kept(mut self) -> Option<Slot> {
        let promise = std::mem::replace(&mut self.0, Promise::Nothing);
        // Holds nothing now, so its drop would do nothing: not called (the drop glue was
        // an out-of-line call per `Owing` kept, 17 instructions; BENCHMARKS.md item 40).
        // Nothing else is forgotten with it: `Owing` is its `Promise` alone (asserted
        // below `Owing`).
        std::mem::forget(self);
        match promise {
            Promise::Owed(slot) | Promise::Discharged(slot) => Some(slot),
            Promise::Watching(_) | Promise::Nothing => None,
        }
    }

    /// [`Owing::kept`] in place: the promise is kept while its holder lives on (a call
    /// whose handler succeeded and which still sends its reply). The `Owing` still holds
    /// the slot, but owes nothing any more: dropped, it settles as the slot's holders say.
    #[inline]
    pub(crate) fn discharge(&mut self) {
        self.0 = match std::mem::replace(&mut self.0, Promise::Nothing) {
            Promise::Owed(slot) | Promise::Discharged(slot) => Promise::Discharged(slot),
            Promise::Watching(_) | Promise::Nothing => Promise::Nothing,
        };
    }
}

impl Drop for Owing {
    // `#[inline]` lets the compiler inline this body where it drops an `Owing`; the drop
    // glue around it stayed an out-of-line call (BENCHMARKS.md item 40), which is why
    // `Owing::kept` forgets an `Owing` it emptied rather than drop it.
    #[inline]
    fn drop(&mut self) {
        match &self.0 {
            Promise::Owed(slot) => slot.0.unhandled.store(true, Ordering::SeqCst),
            // Settled already if nothing holds it any more (given, or released).
            Promise::Watching(held) => {
                if let Some(held) = held.upgrade() {
                    held.unhandled.store(true, Ordering::SeqCst);
                }
            }
            Promise::Discharged(_) | Promise::Nothing => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ack::test_support::{Recorder, Settled};

    fn token(id: u16) -> AckToken {
        AckToken::from_parts(id, paho_mqtt::QoS::AtLeastOnce, 7)
    }

    /// Once the client left its session's messages to the broker, a slot that settles is
    /// released in Paho, never acknowledged: left unsettled, it would stay at the head of
    /// its connection's acknowledgements (which leave in arrival order) and hold back
    /// every later one (a request's reply, acknowledged on arrival).
    #[test]
    fn a_message_settled_once_abandoned_is_released() {
        let seen = Arc::new(Settled::default());
        let acks = Watermark::new(Box::new(Recorder(Arc::clone(&seen))));
        let handled = acks.slot(token(1));
        let failed = acks.slot(token(2));
        failed.nack();
        acks.abandon();
        drop(handled);
        drop(failed);
        assert_eq!(seen.seen(), [(1, false), (2, false)]);
        assert_eq!(acks.unacknowledged(), 0);
    }

    /// A message left to the broker without a slot (the client stopping) is released in
    /// Paho too, and counts as nothing owed.
    #[test]
    fn a_message_left_to_the_broker_is_released() {
        let seen = Arc::new(Settled::default());
        let acks = Watermark::new(Box::new(Recorder(Arc::clone(&seen))));
        acks.close();
        acks.leave(token(3));
        assert_eq!(seen.seen(), [(3, false)]);
        assert_eq!(acks.unacknowledged(), 0);
    }

    /// Messages waiting for the app to be ready are owed from the moment they are taken
    /// (the broker counts them in its window) until they are settled, through their
    /// slots or left to the broker; the watchdog's progress leaves them out while they
    /// wait (no handler has had them). A waiting message of a connection that has ended
    /// is owed no more.
    #[test]
    fn messages_waiting_for_the_app_are_owed_until_settled() {
        let seen = Arc::new(Settled::default());
        let acks = Watermark::new(Box::new(Recorder(Arc::clone(&seen))));
        for id in 1..=3 {
            acks.wait(token(id));
        }
        assert_eq!(acks.unacknowledged(), 3);
        assert_eq!(
            acks.progress(),
            (0, 0),
            "waiting is no sign of a stuck handler"
        );
        let first = acks.slot_waited(token(1));
        assert_eq!((acks.unacknowledged(), acks.progress()), (3, (1, 0)));
        acks.unwait(token(2));
        acks.leave(token(2));
        assert_eq!((acks.unacknowledged(), acks.progress()), (2, (1, 0)));
        drop(first);
        assert_eq!((acks.unacknowledged(), acks.progress()), (1, (0, 1)));
        drop(acks.slot_waited(token(3)));
        assert_eq!(acks.unacknowledged(), 0);
        assert_eq!(seen.seen(), [(2, false), (1, true), (3, true)]);

        acks.wait(token(4));
        acks.connection_ended();
        let late = acks.slot_waited(token(4));
        assert_eq!((acks.unacknowledged(), acks.progress().0), (0, 0));
        drop(late);
        assert_eq!(acks.unacknowledged(), 0);
    }

    /// The window warning names the client's own Receive Maximum key (`ALERTS_...` for
    /// prefix `ALERTS`), as every message about a client's settings does.
    #[test]
    fn the_window_warning_names_the_clients_own_key() {
        let seen = Arc::new(Settled::default());
        let acks = Watermark::windowed(
            Box::new(Recorder(Arc::clone(&seen))),
            "window-key-test".into(),
            "ALERTS".into(),
            Window::ReceiveMaximum(2),
        );
        // Released when the slot is dropped, at the end of the statement.
        acks.slot(AckToken::from_parts(1, paho_mqtt::QoS::AtLeastOnce, 901))
            .withhold();
        let said = crate::visible::said::containing("client `window-key-test`");
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(said[0].contains("(ALERTS_RECEIVE_MAXIMUM)"), "{said:?}");
        assert!(!said[0].contains("MQTT_"), "{said:?}");
    }

    /// Released messages keep their places in the broker's in-flight window until the
    /// connection ends, and nothing else says so (they are no longer owed): at half the
    /// window (10 when it is unknown, MQTT 3.1.1) and at every doubling, it is said
    /// visibly (these tests install no logger). A new connection starts from 0; a slot
    /// of an ended connection, or one released while stopping, is not said.
    #[test]
    fn released_messages_filling_the_window_are_said() {
        let seen = Arc::new(Settled::default());
        let acks = Watermark::windowed(
            Box::new(Recorder(Arc::clone(&seen))),
            "window-test".into(),
            "MQTT".into(),
            Window::Unknown,
        );
        let release = |from: u16, to: u16, connection: u32| {
            for id in from..to {
                let slot = acks.slot(AckToken::from_parts(
                    id,
                    paho_mqtt::QoS::AtLeastOnce,
                    connection,
                ));
                slot.withhold();
            }
        };
        let said = || crate::visible::said::containing("client `window-test`");
        release(1, 10, 900);
        assert_eq!((acks.released(), said().len()), (9, 0));
        // Acknowledged ones free their places: not counted.
        drop(acks.slot(AckToken::from_parts(100, paho_mqtt::QoS::AtLeastOnce, 900)));
        release(10, 21, 900);
        assert_eq!(acks.released(), 20);
        let lines = said();
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(
            lines[0].contains(": 10 QoS 1/2 messages were released"),
            "{lines:#?}"
        );
        assert!(
            lines[1].contains(": 20 QoS 1/2 messages were released"),
            "{lines:#?}"
        );
        assert!(lines[1].contains("the broker sends no more QoS 1/2 messages to this client"));
        assert!(lines[1].contains("20 on Mosquitto"), "{lines:#?}");

        // A new connection: its window is empty.
        release(21, 30, 901);
        assert_eq!(acks.released(), 9);
        // A slot of the connection before, settled late: its place went with it.
        let late = acks.slot(AckToken::from_parts(30, paho_mqtt::QoS::AtLeastOnce, 901));
        release(31, 32, 902);
        late.withhold();
        drop(late);
        assert_eq!(acks.released(), 1);
        acks.connection_ended();
        assert_eq!(acks.released(), 0);
        // Released while stopping: counted, not said.
        acks.close();
        release(40, 60, 903);
        assert_eq!((acks.released(), said().len()), (20, 2));
    }

    /// A message left to the broker at a stop is the connection's first one taken from
    /// Paho when no handled message came before it on that connection: it holds a place
    /// in that connection's window, counted as one would be after a handled message.
    /// It was not counted (`released_messages()` stayed 0, and the window warning never
    /// came): only a slot started a new connection's count.
    #[test]
    fn a_message_left_first_on_a_new_connection_is_counted() {
        let seen = Arc::new(Settled::default());
        let acks = Watermark::windowed(
            Box::new(Recorder(Arc::clone(&seen))),
            "left-first-test".into(),
            "MQTT".into(),
            Window::ReceiveMaximum(2),
        );
        let token =
            |id, connection| AckToken::from_parts(id, paho_mqtt::QoS::AtLeastOnce, connection);
        // The connection before: one message handled, two released.
        acks.close();
        drop(acks.slot(token(1, 910)));
        acks.slot(token(2, 910)).withhold();
        acks.slot(token(3, 910)).withhold();
        assert_eq!(acks.released(), 2);
        // A new connection, the end of the one before not seen yet: its first message
        // is left.
        acks.leave(token(1, 911));
        assert_eq!(acks.released(), 1);
        acks.leave(token(2, 911));
        assert_eq!(acks.released(), 2);
        // The end of a connection seen before the next one's first message is left.
        acks.connection_ended();
        acks.leave(token(1, 912));
        assert_eq!(acks.released(), 1);
        assert_eq!(acks.unacknowledged(), 0);
        assert_eq!(seen.seen().len(), 6);
    }
}
