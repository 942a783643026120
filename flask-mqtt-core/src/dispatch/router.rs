//! The router task: events in arrival order into the handler queues, waiting for room
//! when one is full, and the backlog that builds up meanwhile.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Notify};

use super::hold::item;
use super::queue::{Queue, SendError};
use super::routes::Routes;
use crate::ack::watermark::{Owing, Slot};
use crate::event::log::DISPATCH_TARGET as TARGET;
use crate::extract::context::EventContext;
use crate::registry::Handler;

/// The intake backlog at which the first warning is logged; then at every doubling.
pub(super) const BACKLOG_WARNING: usize = 1024;

/// No handler is being waited for.
pub(super) const NOBODY: usize = usize::MAX;

/// An event on its way to the router.
pub(super) struct Job {
    pub(super) ctx: Arc<EventContext>,
    /// Targets already served by [`Dispatcher::dispatch`]'s direct path.
    pub(super) skip: usize,
    /// Dispatch's promise to put the event in the handler queues, holding the message's
    /// acknowledgement until they have it: a job dropped before the router served it
    /// (the router gone) leaves the message unacknowledged.
    pub(super) owing: Owing,
}

impl Job {
    pub(super) fn new(ctx: Arc<EventContext>, skip: usize, ack: Option<Slot>) -> Job {
        Job {
            ctx,
            skip,
            owing: Owing::new(ack),
        }
    }
}

/// Counts events between `dispatch` and the router, and says when that grows.
pub(super) struct Backlog {
    pub(super) len: AtomicUsize,
    /// The handler whose full queue the router is waiting on, or [`NOBODY`].
    pub(super) waiting_for: AtomicUsize,
    /// A warning was logged since the backlog was last empty.
    pub(super) warned: AtomicBool,
    /// The backlog crossed a warning threshold before the router said whom it waits
    /// for: the router names the handler when it does.
    pub(super) grew: Notify,
}

impl Backlog {
    pub(super) fn warn(&self, len: usize, h: &Handler) {
        self.warned.store(true, Ordering::SeqCst);
        log::warn!(
            target: TARGET,
            "{len} events are waiting for dispatch: handler {} is not keeping up (its queue of {} is full); nothing is dropped, but memory grows until it catches up (raise `queue` or `concurrency` on the handler, or make it faster)",
            h.desc.name(),
            h.desc.queue
        );
    }
}

/// The router: takes events in arrival order and puts them in the queues of their
/// handlers, waiting for room when a queue is full.
pub(super) async fn route(
    routes: Arc<Routes>,
    backlog: Arc<Backlog>,
    mut intake: mpsc::UnboundedReceiver<Job>,
    queues: Vec<Queue>,
) {
    while let Some(job) = intake.recv().await {
        let base = &job.ctx;
        for &i in routes.targets(base.event()).iter().skip(job.skip) {
            let (Some(h), Some(queue)) = (routes.handlers.get(i), queues.get(i)) else {
                continue;
            };
            match queue.try_send(item(h, routes.mode(i), base, job.owing.slot())) {
                Ok(()) => {}
                Err(SendError::Full(item)) => {
                    log::debug!(
                        target: TARGET,
                        "queue of handler {} is full; dispatch waits for it",
                        h.desc.name()
                    );
                    backlog.waiting_for.store(i, Ordering::SeqCst);
                    // Returns when queued, or when the worker is gone (runtime shutdown).
                    let sent = queue.send(item);
                    tokio::pin!(sent);
                    loop {
                        tokio::select! {
                            biased;
                            () = &mut sent => break,
                            () = backlog.grew.notified() => {
                                let len = backlog.len.load(Ordering::SeqCst);
                                if len >= BACKLOG_WARNING {
                                    backlog.warn(len, h);
                                }
                            }
                        }
                    }
                    backlog.waiting_for.store(NOBODY, Ordering::SeqCst);
                }
                // The worker is gone (runtime shutdown): nothing to deliver to.
                Err(SendError::Closed) => {}
            }
        }
        // Every queue has its item (each owing its call), or its worker is gone: dispatch
        // lets go of the acknowledgement.
        drop(job.owing.kept());
        let left = backlog.len.fetch_sub(1, Ordering::SeqCst).saturating_sub(1);
        if left == 0 && backlog.warned.swap(false, Ordering::SeqCst) {
            log::info!(target: TARGET, "dispatch caught up: no events waiting");
        }
    }
    // Dropping `queues` closes every handler queue: the workers finish what is queued.
}
