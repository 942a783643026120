//! Inline calls: an idle async handler's call is polled once on the dispatching task,
//! and handed to the handler's worker only if it has to wait.
//!
//! Handing every call to the handler's task costs a queue push, a task wake, usually
//! the other runtime worker unparked to steal the task, and the task poll: measured
//! with callgrind before this (bench `child-framework`, 10 calls per message), about
//! 580 of the 1,050 instructions a call cost, and 17 % of a QoS 0 profile's samples in
//! the kernel switching threads (BENCHMARKS.md). A handler that does not wait (most
//! handlers, most of the time) finishes in that first poll and touches no task.
//!
//! What keeps the guarantees of [`dispatch`](super):
//! - **Order, concurrency.** A call is made inline only when its handler is idle: no
//!   event queued, no call running ([`Room::claim`](super::queue::Room::claim)). If it
//!   has to wait, the started call goes through the handler's queue as its next item,
//!   ahead of any later event, and the worker finishes it first.
//! - **A stuck handler does not stop the others.** A call that waits returns from its
//!   poll at once and waits on the handler's worker. What would stop dispatch is an
//!   async handler that *blocks its thread* (a bug by Tokio's rules, but a common one:
//!   `std::thread::sleep`, blocking I/O). So a handler is called inline only after
//!   `trust::PROBATION` calls in a row on its worker returned from every poll within
//!   `trust::BOUND`; an inline poll that takes longer sends it back to its worker, on
//!   probation again (so a thread preempted by the OS costs a handler 16 calls on its
//!   worker, not its inline calls for good). Sync handlers (which may block, by
//!   contract) are never called inline. What is left: a handler that passes its
//!   probation and then blocks delays dispatch for as long as that one poll blocks; if
//!   it keeps blocking it stays on its worker from then on. A poll that holds dispatch
//!   for [`STALLED_AFTER`](super::watchdog::STALLED_AFTER) is reported while it blocks,
//!   and when it returns ([`watchdog`]).
//!
//! Polls are timed with the calls' clock (`clock`: one TSC read per call); the rules are
//! `trust`'s.
//!
//! **The plain case.** A call that holds no acknowledgement (QoS 0, or policy `first`),
//! has no `mqtt::Ack` home and no span (nobody may listen) skips [`Call`]'s bookkeeping
//! (`plain`): it is polled, and when it succeeds in that poll (most calls), timed and reported
//! as [`Call::finish`]'s common case does. Any other outcome (an error, a panic, a reply,
//! a wait) makes the `Call` then and goes on as every call does (BENCHMARKS.md item 44).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tracing::Span;

use super::clock::{now_and_since, ticks};
use super::measure::Reports;
use super::queue::{Item, Queue, Room};
use super::split;
use super::trust::BOUND;
use super::watchdog::{self, InlinePolls};
use super::worker::{ended_call, resume, Call, Rest};
use crate::extract::context::EventContext;
use crate::handler::{panic_message, HandlerError, Outcome};
use crate::handler_future::HandlerFuture;
use crate::registry::{Handler, HandlerFn};
use crate::spans;

/// Calls `h` (number `index`) inline for `item` if it may be (`Trust`) and is idle.
/// `started`: when the call started (the end of the previous inline call), in ticks;
/// `None`: now.
///
/// Returns `Err(item)` when the call was not made (the caller queues it), or when it
/// ended inline, the time it ended; `Ok(None)` when it goes on on the handler's worker.
///
/// The handler's own future is polled here (its span entered, a panic caught) rather
/// than a future of the whole call: a call that does not wait then allocates nothing
/// more than the handler's future, and only one that waits is boxed for its worker.
pub(super) fn call(
    h: &Arc<Handler>,
    index: usize,
    queue: &Queue,
    item: Item,
    reports: Option<&Arc<Reports>>,
    polls: &InlinePolls,
    started: Option<u64>,
) -> Result<Option<u64>, Item> {
    let room = &queue.room;
    let HandlerFn::Async(f) = h.desc.call else {
        return Err(item);
    };
    if !room.trust.inline() || !room.claim() {
        return Err(item);
    }
    let started = started.unwrap_or_else(ticks);
    if item.owing.is_empty() && !item.ctx.has_home() && !spans::listened() {
        return plain(h, index, queue, item, f, reports, polls, started);
    }
    let Some(call) = Call::begin(h, item) else {
        room.release();
        return Ok(Some(started));
    };
    split::made_inline();
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    polls.begin(index, started);
    let polled = {
        let _in_span = call.span.as_deref().map(Span::enter);
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            first_poll(f(Arc::clone(&call.ctx)), &mut cx)
        }))
    };
    polls.end();
    Ok(settle(h, index, queue, call, polled, reports, started))
}

/// The call of `h` for `item` (trusted and idle, its queue claimed) when nothing in it
/// needs [`Call`]'s bookkeeping: no acknowledgement held (QoS 0, or policy `first`), no
/// `mqtt::Ack` home, no span (nobody may listen). A call that succeeds in its first poll
/// (the common case) ends here, as [`Call::finish`]'s common case would end it; any other
/// outcome becomes a [`Call`] and goes on as in [`call`] (BENCHMARKS.md item 44).
#[allow(clippy::too_many_arguments)]
#[inline]
fn plain(
    h: &Arc<Handler>,
    index: usize,
    queue: &Queue,
    item: Item,
    f: fn(Arc<EventContext>) -> HandlerFuture,
    reports: Option<&Arc<Reports>>,
    polls: &InlinePolls,
    started: u64,
) -> Result<Option<u64>, Item> {
    // Every field named, as in `Call::begin`: a new one must be handled here too.
    let Item {
        ctx,
        owing,
        after: _,
        nack_on_error,
    } = item;
    // Empty (the caller checked): kept rather than dropped, which skips its drop glue.
    // Checked again in debug builds only (free in release): a slot dropped here would
    // be acknowledged as the call begins, and an `Ack` home would never be told.
    let owed = owing.kept();
    debug_assert!(owed.is_none(), "plain call owing an acknowledgement");
    debug_assert!(!ctx.has_home(), "plain call with an `mqtt::Ack` home");
    drop(owed);
    split::begun();
    split::made_inline();
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    polls.begin(index, started);
    // A call that succeeds in this poll (the common case) is told apart in the closure,
    // its future dropped there (a panic of that drop is the call's): returning the
    // future and its poll for the check cost ~18 instructions of moves per call
    // (BENCHMARKS.md item 50).
    let quick = std::panic::catch_unwind(AssertUnwindSafe(|| {
        match first_poll(f(Arc::clone(&ctx)), &mut cx) {
            First::Ready(Ok(None)) => None,
            first => Some(first),
        }
    }));
    polls.end();
    let polled = match quick {
        Ok(Some(polled)) => Ok(polled),
        Err(p) => Err(p),
        Ok(None) => {
            let took = ended_call(h, index, reports.map(|r| &**r), started, &ctx, &Ok(()));
            queue.room.release();
            held(&queue.room, h, took.nanos);
            return Ok(Some(took.ended));
        }
    };
    let call = Call::plain(ctx, nack_on_error);
    Ok(settle(h, index, queue, call, polled, reports, started))
}

/// A handler's first poll made inline: its outcome, or its future while it waits.
enum First {
    Ready(Outcome),
    Waits(HandlerFuture),
}

/// Polls `future` once; a future that is ready is dropped here, so that, called under
/// `catch_unwind`, a panic of its drop is the call's (as on the worker, `worker::caught`),
/// not the dispatching task's.
#[inline]
fn first_poll(mut future: HandlerFuture, cx: &mut Context<'_>) -> First {
    match Pin::new(&mut future).poll(cx) {
        Poll::Ready(outcome) => First::Ready(outcome),
        Poll::Pending => First::Waits(future),
    }
}

/// What a handler's first poll made inline returned, or its panic (of the poll or of
/// the ready future's drop).
type Polled = std::thread::Result<First>;

/// Ends `call` (polled once inline as `polled`, started at `started`) or hands it to the
/// handler's worker: the time it ended, or `None` when it goes on on the worker.
fn settle(
    h: &Arc<Handler>,
    index: usize,
    queue: &Queue,
    mut call: Call,
    polled: Polled,
    reports: Option<&Arc<Reports>>,
    started: u64,
) -> Option<u64> {
    let room = &queue.room;
    let rest = match polled {
        Err(p) => Err(Err(HandlerError::Panicked(panic_message(p)))),
        Ok(First::Ready(Ok(None))) => Err(Ok(())),
        Ok(First::Ready(Err(e))) => Err(Err(e)),
        Ok(First::Ready(Ok(Some(reply)))) => Ok(Rest::Reply(reply)),
        Ok(First::Waits(future)) => Ok(Rest::Handler(future)),
    };
    if let Ok(Rest::Reply(_)) = rest {
        // Handled, even if the worker never gets to publish the reply.
        call.handled();
    }
    match rest {
        Err(result) => {
            let took = call.finish(h, index, reports.map(|r| &**r), started, result.into());
            room.release();
            held(room, h, took.nanos);
            Some(took.ended)
        }
        Ok(rest) => {
            held(room, h, now_and_since(started).1);
            // The worker polls it next (with its own waker: a wake-up sent to the no-op
            // waker meanwhile is not needed).
            queue.push_started(Box::pin(resume(
                Arc::clone(h),
                index,
                call,
                rest,
                reports.cloned(),
                started,
            )));
            None
        }
    }
}

/// An inline poll of `h` held dispatch for `nanos`: its trust, and the end of a stall.
///
/// Compared in nanoseconds, a `Duration` made only past [`BOUND`] (the shorter of the
/// two limits): making one for every call cost 13 instructions (its division).
#[inline]
fn held(room: &Room, h: &Handler, nanos: u64) {
    // A stall is longer than a poll that loses the handler its trust.
    const _: () = assert!(BOUND.as_nanos() < watchdog::STALLED_AFTER.as_nanos());
    if u128::from(nanos) > BOUND.as_nanos() {
        overran(room, h, nanos);
    }
}

/// [`held`] past [`BOUND`]: the handler loses its trust, and a stall's end is said (one
/// check per call on the common path, none repeated here).
#[cold]
#[inline(never)]
fn overran(room: &Room, h: &Handler, nanos: u64) {
    let took = Duration::from_nanos(nanos);
    room.trust.overran(h, took);
    watchdog::resumed(h, took);
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Mutex;
    use std::time::Duration;

    use tokio::sync::Semaphore;

    use paho_mqtt::AckToken;

    use super::*;
    use crate::ack::test_support::{Recorder, Settled};
    use crate::ack::watermark::Watermark;
    use crate::dispatch::tests::{dispatch, done, DEADLINE};
    use crate::dispatch::trust::PROBATION;
    use crate::dispatch::Dispatcher;
    use crate::event::{Event, HandlerKind};
    use crate::extract::context::EventContext;
    use crate::handler::Outcome;
    use crate::handler_future::HandlerFuture;
    use crate::message::Message;
    use crate::qos::QoS;
    use crate::registry::HandlerDescriptor;
    use crate::sync::lock;
    use crate::testing::{Calls, TestClient, Watch};

    fn message(topic: &str, payload: &str) -> Event {
        Event::Message(Message::new(topic, payload, QoS::AtMostOnce, false))
    }

    fn payload(ctx: &EventContext) -> String {
        match ctx.event() {
            Event::Message(m) => String::from_utf8_lossy(m.payload()).into_owned(),
            _ => String::new(),
        }
    }

    /// A dispatcher for `descriptors` whose events can be awaited, and a client.
    fn watched(descriptors: &[&'static HandlerDescriptor]) -> (Dispatcher, Arc<Watch>, TestClient) {
        super::super::tests::watched(
            descriptors
                .iter()
                .filter_map(|d| Handler::new(d, d.name()))
                .collect(),
        )
    }

    /// How many calls a handler may take to be trusted when the machine is loaded: a
    /// poll the OS preempts for longer than `trust::BOUND` starts its probation over.
    const TRUSTED_WITHIN: usize = 2_000;

    /// Dispatches to `topic` (a handler counting its calls in `counter`) and waits for the
    /// call; whether it was made inline (on this current-thread runtime, a call made
    /// inline has happened when `dispatch` returns; one on the worker waits until the
    /// test yields).
    async fn inline(
        d: &Dispatcher,
        watch: &Watch,
        app: &TestClient,
        topic: &str,
        counter: &AtomicUsize,
    ) -> bool {
        let before = counter.load(Ordering::SeqCst);
        let seq = d.dispatch(app.client(), message(topic, ""));
        let now = counter.load(Ordering::SeqCst) > before;
        let calls = done(watch.ended(seq)).await;
        assert!(calls.all_ok() && calls.len() == 1, "{calls:?}");
        now
    }

    /// Calls to `topic` until one is made inline: the number of calls it took.
    async fn until_inline(
        d: &Dispatcher,
        watch: &Watch,
        app: &TestClient,
        topic: &str,
        counter: &AtomicUsize,
    ) -> usize {
        for n in 0..TRUSTED_WITHIN {
            if inline(d, watch, app, topic, counter).await {
                return n;
            }
        }
        panic!("{topic}: no call made inline in {TRUSTED_WITHIN}");
    }

    static ASYNC_CALLS: AtomicUsize = AtomicUsize::new(0);
    static SYNC_CALLS: AtomicUsize = AtomicUsize::new(0);

    fn counted_async(_: Arc<EventContext>) -> HandlerFuture {
        ASYNC_CALLS.fetch_add(1, Ordering::SeqCst);
        HandlerFuture::new(async { Ok(None) })
    }

    fn counted_sync(_: Arc<EventContext>) -> Outcome {
        SYNC_CALLS.fetch_add(1, Ordering::SeqCst);
        Ok(None)
    }

    static COUNTED_ASYNC: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "counted_async",
        "dispatch::inline::tests",
        HandlerFn::Async(counted_async),
    )
    .with_filter("async");

    static COUNTED_SYNC: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "counted_sync",
        "dispatch::inline::tests",
        HandlerFn::Sync(counted_sync),
    )
    .with_filter("sync");

    /// An async handler is called inline after its probation (never before), a sync
    /// handler never.
    #[tokio::test]
    async fn an_async_handler_is_called_inline_after_its_probation_and_a_sync_one_never() {
        let (d, watch, app) = watched(&[&COUNTED_ASYNC, &COUNTED_SYNC]);
        let probation = until_inline(&d, &watch, &app, "async", &ASYNC_CALLS).await;
        assert!(
            probation >= PROBATION as usize,
            "trusted after {probation} calls"
        );
        for _ in 0..TRUSTED_WITHIN {
            assert!(
                !inline(&d, &watch, &app, "sync", &SYNC_CALLS).await,
                "a sync handler: on its worker"
            );
        }
        done(d.drain(DEADLINE)).await;
    }

    #[cfg(feature = "call-split")]
    static SPLIT_CALLS: AtomicUsize = AtomicUsize::new(0);

    #[cfg(feature = "call-split")]
    fn split_counted(_: Arc<EventContext>) -> HandlerFuture {
        SPLIT_CALLS.fetch_add(1, Ordering::SeqCst);
        HandlerFuture::new(async { Ok(None) })
    }

    #[cfg(feature = "call-split")]
    static SPLIT_COUNTED: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "split_counted",
        "dispatch::inline::tests",
        HandlerFn::Async(split_counted),
    )
    .with_filter("split");

    /// With `call-split`, the calls of a handler on probation count on its worker, and
    /// its first call made inline counts as inline (the counters are the process's, so
    /// other tests' calls may add to both).
    #[cfg(feature = "call-split")]
    #[tokio::test]
    async fn the_split_counts_calls_made_inline_and_on_workers() {
        use crate::dispatch::split::call_split;
        let (d, watch, app) = watched(&[&SPLIT_COUNTED]);
        let before = call_split();
        let on_workers = until_inline(&d, &watch, &app, "split", &SPLIT_CALLS).await;
        let after = call_split();
        assert!(after.inline > before.inline, "{before:?} -> {after:?}");
        assert!(
            after.on_workers >= before.on_workers + on_workers as u64,
            "{on_workers} calls on the worker: {before:?} -> {after:?}"
        );
        done(d.drain(DEADLINE)).await;
    }

    static ORDER: Mutex<Vec<String>> = Mutex::new(Vec::new());
    static ORDERED_CALLS: AtomicUsize = AtomicUsize::new(0);
    static GATE: Semaphore = Semaphore::const_new(0);

    /// Records its payload when it starts and when it ends; a payload `wait...` waits for
    /// the gate in between.
    fn ordered(ctx: Arc<EventContext>) -> HandlerFuture {
        HandlerFuture::new(async move {
            ORDERED_CALLS.fetch_add(1, Ordering::SeqCst);
            let p = payload(&ctx);
            lock(&ORDER).push(format!("start {p}"));
            if p.starts_with("wait") {
                if let Ok(permit) = GATE.acquire().await {
                    permit.forget();
                }
            }
            lock(&ORDER).push(format!("end {p}"));
            Ok(None)
        })
    }

    static ORDERED: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "ordered",
        "dispatch::inline::tests",
        HandlerFn::Async(ordered),
    )
    .with_filter("ordered");

    /// A call made inline that has to wait goes on on the handler's worker, and the
    /// handler's later events wait for it: one call at a time, in arrival order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_made_inline_that_waits_keeps_the_handlers_order() {
        let (d, watch, app) = watched(&[&ORDERED]);
        // A poll preempted past the bound between the trusted call and the next one
        // sends the handler back to probation: then try again.
        for _ in 0..20 {
            until_inline(&d, &watch, &app, "ordered", &ORDERED_CALLS).await;
            lock(&ORDER).clear();
            let waiting = dispatch(&d, &watch, &app, message("ordered", "wait1"));
            let made_inline = *lock(&ORDER) == ["start wait1"];
            let later: Vec<_> = ["a", "b", "wait2", "c"]
                .into_iter()
                .map(|p| dispatch(&d, &watch, &app, message("ordered", p)))
                .collect();
            GATE.add_permits(2);
            done(waiting).await;
            for call in later {
                done(call).await;
            }
            // Nothing overtook a waiting call.
            let expected = ["wait1", "a", "b", "wait2", "c"]
                .iter()
                .flat_map(|p| [format!("start {p}"), format!("end {p}")])
                .collect::<Vec<_>>();
            assert_eq!(*lock(&ORDER), expected);
            if made_inline {
                done(d.drain(DEADLINE)).await;
                return;
            }
        }
        panic!("the waiting call was never made inline");
    }

    static DROP_BOMB_CALLS: AtomicUsize = AtomicUsize::new(0);
    static DROP_BOMB_ARMED: AtomicBool = AtomicBool::new(false);

    impl Drop for DropBomb {
        fn drop(&mut self) {
            if self.armed.swap(false, Ordering::SeqCst) {
                panic!("the future's drop");
            }
        }
    }

    /// A future that succeeds or fails (`fails`; at once, or after waiting once: `waits`)
    /// and panics when
    /// dropped if `armed` (an `async` block drops what it holds as it completes, inside
    /// its poll; this future is dropped by whoever polled it, after it is ready).
    struct DropBomb {
        armed: &'static AtomicBool,
        waits: bool,
        fails: bool,
    }

    impl Future for DropBomb {
        type Output = Outcome;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
            if std::mem::take(&mut self.waits) {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if self.fails {
                return Poll::Ready(Err(HandlerError::Failed("no".into())));
            }
            Poll::Ready(Ok(None))
        }
    }

    /// Succeeds at once; its future panics when dropped, if armed.
    fn drop_bomb(_: Arc<EventContext>) -> HandlerFuture {
        DROP_BOMB_CALLS.fetch_add(1, Ordering::SeqCst);
        HandlerFuture::new(DropBomb {
            armed: &DROP_BOMB_ARMED,
            waits: false,
            fails: false,
        })
    }

    static FAIL_BOMB_CALLS: AtomicUsize = AtomicUsize::new(0);
    static FAIL_BOMB_ARMED: AtomicBool = AtomicBool::new(false);

    /// Succeeds at once, or if armed fails at once and its future panics when dropped.
    fn fail_bomb(_: Arc<EventContext>) -> HandlerFuture {
        FAIL_BOMB_CALLS.fetch_add(1, Ordering::SeqCst);
        HandlerFuture::new(DropBomb {
            armed: &FAIL_BOMB_ARMED,
            waits: false,
            fails: FAIL_BOMB_ARMED.load(Ordering::SeqCst),
        })
    }

    /// Asserts that `calls` is one call, failed as the panic of its future's drop.
    fn assert_failed_as_the_drop(calls: Calls) {
        assert_eq!(calls.len(), 1, "{calls:?}");
        let error = calls.into_vec().remove(0).error().cloned();
        assert!(
            matches!(&error, Some(HandlerError::Panicked(p)) if p == "the future's drop"),
            "{error:?}"
        );
    }

    /// Once calls to `topic` (a [`DropBomb`] handler counting its calls in `counter`)
    /// are made inline, arms its bomb (`armed`) and dispatches one call, which must fail
    /// as the drop's panic ([`assert_failed_as_the_drop`]); until such a call was made
    /// inline (one preempted past the bound before it goes to the worker, where it must
    /// fail the same way), at most 20 times.
    async fn bomb_made_inline(
        d: &Dispatcher,
        watch: &Watch,
        app: &TestClient,
        topic: &str,
        counter: &AtomicUsize,
        armed: &AtomicBool,
    ) {
        for _ in 0..20 {
            until_inline(d, watch, app, topic, counter).await;
            armed.store(true, Ordering::SeqCst);
            let before = counter.load(Ordering::SeqCst);
            let ended = dispatch(d, watch, app, message(topic, ""));
            let made_inline = counter.load(Ordering::SeqCst) > before;
            assert_failed_as_the_drop(done(ended).await);
            if made_inline {
                return;
            }
        }
        panic!("{topic}: the call was never made inline");
    }

    static FAIL_BOMB: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "fail_bomb",
        "dispatch::inline::tests",
        HandlerFn::Async(fail_bomb),
    )
    .with_filter("fail-bomb");

    /// A call made inline that fails at once and whose future panics when dropped fails
    /// as a panic; dispatch goes on. The future was dropped after the catch before (as
    /// every ready future but a success's): the panic unwound into the dispatching task.
    #[tokio::test]
    async fn a_future_that_panics_when_dropped_after_failing_inline_fails_as_a_panic() {
        let (d, watch, app) = watched(&[&FAIL_BOMB]);
        bomb_made_inline(
            &d,
            &watch,
            &app,
            "fail-bomb",
            &FAIL_BOMB_CALLS,
            &FAIL_BOMB_ARMED,
        )
        .await;
        done(d.drain(DEADLINE)).await;
    }

    static WORKER_BOMB_ARMED: AtomicBool = AtomicBool::new(false);

    /// Waits once (so it ends on its worker), then succeeds; its future panics when
    /// dropped, if armed.
    fn worker_bomb(_: Arc<EventContext>) -> HandlerFuture {
        HandlerFuture::new(DropBomb {
            armed: &WORKER_BOMB_ARMED,
            waits: true,
            fails: false,
        })
    }

    static WORKER_BOMB: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "worker_bomb",
        "dispatch::inline::tests",
        HandlerFn::Async(worker_bomb),
    )
    .with_filter("worker-bomb");

    /// A call whose future panics when dropped after it succeeded on its worker (where
    /// `worker::caught` awaits it) fails as a panic, and the worker goes on. The drop
    /// came after the catch before: the worker's task unwound, the call never ended.
    #[tokio::test]
    async fn a_future_that_panics_when_dropped_after_succeeding_on_its_worker_fails_its_call() {
        let (d, watch, app) = watched(&[&WORKER_BOMB]);
        WORKER_BOMB_ARMED.store(true, Ordering::SeqCst);
        assert_failed_as_the_drop(
            done(dispatch(&d, &watch, &app, message("worker-bomb", ""))).await,
        );
        // The worker goes on.
        let calls = done(dispatch(&d, &watch, &app, message("worker-bomb", ""))).await;
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert!(calls.into_vec().remove(0).error().is_none());
        done(d.drain(DEADLINE)).await;
    }

    static DROP_BOMB: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "drop_bomb",
        "dispatch::inline::tests",
        HandlerFn::Async(drop_bomb),
    )
    .with_filter("drop-bomb");

    /// A plain call made inline whose future panics when dropped after it succeeded
    /// fails as a panic; dispatch goes on. It unwound into the dispatching task before.
    #[tokio::test]
    async fn a_future_that_panics_when_dropped_after_succeeding_inline_fails_its_call() {
        let (d, watch, app) = watched(&[&DROP_BOMB]);
        bomb_made_inline(
            &d,
            &watch,
            &app,
            "drop-bomb",
            &DROP_BOMB_CALLS,
            &DROP_BOMB_ARMED,
        )
        .await;
        // Dispatch goes on.
        until_inline(&d, &watch, &app, "drop-bomb", &DROP_BOMB_CALLS).await;
        done(d.drain(DEADLINE)).await;
    }

    static BLOCK_NEXT: AtomicBool = AtomicBool::new(false);
    static BLOCKING_CALLS: AtomicUsize = AtomicUsize::new(0);
    static ALWAYS_BLOCKING_CALLS: AtomicUsize = AtomicUsize::new(0);

    /// Blocks its thread for 5 ms (the classic mistake) when told to, once.
    fn sometimes_blocking(_: Arc<EventContext>) -> HandlerFuture {
        BLOCKING_CALLS.fetch_add(1, Ordering::SeqCst);
        if BLOCK_NEXT.swap(false, Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
        HandlerFuture::new(async { Ok(None) })
    }

    /// Blocks its thread for 1 ms at every call.
    fn always_blocking(_: Arc<EventContext>) -> HandlerFuture {
        ALWAYS_BLOCKING_CALLS.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(1));
        HandlerFuture::new(async { Ok(None) })
    }

    static SOMETIMES_BLOCKING: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "sometimes_blocking",
        "dispatch::inline::tests",
        HandlerFn::Async(sometimes_blocking),
    )
    .with_filter("sometimes");

    static ALWAYS_BLOCKING: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "always_blocking",
        "dispatch::inline::tests",
        HandlerFn::Async(always_blocking),
    )
    .with_filter("always");

    /// A handler that blocks its thread in a poll made inline goes back to its worker,
    /// on probation (at least `trust::PROBATION` calls there), and is called inline again
    /// after it; one that blocks at every call is never called inline.
    #[tokio::test]
    async fn a_handler_that_blocks_goes_back_to_its_worker() {
        let (d, watch, app) = watched(&[&SOMETIMES_BLOCKING, &ALWAYS_BLOCKING]);
        let topic = "sometimes";
        for _ in 0..3 {
            until_inline(&d, &watch, &app, topic, &BLOCKING_CALLS).await;
            BLOCK_NEXT.store(true, Ordering::SeqCst);
            if !inline(&d, &watch, &app, topic, &BLOCKING_CALLS).await {
                // Preempted past the bound just before: it blocked on its worker.
                continue;
            }
            let probation = until_inline(&d, &watch, &app, topic, &BLOCKING_CALLS).await;
            assert!(
                probation >= PROBATION as usize,
                "back on its worker after blocking inline, for {probation} calls"
            );
            for _ in 0..PROBATION + 4 {
                assert!(
                    !inline(&d, &watch, &app, "always", &ALWAYS_BLOCKING_CALLS).await,
                    "a handler that blocks at every call stays on its worker"
                );
            }
            done(d.drain(DEADLINE)).await;
            return;
        }
        panic!("the blocking call was never made inline");
    }

    static STALLING_CALLS: AtomicUsize = AtomicUsize::new(0);
    static STALL_RELEASED: AtomicBool = AtomicBool::new(false);

    /// Blocks its thread (the classic mistake) until the test releases it, when its
    /// payload is `block`.
    fn stalling(ctx: Arc<EventContext>) -> HandlerFuture {
        STALLING_CALLS.fetch_add(1, Ordering::SeqCst);
        if payload(&ctx) == "block" {
            while !STALL_RELEASED.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        HandlerFuture::new(async { Ok(None) })
    }

    static STALLING: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "stalling",
        "dispatch::inline::tests",
        HandlerFn::Async(stalling),
    )
    .with_filter("stalling");

    /// A trusted handler that blocks its thread in a call made inline holds up dispatch:
    /// the watchdog says so, naming it, while it blocks (a warning visible without a
    /// logger), and the dispatching task says when it returned; quick calls are never
    /// reported.
    #[tokio::test]
    async fn a_poll_that_holds_dispatch_is_reported_while_it_blocks_and_when_it_returns() {
        let (d, watch, app) = watched(&[&STALLING]);
        let name = "dispatch::inline::tests::stalling";
        let held = |m: &String| m.contains("has held the dispatching task for");
        for _ in 0..20 {
            until_inline(&d, &watch, &app, "stalling", &STALLING_CALLS).await;
            STALL_RELEASED.store(false, Ordering::SeqCst);
            // Releases the handler once the watchdog has reported it (or at the deadline).
            let releaser = std::thread::spawn(move || {
                let start = std::time::Instant::now();
                while start.elapsed() < DEADLINE && !watchdog::said::about(name).iter().any(held) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                STALL_RELEASED.store(true, Ordering::SeqCst);
            });
            let before = STALLING_CALLS.load(Ordering::SeqCst);
            let blocked = std::time::Instant::now();
            let ended = dispatch(&d, &watch, &app, message("stalling", "block"));
            let made_inline = STALLING_CALLS.load(Ordering::SeqCst) > before;
            let blocked = blocked.elapsed();
            let calls = done(ended).await;
            assert!(calls.all_ok() && calls.len() == 1, "{calls:?}");
            releaser.join().unwrap();
            if !made_inline {
                // Preempted past the bound just before: it blocked on its worker, where
                // it holds up no dispatch (and is not reported).
                assert!(watchdog::said::about(name).is_empty());
                continue;
            }
            let said = watchdog::said::about(name);
            assert_eq!(said.len(), 2, "{said:?}");
            assert!(held(&said[0]), "{said:?}");
            assert!(said[0].contains("An async handler must not block its thread"));
            assert!(said[1].contains("returned after holding the dispatching task"));
            assert!(blocked >= watchdog::STALLED_AFTER, "{blocked:?}");
            // Back to quick calls: nothing more is said.
            until_inline(&d, &watch, &app, "stalling", &STALLING_CALLS).await;
            assert_eq!(watchdog::said::about(name).len(), 2);
            done(d.drain(DEADLINE)).await;
            return;
        }
        panic!("the blocking call was never made inline");
    }

    static OUTCOMES_CALLS: AtomicUsize = AtomicUsize::new(0);

    /// Ends as its payload says: `ok`, `err`, `panic`, `bomb` (a panic whose payload
    /// panics when dropped), `wait-panic` (after waiting), `reply`.
    fn outcomes(ctx: Arc<EventContext>) -> HandlerFuture {
        OUTCOMES_CALLS.fetch_add(1, Ordering::SeqCst);
        HandlerFuture::new(async move {
            match payload(&ctx).as_str() {
                "err" => Err(HandlerError::Failed("told to".into())),
                "panic" => panic!("told to"),
                "bomb" => std::panic::panic_any(crate::dispatch::worker::tests::Bomb),
                "wait-panic" => {
                    tokio::task::yield_now().await;
                    panic!("told to, later")
                }
                "reply" => Ok(Some(crate::handler::Reply::new("answer"))),
                _ => Ok(None),
            }
        })
    }

    static OUTCOMES: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "outcomes",
        "dispatch::inline::tests",
        HandlerFn::Async(outcomes),
    )
    .with_filter("outcomes");

    /// A call made inline ends as on the worker: an error, a panic (also after waiting)
    /// and a reply that cannot be sent (no response topic) are each reported as the
    /// call's outcome.
    ///
    /// Each outcome is tried on a trusted handler of its own turn: a panic can take
    /// longer than `trust::BOUND` (with `RUST_BACKTRACE` set, the default hook captures a
    /// backtrace), which rightly sends the handler back to its worker for the calls after
    /// it.
    #[tokio::test]
    async fn calls_made_inline_report_errors_panics_and_replies() {
        let (d, watch, app) = watched(&[&OUTCOMES]);
        /// A payload, and whether the call's error is the one it asks for.
        type Case = (&'static str, fn(&HandlerError) -> bool);
        let expected: [Case; 5] = [
            (
                "err",
                |e| matches!(e, HandlerError::Failed(e) if e == "told to"),
            ),
            (
                "panic",
                |e| matches!(e, HandlerError::Panicked(e) if e == "told to"),
            ),
            (
                "bomb",
                |e| matches!(e, HandlerError::Panicked(e) if e == "non-string panic payload"),
            ),
            (
                "wait-panic",
                |e| matches!(e, HandlerError::Panicked(e) if e == "told to, later"),
            ),
            (
                "reply",
                |e| matches!(e, HandlerError::Reply(e) if e.contains("no response topic")),
            ),
        ];
        for (p, is_expected) in expected {
            let mut made_inline = false;
            for _ in 0..20 {
                until_inline(&d, &watch, &app, "outcomes", &OUTCOMES_CALLS).await;
                let before = OUTCOMES_CALLS.load(Ordering::SeqCst);
                let ended = dispatch(&d, &watch, &app, message("outcomes", p));
                // Not inline if preempted past the bound just before: then try again.
                made_inline = OUTCOMES_CALLS.load(Ordering::SeqCst) > before;
                let calls = done(ended).await;
                assert_eq!(calls.len(), 1);
                let error = calls.into_vec().remove(0).error().cloned();
                assert!(error.as_ref().is_some_and(is_expected), "{p}: {error:?}");
                if made_inline {
                    break;
                }
            }
            assert!(made_inline, "{p}: the call was never made inline");
        }
        done(d.drain(DEADLINE)).await;
    }

    /// A trusted `after` handler's QoS 1 message dispatched with the acknowledgement slot
    /// of packet `id`: whether its call was made inline (`counter` counts the calls; on
    /// this current-thread runtime, one made inline has begun when `dispatch_owed`
    /// returns), and its sequence number.
    fn owed(
        d: &Dispatcher,
        app: &TestClient,
        acks: &Arc<Watermark>,
        topic: &str,
        payload: &str,
        id: u16,
        counter: &AtomicUsize,
    ) -> (bool, u64) {
        let before = counter.load(Ordering::SeqCst);
        let m = Message::new(topic, payload, QoS::AtLeastOnce, false);
        let slot = acks.slot(AckToken::from_parts(id, paho_mqtt::QoS::AtLeastOnce, 7));
        let seq = d.dispatch_owed(app.client(), Event::Message(m), Some(slot));
        (counter.load(Ordering::SeqCst) > before, seq)
    }

    static HOLDING_CALLS: AtomicUsize = AtomicUsize::new(0);
    static HOLDING_GATE: Semaphore = Semaphore::const_new(0);

    /// Ends as its payload says, after waiting for the gate when it starts with `wait`:
    /// `...ok`, `...panic`.
    fn holding(ctx: Arc<EventContext>) -> HandlerFuture {
        HOLDING_CALLS.fetch_add(1, Ordering::SeqCst);
        HandlerFuture::new(async move {
            let p = payload(&ctx);
            if p.starts_with("wait") {
                if let Ok(permit) = HOLDING_GATE.acquire().await {
                    permit.forget();
                }
            }
            if p.ends_with("panic") {
                panic!("told to");
            }
            Ok(None)
        })
    }

    static HOLDING: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "holding",
        "dispatch::inline::tests",
        HandlerFn::Async(holding),
    )
    .with_filter("holding")
    .with_qos(1)
    .with_ack_policy(crate::ack::policy::AckPolicy::After)
    .with_nack_on_error();

    /// The general inline path (not `plain`: the call holds the acknowledgement). A
    /// trusted `after` handler's call made inline that waits keeps its message owed, not
    /// acknowledged, until it ends on the handler's worker, then acknowledges it; one
    /// that succeeds at once acknowledges it; with `nack_on_error`, one that panics (in
    /// its first poll, or after waiting) releases it.
    #[tokio::test]
    async fn a_call_made_inline_holding_an_acknowledgement_settles_it_when_it_ends() {
        // Each payload, and whether its message is acknowledged (else released).
        let cases = [
            ("wait-ok", true),
            ("ok", true),
            ("panic", false),
            ("wait-panic", false),
        ];
        settled_inline(
            &HOLDING,
            "holding",
            &HOLDING_CALLS,
            &HOLDING_GATE,
            &cases,
            |p, acknowledged, calls| {
                assert_eq!(calls.len(), 1, "{p}: {calls:?}");
                assert_eq!(calls.all_ok(), acknowledged, "{p}: {calls:?}");
            },
        )
        .await;
    }

    /// For each case `(payload, acknowledged)` of `handler` (its filter is `topic`; it
    /// counts its calls in `counter` and, for a payload starting with `wait`, waits for
    /// `gate`), until its call is made inline: waits until the handler is trusted, sends
    /// the payload in a QoS 1 message, checks that the message is owed while the call
    /// waits (then opens the gate), waits for the call's end (checked by `check`, given
    /// the payload, `acknowledged` and the calls) and its message's settling, which must
    /// be an acknowledgement (`true`) or a release.
    async fn settled_inline(
        handler: &'static HandlerDescriptor,
        topic: &str,
        counter: &AtomicUsize,
        gate: &Semaphore,
        cases: &[(&str, bool)],
        check: impl Fn(&str, bool, &crate::testing::Calls),
    ) {
        let settled = Arc::new(Settled::default());
        let acks = Watermark::new(Box::new(Recorder(Arc::clone(&settled))));
        let (d, watch, app) = watched(&[handler]);
        let deadline = || std::time::Instant::now() + DEADLINE;
        let mut id = 0;
        for &(p, acknowledged) in cases {
            let mut made_inline = false;
            // A poll preempted past the bound (or a panic's backtrace) sends the handler
            // back to probation: then try again.
            for _ in 0..20 {
                until_inline(&d, &watch, &app, topic, counter).await;
                id += 1;
                let (now, seq) = owed(&d, &app, &acks, topic, p, id, counter);
                made_inline = now;
                if p.starts_with("wait") {
                    // The call waits for the gate: its message is owed.
                    tokio::task::yield_now().await;
                    assert_eq!(
                        settled.seen().len(),
                        usize::from(id) - 1,
                        "{p}: settled early"
                    );
                    gate.add_permits(1);
                }
                let calls = done(watch.ended(seq)).await;
                check(p, acknowledged, &calls);
                settled.wait_for(usize::from(id), deadline()).await;
                assert_eq!(
                    settled.seen().last(),
                    Some(&(id, acknowledged)),
                    "{p}: acknowledged (true) or released"
                );
                if made_inline {
                    break;
                }
            }
            assert!(made_inline, "{p}: the call was never made inline");
        }
        done(d.drain(DEADLINE)).await;
    }

    static MANUAL_CALLS: AtomicUsize = AtomicUsize::new(0);
    static MANUAL_GATE: Semaphore = Semaphore::const_new(0);

    /// Takes its `mqtt::Ack`; gives it (`ack`), after waiting for the gate (`wait-ack`),
    /// or drops it without `ack()` (anything else).
    fn manual(ctx: Arc<EventContext>) -> HandlerFuture {
        use crate::extract::ack::Ack;
        use crate::extract::FromEvent;
        MANUAL_CALLS.fetch_add(1, Ordering::SeqCst);
        let ack = Ack::from_event(&ctx);
        HandlerFuture::new(async move {
            let Ok(ack) = ack else {
                return Err(HandlerError::Failed("no ack".into()));
            };
            let p = payload(&ctx);
            if p.starts_with("wait") {
                if let Ok(permit) = MANUAL_GATE.acquire().await {
                    permit.forget();
                }
            }
            if p.ends_with("ack") {
                ack.ack();
            }
            Ok(None)
        })
    }

    static MANUAL: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "manual",
        "dispatch::inline::tests",
        HandlerFn::Async(manual),
    )
    .with_filter("manual")
    .with_qos(1)
    .with_ack_policy(crate::ack::policy::AckPolicy::Manual);

    /// A trusted `manual` handler's call made inline has its `mqtt::Ack`: its message is
    /// acknowledged when the handler acks (in its first poll, or after waiting: owed
    /// until then), released when it drops the `Ack` without `ack()`.
    #[tokio::test]
    async fn a_manual_call_made_inline_acknowledges_at_its_ack() {
        let cases = [("ack", true), ("wait-ack", true), ("drop", false)];
        settled_inline(
            &MANUAL,
            "manual",
            &MANUAL_CALLS,
            &MANUAL_GATE,
            &cases,
            |p, _, calls| {
                assert!(calls.all_ok() && calls.len() == 1, "{p}: {calls:?}");
            },
        )
        .await;
    }

    /// Whether a `mqtt.handler` span is entered (set by [`Entered`]).
    static IN_SPAN: AtomicBool = AtomicBool::new(false);
    /// Whether each call of `spanned` began in its span.
    static BEGAN_IN_SPAN: Mutex<Vec<bool>> = Mutex::new(Vec::new());
    static SPANNED_CALLS: AtomicUsize = AtomicUsize::new(0);

    /// Says whether a `mqtt.handler` span is entered ([`IN_SPAN`]).
    struct Entered;

    impl tracing::Subscriber for Entered {
        fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
            meta.name() == "mqtt.handler"
        }

        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }

        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

        fn event(&self, _: &tracing::Event<'_>) {}

        fn enter(&self, _: &tracing::span::Id) {
            IN_SPAN.store(true, Ordering::SeqCst);
        }

        fn exit(&self, _: &tracing::span::Id) {
            IN_SPAN.store(false, Ordering::SeqCst);
        }
    }

    fn spanned(_: Arc<EventContext>) -> HandlerFuture {
        SPANNED_CALLS.fetch_add(1, Ordering::SeqCst);
        lock(&BEGAN_IN_SPAN).push(IN_SPAN.load(Ordering::SeqCst));
        HandlerFuture::new(async { Ok(None) })
    }

    static SPANNED: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "spanned",
        "dispatch::inline::tests",
        HandlerFn::Async(spanned),
    )
    .with_filter("spanned");

    /// Once a subscriber may listen, a QoS 0 call made inline (which would otherwise
    /// take `plain`) is made in its `mqtt.handler` span. In a process of its own: a
    /// subscriber set once is set for good (`spans::listened`), for every test after.
    #[test]
    fn a_call_made_inline_while_spans_may_be_listened_to_is_in_its_span() {
        use crate::dispatch::tests::{assert_passes_alone, ALONE};
        if std::env::var_os(ALONE).is_none() {
            assert_passes_alone(concat!(
                module_path!(),
                "::a_call_made_inline_while_spans_may_be_listened_to_is_in_its_span"
            ));
            return;
        }
        tracing::subscriber::set_global_default(Entered).unwrap();
        assert!(crate::spans::listened());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (d, watch, app) = watched(&[&SPANNED]);
            until_inline(&d, &watch, &app, "spanned", &SPANNED_CALLS).await;
            let began = lock(&BEGAN_IN_SPAN).clone();
            assert_eq!(began.last(), Some(&true), "the inline call in its span");
            done(d.drain(DEADLINE)).await;
        });
    }
}
