//! `calls` mode: what one handler call costs dispatch, in process and without a broker
//! (`mqtt::testing::TestClient`, the real dispatcher and workers on a two-thread runtime
//! like the client's): an empty handler, sync with `concurrency = 1` and `= 4`, async with
//! `concurrency = 1` and `= 4`, and an async handler that awaits once (`yield_now`), with
//! `concurrency = 1` and `= 4`.
//!
//! - latency: one call at a time, injected and awaited to its end: median and 99th
//!   percentile per call (what a lone message waits for its handler's call);
//! - throughput: calls injected back to back, 512 at a time, each batch awaited before
//!   the next: calls per second.
//!
//! ```text
//! cargo run --release -p flask-mqtt-bench -- calls [--messages N] [--rounds R] [--only TEXT]
//! ```
//!
//! `--only TEXT`: the scenarios whose label starts with `TEXT` (`"sync, concurrency 4"`,
//! `awaits`); a `TEXT` that starts no label exits with status 2.
//!
//! Figures only, never asserted. The handlers belong to the client `CALLS`
//! (`broker = "CALLS"`), so the framework consumer of the other modes does not get them.

use std::time::{Duration, Instant};

use flask_mqtt_actix as mqtt;
use mqtt::testing::{self, TestClient};

/// The client the handlers below belong to.
const PREFIX: &str = "CALLS";

#[mqtt::on_message("calls/sync1", broker = "CALLS")]
fn sync1() {}

#[mqtt::on_message("calls/sync4", broker = "CALLS", concurrency = 4)]
fn sync4() {}

#[mqtt::on_message("calls/async1", broker = "CALLS")]
async fn async1() {}

#[mqtt::on_message("calls/async4", broker = "CALLS", concurrency = 4)]
async fn async4() {}

/// Awaits once (as a handler that does I/O, sleeps or publishes): every call has to wait,
/// so the calls that come while one waits run on the handler's worker, not inline.
#[mqtt::on_message("calls/await1", broker = "CALLS")]
async fn await1() {
    tokio::task::yield_now().await;
}

#[mqtt::on_message("calls/await4", broker = "CALLS", concurrency = 4)]
async fn await4() {
    tokio::task::yield_now().await;
}

/// Calls injected back to back before they are awaited: half the handler's default
/// queue, so that none waits in the dispatcher's backlog.
const WINDOW: u64 = 512;

/// The scenarios: label and topic.
const SCENARIOS: [(&str, &str); 6] = [
    ("sync, concurrency 1", "calls/sync1"),
    ("sync, concurrency 4", "calls/sync4"),
    ("async, concurrency 1", "calls/async1"),
    ("async, concurrency 4", "calls/async4"),
    ("awaits, concurrency 1", "calls/await1"),
    ("awaits, concurrency 4", "calls/await4"),
];

/// The scenarios' labels, which `--only` picks from.
pub(crate) fn labels() -> impl Iterator<Item = &'static str> {
    SCENARIOS.into_iter().map(|(label, _)| label)
}

/// One scenario's figures (the median round's).
struct Figures {
    median: Duration,
    p99: Duration,
    per_second: f64,
}

/// Runs the scenarios whose label starts with `only` (all: ""), `calls` calls each,
/// `rounds` times; prints the table.
pub(crate) fn run(calls: u64, rounds: usize, only: &str) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    println!("handler calls, in process ({calls} calls per figure, median of {rounds} rounds)");
    println!(
        "{:<22} {:>12} {:>12} {:>14}",
        "handler", "median call", "p99 call", "calls/s"
    );
    for (label, topic) in SCENARIOS.into_iter().filter(|(l, _)| l.starts_with(only)) {
        let mut runs = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            runs.push(rt.block_on(scenario(topic, calls))?);
        }
        runs.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
        let mut latencies: Vec<_> = runs.iter().map(|r| (r.median, r.p99)).collect();
        latencies.sort();
        let (median, p99) = latencies[latencies.len() / 2];
        let per_second = runs[runs.len() / 2].per_second;
        println!(
            "{label:<22} {:>9.1} us {:>9.1} us {per_second:>14.0}",
            micros(median),
            micros(p99),
        );
    }
    Ok(())
}

/// One round of `topic`'s handler: `calls` calls one at a time, then `calls` back to back.
async fn scenario(topic: &str, calls: u64) -> Result<Figures, String> {
    let app = TestClient::for_broker(PREFIX).map_err(|e| e.to_string())?;
    let check = |c: testing::Calls| {
        if c.all_ok() && c.into_vec().len() == 1 {
            Ok(())
        } else {
            Err(format!("a call of `{topic}` failed or was not made"))
        }
    };
    // Warm up: the workers' tasks, the blocking pool's threads.
    for _ in 0..100 {
        check(app.inject(testing::message(topic, "")).await)?;
    }
    let mut each = Vec::with_capacity(usize::try_from(calls).unwrap_or(0));
    for _ in 0..calls {
        let started = Instant::now();
        let ended = app.inject(testing::message(topic, "")).await;
        each.push(started.elapsed());
        check(ended)?;
    }
    each.sort();
    let at = |q: f64| each[((each.len() - 1) as f64 * q) as usize];
    let (median, p99) = (at(0.5), at(0.99));
    let started = Instant::now();
    let mut left = calls;
    while left > 0 {
        let batch = left.min(WINDOW);
        left -= batch;
        let pending: Vec<_> = (0..batch)
            .map(|_| app.inject(testing::message(topic, "")))
            .collect();
        for ended in futures::future::join_all(pending).await {
            check(ended)?;
        }
    }
    let per_second = calls as f64 / started.elapsed().as_secs_f64();
    Ok(Figures {
        median,
        p99,
        per_second,
    })
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
