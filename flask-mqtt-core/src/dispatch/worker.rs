//! One worker per handler: takes events from its queue, up to `concurrency` calls at
//! once, catches panics and reports failures.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{Instrument, Span};

use super::clock;
use super::measure;
use super::measure::Reports;
use super::queue::{Item, QueueRx, Room, Work};
use super::reply::send_reply;
use super::split;
use super::trust::Timed;
use super::turn::{Turn, Turns};
use crate::ack::watermark::{Owing, Slot};
use crate::event::log::DISPATCH_TARGET as TARGET;
use crate::event::Event;
use crate::extract::context::EventContext;
use crate::handler::{panic_message, HandlerError, Outcome, Reply};
use crate::handler_future::HandlerFuture;
use crate::registry::{Handler, HandlerFn};
use crate::spans;

/// The worker of handler `h` (number `index` of the dispatcher's): calls it for each
/// event of its queue, finishes the calls made inline that had to wait, and reports
/// each call to `reports`.
pub(super) async fn run_worker(
    h: Arc<Handler>,
    index: usize,
    mut rx: QueueRx,
    reports: Option<Arc<Reports>>,
) {
    let concurrency = h.concurrency();
    let room = Arc::clone(&rx.room);
    if concurrency == 1 {
        // When an event is already waiting as a call ends, the worker takes it at once:
        // the end of that call is the start of the next (one clock read per call).
        // Polled as `recv` always is, so Tokio's cooperative budget still makes a busy
        // worker yield.
        let mut ended = None;
        loop {
            let (work, started) = match rx.recv().now_or_never() {
                Some(Some(work)) => (work, ended),
                Some(None) => return,
                None => match rx.recv().await {
                    Some(work) => (work, None),
                    None => return,
                },
            };
            let call = run_work(
                &h,
                index,
                work,
                reports.as_ref(),
                started,
                &room,
                Turn::default(),
            );
            ended = Some(call.await);
            room.release();
        }
    }
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut turns = Turns::default();
    let mut running = JoinSet::new();
    while let Some(work) = rx.recv().await {
        // Wait for a free slot before taking the next event: the queue keeps the
        // back-pressure.
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            break;
        };
        // Each call is a task of its own, so that up to `concurrency` run at once, and
        // waits for its turn to start, so that they start in arrival order (a call made
        // inline has started already).
        let mut turn = match work {
            Work::Call(_) => turns.next(),
            Work::Started(_) => Turn::default(),
        };
        let h = Arc::clone(&h);
        let reports = reports.clone();
        let room = Arc::clone(&room);
        running.spawn(async move {
            turn.wait().await;
            run_work(&h, index, work, reports.as_ref(), None, &room, turn).await;
            room.release();
            drop(permit);
        });
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

/// Does one piece of a worker's work, started at `started` (ticks; `None`: now), and
/// returns when it ended; a call passes `turn` on as it starts. While the handler is on
/// probation for inline calls, its polls are timed.
async fn run_work(
    h: &Handler,
    index: usize,
    work: Work,
    reports: Option<&Arc<Reports>>,
    started: Option<u64>,
    room: &Room,
    turn: Turn,
) -> u64 {
    let item = match work {
        Work::Call(item) => item,
        Work::Started(call) => return call.await,
    };
    let started = started.unwrap_or_else(clock::ticks);
    let call = run_one(h, index, item, reports.map(|r| &**r), started, turn);
    if !room.trust.on_probation() {
        return call.await;
    }
    let mut timed = Timed {
        call: std::pin::pin!(call),
        longest: Duration::ZERO,
    };
    let ended = (&mut timed).await;
    room.trust.probation_call(timed.longest);
    ended
}

/// One handler call, started at `started` (ticks): extraction, the call, the reply, the
/// report; `turn` is passed on just before the handler's first poll. Returns when the
/// call ended (ticks).
async fn run_one(
    h: &Handler,
    index: usize,
    item: Item,
    reports: Option<&Reports>,
    started: u64,
    turn: Turn,
) -> u64 {
    let Some(mut call) = Call::begin(h, item) else {
        return started;
    };
    let span = call.span.as_deref().cloned().unwrap_or_else(Span::none);
    let ended = async {
        let outcome = self::call(h.desc.call, Arc::clone(&call.ctx), turn).await;
        call.replied(outcome).await
    }
    .instrument(span)
    .await;
    call.finish(h, index, reports, started, ended).ended
}

/// What is left of a call made inline that has to wait (see `inline`).
pub(super) enum Rest {
    /// The handler's future, polled once.
    Handler(HandlerFuture),
    /// The handler returned this reply, to be published.
    Reply(Reply),
}

/// Finishes a call made inline, on the handler's worker; see [`run_one`].
pub(super) async fn resume(
    h: Arc<Handler>,
    index: usize,
    mut call: Call,
    rest: Rest,
    reports: Option<Arc<Reports>>,
    started: u64,
) -> u64 {
    let span = call.span.as_deref().cloned().unwrap_or_else(Span::none);
    let ended = async {
        let outcome = match rest {
            Rest::Handler(f) => caught(f).await,
            Rest::Reply(reply) => Ok(Some(reply)),
        };
        call.replied(outcome).await
    }
    .instrument(span)
    .await;
    call.finish(&h, index, reports.as_deref(), started, ended)
        .ended
}

/// How a call ended.
pub(super) struct Ended {
    /// The handler's outcome, or, when it succeeded, its reply's.
    result: Result<(), HandlerError>,
    /// The handler itself failed (returned `Err`, panicked, or an argument was rejected):
    /// what `nack_on_error` withholds the acknowledgement for. A reply that could not be
    /// sent after the handler succeeded is warned of like a failure, but the message was
    /// handled: released, it would come back with every session, and its handler's side
    /// effects with it.
    handler_failed: bool,
}

/// A call that ended with the handler's own outcome (no reply to send).
impl From<Result<(), HandlerError>> for Ended {
    fn from(result: Result<(), HandlerError>) -> Ended {
        Ended {
            handler_failed: result.is_err(),
            result,
        }
    }
}

/// A handler call under way: what its end needs.
pub(super) struct Call {
    /// The message's acknowledgement, held until the call has ended (policy `after`;
    /// `manual`: watched, the context and its `mqtt::Ack` hold it); dropped before
    /// [`Call::finish`] (a worker gone, its task or runtime dropped), the call never
    /// ended: the message is released, not acknowledged (see [`Owing`]). Once the handler
    /// succeeded ([`Call::handled`]) it is discharged in place: it settles as its holders
    /// say, dropped or not. Declared (so dropped) before `ctx`, whose drop may settle a
    /// `manual` message it must mark first.
    ack: Owing,
    pub(super) ctx: Arc<EventContext>,
    nack_on_error: bool,
    /// The call's span (`spans::handler`); none where nobody may listen
    /// (`spans::listened`). Boxed: a `Call` is moved into and out of `begin` and
    /// `finish` for every call, most of them without a span (BENCHMARKS.md item 40).
    pub(super) span: Option<Box<Span>>,
}

impl Call {
    /// Starts the call of `h` for `item`; `None` when it is not made: the client has
    /// disconnected for good and the broker keeps the session, so the message comes
    /// again with it, where this call would be a duplicate.
    pub(super) fn begin(h: &Handler, item: Item) -> Option<Call> {
        let Item {
            ctx,
            owing,
            after,
            nack_on_error,
        } = item;
        // `manual`: the context holds the slot too (for the `Ack`), so this one is
        // enough to see whether it is abandoned; the call only watches it from here on,
        // so that `ack()` during the call acknowledges at once.
        let owed = owing.kept();
        if owed.as_ref().is_some_and(Slot::is_abandoned) {
            log::debug!(
                target: TARGET,
                "handler {} skipped for a message left to the broker at shutdown",
                h.name
            );
            return None;
        }
        split::begun();
        let span = spans::listened().then(|| {
            Box::new(spans::handler(
                &h.name,
                h.desc.kind,
                h.desc.broker(),
                ctx.event(),
            ))
        });
        let ack = if after {
            Owing::new(owed)
        } else {
            Owing::watching(owed.as_ref())
        };
        Some(Call {
            ack,
            ctx,
            nack_on_error,
            span,
        })
    }

    /// A call begun without [`Call::begin`] (`inline::plain`): `ctx` holds no
    /// acknowledgement home and no acknowledgement is owed, nobody listens for spans.
    pub(super) fn plain(ctx: Arc<EventContext>, nack_on_error: bool) -> Call {
        Call {
            ack: Owing::new(None),
            ctx,
            nack_on_error,
            span: None,
        }
    }

    /// The handler's outcome, once its reply (if any) is published.
    async fn replied(&mut self, outcome: Outcome) -> Ended {
        match outcome {
            Ok(None) => Ok(()).into(),
            Ok(Some(reply)) => {
                self.handled();
                Ended {
                    // Boxed: the reply's future is larger than the rest of the call.
                    result: Box::pin(send_reply(&self.ctx, reply)).await,
                    handler_failed: false,
                }
            }
            Err(e) => Err(e).into(),
        }
    }

    /// The handler succeeded: the message was handled, whatever happens to the call
    /// from here on (its reply's publish dropped with the call's future, or failed), so
    /// its acknowledgement's hold no longer marks it unhandled when dropped (`manual`:
    /// unless its `Ack` was dropped without `ack()`: released).
    pub(super) fn handled(&mut self) {
        self.ack.discharge();
        // `manual`: an `Ack` dropped without `ack()` so far did not say it was handled.
        if let Some(slot) = self.ctx.end_call() {
            withheld(&self.ctx, &slot);
        }
    }

    /// Ends the call as `ended`: its span's outcome, the warning if it failed (and, with
    /// `nack_on_error`, the release if the handler failed; for a `manual` handler that
    /// succeeded without giving its `mqtt::Ack`, the release), the report to `reports`
    /// (timed from `started`, ticks), then its hold on the message's acknowledgement and
    /// its context (the event may complete only after the call is reported, if it is).
    /// Returns when it ended and how long it took.
    pub(super) fn finish(
        self,
        h: &Handler,
        index: usize,
        reports: Option<&Reports>,
        started: u64,
        ended: Ended,
    ) -> Took {
        // The common case (the handler succeeded, no span, no acknowledgement held, no
        // `Ack` home): only the report of the call is left.
        if ended.result.is_ok()
            && self.span.is_none()
            && self.ack.is_empty()
            && !self.ctx.has_home()
        {
            let took = ended_call(h, index, reports, started, &self.ctx, &ended.result);
            // Empty: kept rather than dropped, which skips its drop glue.
            let _ = self.ack.kept();
            return took;
        }
        let Ended {
            result,
            handler_failed,
        } = ended;
        let Call {
            ack,
            ctx,
            nack_on_error,
            span,
        } = self;
        // The call ended: from here on its hold settles as the call's outcome says.
        let ack = ack.kept();
        // `manual`: the context's hold, if its `Ack` was not taken or was dropped without
        // `ack()` during the call; an `Ack` dropped from now on settles it itself.
        let unacked = ctx.end_call();
        if let Some(span) = &span {
            spans::handler_ended(span, measure::outcome(&result));
        }
        if let Err(e) = &result {
            report(h, &ctx, e);
            // A reply not sent after the handler succeeded is warned of only.
            if nack_on_error && handler_failed {
                for slot in ack.iter().chain(&unacked) {
                    slot.nack();
                }
            }
        }
        // A failure counts as done (acknowledged unless `nack_on_error`), as under `after`;
        // a handler that succeeded without `ack()` did not say its message was handled.
        if let Some(slot) = unacked.as_ref().filter(|_| !handler_failed) {
            withheld(&ctx, slot);
        }
        let took = ended_call(h, index, reports, started, &ctx, &result);
        drop(ack);
        drop(unacked);
        took
    }
}

/// The end of a call of `h` (number `index`) for `ctx`, started at `started` (ticks),
/// that ended as `result`: timed, and reported to `reports`.
#[inline]
pub(super) fn ended_call(
    h: &Handler,
    index: usize,
    reports: Option<&Reports>,
    started: u64,
    ctx: &EventContext,
    result: &Result<(), HandlerError>,
) -> Took {
    let (ended, nanos) = clock::now_and_since(started);
    if let (Some(reports), Some(seq)) = (reports, ctx.seq()) {
        reports.call_ended(h, index, seq, result, nanos);
    }
    Took { ended, nanos }
}

/// When a call ended, and how long it took: converted from the clock's ticks once, for
/// its metrics and for the probation of inline calls (BENCHMARKS.md item 37).
#[derive(Clone, Copy, Debug)]
pub(super) struct Took {
    /// When it ended (ticks).
    pub(super) ended: u64,
    /// Nanoseconds from its start.
    pub(super) nanos: u64,
}

/// The warning for a `manual` handler's message not acknowledged: its handler succeeded
/// without `ack()`. Released, not acknowledged, when `slot` settles.
fn withheld(ctx: &EventContext, slot: &Slot) {
    log::warn!(
        target: TARGET,
        "the `mqtt::Ack` of the message on `{}` (packet {}) was dropped without `ack()` (or not taken) by its handler, which succeeded: not acknowledged, the broker sends it again with the next session",
        ctx.message().map(|m| crate::error::truncate(m.topic())).unwrap_or_default(),
        slot.packet_id()
    );
    slot.withhold();
}

/// Awaits an async handler's future, a panic as a failed call: a panic of its poll or
/// of its drop (the future is moved into the caught block and dropped as it ends, inside
/// the catch; caught around `f` itself, its drop came after the catch and unwound the
/// worker's task, the call never reported).
// Not redundant: the block owns `f`, so `f` is dropped inside the block's poll.
#[allow(clippy::redundant_async_block)]
pub(super) async fn caught(f: HandlerFuture) -> Outcome {
    match AssertUnwindSafe(async move { f.await })
        .catch_unwind()
        .await
    {
        Ok(o) => o,
        Err(p) => Err(HandlerError::Panicked(panic_message(p))),
    }
}

/// Calls `f` for `ctx`, passing `turn` on just before the handler's first poll (so the
/// next call starts while this one extracts its arguments, computes or blocks).
async fn call(f: HandlerFn, ctx: Arc<EventContext>, mut turn: Turn) -> Outcome {
    match f {
        HandlerFn::Async(f) => match std::panic::catch_unwind(AssertUnwindSafe(move || f(ctx))) {
            Ok(f) => {
                turn.pass();
                caught(f).await
            }
            Err(p) => Err(HandlerError::Panicked(panic_message(p))),
        },
        HandlerFn::Sync(f) => {
            // The call's span follows it to the blocking thread, so that what the
            // handler logs belongs to it.
            let span = tracing::Span::current();
            let run = move || {
                // Passed here, once the runtime knows this thread blocks: it runs no
                // tasks now, so the next call is woken from here (see `turn`).
                turn.pass_off_runtime();
                let _in_span = span.enter();
                match std::panic::catch_unwind(AssertUnwindSafe(move || f(ctx))) {
                    Ok(o) => o,
                    Err(p) => Err(HandlerError::Panicked(panic_message(p))),
                }
            };
            let multi_thread = tokio::runtime::Handle::current().runtime_flavor()
                == tokio::runtime::RuntimeFlavor::MultiThread;
            if multi_thread {
                // A sync handler may block: tell the runtime, so other handlers keep running.
                tokio::task::block_in_place(run)
            } else {
                match tokio::task::spawn_blocking(run).await {
                    Ok(o) => o,
                    Err(e) if e.is_panic() => {
                        Err(HandlerError::Panicked(panic_message(e.into_panic())))
                    }
                    Err(e) => Err(HandlerError::Panicked(e.to_string())),
                }
            }
        }
    }
}

/// Failed calls of a handler said whether or not a logger shows them; later ones are
/// only logged.
pub(super) const FAILURES_SAID: usize = 10;

/// A call of `h` for `ctx` failed with `e`. Its message was acknowledged unless the
/// handler withholds it (`nack_on_error`), so a failure that is not seen is a message
/// lost without a word: the first [`FAILURES_SAID`] of each handler are said visibly,
/// later ones logged as a warning only.
fn report(h: &Handler, ctx: &EventContext, e: &HandlerError) {
    let name = &h.name;
    let what = match ctx.event() {
        Event::Message(m) => format!(
            "handler {name} for message on `{}` {e}",
            crate::error::truncate(m.topic())
        ),
        _ => format!("{} handler {name} {e}", h.desc.kind.attribute()),
    };
    h.failures.report(
        FAILURES_SAID,
        TARGET,
        log::Level::Warn,
        log::Level::Warn,
        &what,
        &format_args!(
            "; further failures of handler {name} are logged only, not written to stderr"
        ),
    );
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::ack::test_support::{Recorder, Settled};
    use crate::ack::watermark::Watermark;
    use crate::dispatch::observe::{CallEnd, Observer};
    use crate::dispatch::tests::{dispatch, done, watched};
    use crate::dispatch::Dispatcher;
    use crate::event::HandlerKind;
    use crate::message::Message;
    use crate::qos::QoS;
    use crate::registry::HandlerDescriptor;
    use crate::testing::TestClient;
    use paho_mqtt::AckToken;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    /// A panic payload that panics again when it is dropped:
    /// `std::panic::panic_any(Bomb)`.
    pub(in crate::dispatch) struct Bomb;

    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("the panic payload's own drop");
        }
    }

    fn told_to_bomb(ctx: &EventContext) -> bool {
        matches!(ctx.event(), Event::Message(m) if m.payload() == b"bomb")
    }

    fn bomb_async(ctx: Arc<EventContext>) -> HandlerFuture {
        HandlerFuture::new(async move {
            if told_to_bomb(&ctx) {
                std::panic::panic_any(Bomb);
            }
            Ok(None)
        })
    }

    fn bomb_sync(ctx: Arc<EventContext>) -> Outcome {
        if told_to_bomb(&ctx) {
            std::panic::panic_any(Bomb);
        }
        Ok(None)
    }

    static BOMB_ASYNC: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "bomb_async",
        "dispatch::worker::tests",
        HandlerFn::Async(bomb_async),
    )
    .with_filter("bomb/async");

    static BOMB_SYNC: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "bomb_sync",
        "dispatch::worker::tests",
        HandlerFn::Sync(bomb_sync),
    )
    .with_filter("bomb/sync");

    /// A handler that panics with a payload whose own drop panics fails that call only:
    /// its worker lives on and takes the next events (a payload dropped outside the
    /// panic boundary ended the worker, so that later events had no call at all).
    async fn a_payload_that_panics_when_dropped_fails_only_its_call() {
        let handlers = [&BOMB_ASYNC, &BOMB_SYNC]
            .into_iter()
            .filter_map(|d| Handler::new(d, d.name()))
            .collect();
        let (d, watch, app) = watched(handlers);
        for topic in ["bomb/async", "bomb/sync"] {
            let msg = |payload: &str| {
                Event::Message(Message::new(topic, payload, QoS::AtMostOnce, false))
            };
            for round in 0..2 {
                let calls = done(dispatch(&d, &watch, &app, msg("bomb"))).await;
                assert_eq!(calls.len(), 1, "{topic}, round {round}: {calls:?}");
                let error = calls.into_vec().remove(0).error().cloned();
                assert!(
                    matches!(&error, Some(HandlerError::Panicked(p)) if p == "non-string panic payload"),
                    "{topic}, round {round}: {error:?}"
                );
                let calls = done(dispatch(&d, &watch, &app, msg("fine"))).await;
                assert!(
                    calls.len() == 1 && calls.all_ok(),
                    "{topic}, round {round}: {calls:?}"
                );
            }
        }
        done(d.drain(Duration::from_secs(10))).await;
    }

    fn rejects(_: Arc<EventContext>) -> Outcome {
        Err(HandlerError::Rejected {
            argument: "reading",
            reason: "the payload is not valid JSON".to_owned(),
        })
    }

    static REJECTS: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "rejects",
        "dispatch::worker::tests",
        HandlerFn::Sync(rejects),
    )
    .with_filter("worker-test/rejected")
    .with_qos(1);

    /// A failed call (here an argument rejected) of an `ack = after` handler is
    /// acknowledged, so its message is lost: the first `FAILURES_SAID` of each handler
    /// are said whether or not a logger is installed (these tests install none), later
    /// ones only logged. They were only logged, so nothing showed them without a logger.
    #[tokio::test]
    async fn a_failed_call_is_said_without_a_logger() {
        let handlers = [&REJECTS]
            .into_iter()
            .filter_map(|d| Handler::new(d, d.name()))
            .collect();
        let (d, watch, app) = watched(handlers);
        for _ in 0..FAILURES_SAID + 2 {
            let m = Message::new("worker-test/rejected", "not json", QoS::AtLeastOnce, false);
            let calls = done(dispatch(&d, &watch, &app, Event::Message(m))).await;
            assert!(calls.len() == 1 && calls[0].is_rejected(), "{calls:?}");
        }
        let lines = crate::visible::said::containing("worker-test/rejected");
        assert_eq!(lines.len(), FAILURES_SAID, "{lines:#?}");
        assert!(
            lines[0].starts_with(
                "WARN flask_mqtt::dispatch: handler dispatch::worker::tests::rejects for message on `worker-test/rejected` argument `reading` rejected"
            ),
            "{lines:#?}"
        );
        assert!(
            lines[FAILURES_SAID - 1].ends_with("logged only, not written to stderr"),
            "{lines:#?}"
        );
    }

    /// Stands for a bug of ours on a worker, outside the handlers' panic boundary.
    struct PanicsAtCallEnd;

    impl Observer for PanicsAtCallEnd {
        fn call_ended(&self, _: &CallEnd<'_>) {
            panic!("a bug in dispatch (test)");
        }

        fn event_ended(&self, _: u64, _: &Event) {}
    }

    static HELD_STARTED: AtomicUsize = AtomicUsize::new(0);
    static HELD_GATE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(0);

    fn held(_: Arc<EventContext>) -> HandlerFuture {
        HandlerFuture::new(async {
            HELD_STARTED.fetch_add(1, Ordering::SeqCst);
            if let Ok(permit) = HELD_GATE.acquire().await {
                permit.forget();
            }
            Ok(None)
        })
    }

    static HELD: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "held",
        "dispatch::worker::tests",
        HandlerFn::Async(held),
    )
    .with_filter("held")
    .with_qos(1);

    /// A worker that dies outside the handlers' panic boundary (a bug of ours) leaves the
    /// messages it had not called its handler for unacknowledged (released: the broker
    /// sends them again), as well as those sent to its queue afterwards; the message
    /// whose call had ended is acknowledged.
    #[tokio::test]
    async fn messages_a_dead_worker_never_handled_are_not_acknowledged() {
        let settled = Arc::new(Settled::default());
        let acks = Watermark::new(Box::new(Recorder(Arc::clone(&settled))));
        let handlers = [&HELD]
            .into_iter()
            .filter_map(|d| Handler::new(d, d.name()))
            .collect();
        let d = Dispatcher::start(handlers, Some(Arc::new(PanicsAtCallEnd)));
        let app = TestClient::new().unwrap();
        let send = |id: u16| {
            let msg = Message::new("held", "", QoS::AtLeastOnce, false);
            let slot = acks.slot(AckToken::from_parts(id, paho_mqtt::QoS::AtLeastOnce, 7));
            d.dispatch_owed(app.client(), Event::Message(msg), Some(slot));
        };
        send(1);
        let deadline = Instant::now() + Duration::from_secs(10);
        while HELD_STARTED.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "the first call never started");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        send(2);
        send(3);
        HELD_GATE.add_permits(1);
        settled.wait_for(3, deadline).await;
        send(4);
        settled.wait_for(4, deadline).await;
        assert_eq!(
            settled.seen(),
            [(1, true), (2, false), (3, false), (4, false)]
        );
        assert_eq!(HELD_STARTED.load(Ordering::SeqCst), 1);
    }

    fn answers(_: Arc<EventContext>) -> Outcome {
        Ok(Some(Reply::new("answer")))
    }

    static ANSWERS_NACKING: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "answers_nacking",
        "dispatch::worker::tests",
        HandlerFn::Sync(answers),
    )
    .with_filter("rpc/nacking")
    .with_qos(1)
    .with_nack_on_error();

    /// A `nack_on_error` handler that succeeded but whose reply could not be sent (a
    /// Response Topic starting with `$`): the handler's outcome decides, so the message
    /// is acknowledged, and the reply's failure is the call's error (warned). Released,
    /// it came back with every session and its side effects with it.
    #[tokio::test]
    async fn a_reply_that_fails_after_the_handler_succeeded_is_not_a_nack() {
        let settled = Arc::new(Settled::default());
        let acks = Watermark::new(Box::new(Recorder(Arc::clone(&settled))));
        let handlers = [&ANSWERS_NACKING]
            .into_iter()
            .filter_map(|d| Handler::new(d, d.name()))
            .collect();
        let (d, watch, app) = watched(handlers);
        let request = crate::testing::message("rpc/nacking", "?")
            .qos(QoS::AtLeastOnce)
            .response_topic("$bad");
        let slot = acks.slot(AckToken::from_parts(1, paho_mqtt::QoS::AtLeastOnce, 7));
        let seq = d.dispatch_owed(app.client(), Event::Message(request.into()), Some(slot));
        let calls = done(watch.ended(seq)).await;
        assert_eq!(calls.len(), 1, "{calls:?}");
        let error = calls.into_vec().remove(0).error().cloned();
        assert!(
            matches!(&error, Some(HandlerError::Reply(why)) if why.contains("starts with `$`")),
            "{error:?}"
        );
        settled
            .wait_for(1, Instant::now() + Duration::from_secs(10))
            .await;
        assert_eq!(settled.seen(), [(1, true)]);
        assert!(app.published().is_empty());
    }

    /// A call that began but never ended (its future dropped: a worker gone, a runtime
    /// shutting down) did not handle its message: released, never acknowledged, as a
    /// message dropped before its call began is. A call that ends is acknowledged, and so
    /// is one dropped after its handler succeeded (while its reply was being published).
    #[tokio::test]
    async fn a_call_dropped_before_it_ended_releases_its_message() {
        let settled = Arc::new(Settled::default());
        let acks = Watermark::new(Box::new(Recorder(Arc::clone(&settled))));
        let Some(h) = Handler::new(&HELD, HELD.name()) else {
            panic!("a valid descriptor");
        };
        let app = TestClient::new().unwrap();
        let call = |id: u16| {
            let msg = Message::new("held", "", QoS::AtLeastOnce, false);
            let base = Arc::new(EventContext::new(app.client().clone(), Event::Message(msg)));
            let slot = acks.slot(AckToken::from_parts(id, paho_mqtt::QoS::AtLeastOnce, 7));
            let item = crate::dispatch::hold::item(
                &h,
                crate::dispatch::hold::AckMode::AFTER,
                &base,
                Some(&slot),
            );
            Call::begin(&h, item)
        };
        let Some(dropped) = call(1) else {
            panic!("the call begins");
        };
        drop(dropped);
        let Some(ended) = call(2) else {
            panic!("the call begins");
        };
        ended.finish(&h, 0, None, clock::ticks(), Ok(()).into());
        let Some(mut replying) = call(3) else {
            panic!("the call begins");
        };
        // What `replied` does once the handler succeeded, before it awaits the reply.
        replying.handled();
        drop(replying);
        assert_eq!(settled.seen(), [(1, false), (2, true), (3, true)]);
    }

    static MANUAL: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "manual",
        "dispatch::worker::tests",
        HandlerFn::Async(held),
    )
    .with_filter("manual")
    .with_qos(1)
    .with_ack_policy(crate::ack::policy::AckPolicy::Manual);

    /// `ack = "manual"`: a message is acknowledged only at `ack()`. A call dropped before
    /// it ended (its `Ack` not taken, or dropped with the call's future, or kept by a task
    /// that lets it go later) did not handle its message, and an `Ack` dropped without
    /// `ack()` (during a call that succeeds, or after the call) did not either: released,
    /// never acknowledged (the broker sends them again with the next session). A call
    /// that failed while its `Ack` was not given counts as done, as under `after`
    /// (acknowledged, without `nack_on_error`).
    #[tokio::test]
    async fn a_manual_message_is_acknowledged_only_at_ack() {
        use crate::extract::ack::Ack;
        use crate::extract::FromEvent;
        let settled = Arc::new(Settled::default());
        let acks = Watermark::new(Box::new(Recorder(Arc::clone(&settled))));
        let Some(h) = Handler::new(&MANUAL, MANUAL.name()) else {
            panic!("a valid descriptor");
        };
        let app = TestClient::new().unwrap();
        let mode =
            crate::dispatch::hold::AckMode::of(&h, crate::ack::policy::AckPolicy::After, "MQTT");
        let call = |id: u16| {
            let msg = Message::new("manual", "", QoS::AtLeastOnce, false);
            let base = Arc::new(EventContext::new(app.client().clone(), Event::Message(msg)));
            let slot = acks.slot(AckToken::from_parts(id, paho_mqtt::QoS::AtLeastOnce, 7));
            let item = crate::dispatch::hold::item(&h, mode, &base, Some(&slot));
            let Some(call) = Call::begin(&h, item) else {
                panic!("the call begins");
            };
            call
        };
        let ack = |call: &Call| {
            let ack = Ack::from_event(&call.ctx).unwrap();
            assert!(ack.is_pending());
            ack
        };
        let ok = || Ended::from(Ok(()));
        let failed = || Ended::from(Err(HandlerError::Failed("no".to_owned())));
        // 1: dropped unfinished, its `Ack` not taken.
        drop(call(1));
        // 2: dropped unfinished, its `Ack` in the call's future (dropped after the call).
        let c = call(2);
        let a = ack(&c);
        drop(c);
        drop(a);
        // 3: dropped unfinished, its `Ack` in the future (dropped before the call).
        let c = call(3);
        drop(ack(&c));
        drop(c);
        // 4: ended, its `Ack` dropped without `ack()` during the call.
        let c = call(4);
        drop(ack(&c));
        c.finish(&h, 0, None, clock::ticks(), ok());
        // 5: ended, its `Ack` kept past the call, then dropped without `ack()`.
        let c = call(5);
        let a = ack(&c);
        c.finish(&h, 0, None, clock::ticks(), ok());
        drop(a);
        // 6: ended, its `Ack` kept past the call, then given.
        let c = call(6);
        let a = ack(&c);
        c.finish(&h, 0, None, clock::ticks(), ok());
        a.ack();
        // 7: given during the call.
        let c = call(7);
        ack(&c).ack();
        c.finish(&h, 0, None, clock::ticks(), ok());
        // 8: failed, its `Ack` dropped during the call: done (no `nack_on_error`).
        let c = call(8);
        drop(ack(&c));
        c.finish(&h, 0, None, clock::ticks(), failed());
        // 9: succeeded (with a reply), its `Ack` dropped during the call, then dropped
        // while the reply is published.
        let mut c = call(9);
        drop(ack(&c));
        c.handled();
        drop(c);
        assert_eq!(
            settled.seen(),
            [
                (1, false),
                (2, false),
                (3, false),
                (4, false),
                (5, false),
                (6, true),
                (7, true),
                (8, true),
                (9, false)
            ]
        );
    }

    #[tokio::test]
    async fn a_payload_that_panics_when_dropped_fails_only_its_call_current_thread() {
        a_payload_that_panics_when_dropped_fails_only_its_call().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_payload_that_panics_when_dropped_fails_only_its_call_multi_thread() {
        a_payload_that_panics_when_dropped_fails_only_its_call().await;
    }
}
