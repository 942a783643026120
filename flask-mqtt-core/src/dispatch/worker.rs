//! One worker per handler: takes events from its queue, up to `concurrency` calls at
//! once, catches panics and reports failures.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::measure;
use super::observe::{CallEnd, Observer};
use super::queue::{Item, QueueRx};
use super::reply::send_reply;
use crate::ack::watermark::Slot;
use crate::event::log::DISPATCH_TARGET as TARGET;
use crate::event::Event;
use crate::extract::context::EventContext;
use crate::handler::{panic_message, HandlerError, Outcome};
use crate::registry::{Handler, HandlerFn};
use crate::spans;

/// The worker of handler `h` (number `index` of the dispatcher's): calls it for each
/// event of its queue, and reports each call to `observer`.
pub(super) async fn run_worker(
    h: Arc<Handler>,
    index: usize,
    mut rx: QueueRx,
    observer: Option<Arc<dyn Observer>>,
) {
    let concurrency = usize::try_from(h.desc.concurrency)
        .unwrap_or(usize::MAX)
        .clamp(1, Semaphore::MAX_PERMITS);
    if concurrency == 1 {
        // When an event is already waiting as a call ends, the worker takes it at once:
        // the end of that call is the start of the next (one clock read per call instead
        // of two, with an observer). Polled as `recv` always is, so Tokio's cooperative
        // budget still makes a busy worker yield.
        let mut ended = None;
        loop {
            let (item, started) = match rx.recv().now_or_never() {
                Some(Some(item)) => (item, ended),
                Some(None) => return,
                None => match rx.recv().await {
                    Some(item) => (item, None),
                    None => return,
                },
            };
            ended = run_one(&h, index, item, observer.as_deref(), started).await;
        }
    }
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut running = JoinSet::new();
    while let Some(item) = rx.recv().await {
        // Wait for a free slot before taking the next event: the queue keeps the
        // back-pressure, and calls start in arrival order.
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            break;
        };
        let h = Arc::clone(&h);
        let observer = observer.clone();
        running.spawn(async move {
            run_one(&h, index, item, observer.as_deref(), None).await;
            drop(permit);
        });
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

/// One handler call: extraction, the call, the reply, the report. The call's context
/// is dropped last: after the observer heard of the call, the event may complete.
///
/// With an observer, the call is timed from `started` (the worker took the event then;
/// `None`: now) and the time it ended is returned.
async fn run_one(
    h: &Handler,
    index: usize,
    item: Item,
    observer: Option<&dyn Observer>,
    started: Option<Instant>,
) -> Option<Instant> {
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
        return None;
    }
    // The clock is read only for an observer: twice per call is measurable at 10 calls
    // per message.
    let started = observer.map(|_| started.unwrap_or_else(Instant::now));
    let span = spans::handler(
        format_args!("{}::{}", h.desc.module, h.desc.name),
        h.desc.kind,
        h.desc.broker(),
        ctx.event(),
    );
    let result = async {
        match call(h.desc.call, Arc::clone(&ctx)).await {
            Ok(None) => Ok(()),
            Ok(Some(reply)) => send_reply(&ctx, reply).await,
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
    let ended = started.map(|started| (started, Instant::now()));
    if let (Some(observer), Some((started, ended)), Some(seq)) = (observer, ended, ctx.seq()) {
        observer.call_ended(&CallEnd {
            seq,
            index,
            handler: h.desc,
            result: &result,
            elapsed: ended.saturating_duration_since(started),
        });
    }
    // The call is over: its hold on the message's acknowledgement ends (after the
    // observer heard of it), then its context.
    drop(ack);
    ended.map(|(_, ended)| ended)
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
