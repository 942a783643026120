//! Dispatch through `mqtt::testing` (no broker): arrival order with `concurrency = 1`, the
//! `concurrency = N` limit, a slow handler that does not stall a fast one, back-pressure
//! once its queue is full (logged, nothing dropped), and rejections, errors and panics
//! that stay with their handler.
//!
//! Waits are on events with deadlines (watch channels, semaphores the test holds), never
//! on sleeps.

// Test code: a failed expectation panics, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::LogLines;
use futures::future::join_all;
use mqtt::testing::{self, TestClient};
use mqtt::HandlerError;
use tokio::sync::{watch, Semaphore};

const DEADLINE: Duration = Duration::from_secs(20);

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {DEADLINE:?}: {what}"))
}

// ---- log capture: the warnings are part of the contract ----

/// Every line of the process is logged (installed)...
const ALL_LINES: LogLines = LogLines::new("", log::Level::Debug);
/// ...and the `flask_mqtt::dispatch` ones are read.
const DISPATCH_LOG: LogLines = LogLines::new("flask_mqtt::dispatch", log::Level::Debug);

/// Lines at `level` and target `flask_mqtt::dispatch` that contain `needle`.
fn logged(level: log::Level, needle: &str) -> Vec<String> {
    DISPATCH_LOG
        .records()
        .into_iter()
        .filter(|l| l.level == level && l.text.contains(needle))
        .map(|l| l.text)
        .collect()
}

// ---- ordering ----

#[derive(Default)]
struct Order {
    seen: Mutex<Vec<u32>>,
}

// A small queue, so that the router has to wait for room many times on the way.
#[mqtt::on_message("order/seq", queue = 8)]
async fn ordered(order: mqtt::State<Order>, text: mqtt::Text) -> Result<(), String> {
    let n: u32 = text.parse().map_err(|e| format!("{e}"))?;
    // Let other tasks in between, so that reordering would have a chance to show.
    tokio::task::yield_now().await;
    order.seen.lock().unwrap().push(n);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_messages_arrive_in_order() {
    let order = Arc::new(Order::default());
    let app = TestClient::new().unwrap().state(order.clone());
    let pending: Vec<_> = (0..1000u32)
        .map(|i| app.inject(testing::message("order/seq", i.to_string())))
        .collect();
    let calls = within("1000 messages", join_all(pending)).await;
    assert!(calls.iter().all(|c| c.all_ok() && c.len() == 1));
    assert_eq!(*order.seen.lock().unwrap(), (0..1000).collect::<Vec<_>>());
}

// ---- concurrency limit ----

struct Gate {
    open: Semaphore,
    running: AtomicUsize,
    max: AtomicUsize,
    entered: watch::Sender<usize>,
}

impl Gate {
    fn new() -> Arc<Gate> {
        Arc::new(Gate {
            open: Semaphore::new(0),
            running: AtomicUsize::new(0),
            max: AtomicUsize::new(0),
            entered: watch::channel(0).0,
        })
    }

    fn enter(&self) {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        self.entered.send_modify(|n| *n += 1);
    }

    fn leave(&self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
    }
}

#[mqtt::on_message("limit/async", concurrency = 4)]
async fn limited(gate: mqtt::State<Gate>) {
    gate.enter();
    if let Ok(permit) = gate.open.acquire().await {
        permit.forget();
    }
    gate.leave();
}

/// A gate for blocking (sync) handlers.
#[derive(Default)]
struct SyncGate {
    open: Mutex<usize>,
    changed: std::sync::Condvar,
}

#[mqtt::on_message("limit/sync", concurrency = 3)]
fn limited_sync(gate: mqtt::State<Gate>, sync_gate: mqtt::State<SyncGate>) {
    gate.enter();
    let mut open = sync_gate.open.lock().unwrap();
    while *open == 0 {
        open = sync_gate.changed.wait(open).unwrap();
    }
    *open -= 1;
    drop(open);
    gate.leave();
}

async fn wait_entered(gate: &Gate, n: usize) {
    let mut rx = gate.entered.subscribe();
    within(&format!("{n} calls running"), rx.wait_for(|e| *e >= n))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_more_than_n_calls_at_once() {
    let gate = Gate::new();
    let app = TestClient::new().unwrap().state(gate.clone());
    let pending: Vec<_> = (0..20)
        .map(|_| app.inject(testing::message("limit/async", "")))
        .collect();
    // Four calls run and wait at the gate; the other sixteen wait in the queue.
    wait_entered(&gate, 4).await;
    assert_eq!(gate.running.load(Ordering::SeqCst), 4);
    // Let them through one at a time: each one leaving lets exactly one more in.
    for n in 5..=20 {
        gate.open.add_permits(1);
        wait_entered(&gate, n).await;
        assert!(gate.running.load(Ordering::SeqCst) <= 4);
    }
    gate.open.add_permits(4);
    let calls = within("20 calls", join_all(pending)).await;
    assert!(calls.iter().all(|c| c.all_ok()));
    assert_eq!(
        gate.max.load(Ordering::SeqCst),
        4,
        "the limit is reached, never passed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_holds_for_blocking_handlers_too() {
    let gate = Gate::new();
    let sync_gate = Arc::new(SyncGate::default());
    let app = TestClient::new()
        .unwrap()
        .state(gate.clone())
        .state(sync_gate.clone());
    let pending: Vec<_> = (0..9)
        .map(|_| app.inject(testing::message("limit/sync", "")))
        .collect();
    wait_entered(&gate, 3).await;
    assert_eq!(gate.running.load(Ordering::SeqCst), 3);
    *sync_gate.open.lock().unwrap() = 9;
    sync_gate.changed.notify_all();
    let calls = within("9 blocking calls", join_all(pending)).await;
    assert!(
        calls.iter().all(|c| c.all_ok() && c.len() == 1),
        "{calls:?}"
    );
    assert_eq!(gate.max.load(Ordering::SeqCst), 3);
}

// ---- a slow handler and a fast one ----

struct Stall {
    gate: Semaphore,
    slow_started: watch::Sender<usize>,
    slow_done: AtomicUsize,
    /// (fast message, slow calls finished when it ran)
    fast: Mutex<Vec<(String, usize)>>,
}

#[mqtt::on_message("stall/slow", queue = 2)]
async fn slow(stall: mqtt::State<Stall>) {
    stall.slow_started.send_modify(|n| *n += 1);
    if let Ok(permit) = stall.gate.acquire().await {
        permit.forget();
    }
    stall.slow_done.fetch_add(1, Ordering::SeqCst);
}

#[mqtt::on_message("stall/fast")]
fn fast(stall: mqtt::State<Stall>, text: mqtt::Text) {
    let done = stall.slow_done.load(Ordering::SeqCst);
    stall.fast.lock().unwrap().push((text.into_string(), done));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_handler_does_not_stall_a_fast_one_until_its_queue_is_full() {
    let stall = Arc::new(Stall {
        gate: Semaphore::new(0),
        slow_started: watch::channel(0).0,
        slow_done: AtomicUsize::new(0),
        fast: Mutex::new(Vec::new()),
    });
    let app = TestClient::new().unwrap().state(stall.clone());

    let first_slow = app.inject(testing::message("stall/slow", ""));
    let mut started = stall.slow_started.subscribe();
    within("the slow handler starts", started.wait_for(|n| *n == 1))
        .await
        .unwrap();

    // While the slow handler is blocked on the gate the test holds, the fast handler
    // gets through all of its messages.
    let fast: Vec<_> = (0..100)
        .map(|i| app.inject(testing::message("stall/fast", i.to_string())))
        .collect();
    let calls = within(
        "100 fast messages while the slow one is blocked",
        join_all(fast),
    )
    .await;
    assert!(calls.iter().all(|c| c.all_ok()));
    assert_eq!(
        stall.slow_done.load(Ordering::SeqCst),
        0,
        "the gate is still closed"
    );
    assert!(stall
        .fast
        .lock()
        .unwrap()
        .iter()
        .all(|(_, done)| *done == 0));

    // Two more fill the slow queue; the next one makes dispatch wait for room, and the
    // fast message after it waits in arrival order (nothing overtakes, nothing is lost).
    let more_slow: Vec<_> = (0..3)
        .map(|_| app.inject(testing::message("stall/slow", "")))
        .collect();
    let late_fast = app.inject(testing::message("stall/fast", "late"));

    stall.gate.add_permits(4);
    within("the first slow call", first_slow).await;
    within("the other slow calls", join_all(more_slow)).await;
    within("the late fast message", late_fast).await;
    assert_eq!(stall.slow_done.load(Ordering::SeqCst), 4);
    let fast = stall.fast.lock().unwrap().clone();
    assert_eq!(fast.len(), 101);
    let (last, done_before) = fast.last().unwrap();
    assert_eq!(last, "late");
    assert!(
        *done_before >= 1,
        "the late message could only pass once the slow handler made room"
    );
}

// ---- back-pressure is logged, not dropped ----

struct Backlog {
    gate: Semaphore,
    done: AtomicUsize,
}

#[mqtt::on_message("backlog/slow", queue = 1)]
async fn backlogged(b: mqtt::State<Backlog>) {
    if let Ok(permit) = b.gate.acquire().await {
        permit.forget();
    }
    b.done.fetch_add(1, Ordering::SeqCst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_growing_backlog_is_logged_and_nothing_is_dropped() {
    ALL_LINES.install();
    let b = Arc::new(Backlog {
        gate: Semaphore::new(0),
        done: AtomicUsize::new(0),
    });
    let app = TestClient::new().unwrap().state(b.clone());
    let pending: Vec<_> = (0..1100)
        .map(|_| app.inject(testing::message("backlog/slow", "")))
        .collect();
    // 1100 events behind a queue of 1 and a closed gate: the backlog passes 1024, and a
    // warning names the handler (logged by `dispatch`, or by the router once it waits).
    let expected = "events are waiting for dispatch: handler dispatch_flow::backlogged is not keeping up (its queue of 1 is full); nothing is dropped";
    within("the backlog warning", async {
        while logged(log::Level::Warn, expected).is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    b.gate.add_permits(1100);
    let calls = within("1100 backlogged calls", join_all(pending)).await;
    assert!(calls.iter().all(|c| c.all_ok() && c.len() == 1));
    assert_eq!(b.done.load(Ordering::SeqCst), 1100);
    assert!(!logged(log::Level::Info, "dispatch caught up").is_empty());
}

// ---- failures stay with their handler ----

#[derive(serde::Deserialize)]
struct Reading {
    _celsius: f64,
}

#[mqtt::on_message("iso/+")]
fn iso_json(mqtt::Json(_reading): mqtt::Json<Reading>) {}

#[mqtt::on_message("iso/+")]
async fn iso_text(seen: mqtt::State<Order>, text: mqtt::Text) {
    seen.seen.lock().unwrap().push(text.len() as u32);
}

#[mqtt::on_message("iso/+")]
fn iso_panics() {
    panic!("boom");
}

#[mqtt::on_message("iso/+")]
async fn iso_fails() -> Result<(), String> {
    Err("nope".to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_skips_only_its_handler_and_is_logged() {
    ALL_LINES.install();
    let seen = Arc::new(Order::default());
    let app = TestClient::new().unwrap().state(seen.clone());
    let calls = app.inject(testing::message("iso/reject", "not json")).await;
    assert_eq!(calls.len(), 4, "{calls:?}");
    let reason = "the payload is not valid JSON: expected ident at line 1 column 2".to_owned();
    assert_eq!(
        calls.handler("iso_json").unwrap().error(),
        Some(&HandlerError::Rejected {
            argument: "_reading",
            reason: reason.clone()
        })
    );
    assert!(calls.handler("iso_text").unwrap().is_ok());
    assert_eq!(
        calls.handler("iso_panics").unwrap().error(),
        Some(&HandlerError::Panicked("boom".to_owned()))
    );
    assert_eq!(
        calls.handler("iso_fails").unwrap().error(),
        Some(&HandlerError::Failed("nope".to_owned()))
    );
    assert_eq!(*seen.seen.lock().unwrap(), [8]);
    let mut warnings = logged(log::Level::Warn, "iso/reject");
    warnings.sort();
    assert_eq!(
        warnings,
        [
            "handler dispatch_flow::iso_fails for message on `iso/reject` returned an error: nope".to_owned(),
            format!("handler dispatch_flow::iso_json for message on `iso/reject` argument `_reading` rejected: {reason}"),
            "handler dispatch_flow::iso_panics for message on `iso/reject` panicked: boom".to_owned(),
        ]
    );
}
