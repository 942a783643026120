//! At-least-once processing across replicas (issue 15): a `$share` replica SIGKILLed
//! mid-stream loses nothing, because it acknowledges a job only after its handler
//! finished (the default policy, `after`).
//!
//! Three processes of `tests/bin/shared_app` (one replica each: `jobs/{n}` with
//! `shared = "workers"`, QoS 1, a handler that takes 1 ms and prints `job N TOPIC`)
//! with persistent sessions (`MQTT_CLEAN_SESSION=false`, MQTT 5, a fixed client id per
//! replica) on a real Mosquitto with persistence and no queue limit. A publisher sends
//! 10,000 numbered QoS 1 jobs; once the first replica has handled 1,000 of them it is
//! SIGKILLed, and started again with the same client id. Every number must be handled
//! by some replica: one nobody handled was lost (the broker had a PUBACK for it and
//! never sent it again). Duplicates are expected and printed with the split.
//!
//! What Mosquitto (2.0) does with the killed member's messages decides the design: its
//! shared subscription round robin (`subs__shared_process` in `src/subs.c`) takes the
//! next member whether or not it is connected, so a persistent session that lost its
//! connection keeps getting its share, queued; its in-flight (sent, unacknowledged)
//! messages stay in that session, and both are sent when a client with the same id
//! comes back (in-flight ones again, with DUP). Nothing goes to the other members. (A
//! clean session is deleted with its in-flight messages when the connection closes:
//! they are gone whatever the client did; see `tests/scale_out.rs`.) So the replica
//! comes back with the same id, as a restarted pod with a stable name would.
//!
//! The control: the same run with `MQTT_ACK_POLICY=first` (acknowledged on receipt, the
//! behaviour before issue 15) loses what the killed replica had taken and not handled.
//!
//! Figures print with `--nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use flask_mqtt_tests::{unique, wait_until, AppProcess, Broker, SessionPublisher};

/// Numbered jobs per run.
const JOBS: u64 = 10_000;
/// The first replica is SIGKILLed once it has handled this many jobs.
const KILL_AFTER: usize = 1_000;
/// Bound for one step (a start, a connect, the kill).
const STEP: Duration = Duration::from_secs(30);
/// Bound for the publisher.
const PUBLISH: Duration = Duration::from_secs(240);
/// After the publisher is done: how long the replicas may go without handling a job.
const IDLE: Duration = Duration::from_secs(15);

/// Both runs take three replicas and a broker on two shared cores: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// A replica's output line for a handled job: its number.
fn job(line: &str) -> Option<u64> {
    line.strip_prefix("job ")?.split_once(' ')?.0.parse().ok()
}

/// Starts replica `i` (`ack-share-r{i}` plus `run`) and waits until it has subscribed.
fn replica(broker: &Broker, run: &str, i: usize, policy: Option<&str>) -> AppProcess {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shared_app"));
    command
        .env_clear()
        .env("MQTT_BROKER_URL", broker.host())
        .env("MQTT_BROKER_PORT", broker.port().to_string())
        .env("MQTT_PROTOCOL_VERSION", "5")
        .env("MQTT_CLEAN_SESSION", "false")
        .env("MQTT_CLIENT_ID", format!("{run}-r{i}"))
        .env("SHARED_APP_WORK_US", "1000");
    if let Some(policy) = policy {
        command.env("MQTT_ACK_POLICY", policy);
    }
    let app = AppProcess::spawn(&format!("replica {i}"), command);
    app.expect_line(STEP, |l| l.starts_with("connected "));
    app
}

/// What one run measured.
struct Run {
    /// Jobs no replica handled.
    lost: Vec<u64>,
    /// Handlings beyond the first, over all jobs.
    duplicates: u64,
    /// Jobs handled by: the killed replica, it again after the restart, the other two.
    split: [usize; 4],
}

/// Handlings of each job over `apps`.
fn counts(apps: &[&AppProcess]) -> HashMap<u64, u32> {
    let mut counts = HashMap::new();
    for app in apps {
        app.with_lines(|lines| {
            for n in lines.iter().filter_map(|l| job(l)) {
                *counts.entry(n).or_default() += 1;
            }
        });
    }
    counts
}

/// Jobs handled by `app` (with repeats).
fn handled(app: &AppProcess) -> usize {
    app.count(|l| job(l).is_some())
}

/// The scenario: three replicas, the first SIGKILLed after [`KILL_AFTER`] jobs and
/// started again with the same id; `policy` as `MQTT_ACK_POLICY` (`None`: the default).
fn kill_one_replica(policy: Option<&str>) -> Run {
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let broker = Broker::builder()
        .persistence(true)
        .unlimited_queue()
        .build();
    let run = unique("ack-share");
    let mut victim = replica(&broker, &run, 0, policy);
    let others = [
        replica(&broker, &run, 1, policy),
        replica(&broker, &run, 2, policy),
    ];
    let began = Instant::now();
    let publisher =
        SessionPublisher::start(&broker, &unique("ack-share-pub"), "jobs", JOBS, PUBLISH);
    assert!(
        wait_until(PUBLISH, || handled(&victim) >= KILL_AFTER),
        "replica 0 handled only {} jobs (publisher: {} acknowledged)",
        handled(&victim),
        publisher.acked()
    );
    victim.kill();
    let killed_at = publisher.acked();
    let back = replica(&broker, &run, 0, policy);
    let published = publisher.finish(PUBLISH);
    assert!(published.done, "publisher: {published:?}");
    let apps = [&victim, &back, &others[0], &others[1]];
    // Until every job was handled, or none was for IDLE.
    loop {
        let total: usize = apps.iter().map(|a| handled(a)).sum();
        if counts(&apps).len() as u64 == JOBS
            || !wait_until(IDLE, || {
                apps.iter().map(|a| handled(a)).sum::<usize>() != total
            })
        {
            break;
        }
    }
    let counts = counts(&apps);
    let run = Run {
        lost: (0..JOBS).filter(|n| !counts.contains_key(n)).collect(),
        duplicates: counts.values().map(|c| u64::from(c - 1)).sum(),
        split: [
            handled(&victim),
            handled(&back),
            handled(&others[0]),
            handled(&others[1]),
        ],
    };
    println!(
        "ack_share_kill, ack = {}: {JOBS} QoS 1 jobs over 3 `$share` replicas (MQTT 5, persistent sessions, 1 ms handlers), replica 0 SIGKILLed after {KILL_AFTER} jobs ({killed_at} published) and restarted with its id, in {:.1?}: \
         lost {}, duplicates {}; split: replica 0 {} before the kill + {} after the restart, replicas 1 and 2 {} and {}",
        policy.unwrap_or("after (default)"),
        began.elapsed(),
        run.lost.len(),
        run.duplicates,
        run.split[0],
        run.split[1],
        run.split[2],
        run.split[3],
    );
    run
}

#[test]
fn a_killed_share_replica_loses_no_acknowledged_job() {
    let run = kill_one_replica(None);
    assert!(
        run.lost.is_empty(),
        "{} acknowledged jobs were never handled (first: {:?})",
        run.lost.len(),
        &run.lost[..run.lost.len().min(20)]
    );
    assert!(
        run.split[1] > 0,
        "the restarted replica got the share the broker kept for its session"
    );
}

/// The control: acknowledged on receipt, the killed replica's backlog is gone. If this
/// lost nothing, the scenario would no longer kill a replica holding unhandled jobs.
#[test]
fn with_ack_first_a_killed_share_replica_loses_jobs() {
    let run = kill_one_replica(Some("first"));
    assert!(
        !run.lost.is_empty(),
        "acknowledging on receipt lost nothing: the replica was not killed with a backlog"
    );
}
