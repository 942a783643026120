//! At-least-once processing (issue 15): a QoS 1 message is acknowledged only after its
//! handler finished, so an app killed at any moment loses nothing it acknowledged.
//!
//! The app (`tests/bin/ack_app.rs`: a persistent session, a QoS 1 handler of 1 ms that
//! prints `handled N` before it returns) gets 10,000 numbered QoS 1 messages from a
//! publisher with a persistent session of its own, through a real Mosquitto with
//! persistence and no queue limit (`max_queued_messages 0`: the broker keeps the whole
//! backlog for the app while it is away). The app is SIGKILLed three times mid-stream
//! and started again with the same session; every number must reach the handler at
//! least once. A number the handler never printed was lost: the broker had its PUBACK
//! (it never sent it again) and no handler finished it. Duplicates are expected (the
//! messages that were in the app, unacknowledged, when it died come again) and printed
//! per run. Also: a graceful stop mid-stream loses nothing and handles nothing twice.
//!
//! Figures print with `--nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use flask_mqtt_tests::{unique, wait_until, Broker, SessionPublisher};

/// Numbered messages per scenario.
const TOTAL: u64 = 10_000;
/// Each of the first three runs of the app is SIGKILLed after it handled this many.
const KILL_AFTER: u64 = 2_500;
/// SIGKILLs per scenario.
const KILLS: usize = 3;
/// Bound for one step (a start, a connect, a stop).
const STEP: Duration = Duration::from_secs(20);
/// Bound for a whole scenario's traffic.
const SCENARIO: Duration = Duration::from_secs(240);
/// After the publisher is done: how long the handler may go without a new number.
const IDLE: Duration = Duration::from_secs(15);

/// The scenarios share two CPU cores with other work: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One run of `ack_app`: its printed lines as they come, and the numbers it handled
/// (also counted in the scenario's [`Seen`] as they come).
struct App {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Arc<Mutex<Vec<String>>>,
    run: Arc<Mutex<Run>>,
    reader: Option<JoinHandle<()>>,
}

/// What one run handled.
#[derive(Clone, Debug, Default)]
struct Run {
    handled: u64,
    new: u64,
    duplicates: u64,
}

impl App {
    /// Starts the app; with `kill_after`, it SIGKILLs itself once it has handled that
    /// many messages (from a thread of its own, so the signal lands wherever the handler
    /// and Paho are: this test's reading of its output may lag far behind on a loaded
    /// machine, the app's own count does not).
    fn start(
        broker: &Broker,
        id: &str,
        version: &str,
        kill_after: Option<u64>,
        seen: &Arc<Mutex<Seen>>,
    ) -> App {
        App::start_with(broker, id, version, kill_after, seen, "after")
    }

    /// [`App::start`] with acknowledgement policy `policy`.
    fn start_with(
        broker: &Broker,
        id: &str,
        version: &str,
        kill_after: Option<u64>,
        seen: &Arc<Mutex<Seen>>,
        policy: &str,
    ) -> App {
        let mut args = vec![broker.port().to_string(), id.to_owned(), version.to_owned()];
        args.extend(kill_after.map(|n| n.to_string()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_ack_app"))
            .args(&args)
            .env("ACK_APP_POLICY", policy)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start ack_app: {e}"));
        let out = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let run = Arc::new(Mutex::new(Run::default()));
        let (l, r, seen) = (Arc::clone(&lines), Arc::clone(&run), Arc::clone(seen));
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                match line.strip_prefix("handled ").and_then(|n| n.parse().ok()) {
                    Some(n) => {
                        let new = lock(&seen).add(n);
                        let mut r = lock(&r);
                        r.handled += 1;
                        if new {
                            r.new += 1;
                        } else {
                            r.duplicates += 1;
                        }
                    }
                    None => lock(&l).push(line),
                }
            }
        });
        App {
            stdin: child.stdin.take(),
            child,
            lines,
            run,
            reader: Some(reader),
        }
    }

    /// Waits for the first connect of a new session: until it has subscribed, the
    /// broker keeps nothing for it. (Later runs resume the session; their `connected`
    /// may come after thousands of messages, since the event queues behind them.)
    fn subscribed(self, broker: &Broker) -> App {
        assert!(
            wait_until(STEP, || self.printed("connected")),
            "ack_app did not connect: {:?}, {:?}\n{}",
            self.lines(),
            lock(&self.run),
            broker.log_tail(20)
        );
        self
    }

    fn lines(&self) -> Vec<String> {
        lock(&self.lines).clone()
    }

    fn printed(&self, line: &str) -> bool {
        lock(&self.lines).iter().any(|l| l == line)
    }

    /// What the run handled, once its stdout is closed, and its other lines.
    fn collect(mut self) -> (Run, Vec<String>) {
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        (lock(&self.run).clone(), self.lines())
    }

    /// Waits until the app has SIGKILLed itself (see [`App::start`]).
    fn killed(mut self) -> Run {
        assert!(
            wait_until(SCENARIO, || self.child.try_wait().unwrap().is_some()),
            "ack_app was not killed: {:?}, {:?}",
            lock(&self.run),
            self.lines()
        );
        let status = self.child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "ack_app: {status}, {:?}",
            self.lines()
        );
        self.collect().0
    }

    /// A graceful stop (`stop` on stdin): running calls finish, their acknowledgements
    /// go out, DISCONNECT.
    fn stop(mut self) -> Run {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "stop");
        }
        let exited = wait_until(STEP, || self.child.try_wait().unwrap().is_some());
        assert!(exited, "ack_app did not stop: {:?}", self.lines().last());
        let (run, lines) = self.collect();
        assert_eq!(lines.last().map(String::as_str), Some("stopped"));
        run
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the handler saw over every run of the app.
#[derive(Default)]
struct Seen {
    counts: Vec<u32>,
    distinct: u64,
}

impl Seen {
    fn new() -> Seen {
        Seen {
            counts: vec![0; TOTAL as usize],
            distinct: 0,
        }
    }

    /// Counts one handling of `n`; whether it was the first.
    fn add(&mut self, n: u64) -> bool {
        let Some(c) = self.counts.get_mut(n as usize) else {
            return false;
        };
        *c += 1;
        if *c == 1 {
            self.distinct += 1;
        }
        *c == 1
    }

    fn missing(&self) -> Vec<u64> {
        (0..TOTAL)
            .filter(|&n| self.counts[n as usize] == 0)
            .collect()
    }

    /// The numbers handled more than once.
    fn repeated(&self) -> Vec<u64> {
        (0..TOTAL)
            .filter(|&n| self.counts[n as usize] > 1)
            .collect()
    }

    fn duplicates(&self) -> u64 {
        self.counts
            .iter()
            .map(|&c| u64::from(c.saturating_sub(1)))
            .sum()
    }
}

/// Persistence and no queue limit. (With `max_queued_messages 0`, Mosquitto 2.0.11 also
/// lifts its in-flight window, `max_inflight_messages`: measured, 9,500 messages sent
/// and unacknowledged at once. So the app holds much of the stream when it is killed,
/// the hardest case for it.)
fn broker() -> Broker {
    Broker::builder()
        .persistence(true)
        .unlimited_queue()
        .build()
}

/// Waits until `at` distinct numbers were handled.
fn wait_handled(seen: &Mutex<Seen>, at: u64, publisher: &SessionPublisher) {
    assert!(
        wait_until(SCENARIO, || lock(seen).distinct >= at),
        "stuck at {} distinct numbers handled (publisher: {} acknowledged)",
        lock(seen).distinct,
        publisher.acked()
    );
}

/// Waits until every number was handled, or none came for [`IDLE`].
fn wait_all(seen: &Mutex<Seen>) {
    loop {
        let d = lock(seen).distinct;
        if d == TOTAL || !wait_until(IDLE, || lock(seen).distinct != d) {
            return;
        }
    }
}

fn describe(runs: &[Run]) -> String {
    runs.iter()
        .enumerate()
        .map(|(i, r)| {
            format!(
                "run {}: {} handled, {} new, {} duplicates",
                i + 1,
                r.handled,
                r.new,
                r.duplicates
            )
        })
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// The scenario with `kills` SIGKILLs; returns the numbers lost.
fn through_kills(version: &str, policy: &str, kills: usize) -> Vec<u64> {
    let _serial = lock(&SERIAL);
    let broker = broker();
    let id = unique(&format!("ack-app-v{version}"));
    let seen = Arc::new(Mutex::new(Seen::new()));
    let mut app =
        App::start_with(&broker, &id, version, Some(KILL_AFTER), &seen, policy).subscribed(&broker);
    let publisher = SessionPublisher::start(
        &broker,
        &unique(&format!("ack-pub-v{version}")),
        "ackt",
        TOTAL,
        SCENARIO,
    );
    let began = Instant::now();
    let mut runs = Vec::new();
    for kill in 1..=kills {
        runs.push(app.killed());
        let next = (kill < kills).then_some(KILL_AFTER);
        app = App::start_with(&broker, &id, version, next, &seen, policy);
    }
    let published = publisher.finish(SCENARIO);
    assert!(published.done, "publisher: {published:?}");
    wait_all(&seen);
    runs.push(app.stop());
    let seen = lock(&seen);
    let missing = seen.missing();
    eprintln!(
        "ack_crash MQTT {version}, ack = {policy}: {TOTAL} QoS 1 messages, app SIGKILLed {kills} times (each run after {KILL_AFTER} handled), in {:.2?}: \
         {} lost, {} duplicates\n  {}",
        began.elapsed(),
        missing.len(),
        seen.duplicates(),
        describe(&runs)
    );
    missing
}

fn assert_none_lost(missing: &[u64]) {
    assert!(
        missing.is_empty(),
        "{} acknowledged messages never reached the handler (first: {:?})",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
}

#[test]
fn v311_an_app_killed_three_times_loses_no_acknowledged_message() {
    assert_none_lost(&through_kills("3", "after", KILLS));
}

#[test]
fn v5_an_app_killed_three_times_loses_no_acknowledged_message() {
    assert_none_lost(&through_kills("5", "after", KILLS));
}

/// The control: with `ack = "first"` (acknowledged at dispatch, the behaviour before
/// issue 15) one such kill loses what the app had taken and not handled. This is what
/// the scenario measures, and why the default is `after`. (One kill: the first run takes
/// and acknowledges the whole stream, so a second run may get nothing to be killed in.)
#[test]
fn with_ack_first_a_kill_loses_messages() {
    let lost = through_kills("3", "first", 1);
    assert!(
        !lost.is_empty(),
        "acknowledging at dispatch lost nothing: the scenario no longer kills mid-stream"
    );
}

/// A graceful stop mid-stream: calls already running or queued finish and are
/// acknowledged before DISCONNECT (up to the 5 s a graceful shutdown allows), messages
/// arriving meanwhile are left to the broker, and calls not started by then are
/// skipped; the next run gets the rest. Nothing is lost. The app holds thousands here
/// (see [`broker`]: Mosquitto 2.0.11 sent a persistent session about 9,500 ahead, also
/// with `max_inflight_messages 20` and a finite queue set), more than it handles in 5 s,
/// so a call that ends as the DISCONNECT starts is not acknowledged: one duplicate per
/// stop was measured, printed.
#[test]
fn v311_a_graceful_stop_loses_nothing() {
    let missing = graceful("3");
    assert!(
        missing.is_empty(),
        "lost: {:?}",
        &missing[..missing.len().min(20)]
    );
}

#[test]
fn v5_a_graceful_stop_loses_nothing() {
    let missing = graceful("5");
    assert!(
        missing.is_empty(),
        "lost: {:?}",
        &missing[..missing.len().min(20)]
    );
}

/// Stops the app gracefully once mid-stream; returns the numbers lost.
fn graceful(version: &str) -> Vec<u64> {
    let _serial = lock(&SERIAL);
    let broker = broker();
    let id = unique(&format!("ack-app-graceful-v{version}"));
    let seen = Arc::new(Mutex::new(Seen::new()));
    let app = App::start(&broker, &id, version, None, &seen).subscribed(&broker);
    let publisher = SessionPublisher::start(
        &broker,
        &unique("ack-pub-graceful"),
        "ackt",
        TOTAL,
        SCENARIO,
    );
    wait_handled(&seen, TOTAL / 3, &publisher);
    let first = app.stop();
    let app = App::start(&broker, &id, version, None, &seen);
    let published = publisher.finish(SCENARIO);
    assert!(published.done, "publisher: {published:?}");
    wait_all(&seen);
    let second = app.stop();
    let seen = lock(&seen);
    let missing = seen.missing();
    eprintln!(
        "ack_crash graceful (MQTT {version}): {TOTAL} QoS 1 messages, stopped gracefully once: {} lost, {} duplicates {:?}\n  {}",
        missing.len(),
        seen.duplicates(),
        &seen.repeated()[..seen.repeated().len().min(10)],
        describe(&[first, second])
    );
    missing
}
