//! Start order of a handler's calls with `concurrency = N`: each call is a task of its
//! own, so that up to N of them run at once (blocking or not), and Tokio does not run
//! tasks in the order they were spawned (it runs the one spawned last first: its LIFO
//! slot). So each call waits for its turn before it starts, and the call before it
//! passes the turn on as it starts: just before the handler's first poll, not after it,
//! so a handler that blocks (or computes) before its first `.await` does not hold up the
//! next call's start.
//!
//! Nothing between passing the turn on and the handler's first poll takes a system call:
//! a call woken for its turn is woken from the blocking pool once the turn is passed
//! (see [`Turn::hand_on`]), because woken from
//! this thread Tokio would put it in this thread's LIFO slot, which no other thread takes
//! from, behind the handler's first poll that comes next here (which may block).
//! A sync handler's call passes the turn on from the thread the handler runs on
//! (`block_in_place`, or `spawn_blocking` on a current-thread runtime), just before
//! calling it, and wakes the next call from there ([`Turn::pass_off_runtime`]): that
//! thread holds no runtime core (`block_in_place` handed it to another thread), so Tokio
//! queues the woken call for any runtime thread, and no LIFO slot is in the way. Going
//! through the blocking pool there too cost each call one more thread hand-over (bench
//! `calls`, BENCHMARKS.md item 36). There the turn is passed before the wake, not
//! after: the next call, spinning on a runtime thread until the wake returned, kept the
//! passing thread from running on a busy machine (item 39).
//!
//! What the handlers do once started runs in parallel: the guarantee is that each call
//! begins (its arguments extracted, its span opened) only after the one before it passed
//! the turn on, just before its handler's first poll (sync: call); not that its handler
//! is polled or called after that one's, nor that its first statement runs after that
//! one's (a thread the OS stops just then lets the next call overtake it; a sync
//! handler runs on a thread of its own, so this holds on one runtime thread too).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::sync::lock;

/// A worker's turns: hands them out in arrival order.
#[derive(Default)]
pub(super) struct Turns {
    /// The turn the last call handed out passes on.
    last: Option<Arc<Relay>>,
}

impl Turns {
    /// The next call's turn: after the last one handed out.
    pub(super) fn next(&mut self) -> Turn {
        let next = Arc::new(Relay::default());
        Turn {
            after: self.last.replace(Arc::clone(&next)),
            next: Some(next),
            yields: 0,
        }
    }
}

/// Not passed yet (the waiting call's waker in [`Slot::waker`]).
const HELD: u8 = 0;
/// About to be passed: the waiting call is woken once it is (from the blocking pool, see
/// [`Turn::hand_on`]); polled meanwhile, it waits for that wake.
const SOON: u8 = 1;
const PASSED: u8 = 2;
/// The call that held it was dropped before its own turn: wait for [`Slot::earlier`].
const FORWARDED: u8 = 3;

/// What passes a turn from one call to the next.
#[derive(Default)]
struct Relay {
    state: AtomicU8,
    slot: Mutex<Slot>,
}

#[derive(Default)]
struct Slot {
    waker: Option<Waker>,
    earlier: Option<Arc<Relay>>,
}

/// A call's turn: [`Turn::wait`] for it, then [`Turn::pass`] it on as the call starts.
/// Dropped (the call ended early, panicked, or was dropped while waiting), it is passed
/// on too, so the next calls do not wait for it forever. The default turn is nobody's
/// (no wait, nothing to pass on).
#[derive(Default)]
pub(super) struct Turn {
    /// Passed on by the call before this one; `None` once it was.
    after: Option<Arc<Relay>>,
    /// Passed on to the call after this one; `None` once it was.
    next: Option<Arc<Relay>>,
    /// Polls that found the turn held and yielded instead of waiting ([`YIELDS`]).
    yields: u8,
}

/// How many times a call that finds its turn held yields before it waits for a wake:
/// the call before it is usually queued on this thread, behind it (Tokio runs the task
/// spawned last first), and passes the turn on while it yields, with no wake (a system
/// call, see [`Turn::hand_on`]).
const YIELDS: u8 = 3;

impl Turn {
    /// Waits until the calls before this one have started.
    pub(super) async fn wait(&mut self) {
        std::future::poll_fn(|cx| self.poll_wait(cx)).await;
    }

    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        while let Some(relay) = self.after.clone() {
            match relay.state.load(Ordering::Acquire) {
                PASSED => self.after = None,
                FORWARDED => self.after = lock(&relay.slot).earlier.clone(),
                HELD if self.yields < YIELDS => {
                    self.yields += 1;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                // Held, or `SOON`: the call before this one is passing the turn on, and
                // this one is woken once it has. Not polled again and again meanwhile:
                // that spin, on a runtime thread, kept the passing thread from running on
                // a busy machine (BENCHMARKS.md item 42).
                _ => {
                    let mut slot = lock(&relay.slot);
                    // Leaves `HELD` and `SOON` under the lock only.
                    if !matches!(relay.state.load(Ordering::Acquire), HELD | SOON) {
                        continue;
                    }
                    if !slot.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        slot.waker = Some(cx.waker().clone());
                    }
                    return Poll::Pending;
                }
            }
        }
        Poll::Ready(())
    }

    /// The call starts: the next one may start too (after [`Turn::wait`]).
    pub(super) fn pass(&mut self) {
        self.hand_on(None);
    }

    /// [`pass`](Turn::pass), on a thread that runs no tasks: a sync handler's, in
    /// `block_in_place` (which handed the thread's runtime core to another thread) or the
    /// blocking pool. Woken from here, the next call goes to the runtime's shared queue,
    /// which any runtime thread takes from, so it is woken here: no hand-over to the
    /// blocking pool first.
    ///
    /// Passed before the wake, not after it as [`hand_on`](Turn::hand_on) does: what
    /// follows here is the handler's call on this thread, and nothing orders it against
    /// the next call's (each sync call runs on a thread of its own), so the next call
    /// need not wait for the wake's system call to return. Held `SOON` across it, the
    /// next call polled again and again on a runtime thread meanwhile, and with the
    /// machine's cores busy that spin kept this thread, which had to store `PASSED`,
    /// from running: 49-293 us a call back to back in a stand-alone copy of the worker's
    /// loop, 7.3 us with the turn passed first, on two cores at load 10-17
    /// (BENCHMARKS.md item 39).
    pub(super) fn pass_off_runtime(&mut self) {
        let Some(next) = self.next.take() else {
            return;
        };
        let waiting = {
            let mut slot = lock(&next.slot);
            // Leaves `HELD` under the lock only (see `poll_wait`).
            next.state.store(PASSED, Ordering::Release);
            slot.waker.take()
        };
        if let Some(waker) = waiting {
            waker.wake();
        }
    }

    /// Passes the turn on to the next call, or (`earlier`: this call was dropped before
    /// its turn) has it wait for the turn this one waited for. A call waiting is woken
    /// once it is passed, and sees `SOON` until then: waking it from the blocking pool
    /// (see [`wake_once_passed`]) takes a system call, which may let the OS run another
    /// thread here for a while, and nothing that can must come between passing the turn
    /// on and the handler's first poll (measured: 4 to 13 calls of 5,000 started out of
    /// order when the next call could start during that wake). A call not waiting (not
    /// polled yet, or yielding, see [`YIELDS`]) needs no wake: the turn is passed at
    /// once.
    fn hand_on(&mut self, earlier: Option<Arc<Relay>>) {
        let Some(next) = self.next.take() else {
            return;
        };
        {
            let mut slot = lock(&next.slot);
            if slot.waker.is_none() {
                settle(&next, &mut slot, earlier);
                return;
            }
            next.state.store(SOON, Ordering::Release);
        }
        let woken = wake_once_passed(&next);
        let waiting = {
            let mut slot = lock(&next.slot);
            settle(&next, &mut slot, earlier);
            if woken {
                None
            } else {
                slot.waker.take()
            }
        };
        if let Some(waker) = waiting {
            waker.wake();
        }
    }
}

/// Leaves `next`'s `HELD` or `SOON` (under the lock of its `slot`): passed, or forwarded
/// to `earlier` (see [`Turn::hand_on`]).
fn settle(next: &Relay, slot: &mut Slot, earlier: Option<Arc<Relay>>) {
    match earlier {
        None => next.state.store(PASSED, Ordering::Release),
        Some(earlier) => {
            slot.earlier = Some(earlier);
            next.state.store(FORWARDED, Ordering::Release);
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let earlier = self.after.take();
        self.hand_on(earlier);
    }
}

/// Has the call waiting for `next`'s turn woken once the turn is passed (`SOON` until
/// then, see [`Turn::hand_on`]): on a multi-threaded runtime, from the blocking pool (see
/// the module's doc: from there, any idle runtime thread takes it). Returns whether it
/// will be; if not (another runtime, or none, or one shutting down), the caller wakes it
/// once it passed the turn. Never unwinds: Tokio panics when the blocking pool has no
/// thread and cannot start one, and the turn must still be passed on.
///
/// A runtime shutting down does not run the task: `spawn_blocking` returns all the same,
/// with the task already cancelled, so finished (while `SOON` the task cannot finish by
/// itself: it waits for the pass). A shutdown that begins after the task was queued and
/// before a thread took it drops it too, unseen here (`is_finished` was still false), and
/// the wake is lost. That cannot leave a call hanging: the call waiting is a task of this
/// same runtime (a worker spawns every call of its handler, in its `JoinSet`, on the
/// runtime it runs on, and `rt` is the runtime of the thread passing the turn: inside the
/// call before, or dropping it), and a runtime that shuts down drops every one of its
/// tasks, woken or not; woken, it would not have been run either. Dropped, the waiting
/// call passes its own turn on (`Drop for Turn`) to calls of the same runtime, dropped
/// too. What awaits the calls is of that runtime as well (the worker, through its
/// `JoinSet`; `Dispatcher::drain`, which awaits the worker's `JoinHandle`, runs inside the
/// client's `block_on`, before its runtime shuts down); what waits from outside it
/// (`Client::shutdown`, `Client`'s drop, bounded) waits for the driver, not for calls. So
/// that race is left unhandled.
///
/// Also not handled: with the blocking pool at its cap (Tokio's 512 threads), all held
/// by sync handlers, the task waits in the pool's queue, and the call with it, until a
/// thread is free.
///
/// The blocking-pool thread waits for the pass, yielding its CPU meanwhile: the thread
/// that passes stores it as soon as the `spawn_blocking` here returns, so that is short
/// unless the OS stopped that thread, which the yield lets run. The waiting call used to
/// be woken first and poll until the turn was passed, again and again on a runtime
/// thread, which on a busy machine kept the passing thread from running (bench `calls`,
/// BENCHMARKS.md item 42); a second wake, sent by the passing thread once passed, would
/// put that system call between the pass and the handler's first poll.
fn wake_once_passed(next: &Arc<Relay>) -> bool {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return false;
    };
    if rt.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
        return false;
    }
    let relay = Arc::clone(next);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let task = rt.spawn_blocking(move || {
            // Bounded by what the passing thread does after its `spawn_blocking` returns:
            // this check, then the lock of the slot and the store of `PASSED` (or
            // `FORWARDED`) in `hand_on`. Longer only while the OS stops that thread, and
            // the yield lets it run. No Condvar: its notify, a system call once this
            // thread waits, would come on the passing thread between the pass and the
            // handler's first poll.
            while relay.state.load(Ordering::Acquire) == SOON {
                std::thread::yield_now();
            }
            let waiting = lock(&relay.slot).waker.take();
            if let Some(waker) = waiting {
                waker.wake();
            }
        });
        // Finished while `SOON`: cancelled, never run (a runtime shutting down).
        !task.is_finished()
    }))
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    use futures::FutureExt;
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event as TracingEvent, Metadata, Subscriber};

    use super::*;
    use crate::dispatch::tests::{assert_passes_alone, done, watched, ALONE, DEADLINE};
    use crate::event::{Event, HandlerKind};
    use crate::extract::context::EventContext;
    use crate::handler::Outcome;
    use crate::message::Message;
    use crate::qos::QoS;
    use crate::registry::{Handler, HandlerDescriptor, HandlerFn};

    /// A call dropped before its turn hands the next call the turn it was waiting for:
    /// the next call neither starts ahead of the earlier one nor waits forever.
    #[test]
    fn a_turn_dropped_before_it_came_forwards_the_wait() {
        let mut turns = Turns::default();
        let mut first = turns.next();
        let second = turns.next();
        let mut third = turns.next();
        assert!(first.wait().now_or_never().is_some());
        drop(second);
        assert!(third.wait().now_or_never().is_none());
        first.pass();
        assert!(third.wait().now_or_never().is_some());
        // Dropped after its wait without passing (a call skipped, or that panicked).
        let mut fourth = turns.next();
        drop(third);
        assert!(fourth.wait().now_or_never().is_some());
        assert!(Turn::default().wait().now_or_never().is_some());
    }

    /// Two calls' turns, the first one's come (its wait is over) and the second one's
    /// polled [`YIELDS`] times, pending each time (the turn is not passed yet): polled
    /// again, it waits for a wake. With a waker that does nothing, for polls whose wake
    /// does not matter.
    #[track_caller]
    fn two_turns_the_second_yielded() -> (Turn, Turn, Waker) {
        let mut turns = Turns::default();
        let mut first = turns.next();
        let mut second = turns.next();
        assert!(first.wait().now_or_never().is_some());
        let noop = futures::task::noop_waker();
        for _ in 0..YIELDS {
            let polled = second.poll_wait(&mut Context::from_waker(&noop));
            assert!(polled.is_pending(), "the turn came before it was passed");
        }
        (first, second, noop)
    }

    /// A waker whose `wake` says so on `woken`, then stops its thread until `go_on`
    /// says so (or [`DEADLINE`] passed): the system call of a wake, during which the OS
    /// runs something else.
    struct StoppedInWake {
        woken: std::sync::mpsc::SyncSender<()>,
        go_on: Mutex<std::sync::mpsc::Receiver<()>>,
    }

    impl std::task::Wake for StoppedInWake {
        fn wake(self: Arc<Self>) {
            let _ = self.woken.send(());
            let _ = lock(&self.go_on).recv_timeout(DEADLINE);
        }
    }

    /// A sync call's turn ([`Turn::pass_off_runtime`]) is passed before the next call is
    /// woken: while that wake is under way (a system call, in which the OS may stop the
    /// passing thread for a while), the next call, polled, goes ahead. It used to see
    /// the turn "about to be passed" until the wake returned, and polled again and again
    /// meanwhile, spinning on a runtime thread: with the machine's cores busy, the
    /// passing thread waited for that core (bench `calls`, BENCHMARKS.md item 39).
    #[test]
    fn a_sync_calls_turn_is_passed_before_the_next_call_is_woken() {
        let (mut first, mut second, noop) = two_turns_the_second_yielded();
        let (woken, woken_rx) = std::sync::mpsc::sync_channel(1);
        let (go_on, go_on_rx) = std::sync::mpsc::sync_channel(1);
        let waiter = Waker::from(Arc::new(StoppedInWake {
            woken,
            go_on: Mutex::new(go_on_rx),
        }));
        // Waits for a wake now.
        assert!(second
            .poll_wait(&mut Context::from_waker(&waiter))
            .is_pending());
        let passing = std::thread::spawn(move || first.pass_off_runtime());
        woken_rx.recv_timeout(DEADLINE).unwrap();
        // The passing thread is in the wake.
        let polled = second.poll_wait(&mut Context::from_waker(&noop));
        go_on.send(()).unwrap();
        passing.join().unwrap();
        assert!(
            polled.is_ready(),
            "the next call, polled while the turn's wake was under way, still waited"
        );
    }

    /// A waker that counts its wakes.
    #[derive(Default)]
    struct Counted(AtomicUsize);

    impl std::task::Wake for Counted {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A waker that says so on a channel.
    struct Told(Mutex<std::sync::mpsc::Sender<()>>);

    impl std::task::Wake for Told {
        fn wake(self: Arc<Self>) {
            let _ = lock(&self.0).send(());
        }
    }

    /// A call whose turn is about to be passed (`SOON`: the call before it, on a
    /// multi-threaded runtime, has its wake sent and is about to pass the turn on) still
    /// waits when polled, for a wake: it used to wake itself to be polled again at once,
    /// again and again, a spin on a runtime thread that on a busy machine kept the
    /// passing thread from running (BENCHMARKS.md item 42). Once passed, it is woken.
    ///
    /// Stores `SOON`, then `HELD` again, by hand, and passes with no runtime: only the
    /// wait is tested here, and the wake from the passing thread (no runtime), not the
    /// one from the blocking pool (see the next tests).
    #[test]
    fn a_call_polled_while_its_turn_is_about_to_be_passed_waits_for_a_wake() {
        let (mut first, mut second, noop) = two_turns_the_second_yielded();
        let Some(relay) = first.next.clone() else {
            panic!("the first call has a turn to pass on");
        };
        // What `hand_on` stores before the wake's system call.
        relay.state.store(SOON, Ordering::Release);
        let counted = Arc::new(Counted::default());
        let waker = Waker::from(Arc::clone(&counted));
        let polled = second.poll_wait(&mut Context::from_waker(&waker));
        assert!(
            polled.is_pending(),
            "the next call went ahead before the turn was passed"
        );
        assert_eq!(
            counted.0.load(Ordering::SeqCst),
            0,
            "the next call, polled while its turn was about to be passed, woke itself to be polled again (a spin)"
        );
        relay.state.store(HELD, Ordering::Release);
        first.pass();
        assert_eq!(
            counted.0.load(Ordering::SeqCst),
            1,
            "the next call was not woken once the turn was passed"
        );
        assert!(second.poll_wait(&mut Context::from_waker(&noop)).is_ready());
    }

    /// On a multi-threaded runtime, an async call's turn is passed, and the call waiting
    /// for it woken from the blocking pool once it is: the wake comes, and then the turn.
    #[test]
    fn a_call_waiting_is_woken_from_the_blocking_pool_once_its_turn_is_passed() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let _in_runtime = rt.enter();
        for _ in 0..100 {
            let (mut first, mut second, noop) = two_turns_the_second_yielded();
            let (woken, woken_rx) = std::sync::mpsc::channel();
            let waker = Waker::from(Arc::new(Told(Mutex::new(woken))));
            assert!(second
                .poll_wait(&mut Context::from_waker(&waker))
                .is_pending());
            first.pass();
            woken_rx
                .recv_timeout(DEADLINE)
                .expect("the next call was never woken");
            assert!(second.poll_wait(&mut Context::from_waker(&noop)).is_ready());
        }
    }

    /// On a runtime shutting down, `spawn_blocking` returns but drops its task without
    /// running it: the call waiting for the turn is woken by the passing call instead.
    #[test]
    fn a_call_waiting_is_woken_when_the_blocking_pool_is_shut_down() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap();
        let handle = rt.handle().clone();
        rt.shutdown_background();
        let _in_runtime = handle.enter();
        let (mut first, mut second, noop) = two_turns_the_second_yielded();
        let counted = Arc::new(Counted::default());
        let waker = Waker::from(Arc::clone(&counted));
        assert!(second
            .poll_wait(&mut Context::from_waker(&waker))
            .is_pending());
        first.pass();
        assert_eq!(
            counted.0.load(Ordering::SeqCst),
            1,
            "the next call was not woken once the turn was passed on a runtime shutting down"
        );
        assert!(second.poll_wait(&mut Context::from_waker(&noop)).is_ready());
    }

    const SYNC_CALLS: u32 = 2_000;

    /// The calls of `sync_order` in the order they began (their spans got their topic):
    /// the number in the topic.
    static BEGAN: Mutex<Vec<u32>> = Mutex::new(Vec::new());
    /// The calls of `sync_order` made so far.
    static MADE: AtomicUsize = AtomicUsize::new(0);

    /// Records, on the runtime's threads, the order in which handler calls begin: a
    /// call's span gets its topic as the call begins, once the call before it has passed
    /// its turn on (and before this one passes its own).
    struct CallBegins;

    impl Subscriber for CallBegins {
        fn enabled(&self, meta: &Metadata<'_>) -> bool {
            meta.name() == "mqtt.handler"
        }

        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }

        fn record(&self, _: &Id, values: &Record<'_>) {
            values.record(&mut TopicNumber);
        }

        fn record_follows_from(&self, _: &Id, _: &Id) {}

        fn event(&self, _: &TracingEvent<'_>) {}

        fn enter(&self, _: &Id) {}

        fn exit(&self, _: &Id) {}
    }

    /// Pushes the number of a `sync-order/<n>` topic to [`BEGAN`].
    struct TopicNumber;

    impl Visit for TopicNumber {
        fn record_str(&mut self, field: &Field, value: &str) {
            let n = value
                .strip_prefix("sync-order/")
                .and_then(|n| n.parse().ok());
            if let (true, Some(n)) = (field.name() == "topic", n) {
                lock(&BEGAN).push(n);
            }
        }

        fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
    }

    thread_local! {
        /// [`CallBegins`] as the default subscriber of a runtime thread.
        static LISTENING: RefCell<Option<tracing::subscriber::DefaultGuard>> =
            const { RefCell::new(None) };
    }

    /// A sync handler: counts its calls.
    fn sync_order(_: Arc<EventContext>) -> Outcome {
        MADE.fetch_add(1, Ordering::SeqCst);
        Ok(None)
    }

    static SYNC_ORDER: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "sync_order",
        "dispatch::turn::tests",
        HandlerFn::Sync(sync_order),
    )
    .with_filter("sync-order/+")
    .with_concurrency(4);

    /// Sync handlers with `concurrency = N`: each call runs its handler on a thread of
    /// its own (`block_in_place`; `spawn_blocking` on a current-thread runtime) and
    /// passes its turn on there, just before calling it. The calls begin in arrival
    /// order, exactly, on any number of runtime threads: a call begins (its span gets
    /// its topic) only once the call before it passed its turn on, which it does after
    /// it began. Without the turns, 149 to 211 of 2,000 began out of order (`[[4, 0],
    /// [9, 5], ..]`: Tokio runs the task spawned last first). The order of the
    /// handlers' first statements is not tested: nothing orders them, even on one
    /// runtime thread, since each handler runs on its own thread. Recorded in the
    /// handler, no call overtook the one before it in 15 runs of 2,000 calls while the
    /// next call spun until the turn's wake returned (see `pass_off_runtime`), each
    /// call then taking ~100 us back to back; with the turn passed before the wake, 72
    /// to 197 of 5,000 back-to-back calls overtook the one before them in a stand-alone
    /// copy of this loop (BENCHMARKS.md item 39).
    ///
    /// Runs in a process of its own (this test binary again, told by [`ALONE`]): its
    /// subscriber is only its runtime's threads' default, but `tracing` remembers for
    /// the rest of the process that one was set (`dispatcher::has_been_set`), so every
    /// later test of the binary would make the spans nobody listens to
    /// (`spans::listened`).
    #[test]
    fn sync_calls_start_in_arrival_order_with_concurrency() {
        if std::env::var_os(ALONE).is_some() {
            sync_calls_start_in_arrival_order();
            return;
        }
        assert_passes_alone(concat!(
            module_path!(),
            "::sync_calls_start_in_arrival_order_with_concurrency"
        ));
    }

    /// The test, in the process of its own.
    fn sync_calls_start_in_arrival_order() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .on_thread_start(|| {
                let guard = tracing::subscriber::set_default(CallBegins);
                LISTENING.with(|l| *l.borrow_mut() = Some(guard));
            })
            .on_thread_stop(|| LISTENING.with(|l| drop(l.borrow_mut().take())))
            .build()
            .unwrap();
        rt.block_on(async {
            let handlers = [&SYNC_ORDER]
                .into_iter()
                .filter_map(|d| Handler::new(d, d.name()))
                .collect();
            let (d, _watch, app) = watched(handlers);
            for n in 0..SYNC_CALLS {
                let m = Message::new(format!("sync-order/{n}"), "", QoS::AtMostOnce, false);
                d.dispatch(app.client(), Event::Message(m));
            }
            let deadline = Instant::now() + DEADLINE;
            while MADE.load(Ordering::SeqCst) < SYNC_CALLS as usize {
                assert!(Instant::now() < deadline, "not every call ran");
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            done(d.drain(DEADLINE)).await;
        });
        rt.shutdown_timeout(DEADLINE);
        let began = lock(&BEGAN).clone();
        let late: Vec<_> = began.windows(2).filter(|w| w[0] > w[1]).collect();
        assert!(
            late.is_empty() && began.len() == SYNC_CALLS as usize,
            "{} of {} calls began out of order: {:?}",
            late.len(),
            began.len(),
            &late[..late.len().min(5)]
        );
    }
}
