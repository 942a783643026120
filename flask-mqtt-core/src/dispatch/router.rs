//! The router task: events in arrival order into the handler queues, waiting for room
//! when one is full, and the backlog that builds up meanwhile.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Notify};

use super::hold::item;
use super::lost::Lost;
use super::queue::{Queue, SendError};
use super::routes::{Routes, Targets};
use crate::ack::watermark::{Owing, Slot};
use crate::event::log::DISPATCH_TARGET as TARGET;
use crate::extract::context::EventContext;
use crate::registry::Handler;
use crate::visible::report;

/// The intake backlog at which the first warning is logged; then at every doubling.
pub(super) const BACKLOG_WARNING: usize = 1024;

/// No handler is being waited for.
pub(super) const NOBODY: usize = usize::MAX;

/// An event on its way to the router.
pub(super) struct Job {
    pub(super) ctx: Arc<EventContext>,
    /// The handlers of the event, as dispatch found them: not looked up again, which
    /// would say a second time that a topic too long to be cached has no handler.
    pub(super) targets: Targets,
    /// Targets already served by [`Dispatcher::dispatch`]'s direct path.
    pub(super) skip: usize,
    /// Dispatch's promise to put the event in the handler queues, holding the message's
    /// acknowledgement until they have it: a job dropped before the router served it
    /// (the router gone) leaves the message unacknowledged.
    pub(super) owing: Owing,
}

impl Job {
    pub(super) fn new(
        ctx: Arc<EventContext>,
        targets: Targets,
        skip: usize,
        ack: Option<Slot>,
    ) -> Job {
        Job {
            ctx,
            targets,
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
    /// A warning was said since the backlog was last empty.
    pub(super) warned: AtomicBool,
    /// The last warning went to stderr (no logger shows it): so does the all-clear.
    pub(super) on_stderr: AtomicBool,
    /// The backlog crossed a warning threshold before the router said whom it waits
    /// for: the router names the handler when it does.
    pub(super) grew: Notify,
}

impl Backlog {
    /// Says (visibly: memory grows) that `len` events wait for `h`; only at
    /// [`BACKLOG_WARNING`] and at every doubling, so a few times at most.
    pub(super) fn warn(&self, len: usize, h: &Handler) {
        self.warned.store(true, Ordering::SeqCst);
        let on_stderr = report(
            TARGET,
            log::Level::Warn,
            &format_args!(
                "{len} events are waiting for dispatch: handler {} is not keeping up (its queue of {} is full); nothing is dropped, but memory grows until it catches up (raise `queue` or `concurrency` on the handler, or make it faster)",
                h.name,
                h.desc.queue
            ),
        );
        self.on_stderr.store(on_stderr, Ordering::SeqCst);
    }

    /// The backlog is empty again: said where its warnings were.
    fn caught_up(&self) {
        let said = "dispatch caught up: no events waiting";
        if self.on_stderr.swap(false, Ordering::SeqCst) {
            report(TARGET, log::Level::Info, &said);
        } else {
            log::info!(target: TARGET, "{said}");
        }
    }
}

/// The router: takes events in arrival order and puts them in the queues of their
/// handlers, waiting for room when a queue is full.
pub(super) async fn route(
    routes: Arc<Routes>,
    backlog: Arc<Backlog>,
    lost: Arc<Lost>,
    mut intake: mpsc::UnboundedReceiver<Job>,
    queues: Vec<Queue>,
) {
    while let Some(job) = intake.recv().await {
        let base = &job.ctx;
        let mut undelivered = false;
        for &i in job.targets.iter().skip(job.skip) {
            let (Some(h), Some(queue)) = (routes.handlers.get(i), queues.get(i)) else {
                continue;
            };
            match queue.try_send(item(h, routes.mode(i), base, job.owing.slot())) {
                Ok(()) => {}
                Err(SendError::Full(item)) => {
                    log::debug!(
                        target: TARGET,
                        "queue of handler {} is full; dispatch waits for it",
                        h.name
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
                // The worker is gone (runtime shutdown): nothing to deliver to; said
                // when the dispatcher stops.
                Err(SendError::Closed) => undelivered = true,
            }
        }
        if undelivered {
            lost.undelivered();
        }
        // Every queue has its item (each owing its call), or its worker is gone: dispatch
        // lets go of the acknowledgement.
        drop(job.owing.kept());
        let left = backlog.len.fetch_sub(1, Ordering::SeqCst).saturating_sub(1);
        if left == 0 && backlog.warned.swap(false, Ordering::SeqCst) {
            backlog.caught_up();
        }
    }
    // Dropping `queues` closes every handler queue: the workers finish what is queued.
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use paho_mqtt::AckToken;
    use tokio::sync::Semaphore;

    use crate::ack::test_support::{Recorder, Settled};
    use crate::ack::watermark::Watermark;
    use crate::dispatch::Dispatcher;
    use crate::event::{Event, HandlerKind};
    use crate::extract::context::EventContext;
    use crate::handler_future::HandlerFuture;
    use crate::message::Message;
    use crate::qos::QoS;
    use crate::registry::{Handler, HandlerDescriptor, HandlerFn};
    use crate::sync::lock;
    use crate::testing::TestClient;
    use crate::visible::said;

    use super::BACKLOG_WARNING;

    /// A handler's gate: it counts the calls that started, and each call waits for a
    /// permit. One gate per test, as the tests run in parallel.
    struct Gate {
        started: AtomicUsize,
        permits: Semaphore,
    }

    impl Gate {
        const fn new() -> Self {
            Self {
                started: AtomicUsize::new(0),
                permits: Semaphore::const_new(0),
            }
        }

        fn started(&self) -> usize {
            self.started.load(Ordering::SeqCst)
        }

        /// Waits until a first call started.
        async fn first_call(&self, deadline: Instant) {
            while self.started() == 0 {
                assert!(Instant::now() < deadline, "the first call never started");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }

    static GATES: [Gate; 3] = [Gate::new(), Gate::new(), Gate::new()];

    /// The handler behind `GATES[G]`.
    fn gated<const G: usize>(_: Arc<EventContext>) -> HandlerFuture {
        HandlerFuture::new(async {
            let gate = &GATES[G];
            gate.started.fetch_add(1, Ordering::SeqCst);
            if let Ok(permit) = gate.permits.acquire().await {
                permit.forget();
            }
            Ok(None)
        })
    }

    /// Handlers of `filter` behind `GATES[G]`, with room for one event in their queue, so
    /// that the router soon has to wait for it.
    const fn gated_handler<const G: usize>(name: &'static str) -> HandlerDescriptor {
        HandlerDescriptor::new(
            HandlerKind::Message,
            name,
            "dispatch::router::tests",
            HandlerFn::Async(gated::<G>),
        )
        .with_filter(name)
        .with_queue(1)
    }

    static GATED: HandlerDescriptor = gated_handler::<0>("gated");
    static GATED_FULL: HandlerDescriptor = gated_handler::<1>("gated-full");
    static GATED_BACKLOG: HandlerDescriptor = gated_handler::<2>("gated-backlog");

    /// The router gone (a bug of ours, or a runtime shutting down) with jobs it had not
    /// put into the handler queues: their messages are released, never acknowledged (the
    /// broker sends them again), as is one dispatched after it went; those the handler
    /// had were handled and are acknowledged.
    #[tokio::test]
    async fn messages_the_router_never_queued_are_not_acknowledged() {
        let settled = Arc::new(Settled::default());
        let acks = Watermark::new(Box::new(Recorder(Arc::clone(&settled))));
        let handlers = [&GATED]
            .into_iter()
            .filter_map(|d| Handler::new(d, d.name()))
            .collect();
        let mut d = Dispatcher::start(handlers, None);
        let app = TestClient::new().unwrap();
        let send = |d: &Dispatcher, id: u16| {
            let msg = Message::new("gated", "", QoS::AtLeastOnce, false);
            let slot = acks.slot(AckToken::from_parts(id, paho_mqtt::QoS::AtLeastOnce, 7));
            d.dispatch_owed(app.client(), Event::Message(msg), Some(slot));
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        // 1 is called, 2 fills the queue, 3 goes to the router, which waits for room,
        // 4 waits in the router's intake.
        send(&d, 1);
        GATES[0].first_call(deadline).await;
        send(&d, 2);
        send(&d, 3);
        while d.backlog.waiting_for.load(Ordering::SeqCst) != 0 {
            assert!(
                Instant::now() < deadline,
                "the router never waited for room"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        send(&d, 4);
        assert_eq!(d.backlog.len.load(Ordering::SeqCst), 2);
        d.router.abort();
        assert!((&mut d.router).await.is_err_and(|e| e.is_cancelled()));
        // The router gone, a later event's job is dropped at once.
        send(&d, 5);
        GATES[0].permits.add_permits(2);
        settled.wait_for(5, deadline).await;
        // (Releases need not wait for the acknowledgements before them.)
        let mut seen = lock(&settled.0).clone();
        seen.sort_unstable();
        assert_eq!(
            seen,
            [(1, true), (2, true), (3, false), (4, false), (5, false)]
        );
        assert_eq!(GATES[0].started(), 2);
    }

    /// A message that finds its handler's queue full goes to the router, which queues it
    /// when there is room: handled, it is acknowledged like the others (the item that
    /// did not fit must not leave it marked as never handled).
    #[tokio::test]
    async fn a_message_that_found_the_queue_full_is_acknowledged_once_handled() {
        let settled = Arc::new(Settled::default());
        let acks = Watermark::new(Box::new(Recorder(Arc::clone(&settled))));
        let handlers = [&GATED_FULL]
            .into_iter()
            .filter_map(|d| Handler::new(d, d.name()))
            .collect();
        let d = Dispatcher::start(handlers, None);
        let app = TestClient::new().unwrap();
        let send = |id: u16| {
            let msg = Message::new("gated-full", "", QoS::AtLeastOnce, false);
            let slot = acks.slot(AckToken::from_parts(id, paho_mqtt::QoS::AtLeastOnce, 7));
            d.dispatch_owed(app.client(), Event::Message(msg), Some(slot));
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        // 1 is called, 2 fills the queue, 3 finds it full and goes to the router.
        send(1);
        GATES[1].first_call(deadline).await;
        send(2);
        send(3);
        assert_eq!(
            d.backlog.len.load(Ordering::SeqCst),
            1,
            "3 went to the router"
        );
        GATES[1].permits.add_permits(3);
        settled.wait_for(3, deadline).await;
        assert_eq!(settled.seen(), [(1, true), (2, true), (3, true)]);
        assert_eq!(GATES[1].started(), 3);
    }

    /// A backlog that grows (QoS 0 messages, which no acknowledgement bounds) is said at
    /// `BACKLOG_WARNING` events and at every doubling, naming the handler, whether or not
    /// a logger is installed (these tests install none), and so is its end. It was only
    /// logged.
    #[tokio::test]
    async fn a_growing_backlog_is_said_without_a_logger() {
        let handlers = [&GATED_BACKLOG]
            .into_iter()
            .filter_map(|d| Handler::new(d, d.name()))
            .collect();
        let d = Dispatcher::start(handlers, None);
        let app = TestClient::new().unwrap();
        let sent = 2 * BACKLOG_WARNING + 10;
        for _ in 0..sent {
            let msg = Message::new("gated-backlog", "", QoS::AtMostOnce, false);
            d.dispatch(app.client(), Event::Message(msg));
            // The worker takes the first message, and the router waits for room.
            tokio::task::yield_now().await;
        }
        assert!(d.backlog.len.load(Ordering::SeqCst) >= 2 * BACKLOG_WARNING);
        let lines = said::containing("dispatch::router::tests::gated-backlog is not keeping up");
        GATES[2].permits.add_permits(sent);
        assert_eq!(lines.len(), 2, "{lines:#?}");
        for (line, len) in lines.iter().zip([BACKLOG_WARNING, 2 * BACKLOG_WARNING]) {
            let start = format!("WARN flask_mqtt::dispatch: {len} events are waiting for dispatch");
            assert!(line.starts_with(&start), "{lines:#?}");
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !d.is_idle() {
            assert!(Instant::now() < deadline, "the backlog never cleared");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let caught_up = said::containing("dispatch caught up");
        assert_eq!(caught_up.len(), 1, "{caught_up:#?}");
    }
}
