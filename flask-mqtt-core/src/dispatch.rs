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
//! order, from the first full queue until it has caught up.
//!
//! # Guarantees
//!
//! - **Nothing is dropped.** Every event handed to [`Dispatcher::dispatch`] reaches the
//!   queue of every handler it concerns (topic trie for messages; the catch-all when no
//!   filter matched), unless shutdown gives up on handlers still busy after its timeout
//!   (logged).
//! - **Order.** With `concurrency = 1` (the default) a handler sees its events one at a
//!   time, in arrival order. With `concurrency = N` calls *start* in arrival order and up
//!   to `N` run at once.
//! - **Isolation.** Each handler has its own bounded queue (`queue = N`, default 1024
//!   events) and worker: a slow handler does not delay the others until its queue is full.
//! - **Back-pressure, and where it stops.** When a handler's queue is full the router
//!   waits for room, in arrival order, so *every* handler stops receiving new events
//!   until the slow one makes room (no event overtakes another). Events keep arriving
//!   meanwhile and wait in the router's unbounded intake: memory use is
//!   `sum(queue) + sum(concurrency)` events in handlers plus the intake backlog, which is
//!   bounded only by what the broker sends while a handler is stalled. A warning names
//!   the handler holding things up when the backlog reaches 1024 events and at every
//!   doubling; an info line says when it is cleared.
//! - **Paho is never blocked.** Back-pressure does not reach the broker: the Paho
//!   receive thread only pushes into unbounded channels. Holding that thread would be
//!   the only way to withhold acknowledgements (Paho C acknowledges a QoS 1 message as
//!   soon as its message callback returns, and paho-mqtt 0.14's callback always reports
//!   success), and it would deadlock any handler awaiting a QoS 1/2 publish or a
//!   subscribe (their acknowledgements are read by that same thread), leave PINGRESP
//!   unread (Paho then drops the connection after the keep-alive), and hold paho-mqtt's
//!   callback lock that its other callbacks need. A broker held back would not keep the
//!   messages either: Mosquitto drops what exceeds `max_queued_messages` (default 1000)
//!   for a client that does not read. Absorbing the backlog in memory, loudly, is the
//!   only choice that loses nothing (tested: 5000 QoS 1 messages behind a blocked
//!   handler against a default Mosquitto arrive complete and in order).
//! - **Failures stay local.** A rejected argument (the handler is not called), an `Err`
//!   return, a panic, or a reply that could not be sent is logged as a warning naming
//!   the handler (and the topic for messages); other handlers, and later events, run as
//!   usual.
//!
//! Sync handlers run under `block_in_place` on a multi-threaded runtime (the client's),
//! on the blocking pool otherwise (tests on a current-thread runtime).
//!
//! Log target: `flask_mqtt::dispatch`.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flask_mqtt_topic::FilterTrie;
use futures::FutureExt;
use paho_mqtt::PropertyCode;
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use crate::extract::{Event, EventContext};
use crate::handler::{panic_message, HandlerError, Outcome, Reply};
use crate::registry::{Handler, HandlerFn, HandlerKind};
use crate::sync::lock;
use crate::Mqtt;

const TARGET: &str = "flask_mqtt::dispatch";

/// The intake backlog at which the first warning is logged; then at every doubling.
const BACKLOG_WARNING: usize = 1024;

/// No handler is being waited for.
const NOBODY: usize = usize::MAX;

/// One handler call's result, as recorded for tracked events.
pub(crate) type CallRecord = (String, Result<(), HandlerError>);

/// Completion of one tracked event: when the last clone is dropped (every handler call
/// the event caused has finished, or the event could not be queued), the calls are sent.
struct Tracker {
    calls: Mutex<Vec<CallRecord>>,
    done: Mutex<Option<oneshot::Sender<Vec<CallRecord>>>>,
}

impl Tracker {
    fn record(&self, call: CallRecord) {
        lock(&self.calls).push(call);
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if let Some(done) = lock(&self.done).take() {
            let _ = done.send(std::mem::take(&mut *lock(&self.calls)));
        }
    }
}

/// An event on its way to the router.
struct Job {
    ctx: Arc<EventContext>,
    tracker: Option<Arc<Tracker>>,
    /// Targets already served by [`Dispatcher::dispatch`]'s direct path.
    skip: usize,
}

/// An event in one handler's queue. Its context counts as busy (see [`Busy`]) until
/// every call that shares it is over (or dropped).
struct Item {
    ctx: Arc<EventContext>,
    tracker: Option<Arc<Tracker>>,
}

/// An event not finished yet: waiting for the router, queued for a handler or in a
/// handler call. Held by the event's context, which every call of the event shares
/// (a handler with a topic template gets a context, and a `Busy`, of its own). See
/// [`Dispatcher::is_idle`].
///
/// One per event rather than one per handler call: the counter and its `Arc` are
/// shared by the worker threads, and counting each of the 10 calls of a message cost
/// 40 atomic read-modify-writes on those two cache lines per message.
pub(crate) struct Busy(Arc<AtomicUsize>);

impl std::fmt::Debug for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Busy")
    }
}

impl Busy {
    fn new(count: &Arc<AtomicUsize>) -> Busy {
        count.fetch_add(1, Ordering::SeqCst);
        Busy(Arc::clone(count))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A handler's queue: at most `capacity` events sent and not yet taken by its worker.
///
/// An unbounded channel and a counter rather than Tokio's bounded channel, whose
/// receiver returns every slot under the semaphore's mutex: measured with callgrind
/// (bench child-framework, 10 calls per message), that was about 800 instructions per
/// message.
#[derive(Clone)]
struct Queue {
    tx: mpsc::UnboundedSender<Item>,
    room: Arc<Room>,
}

/// How full a [`Queue`] is, shared by its senders and its worker.
struct Room {
    capacity: usize,
    /// Events sent and not yet taken by the worker.
    len: AtomicUsize,
    /// Told when the worker takes an event from a full queue.
    freed: Notify,
}

/// A [`Queue`]'s worker end.
struct QueueRx {
    rx: mpsc::UnboundedReceiver<Item>,
    room: Arc<Room>,
}

fn queue(capacity: usize) -> (Queue, QueueRx) {
    let (tx, rx) = mpsc::unbounded_channel();
    let room = Arc::new(Room {
        capacity,
        len: AtomicUsize::new(0),
        freed: Notify::new(),
    });
    (
        Queue {
            tx,
            room: Arc::clone(&room),
        },
        QueueRx { rx, room },
    )
}

/// Why [`Queue::try_send`] did not queue the event.
enum SendError {
    /// The queue is full; the event is handed back.
    Full(Item),
    /// The worker is gone (runtime shutdown).
    Closed,
}

impl Queue {
    fn try_send(&self, item: Item) -> Result<(), SendError> {
        let room = &self.room;
        let taken = room
            .len
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < room.capacity).then_some(n + 1)
            });
        if taken.is_err() {
            return Err(SendError::Full(item));
        }
        self.tx.send(item).map_err(|_| {
            room.len.fetch_sub(1, Ordering::SeqCst);
            SendError::Closed
        })
    }

    /// Waits until `item` is queued (or the worker is gone).
    async fn send(&self, mut item: Item) {
        loop {
            let freed = self.room.freed.notified();
            tokio::pin!(freed);
            // Registered before the attempt: room made after it wakes this wait.
            freed.as_mut().enable();
            match self.try_send(item) {
                Ok(()) | Err(SendError::Closed) => return,
                Err(SendError::Full(back)) => item = back,
            }
            freed.await;
        }
    }
}

impl QueueRx {
    async fn recv(&mut self) -> Option<Item> {
        let item = self.rx.recv().await?;
        if self.room.len.fetch_sub(1, Ordering::SeqCst) == self.room.capacity {
            self.room.freed.notify_one();
        }
        Some(item)
    }
}

/// The handlers of one event, by index; shared, so that a cached answer costs no copy.
type Targets = Arc<[usize]>;

/// Topics remembered by [`Routes::targets`]; at this size the cache starts over.
const TOPIC_CACHE_ENTRIES: usize = 4096;
/// Longer topics are matched every time instead of remembered, so that the cache holds
/// at most about 1 MiB of topic names.
const TOPIC_CACHE_MAX_LEN: usize = 256;

/// Which handlers an event goes to.
struct Routes {
    handlers: Vec<Arc<Handler>>,
    by_kind: Vec<(HandlerKind, Targets)>,
    trie: FilterTrie<usize>,
    catch_all: Targets,
    /// No handler.
    nobody: Targets,
    /// The handlers of topics seen before. Topics repeat (a device publishes to the same
    /// few), and one lookup here is one hash of the topic, where the trie walk hashes
    /// every level, once per branch (`+` and `#` filters); it also saves collecting the
    /// matches into a new list for every message. Measured with callgrind, 100 handlers
    /// of which 10 match each message: about 3,900 instructions per message before.
    topics: Mutex<HashMap<Box<str>, Targets>>,
    /// Handler calls queued or running.
    busy: Arc<AtomicUsize>,
}

impl Routes {
    /// The handlers `event` concerns, in registry order per filter.
    /// Counts one more event as busy until the returned guard is dropped.
    fn busy(&self) -> Busy {
        Busy::new(&self.busy)
    }

    fn targets(&self, event: &Event) -> Targets {
        let kind = match event {
            Event::Message(m) => return self.message_targets(m.topic()),
            Event::Connected(_) => HandlerKind::Connect,
            Event::Disconnected(_) => HandlerKind::Disconnect,
            Event::Log(_) => HandlerKind::Log,
            Event::Published(_) => HandlerKind::Publish,
            Event::Subscribed(_) => HandlerKind::Subscribe,
            Event::Unsubscribed(_) => HandlerKind::Unsubscribe,
        };
        self.by_kind
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or_else(|| Arc::clone(&self.nobody), |(_, v)| Arc::clone(v))
    }

    fn message_targets(&self, topic: &str) -> Targets {
        let cached = lock(&self.topics).get(topic).map(Arc::clone);
        let targets = match cached {
            Some(t) => t,
            None => {
                let mut found = Vec::new();
                self.trie.for_each_match(topic, |&i| found.push(i));
                let targets = if found.is_empty() {
                    Arc::clone(&self.catch_all)
                } else {
                    Targets::from(found)
                };
                if topic.len() <= TOPIC_CACHE_MAX_LEN {
                    let mut topics = lock(&self.topics);
                    if topics.len() >= TOPIC_CACHE_ENTRIES {
                        topics.clear();
                    }
                    topics.insert(topic.into(), Arc::clone(&targets));
                }
                targets
            }
        };
        if targets.is_empty() {
            log::debug!(target: TARGET, "no handler for message on `{topic}`");
        }
        targets
    }
}

/// Counts events between `dispatch` and the router, and says when that grows.
struct Backlog {
    len: AtomicUsize,
    /// The handler whose full queue the router is waiting on, or [`NOBODY`].
    waiting_for: AtomicUsize,
    /// A warning was logged since the backlog was last empty.
    warned: AtomicBool,
    /// The backlog crossed a warning threshold before the router said whom it waits
    /// for: the router names the handler when it does.
    grew: Notify,
}

impl Backlog {
    fn warn(&self, len: usize, h: &Handler) {
        self.warned.store(true, Ordering::SeqCst);
        log::warn!(
            target: TARGET,
            "{len} events are waiting for dispatch: handler {} is not keeping up (its queue of {} is full); nothing is dropped, but memory grows until it catches up (raise `queue` or `concurrency` on the handler, or make it faster)",
            h.desc.name(),
            h.desc.queue
        );
    }
}

/// Routes events to the handler workers.
pub(crate) struct Dispatcher {
    intake: mpsc::UnboundedSender<Job>,
    routes: Arc<Routes>,
    backlog: Arc<Backlog>,
    /// The handler queues, for the direct path (the router has its own senders).
    queues: Vec<Queue>,
    router: JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
}

impl Dispatcher {
    /// Spawns the router and one worker per handler on the current runtime.
    pub(crate) fn start(handlers: Vec<Handler>) -> Dispatcher {
        let mut by_kind: Vec<(HandlerKind, Vec<usize>)> = Vec::new();
        let mut trie = FilterTrie::new();
        let mut catch_all = Vec::new();
        let mut queues = Vec::with_capacity(handlers.len());
        let mut workers = Vec::with_capacity(handlers.len());
        let mut shared = Vec::with_capacity(handlers.len());
        for (i, h) in handlers.into_iter().enumerate() {
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
            let capacity = usize::try_from(h.desc.queue).unwrap_or(usize::MAX).max(1);
            let (tx, rx) = queue(capacity);
            queues.push(tx);
            workers.push(tokio::spawn(run_worker(Arc::clone(&h), rx)));
            shared.push(h);
        }
        let routes = Arc::new(Routes {
            handlers: shared,
            by_kind: by_kind
                .into_iter()
                .map(|(k, v)| (k, Targets::from(v)))
                .collect(),
            trie,
            catch_all: Targets::from(catch_all),
            nobody: Targets::from(Vec::new()),
            topics: Mutex::new(HashMap::new()),
            busy: Arc::new(AtomicUsize::new(0)),
        });
        let backlog = Arc::new(Backlog {
            len: AtomicUsize::new(0),
            waiting_for: AtomicUsize::new(NOBODY),
            warned: AtomicBool::new(false),
            grew: Notify::new(),
        });
        let (intake, rx) = mpsc::unbounded_channel();
        let router = tokio::spawn(route(
            Arc::clone(&routes),
            Arc::clone(&backlog),
            rx,
            queues.clone(),
        ));
        Dispatcher {
            intake,
            routes,
            backlog,
            queues,
            router,
            workers,
        }
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

    /// Queues `event` for every handler it concerns. Never waits (safe anywhere, also on
    /// the driver task); see the module docs for what happens when handlers fall behind.
    ///
    /// Direct path: while no event waits for the router, the event goes straight into the
    /// handler queues, which keeps arrival order (the driver is the only caller) and saves
    /// a hop through the router task per event. If a queue is full, the event goes on
    /// through the router from that handler on, and later events follow it there until
    /// the router has caught up.
    pub(crate) fn dispatch(&self, client: &Mqtt, event: Event) {
        let ctx = Arc::new(EventContext::new(client.clone(), event).counted(self.routes.busy()));
        if self.backlog.len.load(Ordering::SeqCst) == 0 {
            for (n, &i) in self.routes.targets(ctx.event()).iter().enumerate() {
                let (Some(h), Some(queue)) = (self.routes.handlers.get(i), self.queues.get(i))
                else {
                    continue;
                };
                match queue.try_send(item(&self.routes, h, &ctx, None)) {
                    // Closed: the worker is gone (runtime shutdown).
                    Ok(()) | Err(SendError::Closed) => {}
                    Err(SendError::Full(_)) => {
                        self.submit(Job {
                            ctx,
                            tracker: None,
                            skip: n,
                        });
                        return;
                    }
                }
            }
            return;
        }
        self.submit(Job {
            ctx,
            tracker: None,
            skip: 0,
        });
    }

    /// Like [`dispatch`](Self::dispatch), and resolves when every handler call the event
    /// caused has finished, with each call's result (handler name, outcome).
    pub(crate) fn dispatch_tracked(
        &self,
        client: &Mqtt,
        event: Event,
    ) -> impl std::future::Future<Output = Vec<CallRecord>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let tracker = Arc::new(Tracker {
            calls: Mutex::new(Vec::new()),
            done: Mutex::new(Some(tx)),
        });
        self.submit(Job {
            ctx: Arc::new(EventContext::new(client.clone(), event).counted(self.routes.busy())),
            tracker: Some(tracker),
            skip: 0,
        });
        async move { rx.await.unwrap_or_default() }
    }

    fn submit(&self, job: Job) {
        let len = self.backlog.len.fetch_add(1, Ordering::SeqCst) + 1;
        if len >= BACKLOG_WARNING && len.is_power_of_two() {
            let waiting = self.backlog.waiting_for.load(Ordering::SeqCst);
            match self.routes.handlers.get(waiting) {
                Some(h) => self.backlog.warn(len, h),
                // The router has not said yet whom it waits for: it warns when it does.
                None => self.backlog.grew.notify_one(),
            }
        }
        if self.intake.send(job).is_err() {
            // The router is gone: only after a runtime shutdown. The job (and its tracker)
            // is dropped here, which completes a tracked event with no calls.
            self.backlog.len.fetch_sub(1, Ordering::SeqCst);
            log::warn!(target: TARGET, "event not dispatched: the dispatcher has stopped");
        }
    }

    /// Whether every event dispatched so far has been handled: none waits for the router,
    /// none is queued for a handler, no handler call is running.
    pub(crate) fn is_idle(&self) -> bool {
        self.backlog.len.load(Ordering::SeqCst) == 0 && self.routes.busy.load(Ordering::SeqCst) == 0
    }

    /// Closes the intake and waits (up to `timeout`) for the handlers to finish every
    /// event already dispatched.
    pub(crate) async fn drain(self, timeout: Duration) {
        let Dispatcher {
            intake,
            queues,
            router,
            workers,
            ..
        } = self;
        // The router's senders close the handler queues when it finishes.
        drop(queues);
        drop(intake);
        let all = async move {
            let _ = router.await;
            futures::future::join_all(workers).await;
        };
        if tokio::time::timeout(timeout, all).await.is_err() {
            log::warn!(
                target: TARGET,
                "handlers still running {timeout:?} after shutdown began; abandoning them"
            );
        }
    }
}

/// The router: takes events in arrival order and puts them in the queues of their
/// handlers, waiting for room when a queue is full.
async fn route(
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
            match queue.try_send(item(&routes, h, base, job.tracker.clone())) {
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
        let left = backlog.len.fetch_sub(1, Ordering::SeqCst).saturating_sub(1);
        if left == 0 && backlog.warned.swap(false, Ordering::SeqCst) {
            log::info!(target: TARGET, "dispatch caught up: no events waiting");
        }
    }
    // Dropping `queues` closes every handler queue: the workers finish what is queued.
}

/// What handler `h` gets of an event: the event's context (with `h`'s topic template
/// when it names levels).
fn item(
    routes: &Routes,
    h: &Handler,
    base: &Arc<EventContext>,
    tracker: Option<Arc<Tracker>>,
) -> Item {
    let ctx = match &h.template {
        Some(t) => Arc::new(base.with_template(Arc::clone(t)).counted(routes.busy())),
        None => Arc::clone(base),
    };
    Item { ctx, tracker }
}

async fn run_worker(h: Arc<Handler>, mut rx: QueueRx) {
    let concurrency = usize::try_from(h.desc.concurrency)
        .unwrap_or(usize::MAX)
        .clamp(1, Semaphore::MAX_PERMITS);
    if concurrency == 1 {
        while let Some(item) = rx.recv().await {
            run_one(&h, item).await;
        }
        return;
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
        running.spawn(async move {
            run_one(&h, item).await;
            drop(permit);
        });
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

/// One handler call: extraction, the call, the reply, the report.
async fn run_one(h: &Handler, item: Item) {
    let Item { ctx, tracker } = item;
    let result = match call(h.desc.call, Arc::clone(&ctx)).await {
        Ok(None) => Ok(()),
        Ok(Some(reply)) => send_reply(&ctx, reply).await,
        Err(e) => Err(e),
    };
    if let Err(e) = &result {
        report(h, &ctx, e);
    }
    if let Some(tracker) = tracker {
        tracker.record((h.desc.name(), result));
    }
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
            let run = move || match std::panic::catch_unwind(AssertUnwindSafe(move || f(ctx))) {
                Ok(o) => o,
                Err(p) => Err(HandlerError::Panicked(panic_message(&*p))),
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

/// Publishes a handler's reply to the request's Response Topic.
async fn send_reply(ctx: &EventContext, reply: Reply) -> Result<(), HandlerError> {
    let Some(msg) = ctx.message() else {
        return Err(HandlerError::Reply(format!(
            "only `#[on_message]` handlers can reply (this is `#[{}]`)",
            ctx.event().attribute()
        )));
    };
    let props = msg.as_paho().properties();
    let Some(topic) = props.get_string(PropertyCode::ResponseTopic) else {
        return Err(HandlerError::Reply(
            "the message has no response topic (an MQTT 5 property the requester sets)".to_owned(),
        ));
    };
    let (payload, qos) = reply.into_parts();
    let mut publish = ctx.client().publish(topic.as_str(), payload).qos(qos);
    // The requester matches the answer to its request by the Correlation Data.
    if let Some(data) = props.get_binary(PropertyCode::CorrelationData) {
        publish = publish.correlation_data(data);
    }
    publish
        .await
        .map_err(|e| HandlerError::Reply(format!("publishing it to `{topic}` failed: {e}")))
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

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::time::Instant;

    use tokio::sync::Semaphore;

    use super::*;
    use crate::handler::HandlerFuture;
    use crate::registry::HandlerDescriptor;
    use crate::{Config, Message, QoS};

    const DEADLINE: Duration = Duration::from_secs(10);

    static GATE: Semaphore = Semaphore::const_new(0);
    static SLOW_STARTED: AtomicUsize = AtomicUsize::new(0);
    static SLOW_DONE: AtomicUsize = AtomicUsize::new(0);
    static FAST_RAN: AtomicUsize = AtomicUsize::new(0);

    fn slow(_: Arc<EventContext>) -> HandlerFuture {
        Box::pin(async {
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

    async fn done<T>(f: impl Future<Output = T>) -> T {
        match tokio::time::timeout(DEADLINE, f).await {
            Ok(v) => v,
            Err(_) => panic!("a dispatched event did not complete in {DEADLINE:?}"),
        }
    }

    /// A full queue holds the router (and so every later event) back, loses nothing, and
    /// never blocks `dispatch` itself.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_holds_dispatch_back_and_loses_nothing() {
        let handlers = [&SLOW, &FAST]
            .into_iter()
            .filter_map(Handler::new)
            .collect();
        let d = Dispatcher::start(handlers);
        let mqtt = Mqtt::detached(Config::default()).unwrap();
        let msg = |topic: &str| Event::Message(Message::new(topic, "", QoS::AtMostOnce, false));

        let mut slow_calls = vec![d.dispatch_tracked(&mqtt, msg("slow"))];
        wait_until("the slow handler runs", || {
            SLOW_STARTED.load(Ordering::SeqCst) == 1
        })
        .await;

        // The fast handler is not held up while the slow one's queue has room.
        let calls = done(d.dispatch_tracked(&mqtt, msg("fast"))).await;
        assert_eq!(calls.len(), 1);
        assert_eq!(FAST_RAN.load(Ordering::SeqCst), 1);

        // Two more fill the slow queue; the third makes the router wait for room.
        for _ in 0..3 {
            slow_calls.push(d.dispatch_tracked(&mqtt, msg("slow")));
        }
        wait_until("the router waits for the slow handler", || {
            d.backlog.waiting_for.load(Ordering::SeqCst) == 0
        })
        .await;
        // `dispatch` still returns at once; the event waits in the intake, behind the
        // one the router holds.
        let late = d.dispatch_tracked(&mqtt, msg("fast"));
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
            .filter_map(Handler::new)
            .collect();
        let d = Dispatcher::start(handlers);
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
            .targets(&Event::Log(crate::LogEntry::new(
                crate::log::LogLevel::Info,
                "x"
            )))
            .is_empty());
    }

    /// A handler queue takes `capacity` events; a waiting send gets the slot the worker
    /// frees; a queue whose worker is gone says so.
    #[tokio::test]
    async fn a_queue_is_bounded_and_a_waiting_send_gets_the_freed_slot() {
        let mqtt = Mqtt::detached(Config::default()).unwrap();
        let item = || Item {
            ctx: Arc::new(EventContext::new(
                mqtt.clone(),
                Event::Message(Message::new("a", "", QoS::AtMostOnce, false)),
            )),
            tracker: None,
        };
        let (q, mut rx) = queue(2);
        assert!(q.try_send(item()).is_ok());
        assert!(q.try_send(item()).is_ok());
        assert!(matches!(q.try_send(item()), Err(SendError::Full(_))));
        let waiting = tokio::spawn({
            let q = q.clone();
            let item = item();
            async move { q.send(item).await }
        });
        assert!(rx.recv().await.is_some());
        done(waiting).await.unwrap();
        assert_eq!(q.room.len.load(Ordering::SeqCst), 2);
        assert!(rx.recv().await.is_some());
        drop(rx);
        assert!(matches!(q.try_send(item()), Err(SendError::Closed)));
        assert_eq!(q.room.len.load(Ordering::SeqCst), 1);
    }

    /// An event no handler takes completes at once, with no calls.
    #[tokio::test]
    async fn an_event_for_nobody_completes_empty() {
        let d = Dispatcher::start(Vec::new());
        let mqtt = Mqtt::detached(Config::default()).unwrap();
        let event = Event::Message(Message::new("nobody/here", "", QoS::AtMostOnce, false));
        assert!(done(d.dispatch_tracked(&mqtt, event)).await.is_empty());
        assert!(!d.has(HandlerKind::Message));
        assert!(!d.has(HandlerKind::Connect));
    }
}
