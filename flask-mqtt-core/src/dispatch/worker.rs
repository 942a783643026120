//! One worker per handler: takes events from its queue, up to `concurrency` calls at
//! once, catches panics and reports failures.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::inline::{self, Timed};
use super::measure;
use super::observe::{CallEnd, Observer};
use super::queue::{Item, QueueRx, Room, Work};
use super::reply::send_reply;
use crate::ack::watermark::Slot;
use crate::event::log::DISPATCH_TARGET as TARGET;
use crate::event::Event;
use crate::extract::context::EventContext;
use crate::handler::{panic_message, HandlerError, Outcome};
use crate::registry::{Handler, HandlerFn};
use crate::spans;

/// The worker of handler `h` (number `index` of the dispatcher's): calls it for each
/// event of its queue, finishes the calls made inline that had to wait, and reports
/// each call to `observer`.
pub(super) async fn run_worker(
    h: Arc<Handler>,
    index: usize,
    mut rx: QueueRx,
    observer: Option<Arc<dyn Observer>>,
) {
    let concurrency = usize::try_from(h.desc.concurrency)
        .unwrap_or(usize::MAX)
        .clamp(1, Semaphore::MAX_PERMITS);
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
            ended = Some(run_work(&h, index, work, observer.as_ref(), started, &room).await);
            room.release();
        }
    }
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut running = JoinSet::new();
    while let Some(work) = rx.recv().await {
        // Wait for a free slot before taking the next event: the queue keeps the
        // back-pressure, and calls start in arrival order.
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            break;
        };
        let h = Arc::clone(&h);
        let observer = observer.clone();
        let room = Arc::clone(&room);
        running.spawn(async move {
            run_work(&h, index, work, observer.as_ref(), None, &room).await;
            room.release();
            drop(permit);
        });
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

/// Does one piece of a worker's work, started at `started` (ticks; `None`: now), and
/// returns when it ended. While the handler is on probation for inline calls, its polls
/// are timed.
async fn run_work(
    h: &Handler,
    index: usize,
    work: Work,
    observer: Option<&Arc<dyn Observer>>,
    started: Option<u64>,
    room: &Room,
) -> u64 {
    let item = match work {
        Work::Call(item) => item,
        Work::Started(call) => return call.await,
    };
    let started = started.unwrap_or_else(inline::ticks);
    let call = run_one(h, index, item, observer.map(|o| &**o), started);
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
/// report. The call's context is dropped last: after the observer heard of the call,
/// the event may complete. Returns when the call ended (ticks).
pub(super) async fn run_one(
    h: &Handler,
    index: usize,
    item: Item,
    observer: Option<&dyn Observer>,
    started: u64,
) -> u64 {
    let Item {
        ctx,
        ack,
        nack_on_error,
    } = item;
    if ack.as_ref().is_some_and(Slot::is_abandoned) || ctx.ack_abandoned() {
        // The client has disconnected for good and the broker keeps the session: the
        // message comes again with it, where this call would be a duplicate.
        log::debug!(
            target: TARGET,
            "handler {} skipped for a message left to the broker at shutdown",
            h.desc.name()
        );
        return started;
    }
    let span = spans::handler(
        format_args!("{}::{}", h.desc.module, h.desc.name),
        h.desc.kind,
        h.desc.broker(),
        ctx.event(),
    );
    let result = async {
        match call(h.desc.call, Arc::clone(&ctx)).await {
            Ok(None) => Ok(()),
            // Boxed: the reply's future is larger than the rest of the call, which is
            // boxed itself when made inline and does not wait.
            Ok(Some(reply)) => Box::pin(send_reply(&ctx, reply)).await,
            Err(e) => Err(e),
        }
    }
    .instrument(span.clone())
    .await;
    spans::handler_ended(&span, measure::outcome(&result));
    if let Err(e) = &result {
        report(h, &ctx, e);
        if nack_on_error {
            // `after`: the call's hold; `manual`: the context's, if `Ack` was not taken.
            match &ack {
                Some(slot) => slot.nack(),
                None => {
                    ctx.nack_held();
                }
            }
        }
    }
    let ended = inline::ticks();
    if let (Some(observer), Some(seq)) = (observer, ctx.seq()) {
        observer.call_ended(&CallEnd {
            seq,
            index,
            handler: h.desc,
            result: &result,
            elapsed: inline::elapsed(started, ended),
        });
    }
    // The call is over: its hold on the message's acknowledgement ends (after the
    // observer heard of it), then its context.
    drop(ack);
    ended
}

async fn call(f: HandlerFn, ctx: Arc<EventContext>) -> Outcome {
    match f {
        HandlerFn::Async(f) => match AssertUnwindSafe(async move { f(ctx).await })
            .catch_unwind()
            .await
        {
            Ok(o) => o,
            Err(p) => Err(HandlerError::Panicked(panic_message(&*p))),
        },
        HandlerFn::Sync(f) => {
            // The call's span follows it to the blocking thread, so that what the
            // handler logs belongs to it.
            let span = tracing::Span::current();
            let run = move || {
                let _in_span = span.enter();
                match std::panic::catch_unwind(AssertUnwindSafe(move || f(ctx))) {
                    Ok(o) => o,
                    Err(p) => Err(HandlerError::Panicked(panic_message(&*p))),
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
                    Err(e) => Err(HandlerError::Panicked(e.to_string())),
                }
            }
        }
    }
}

fn report(h: &Handler, ctx: &EventContext, e: &HandlerError) {
    let name = h.desc.name();
    match ctx.event() {
        Event::Message(m) => log::warn!(
            target: TARGET,
            "handler {name} for message on `{}` {e}",
            m.topic()
        ),
        _ => log::warn!(target: TARGET, "{} handler {name} {e}", h.desc.kind.attribute()),
    }
}
