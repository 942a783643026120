//! Events -> handlers, with per-handler ordering, concurrency limits and back-pressure.
//!
//! ```text
//!  Paho callback threads      driver task            router task           one worker per handler
//!  (never block)              (client module)        (this module)         (this module)
//!  message/connect/... --->  Dispatcher::dispatch --> intake (unbounded) --> queue (bounded, `queue = N`)
//!   unbounded channel         (sync, never waits)     in arrival order       --> up to `concurrency = N`
//!                                                                               calls at once
//! ```
//!
//! While the router has nothing waiting (the common case), `Dispatcher::dispatch` puts
//! events straight into the handler queues itself; the router takes over, in arrival
//! order, from the first full queue until it has caught up. On that direct path, an
//! async handler that is idle (nothing queued, no call running) and has shown that it
//! does not block its thread is called inline: its call is polled once on the
//! dispatching task and goes to its worker only if it has to wait ([`inline`]).
//!
//! # Guarantees
//!
//! - **Nothing is dropped.** Every event handed to [`Dispatcher::dispatch`] reaches the
//!   queue of every handler it concerns (topic trie for messages; the catch-all when no
//!   filter matched), unless shutdown gives up on handlers still busy after its timeout
//!   (their events are then said once, with their number, visibly: see [`lost`]).
//! - **Order.** With `concurrency = 1` (the default) a handler sees its events one at a
//!   time, in arrival order. With `concurrency = N` calls *start* in arrival order and up
//!   to `N` run at once.
//! - **Isolation.** Each handler has its own bounded queue (`queue = N`, default 1024
//!   events) and worker: a slow handler does not delay the others until its queue is full.
//!   A call made inline that waits continues on the handler's worker; an async handler
//!   that blocks its thread goes back to its worker (see [`inline`] for the one poll
//!   that can still delay dispatch, and [`watchdog`] for how that is reported).
//! - **Back-pressure, and where it stops.** When a handler's queue is full the router
//!   waits for room, in arrival order, so *every* handler stops receiving new events
//!   until the slow one makes room (no event overtakes another). Events keep arriving
//!   meanwhile and wait in the router's unbounded intake: memory use is
//!   `sum(queue) + sum(concurrency)` events in handlers plus the intake backlog, which is
//!   bounded only by what the broker sends while a handler is stalled. A warning names
//!   the handler holding things up when the backlog reaches 1024 events and at every
//!   doubling (on stderr when no logger shows it); a line says when it is cleared. A call that never ends holds back
//!   every later acknowledgement (they leave in arrival order) and so, once the
//!   broker's window is full, all intake, with no queue growing: [`owed`] says that.
//! - **Paho is never blocked.** Back-pressure does not reach Paho's receive thread: it
//!   only pushes into unbounded channels. Holding it would deadlock any handler awaiting
//!   a QoS 1/2 publish or a subscribe (their acknowledgements are read by that thread),
//!   leave PINGRESP unread and hold paho-mqtt's callback lock. What bounds the backlog
//!   is the acknowledgement: a QoS 1/2 message is acknowledged only once its handlers
//!   are done with it ([`hold`]), so the broker stops sending when its in-flight window
//!   (MQTT 5: the client's Receive Maximum) is full of messages still in the app, and
//!   keeps the rest queued, up to its own limit (Mosquitto: `max_queued_messages`,
//!   default 1000, past which it drops). Where the broker does not bound it (Mosquitto
//!   2.0 with `max_queued_messages 0` lifts its in-flight window too, measured), with
//!   `ack = "first"` and for QoS 0, the backlog is absorbed in memory, loudly.
//! - **Failures stay local.** A rejected argument (the handler is not called), an `Err`
//!   return, a panic, or a reply that could not be sent is logged as a warning naming
//!   the handler (and the topic for messages; the first few of each handler on stderr
//!   when no logger shows them); other handlers, and later events, run as usual.
//!
//! With `concurrency = N`, each call is a task of its own (so up to `N` run at once,
//! their argument extraction and any code before their first `.await` included), and
//! waits for its turn to start: the call before it passes the turn on just before its
//! handler's first poll ([`turn`]). Sync handlers run under `block_in_place` on a
//! multi-threaded runtime (the client's), on the blocking pool otherwise (tests on a
//! current-thread runtime).
//!
//! Log target: `flask_mqtt::dispatch`.

mod clock;
pub(crate) mod hold;
mod inline;
mod lost;
mod measure;
pub(crate) mod observe;
mod owed;
mod queue;
mod reply;
mod router;
mod routes;
pub(crate) mod split;
mod trust;
mod turn;
mod watchdog;
mod worker;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use flask_mqtt_topic::FilterTrie;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

use self::hold::{item, AckMode};
use self::lost::{Abandoned, Lost};
use self::measure::Reports;
use self::observe::{Completions, Observer};
use self::owed::OwedWatch;
use self::queue::{queue, Queue, SendError};
use self::router::{route, Backlog, Job, BACKLOG_WARNING, NOBODY};
use self::routes::{Routes, Targets};
use self::trust::Trust;
use self::watchdog::InlinePolls;
pub(crate) use self::watchdog::Intake;
use self::worker::run_worker;
use crate::ack::policy::AckPolicy;
use crate::ack::watermark::{Slot, Watermark};
use crate::event::completion::{Pending, Settle};
use crate::event::{Event, HandlerKind};
use crate::extract::context::EventContext;
use crate::handle::Mqtt;
use crate::metrics::recorder::ClientMetrics;
use crate::registry::Handler;
use crate::visible::{at_first_or_doubling, FirstFew};

/// Routes events to the handler workers.
pub(crate) struct Dispatcher {
    intake: mpsc::UnboundedSender<Job>,
    routes: Arc<Routes>,
    backlog: Arc<Backlog>,
    /// The handler queues, for the direct path (the router has its own senders).
    queues: Vec<Queue>,
    router: JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
    /// Counts events until they settle, and tells the observer.
    completions: Arc<Completions>,
    /// `completions`, as every event's context reports to it.
    settle: Arc<dyn Settle>,
    /// The number of the next event.
    next_seq: AtomicU64,
    /// Told of every call (the workers have their own): metrics and observer.
    reports: Option<Arc<Reports>>,
    /// The inline poll under way, for the watchdog.
    polls: Arc<InlinePolls>,
    /// The client's owed acknowledgements, for the watchdog (once the client has them).
    owed: OnceLock<Arc<OwedWatch>>,
    /// Events not delivered (a worker or the router gone), said when it stops.
    lost: Arc<Lost>,
}

impl Dispatcher {
    /// Spawns the router and one worker per handler on the current runtime; each handler
    /// call and each event, once all its calls ended, are reported to `observer`.
    /// Handlers acknowledge after their calls unless their attribute says otherwise.
    #[cfg(test)]
    pub(crate) fn start(handlers: Vec<Handler>, observer: Option<Arc<dyn Observer>>) -> Dispatcher {
        Dispatcher::start_acking(handlers, observer, AckPolicy::After, "MQTT", None)
    }

    /// [`start`](Dispatcher::start), with `default` (the ack policy of the client whose
    /// keys start with `prefix`) for handlers whose attribute does not choose how they
    /// acknowledge, and each call recorded in `metrics` (when the client records
    /// metrics): the handlers' metrics are created here, once, and handed to it.
    pub(crate) fn start_acking(
        handlers: Vec<Handler>,
        observer: Option<Arc<dyn Observer>>,
        default: AckPolicy,
        prefix: &str,
        metrics: Option<&ClientMetrics>,
    ) -> Dispatcher {
        let (queues_and_rx, measured): (Vec<_>, Vec<_>) = handlers
            .iter()
            .map(|h| {
                let capacity = usize::try_from(h.desc.queue).unwrap_or(usize::MAX).max(1);
                let (tx, rx) = queue(capacity, Trust::of(h));
                let recorded = metrics.map(|_| measure::handler_metrics(h, &tx));
                ((tx, rx), recorded)
            })
            .unzip();
        let measured = measured.into_iter().collect::<Option<Vec<_>>>();
        let completions = Arc::new(Completions::new(observer.clone()));
        let reports = Reports::new(metrics.zip(measured), observer);
        let mut by_kind: Vec<(HandlerKind, Vec<usize>)> = Vec::new();
        let mut trie = FilterTrie::new();
        let mut catch_all = Vec::new();
        let mut queues = Vec::with_capacity(handlers.len());
        let mut workers = Vec::with_capacity(handlers.len());
        let mut shared = Vec::with_capacity(handlers.len());
        let mut modes = Vec::with_capacity(handlers.len());
        let polls = InlinePolls::watch(handlers.iter().map(|h| h.name.clone()).collect());
        for (i, (h, (tx, rx))) in handlers.into_iter().zip(queues_and_rx).enumerate() {
            modes.push(AckMode::of(&h, default, prefix));
            let kind = h.desc.kind;
            match (kind, &h.filter) {
                (HandlerKind::Message, Some(f)) => trie.insert(f, i),
                (HandlerKind::Message, None) => catch_all.push(i),
                _ => match by_kind.iter_mut().find(|(k, _)| *k == kind) {
                    Some((_, v)) => v.push(i),
                    None => by_kind.push((kind, vec![i])),
                },
            }
            let h = Arc::new(h);
            queues.push(tx);
            workers.push(tokio::spawn(run_worker(
                Arc::clone(&h),
                i,
                rx,
                reports.clone(),
            )));
            shared.push(h);
        }
        let routes = Arc::new(Routes {
            handlers: shared,
            modes,
            by_kind: by_kind
                .into_iter()
                .map(|(k, v)| (k, Targets::from(v)))
                .collect(),
            trie,
            catch_all: Targets::from(catch_all),
            nobody: Targets::from(Vec::new()),
            topics: Mutex::new(routes::TopicCache::default()),
            unrouted: FirstFew::default(),
        });
        let backlog = Arc::new(Backlog {
            len: AtomicUsize::new(0),
            waiting_for: AtomicUsize::new(NOBODY),
            warned: AtomicBool::new(false),
            on_stderr: AtomicBool::new(false),
            grew: Notify::new(),
        });
        let (intake, rx) = mpsc::unbounded_channel();
        let lost = Arc::new(Lost::new());
        let router = tokio::spawn(route(
            Arc::clone(&routes),
            Arc::clone(&backlog),
            Arc::clone(&lost),
            rx,
            queues.clone(),
        ));
        clock::start_clock();
        Dispatcher {
            intake,
            routes,
            backlog,
            queues,
            router,
            workers,
            settle: Arc::clone(&completions) as Arc<dyn Settle>,
            completions,
            next_seq: AtomicU64::new(0),
            reports,
            polls,
            owed: OnceLock::new(),
            lost,
        }
    }

    /// Lets the watchdog of `intake` (the client's) tell a stalled driver from an inline
    /// poll that blocks, which is reported on its own.
    pub(crate) fn watched_with(&self, intake: &Intake) {
        intake.follow(&self.polls);
    }

    /// Lets the watchdog say when the acknowledgements client `client_id` owes (`acks`)
    /// stop going out for long, naming the handlers with calls queued or running.
    pub(crate) fn watch_owed(&self, client_id: &str, acks: &Arc<Watermark>) {
        let handlers = self
            .routes
            .handlers
            .iter()
            .zip(&self.queues)
            .map(|(h, q)| (h.name.clone(), Arc::clone(&q.room)))
            .collect();
        let _ = self.owed.set(OwedWatch::watch(client_id, acks, handlers));
    }

    /// Whether any handler of `kind` is registered.
    pub(crate) fn has(&self, kind: HandlerKind) -> bool {
        match kind {
            HandlerKind::Message => {
                !self.routes.catch_all.is_empty() || !self.routes.trie.is_empty()
            }
            _ => self
                .routes
                .by_kind
                .iter()
                .any(|(k, v)| *k == kind && !v.is_empty()),
        }
    }

    /// Queues `event` for every handler it concerns, and returns its number (events are
    /// numbered in the order they are dispatched). Never waits (safe anywhere, also on the
    /// driver task); see the module docs for what happens when handlers fall behind.
    ///
    /// Direct path: while no event waits for the router, the event goes straight into the
    /// handler queues, which keeps arrival order (the driver is the only caller; a
    /// `TestClient` dispatches one event at a time too: a second caller at once would
    /// also break a handler's one call at a time, and its metrics' plain adds) and saves
    /// a hop through the router task per event. If a queue is full, the event goes on
    /// through the router from that handler on, and later events follow it there until
    /// the router has caught up.
    pub(crate) fn dispatch(&self, client: &Mqtt, event: Event) -> u64 {
        self.dispatch_owed(client, event, None)
    }

    /// [`dispatch`](Dispatcher::dispatch) for a QoS 1/2 message, whose acknowledgement
    /// `ack` is held by the handler calls that must end first (see [`hold`]) and by
    /// dispatch until every handler queue has the message; it settles when they let go.
    pub(crate) fn dispatch_owed(&self, client: &Mqtt, event: Event, ack: Option<Slot>) -> u64 {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        self.completions.started();
        let pending = Pending::new(seq, Arc::clone(&self.settle));
        let ctx = Arc::new(EventContext::new(client.clone(), event).pending(pending));
        let targets = self.routes.targets(ctx.event());
        // No handler holds it (none takes it, or all are `first`): acknowledged now, not
        // when a full queue has room for it.
        let ack = ack.filter(|_| targets.iter().any(|&i| self.routes.mode(i).holds()));
        if self.backlog.len.load(Ordering::SeqCst) == 0 {
            // The end of the last call made inline: the start of the next.
            let mut ended = None;
            let mut undelivered = false;
            for (n, &i) in targets.iter().enumerate() {
                let (Some(h), Some(queue)) = (self.routes.handlers.get(i), self.queues.get(i))
                else {
                    continue;
                };
                let item = item(h, self.routes.mode(i), &ctx, ack.as_ref());
                let reports = self.reports.as_ref();
                let item = match inline::call(h, i, queue, item, reports, &self.polls, ended) {
                    Ok(end) => {
                        ended = end;
                        continue;
                    }
                    Err(item) => item,
                };
                match queue.try_send(item) {
                    Ok(()) => {}
                    // The worker is gone (runtime shutdown).
                    Err(SendError::Closed) => undelivered = true,
                    Err(SendError::Full(item)) => {
                        // The router's job owes the message this call now: the item
                        // lets go of its hold without marking the message unhandled.
                        drop(item.owing.kept());
                        self.submit(Job::new(ctx, Arc::clone(&targets), n, ack));
                        if undelivered {
                            self.lost.undelivered();
                        }
                        return seq;
                    }
                }
            }
            if undelivered {
                self.lost.undelivered();
            }
            return seq;
        }
        self.submit(Job::new(ctx, targets, 0, ack));
        seq
    }

    fn submit(&self, job: Job) {
        let len = self.backlog.len.fetch_add(1, Ordering::SeqCst) + 1;
        if at_first_or_doubling(len, BACKLOG_WARNING) {
            let waiting = self.backlog.waiting_for.load(Ordering::SeqCst);
            match self.routes.handlers.get(waiting) {
                Some(h) => self.backlog.warn(len, h),
                // The router has not said yet whom it waits for: it warns when it does.
                None => self.backlog.grew.notify_one(),
            }
        }
        if self.intake.send(job).is_err() {
            // The router is gone: only after a runtime shutdown. The job is dropped here,
            // which settles its event with no calls; said when the dispatcher stops.
            self.backlog.len.fetch_sub(1, Ordering::SeqCst);
            self.lost.undelivered();
        }
    }

    /// Whether every event dispatched so far has been handled: none waits for the router,
    /// none is queued for a handler, no handler call is running.
    pub(crate) fn is_idle(&self) -> bool {
        self.backlog.len.load(Ordering::SeqCst) == 0 && self.completions.all_settled()
    }

    /// Closes the intake and waits (up to `timeout`) for the handlers to finish every
    /// event already dispatched; then says how many events were left unhandled, if any.
    pub(crate) async fn drain(self, timeout: Duration) {
        let Dispatcher {
            intake,
            routes,
            queues,
            router,
            workers,
            completions,
            lost,
            ..
        } = self;
        let rooms: Vec<_> = queues.iter().map(|q| Arc::clone(&q.room)).collect();
        // The router's senders close the handler queues when it finishes.
        drop(queues);
        drop(intake);
        let all = async move {
            let _ = router.await;
            futures::future::join_all(workers).await;
        };
        let abandoned = tokio::time::timeout(timeout, all).await.is_err().then(|| {
            let handlers = routes
                .handlers
                .iter()
                .zip(&rooms)
                .filter(|(_, room)| room.busy.load(Ordering::SeqCst) > 0)
                .map(|(h, _)| h.name.clone())
                .collect();
            Abandoned {
                events: completions.unsettled(),
                waited: timeout,
                handlers,
            }
        });
        lost.say(abandoned.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::time::Instant;

    use tokio::sync::Semaphore;

    use super::routes::{TOPIC_CACHE_ENTRIES, TOPIC_CACHE_MAX_LEN};
    use super::*;
    use crate::event::log::{LogEntry, LogLevel};
    use crate::handler::Outcome;
    use crate::handler_future::HandlerFuture;
    use crate::message::Message;
    use crate::qos::QoS;
    use crate::registry::{HandlerDescriptor, HandlerFn};
    use crate::sync::lock;
    use crate::testing::{Calls, TestClient, Watch};
    use crate::visible::said;

    pub(super) const DEADLINE: Duration = Duration::from_secs(10);

    static GATE: Semaphore = Semaphore::const_new(0);
    static SLOW_STARTED: AtomicUsize = AtomicUsize::new(0);
    static SLOW_DONE: AtomicUsize = AtomicUsize::new(0);
    static FAST_RAN: AtomicUsize = AtomicUsize::new(0);

    fn slow(_: Arc<EventContext>) -> HandlerFuture {
        HandlerFuture::new(async {
            SLOW_STARTED.fetch_add(1, Ordering::SeqCst);
            if let Ok(permit) = GATE.acquire().await {
                permit.forget();
            }
            SLOW_DONE.fetch_add(1, Ordering::SeqCst);
            Ok(None)
        })
    }

    fn fast(_: Arc<EventContext>) -> Outcome {
        FAST_RAN.fetch_add(1, Ordering::SeqCst);
        Ok(None)
    }

    static SLOW: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "slow",
        "dispatch::tests",
        HandlerFn::Async(slow),
    )
    .with_filter("slow")
    .with_queue(2);

    static FAST: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "fast",
        "dispatch::tests",
        HandlerFn::Sync(fast),
    )
    .with_filter("fast");

    async fn wait_until(what: &str, cond: impl Fn() -> bool) {
        let start = Instant::now();
        while !cond() {
            assert!(start.elapsed() < DEADLINE, "timed out waiting until {what}");
            tokio::task::yield_now().await;
        }
    }

    /// A dispatcher for `handlers` whose events can be awaited, and a client for them.
    pub(super) fn watched(handlers: Vec<Handler>) -> (Dispatcher, Arc<Watch>, TestClient) {
        let watch = Arc::new(Watch::default());
        let d = Dispatcher::start(handlers, Some(Arc::clone(&watch) as _));
        (d, watch, TestClient::new().unwrap())
    }

    /// Dispatches `event`; resolves to its calls once they have all ended.
    pub(super) fn dispatch(
        d: &Dispatcher,
        watch: &Watch,
        app: &TestClient,
        event: Event,
    ) -> impl Future<Output = Calls> {
        watch.ended(d.dispatch(app.client(), event))
    }

    pub(super) async fn done<T>(f: impl Future<Output = T>) -> T {
        match tokio::time::timeout(DEADLINE, f).await {
            Ok(v) => v,
            Err(_) => panic!("a dispatched event did not complete in {DEADLINE:?}"),
        }
    }

    /// Set in the process [`assert_passes_alone`] starts.
    pub(super) const ALONE: &str = "FLASK_MQTT_TEST_ALONE";

    /// Runs the test `path` (`module_path!()::name`) alone in a new process of this test
    /// binary, with [`ALONE`] set, and fails unless it ran and passed.
    pub(super) fn assert_passes_alone(path: &str) {
        let name = path.split_once("::").map_or(path, |(_, name)| name);
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--test-threads=1", "--nocapture"])
            .env(ALONE, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("test result: ok. 1 passed"),
            "{name}, alone: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A full queue holds the router (and so every later event) back, loses nothing, and
    /// never blocks `dispatch` itself.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_holds_dispatch_back_and_loses_nothing() {
        let handlers = [&SLOW, &FAST]
            .into_iter()
            .filter_map(|d| Handler::new(d, d.name()))
            .collect();
        let (d, watch, app) = watched(handlers);
        let msg = |topic: &str| Event::Message(Message::new(topic, "", QoS::AtMostOnce, false));

        let mut slow_calls = vec![dispatch(&d, &watch, &app, msg("slow"))];
        wait_until("the slow handler runs", || {
            SLOW_STARTED.load(Ordering::SeqCst) == 1
        })
        .await;

        // The fast handler is not held up while the slow one's queue has room.
        let calls = done(dispatch(&d, &watch, &app, msg("fast"))).await;
        assert_eq!(calls.len(), 1);
        assert_eq!(FAST_RAN.load(Ordering::SeqCst), 1);

        // Two more fill the slow queue; the third makes the router wait for room.
        for _ in 0..3 {
            slow_calls.push(dispatch(&d, &watch, &app, msg("slow")));
        }
        wait_until("the router waits for the slow handler", || {
            d.backlog.waiting_for.load(Ordering::SeqCst) == 0
        })
        .await;
        // `dispatch` still returns at once; the event waits in the intake, behind the
        // one the router holds.
        let late = dispatch(&d, &watch, &app, msg("fast"));
        assert_eq!(d.backlog.len.load(Ordering::SeqCst), 2);
        assert_eq!(
            FAST_RAN.load(Ordering::SeqCst),
            1,
            "nothing overtakes the held event"
        );

        GATE.add_permits(4);
        for call in slow_calls {
            assert_eq!(done(call).await.len(), 1);
        }
        assert_eq!(done(late).await.len(), 1);
        assert_eq!(SLOW_DONE.load(Ordering::SeqCst), 4);
        assert_eq!(FAST_RAN.load(Ordering::SeqCst), 2);
        assert_eq!(d.backlog.len.load(Ordering::SeqCst), 0);
        assert_eq!(d.backlog.waiting_for.load(Ordering::SeqCst), NOBODY);
        done(d.drain(DEADLINE)).await;
    }

    /// The topic cache gives the trie's answer, also past its size and for topics too
    /// long to remember.
    #[tokio::test]
    async fn cached_targets_are_the_tries() {
        let handlers = [&SLOW, &FAST]
            .into_iter()
            .filter_map(|d| Handler::new(d, d.name()))
            .collect();
        let d = Dispatcher::start(handlers, None);
        let msg = |topic: &str| Event::Message(Message::new(topic, "", QoS::AtMostOnce, false));
        for _ in 0..2 {
            assert_eq!(&*d.routes.targets(&msg("fast")), &[1]);
            assert_eq!(&*d.routes.targets(&msg("slow")), &[0]);
            assert!(d.routes.targets(&msg("other")).is_empty());
        }
        for i in 0..TOPIC_CACHE_ENTRIES + 10 {
            assert!(d.routes.targets(&msg(&format!("t/{i}"))).is_empty());
        }
        assert!(lock(&d.routes.topics).len() <= TOPIC_CACHE_ENTRIES);
        assert_eq!(&*d.routes.targets(&msg("fast")), &[1]);
        let long = format!("{}/fast", "x".repeat(TOPIC_CACHE_MAX_LEN));
        assert!(d.routes.targets(&msg(&long)).is_empty());
        assert!(lock(&d.routes.topics).get(long.as_str()).is_none());
        assert!(d
            .routes
            .targets(&Event::Log(LogEntry::new(LogLevel::Info, "x")))
            .is_empty());
    }

    /// The calls in the order they started: (start, number in the message).
    static STARTS: Mutex<Vec<(usize, u32)>> = Mutex::new(Vec::new());
    static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    /// Records the number in its message as it starts, then waits once. The start is
    /// taken first, with an atomic (calls start in parallel: one that waits for a lock
    /// while another takes it twice would look late).
    fn records_start(ctx: Arc<EventContext>) -> HandlerFuture {
        HandlerFuture::new(async move {
            let start = STARTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if let Some(n) = ctx
                .message()
                .and_then(|m| std::str::from_utf8(m.payload()).ok()?.parse().ok())
            {
                lock(&STARTS).push((start, n));
            }
            tokio::task::yield_now().await;
            Ok(None)
        })
    }

    static RECORDS_START: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "records_start",
        "dispatch::tests",
        HandlerFn::Async(records_start),
    )
    .with_filter("order")
    .with_concurrency(4);

    /// With `concurrency = N`, calls start in arrival order (the module's guarantee).
    /// Each call was its own task, and Tokio runs the task spawned last first (its LIFO
    /// slot): 19 to 33 of 5,000 calls started before the one sent ahead of them. One
    /// worker thread: with two, a thread can be stopped between passing the turn and
    /// the handler's first statement, so that statements of calls started in order can
    /// still interleave (the guarantee is the order of first polls); on one thread the
    /// test is exact, and without the turns it fails (`[[3, 0], [3977, 3974]]`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn calls_start_in_arrival_order_with_concurrency() {
        const CALLS: u32 = 5_000;
        let handlers = [&RECORDS_START]
            .into_iter()
            .filter_map(|d| Handler::new(d, d.name()))
            .collect();
        let (d, _watch, app) = watched(handlers);
        for n in 0..CALLS {
            let m = Message::new("order", n.to_string(), QoS::AtMostOnce, false);
            d.dispatch(app.client(), Event::Message(m));
        }
        wait_until("every call started", || {
            lock(&STARTS).len() == CALLS as usize
        })
        .await;
        let mut starts = lock(&STARTS).clone();
        starts.sort_unstable();
        let starts: Vec<u32> = starts.into_iter().map(|(_, n)| n).collect();
        let late: Vec<_> = starts.windows(2).filter(|w| w[0] > w[1]).collect();
        assert!(
            late.is_empty(),
            "{} of {CALLS} calls started out of order: {:?}",
            late.len(),
            &late[..late.len().min(5)]
        );
        done(d.drain(DEADLINE)).await;
    }

    /// A call that never ends.
    fn stuck(_: Arc<EventContext>) -> HandlerFuture {
        HandlerFuture::new(async {
            std::future::pending::<()>().await;
            Ok(None)
        })
    }

    static STUCK: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "stuck",
        "dispatch::tests",
        HandlerFn::Async(stuck),
    )
    .with_filter("stuck");

    static GONE: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "gone",
        "dispatch::tests",
        HandlerFn::Async(stuck),
    )
    .with_filter("gone");

    /// Events a stop leaves unhandled are said once, with their number, whether or not a
    /// logger is installed (these tests install none): those still queued or running
    /// when shutdown stops waiting for their handlers, and those that could not reach a
    /// handler whose worker had stopped. They were logged only, or not at all.
    #[tokio::test]
    async fn events_left_unhandled_at_shutdown_are_said_once_with_their_number() {
        let handlers = [&STUCK, &GONE]
            .into_iter()
            .filter_map(|d| Handler::new(d, d.name()))
            .collect();
        let (mut d, _watch, app) = watched(handlers);
        // The worker of `gone` stops, as on a runtime shutting down.
        let Some(gone) = d.workers.get_mut(1) else {
            panic!("two workers");
        };
        gone.abort();
        // (`drain` joins what is left in its place.)
        let gone = std::mem::replace(gone, tokio::spawn(async {}));
        assert!(gone.await.is_err_and(|e| e.is_cancelled()));
        let msg = |topic: &str| Event::Message(Message::new(topic, "", QoS::AtMostOnce, false));
        for topic in ["stuck", "gone", "stuck", "gone", "stuck"] {
            d.dispatch(app.client(), msg(topic));
        }
        done(d.drain(Duration::from_millis(100))).await;
        let lines = said::containing("events not handled");
        let lines: Vec<_> = lines
            .iter()
            .filter(|l| l.contains("dispatch::tests::stuck"))
            .collect();
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(
            lines[0].starts_with(
                "WARN flask_mqtt::dispatch: dispatch stopped with 5 events not handled: 3 still queued or running"
            ) && lines[0].contains("2 that did not reach a handler"),
            "{lines:#?}"
        );
    }

    /// Meets `CALLS` parties: returns whether all of them were here at once before
    /// `DEADLINE`, blocking its thread meanwhile.
    struct Meeting {
        here: Mutex<usize>,
        all: std::sync::Condvar,
    }

    impl Meeting {
        const CALLS: usize = 4;

        const fn new() -> Meeting {
            Meeting {
                here: Mutex::new(0),
                all: std::sync::Condvar::new(),
            }
        }

        fn meet(&self) -> bool {
            let mut here = lock(&self.here);
            *here += 1;
            self.all.notify_all();
            let (here, _) = self
                .all
                .wait_timeout_while(here, Duration::from_secs(2), |here| *here < Self::CALLS)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *here >= Self::CALLS
        }
    }

    static BLOCKERS: Meeting = Meeting::new();
    static MET: Mutex<Vec<bool>> = Mutex::new(Vec::new());

    /// Blocks its thread before its first `.await` (as argument extraction, CPU-heavy
    /// or blocking code does) until all the calls are in there at once, or 2 s passed.
    fn blocks_first(_: Arc<EventContext>) -> HandlerFuture {
        HandlerFuture::new(async move {
            let met = BLOCKERS.meet();
            lock(&MET).push(met);
            tokio::task::yield_now().await;
            Ok(None)
        })
    }

    static BLOCKS_FIRST: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "blocks_first",
        "dispatch::tests",
        HandlerFn::Async(blocks_first),
    )
    .with_filter("blocks-first")
    .with_concurrency(4);

    /// With `concurrency = N`, up to N calls run at once, what they do before their
    /// first `.await` included: all four calls are in their blocking part together.
    /// When the worker polled each call once itself to start them in order, those parts
    /// ran one at a time (four calls blocking 200 ms took 802 ms).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn calls_block_in_parallel_with_concurrency() {
        let handlers = [&BLOCKS_FIRST]
            .into_iter()
            .filter_map(|d| Handler::new(d, d.name()))
            .collect();
        let (d, _watch, app) = watched(handlers);
        for n in 0..Meeting::CALLS {
            let m = Message::new("blocks-first", n.to_string(), QoS::AtMostOnce, false);
            d.dispatch(app.client(), Event::Message(m));
        }
        wait_until("every call met", || lock(&MET).len() == Meeting::CALLS).await;
        assert_eq!(
            *lock(&MET),
            [true; Meeting::CALLS],
            "calls that found all {} calls in their blocking part at once",
            Meeting::CALLS
        );
        done(d.drain(DEADLINE)).await;
    }

    /// An event no handler takes completes at once, with no calls.
    #[tokio::test]
    async fn an_event_for_nobody_completes_empty() {
        let (d, watch, app) = watched(Vec::new());
        let event = Event::Message(Message::new("nobody/here", "", QoS::AtMostOnce, false));
        assert!(done(dispatch(&d, &watch, &app, event)).await.is_empty());
        assert!(!d.has(HandlerKind::Message));
        assert!(!d.has(HandlerKind::Connect));
    }
}
