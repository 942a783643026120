//! Replicas on a real broker cluster: three RMQTT nodes joined by raft
//! ([`RmqttCluster`]), three replicas of `tests/bin/shared_app` (each a separate process
//! with `shared = "workers"`), each connected to a different node with the other two
//! nodes as fallbacks in its `MQTT_BROKER_URL`, and 30,000 numbered QoS 1 jobs published
//! on node 1. Measured: the split; what a node SIGKILLed mid-run costs (its replicas fail
//! over and resubscribe); what a replica SIGKILLed mid-run costs.
//!
//! Replicas keep persistent sessions (`MQTT_CLEAN_SESSION=false`, MQTT 5, a fixed client
//! id each) and acknowledge a job after handling it (the default ack policy `after`), as
//! README "Guarantees" recommends: a job a replica acknowledged was handled, so a job
//! handled by no replica was acknowledged by none.
//!
//! Each replica writes Paho's packet trace (`SHARED_APP_TRACE=1`) into the cluster's
//! directory, so that a lost job can be told apart: one a replica's client received, or
//! a packet number missing from a replica's trace (a PUBLISH lost before Paho parsed
//! it), is the client's loss (a test failure); one no replica received, in the killed
//! replica's gap, the broker never delivered. RMQTT 0.24 drops the PUBLISH it is writing
//! when the write fails (a connection reset under it):
//! `rmqtt_drops_the_publish_it_is_writing_when_a_connection_resets`
//! shows it with raw socket clients and no client of ours, against Mosquitto as the
//! control. `FLASK_MQTT_KEEP_LOGS=DIR` keeps each cluster's directory (nodes' logs,
//! replicas' traces) in `DIR` for a failure seen once in many runs.
//!
//! The figures are printed (run with `-- --nocapture`) and quoted in docs/scaling.md
//! ("Replicas on a broker cluster").

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use flask_mqtt_tests::{
    wait_until, AppProcess, Broker, Observer, Recorder, RmqttCluster, SocketClient,
};

/// Deadline for any one step.
const T: Duration = Duration::from_secs(60);
/// Jobs per run.
const JOBS: u64 = 30_000;
/// Publishes the publisher keeps in flight.
const WINDOW: usize = 50;
/// The node the jobs are published to.
const PUBLISHER_NODE: usize = 0;

/// The runs take turns: three replicas, three brokers and 30,000 jobs each, side by side
/// on two cores, starve the brokers' raft heartbeats.
static ONE_RUN_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Replica `i` (client id `cluster-rI`, a persistent MQTT 5 session), connected to node
/// `node` first and to the other nodes after it; waits until it has subscribed.
fn replica(cluster: &RmqttCluster, i: usize, node: usize) -> AppProcess {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shared_app"));
    command
        .env_clear()
        .env("MQTT_BROKER_URL", cluster.url_list(node))
        .env("MQTT_PROTOCOL_VERSION", "5")
        .env("MQTT_CLEAN_SESSION", "false")
        .env("MQTT_CLIENT_ID", format!("cluster-r{i}"))
        .env("MQTT_RECONNECT_MAX_DELAY", "1")
        .stdin(Stdio::null());
    // Each replica's log, with Paho's packet trace (each PUBLISH received, each PUBACK
    // sent), beside the nodes' logs: one file per process (`r1.stderr`, then
    // `r1-2.stderr` for the one started again). `received_by_a_replica` reads them; with
    // `FLASK_MQTT_KEEP_LOGS` they are kept.
    let path = (1..)
        .map(|k| match k {
            1 => cluster.dir().join(format!("r{i}.stderr")),
            k => cluster.dir().join(format!("r{i}-{k}.stderr")),
        })
        .find(|p| !p.exists())
        .unwrap();
    command
        .env("SHARED_APP_TRACE", "1")
        .stderr(std::fs::File::create(&path).unwrap());
    let app = AppProcess::spawn(&format!("r{i}"), command);
    app.expect_line(T, |l| l.starts_with("connected "));
    // The app prints the node it reached right after `connected`: wait for that line
    // too, or a test reading it at once may find nothing yet.
    app.expect_line(T, |l| l.starts_with("broker "));
    app
}

/// The broker each `broker URI` line named, in order: one per connect.
fn brokers(app: &AppProcess) -> Vec<String> {
    app.lines()
        .iter()
        .filter_map(|l| l.strip_prefix("broker ").map(str::to_owned))
        .collect()
}

/// Whether `uri` (as the client reports it) is node `i` of `cluster`.
fn is_node(cluster: &RmqttCluster, uri: &str, i: usize) -> bool {
    uri.ends_with(&format!(":{}", cluster.port(i)))
}

/// The jobs `app` handled (`job N TOPIC` lines), in order.
fn handled(app: &AppProcess) -> Vec<u64> {
    app.lines()
        .iter()
        .filter_map(|l| l.strip_prefix("job ")?.split_once(' ')?.0.parse().ok())
        .collect()
}

/// The jobs (below `JOBS`) whose PUBLISH reached a replica's Paho client, any replica,
/// any connection: from the packet trace each replica writes into the cluster's directory
/// (lines `... <- PUBLISH msgid: M qos: 1 retained: 0 payload len(L): N`; the payload is
/// the job's number).
fn received_by_a_replica(cluster: &RmqttCluster) -> BTreeSet<u64> {
    let mut received = BTreeSet::new();
    for entry in std::fs::read_dir(cluster.dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("stderr") {
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        received.extend(
            text.lines()
                .filter(|l| l.contains(" <- PUBLISH "))
                .filter_map(|l| l.rsplit_once("): ")?.1.trim().parse::<u64>().ok())
                .filter(|n| *n < JOBS),
        );
    }
    received
}

/// The PUBLISH packets one replica process's Paho client received, in order, as (packet
/// identifier, payload), from its packet trace `NAME.stderr` in the cluster's directory.
fn publishes_in(cluster: &RmqttCluster, name: &str) -> Vec<(u32, String)> {
    let path = cluster.dir().join(format!("{name}.stderr"));
    let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
    text.lines()
        .filter_map(|l| {
            let rest = l.split_once(" <- PUBLISH msgid: ")?.1;
            let id = rest.split(' ').next()?.parse().ok()?;
            let payload = rest.split_once("): ")?.1.trim().to_owned();
            Some((id, payload))
        })
        .collect()
}

/// The names of replica `i`'s packet traces, one per process: `rI`, `rI-2`, ...
fn trace_names(cluster: &RmqttCluster, i: usize) -> Vec<String> {
    (1..)
        .map(|k| match k {
            1 => format!("r{i}"),
            k => format!("r{i}-{k}"),
        })
        .take_while(|name| cluster.dir().join(format!("{name}.stderr")).exists())
        .collect()
}

/// The packet identifiers missing from replica `i`'s packet traces: PUBLISHes the broker
/// wrote to it that its Paho client never parsed (the trace has a line for each PUBLISH
/// Paho parsed; bytes lost before, in the fork's buffered receive path, leave none).
fn missing_packet_ids(cluster: &RmqttCluster, i: usize) -> Vec<u32> {
    let traces: Vec<Vec<u32>> = trace_names(cluster, i)
        .iter()
        .map(|name| publishes_in(cluster, name).iter().map(|p| p.0).collect())
        .collect();
    missing_in_traces(&traces)
}

/// The packet identifiers missing from one replica's traces (one list per process, in
/// the order its trace has them), each trace checked on its own from its first new
/// packet ([`split_resent`]), since a resumed session may number from 1 again: every
/// number from there up to the trace's highest is in it unless the client lost that
/// packet. RMQTT numbers a session's new PUBLISHes one after another as it writes them
/// and resends unacknowledged ones under their numbers; markers and drain jobs come after
/// the last job, so a replica's highest number is not a lost one (checked against ten
/// kept runs: no number missing). RMQTT's own loss leaves no missing number: the PUBLISH
/// whose write failed had taken the number after the last one written and is in no
/// session's in-flight window, so the resumed session either resends what was in flight
/// and numbers on from the highest of it (giving the lost number again when the last one
/// written was still in flight), or resends nothing and numbers from 1.
fn missing_in_traces(traces: &[Vec<u32>]) -> Vec<u32> {
    traces
        .iter()
        .flat_map(|ids| {
            let (resent, first_new) = split_resent(ids);
            let new: BTreeSet<u32> = ids.iter().skip(resent).copied().collect();
            let last = new.last().copied().unwrap_or(0);
            (first_new..=last).filter(move |id| !new.contains(id))
        })
        .collect()
}

/// How many of the PUBLISHes opening one process's trace (`ids`, packet identifiers in
/// the order received) RMQTT resent from the session's earlier connection, and the
/// number of the first new one. RMQTT 0.24: a session's identifier allocator starts at 1
/// (`OutInflight::new`); a resumed session takes over the old one's in-flight PUBLISHes,
/// moves its allocator past the highest of their numbers
/// (`Session::transfer_session_state`, `advance_next_id`) and resends them under those
/// numbers, highest first (popped off the end of the list), before anything new. So a
/// trace that opens with 1 resent nothing (a new session, or one resumed with nothing in
/// flight: it numbers from 1 again); one that opens higher opens with its resends, a run
/// of falling numbers, and numbers its new PUBLISHes from the first (highest) of them
/// plus one. Numbering never goes on from the killed connection's last number with
/// nothing resent: a trace opening with that number + 1 opens with a resend (written
/// to the killed replica, never parsed by it). With 16 in flight at most and 10,000 jobs
/// a replica, a resend's number is never 1, nor does numbering wrap at 65,535.
fn split_resent(ids: &[u32]) -> (usize, u32) {
    match ids.first() {
        Some(&first) if first > 1 => {
            let resent = ids
                .windows(2)
                .position(|w| w[1] > w[0])
                .map_or(ids.len(), |k| k + 1);
            (resent, first + 1)
        }
        _ => (0, 1),
    }
}

/// Packets of the killed replica's stream taken on each side of its gap.
const GAP_NEIGHBOURS: usize = 16;

/// Where RMQTT's lost write to the killed replica `victim` (`rI.stderr`, then `rI-2.stderr`
/// for the one started again) can be: the gap, and the jobs it may have carried.
///
/// In delivery order the PUBLISH whose write failed at the kill came right after the last
/// one written on the killed connection and right before the first new one the returning
/// replica received. RMQTT resends a resumed session's in-flight PUBLISHes first, highest
/// packet identifier first, and numbers new ones from the highest resend + 1; with
/// nothing in flight it resends none and numbers new ones from 1 again ([`split_resent`]
/// tells the resends opening the returning replica's trace from the first new PUBLISH).
/// In the failing run of c0903db: the killed r1 got up to packet 4982 (job 14,945), the
/// returning one got 4983 again (job 14,948), then 4984 (job 14,954): the job between,
/// 14,951, was lost. RMQTT forwards jobs between nodes concurrently, so a replica's jobs come nearly,
/// not strictly, in order (up to 147 jobs back in kept runs): the jobs the lost PUBLISH
/// may have carried are those of the `GAP_NEIGHBOURS` packets on each side of the gap
/// (their own spread takes in that disorder), widened by `WINDOW` jobs (the publishes in
/// flight). In the two losses kept, the lost job was the one between the jobs of the last
/// packet resent and the first new one (14,948 / 14,951 / 14,954; 14,968 / 14,971 / 14,974).
/// Returns (last packet id the killed replica received, first new packet id the
/// returning one received, the jobs' window).
fn gap_of(
    cluster: &RmqttCluster,
    victim: usize,
) -> (Option<u32>, Option<u32>, std::ops::RangeInclusive<u64>) {
    let job = |(_, payload): &(u32, String)| payload.parse::<u64>().ok().filter(|n| *n < JOBS);
    let killed = publishes_in(cluster, &format!("r{victim}"));
    let back = publishes_in(cluster, &format!("r{victim}-2"));
    let ids: Vec<u32> = back.iter().map(|p| p.0).collect();
    let (resent, new) = back.split_at(split_resent(&ids).0);
    let before = killed[killed.len().saturating_sub(GAP_NEIGHBOURS)..]
        .iter()
        .chain(resent);
    let after = new.iter().take(GAP_NEIGHBOURS);
    let jobs: Vec<u64> = before.chain(after).filter_map(job).collect();
    let reorder = WINDOW as u64;
    let (lo, hi) = (jobs.iter().min(), jobs.iter().max());
    let (lo, hi) = lo
        .zip(hi)
        .expect("the killed replica received jobs before the kill");
    let window = lo.saturating_sub(reorder)..=hi + reorder;
    (killed.last().map(|p| p.0), new.first().map(|p| p.0), window)
}

/// Publishes `markers/NAME` and waits until every app printed it.
fn barrier(publisher: &Observer, apps: &[&AppProcess], name: &str) {
    publisher.publish(&format!("markers/{name}"), name, 1);
    let line = format!("marker {name}");
    for app in apps {
        app.expect_line(T, |l| l == line);
    }
}

/// Waits until each app has handled every job the broker sent it before: publishes
/// "drain" jobs (numbered from `JOBS` on) through the group until each app has handled
/// one. A replica handles its jobs in the order the broker sent them, so the drain job
/// comes after all of them.
fn drain(publisher: &Observer, apps: &[&AppProcess], next: &mut u64) {
    let deadline = Instant::now() + T;
    loop {
        let start = *next;
        *next += 3 * apps.len() as u64;
        publisher.publish_numbered("jobs", start..*next, WINDOW, |_| {});
        let all = wait_until(Duration::from_secs(5), || {
            apps.iter().all(|a| handled(a).iter().any(|n| *n >= JOBS))
        });
        if all {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not every replica handled a drain job: {:?}",
            apps.iter()
                .map(|a| handled(a).iter().filter(|n| **n >= JOBS).count())
                .collect::<Vec<_>>()
        );
    }
}

/// How often each job (below `JOBS`) was handled, over all apps.
fn times_handled(apps: &[&AppProcess]) -> BTreeMap<u64, usize> {
    let mut times = BTreeMap::new();
    for app in apps {
        for n in handled(app).into_iter().filter(|n| *n < JOBS) {
            *times.entry(n).or_default() += 1;
        }
    }
    times
}

fn lost(times: &BTreeMap<u64, usize>) -> Vec<u64> {
    (0..JOBS).filter(|n| !times.contains_key(n)).collect()
}

fn duplicated(times: &BTreeMap<u64, usize>) -> Vec<u64> {
    times
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(n, _)| *n)
        .collect()
}

/// Each process's trace is checked from its own first new packet: a returning replica
/// whose session numbers from 1 again (nothing was in flight at the kill) and loses
/// packet 3 misses 3, though the killed one's trace has it.
#[test]
fn a_missing_packet_id_is_found_in_each_trace_on_its_own() {
    let killed: Vec<u32> = (1..=20).collect();
    assert_eq!(missing_in_traces(&[killed.clone(), vec![1, 2, 4, 5]]), [3]);
    // Resent 21 (written to the killed one, not parsed) and 19, then new from 22 on.
    assert_eq!(
        missing_in_traces(&[killed.clone(), vec![21, 19, 22, 24]]),
        [23]
    );
    assert_eq!(missing_in_traces(&[killed.clone(), vec![21, 19, 23]]), [22]);
    assert_eq!(
        missing_in_traces(&[killed, vec![21, 19, 22, 23]]),
        [0u32; 0]
    );
    assert_eq!(missing_in_traces(&[vec![1, 2, 4]]), [3]);
    // The first new packet: after the resends, or the first one when numbering starts at 1.
    assert_eq!(split_resent(&[4983, 4984, 4985]), (1, 4984));
    assert_eq!(split_resent(&[4990, 4985, 4984, 4991]), (3, 4991));
    assert_eq!(split_resent(&[1, 2, 3]), (0, 1));
    assert_eq!(split_resent(&[]), (0, 1));
}

/// Three nodes, a replica on each, `n` jobs on node 1: every job handled exactly once,
/// and every replica gets a fair share (RMQTT's `round_robin` strategy picks among the
/// group's members on all nodes).
#[test]
fn three_replicas_on_three_nodes_split_30000_jobs_exactly_once() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let cluster = RmqttCluster::start();
    let apps: Vec<AppProcess> = (0..3).map(|i| replica(&cluster, i, i)).collect();
    for (i, app) in apps.iter().enumerate() {
        let b = brokers(app);
        assert!(
            b.len() == 1 && is_node(&cluster, &b[0], i),
            "replica r{i} is connected to node {i} (the first in its list): {b:?}"
        );
    }
    let all: Vec<&AppProcess> = apps.iter().collect();
    let publisher = cluster.observer(PUBLISHER_NODE);
    let started = Instant::now();
    publisher.publish_numbered("jobs", 0..JOBS, WINDOW, |_| {});
    let published = started.elapsed();
    let mut next = JOBS;
    drain(&publisher, &all, &mut next);
    let done = started.elapsed();

    let times = times_handled(&all);
    let split: Vec<usize> = apps
        .iter()
        .map(|a| handled(a).iter().filter(|n| **n < JOBS).count())
        .collect();
    let (lost, duplicated) = (lost(&times), duplicated(&times));
    // Jobs a replica handled after a higher-numbered one (published later).
    let out_of_order: Vec<usize> = apps
        .iter()
        .map(|a| {
            let mut highest = 0;
            handled(a)
                .into_iter()
                .filter(|n| {
                    let late = *n < highest;
                    highest = highest.max(*n);
                    late
                })
                .count()
        })
        .collect();
    println!(
        "RMQTT cluster, 3 nodes, a replica on each, 30,000 QoS 1 jobs published on node 1: published in {published:.1?}, all handled after {done:.1?}; split {split:?}; lost {}, duplicated {}; out of order {out_of_order:?}",
        lost.len(),
        duplicated.len()
    );
    assert!(
        lost.is_empty(),
        "{} jobs never handled, e.g. {:?}\n{}",
        lost.len(),
        &lost[..lost.len().min(20)],
        cluster.logs_tail(20)
    );
    assert!(duplicated.is_empty(), "handled twice: {duplicated:?}");
    for (i, count) in split.iter().enumerate() {
        assert!(
            *count as u64 >= JOBS / 5,
            "replica r{i} on node {i} got {count} of {JOBS}: the group does not share across nodes: {split:?}"
        );
    }
}

/// Node 3 SIGKILLed once half the jobs are published. Its replica (r2, node 3 first, then
/// node 1, node 2) fails over to node 1 and subscribes again with its persistent session's
/// id; the jobs after that are split over the three replicas again. What the dead node
/// held (its client's in-flight window and queue, routed to it before the cluster knew it
/// was gone) is lost with it: measured and printed; every job published after the
/// failover is handled, none twice.
#[test]
fn a_killed_node_s_replica_fails_over_and_resubscribes() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let cluster = RmqttCluster::start();
    let apps: Vec<AppProcess> = (0..3).map(|i| replica(&cluster, i, i)).collect();
    let all: Vec<&AppProcess> = apps.iter().collect();
    let publisher = cluster.observer(PUBLISHER_NODE);
    let victim = 2;
    let mut killed_at = Instant::now();
    let mut failed_over: Option<(u64, Duration)> = None;
    let mut before_kill = 0;
    publisher.publish_numbered("jobs", 0..JOBS, WINDOW, |n| {
        if n == JOBS / 2 {
            before_kill = handled(&apps[victim]).len();
            cluster.kill(victim);
            killed_at = Instant::now();
        }
        let reconnected = || brokers(&apps[victim]).len() >= 2;
        if n > JOBS / 2 && failed_over.is_none() {
            // Two thirds in: wait for the failover, so that the last third is published
            // after it.
            if n == 2 * JOBS / 3 {
                assert!(
                    wait_until(T, reconnected),
                    "replica r{victim} did not fail over: {:?}\n{}",
                    brokers(&apps[victim]),
                    cluster.logs_tail(20)
                );
            }
            if reconnected() {
                failed_over = Some((n + 1, killed_at.elapsed()));
            }
        }
    });
    let (failover_at, failover_took) = failed_over.unwrap();
    let b = brokers(&apps[victim]);
    assert!(
        is_node(&cluster, &b[1], 0),
        "r{victim} failed over to node 1, the next in its list: {b:?}"
    );
    barrier(&publisher, &all, "after-jobs");
    let mut next = JOBS;
    drain(&publisher, &all, &mut next);

    let times = times_handled(&all);
    let (lost, duplicated) = (lost(&times), duplicated(&times));
    let (lost_before, lost_after): (Vec<u64>, Vec<u64>) =
        lost.iter().partition(|n| **n < failover_at);
    let lost_queued = lost_before.iter().filter(|n| **n < JOBS / 2).count();
    // The last job the replica got from the dead node: before its second connect.
    let last_from_dead_node = apps[victim]
        .lines()
        .iter()
        .take_while(|l| !l.starts_with("broker ") || is_node(&cluster, &l[7..], victim))
        .filter_map(|l| {
            l.strip_prefix("job ")?
                .split_once(' ')?
                .0
                .parse::<u64>()
                .ok()
        })
        .max()
        .unwrap_or(0);
    let victim_after: usize = handled(&apps[victim])
        .iter()
        .filter(|n| (failover_at..JOBS).contains(n))
        .count();
    let split: Vec<usize> = apps
        .iter()
        .map(|a| handled(a).iter().filter(|n| **n < JOBS).count())
        .collect();
    println!(
        "RMQTT cluster, node 3 SIGKILLed at job {}: its replica had handled {before_kill}, the last job it got from node 3 was {last_from_dead_node}; it failed over to node 1 after {failover_took:.1?} (job {failover_at}) and handled {victim_after} of the jobs after that; lost {} (queued for it on node 3 before the kill: {lost_queued}, routed to node 3 between the kill and the failover: {}, after the failover: {}), duplicated {}; split {split:?}",
        JOBS / 2,
        lost.len(),
        lost_before.len() - lost_queued,
        lost_after.len(),
        duplicated.len(),
    );
    assert!(
        lost_after.is_empty(),
        "jobs published after the failover never handled: {lost_after:?}"
    );
    assert!(duplicated.is_empty(), "handled twice: {duplicated:?}");
    assert!(
        victim_after > 0,
        "the failed-over replica is in the group again"
    );
    // The replica handles everything the node had sent it (acknowledged or not: the
    // acknowledgements of the last ones die with the node); what is lost is what the node
    // still held for it. RMQTT forwards between nodes concurrently, so a session gets
    // its share nearly, not strictly, in order (`out of order` in the split test): the
    // lost jobs are the ones after the last it got, give or take one publish window.
    let reorder = 3 * WINDOW as u64;
    assert!(
        lost.iter().all(|n| *n + reorder > last_from_dead_node),
        "lost a job well before the last one the dead node delivered ({last_from_dead_node}): {:?}",
        lost.iter()
            .filter(|n| **n + reorder <= last_from_dead_node)
            .collect::<Vec<_>>()
    );
}

/// Replica r1 SIGKILLed once half the jobs are published; after the last one it comes
/// back with the same client id on the same node. The broker kept its persistent session:
/// what it had sent r1 and not seen acknowledged it sends again, and what it queued for
/// r1 meanwhile it sends then. With acknowledgements after handling the client loses
/// nothing; what r1 handled but had not acknowledged when it died is handled twice.
///
/// RMQTT itself may lose one job here: the one it was writing to r1 when the kill reset
/// the connection (seen in CI, "lost 1 ... [14986]", and here: r1 received and
/// acknowledged packet 4982, node 2 wrote 4983 and failed to write the next job, logging
/// `cluster-r1 ... close io error, ... Broken pipe`; the returning r1 got 4983 again and
/// then 4984 as the job after the missing one). Such a job is allowed only if no
/// replica's client received it, no replica's trace misses a packet number (a PUBLISH
/// our client lost before Paho parsed it), it lies in r1's gap ([`gap_of`]), and only as
/// many times as a node logged `cluster-r1`'s connection ending with a failed write. Any
/// other lost job fails the test.
#[test]
fn a_killed_replica_loses_no_acknowledged_job() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let cluster = RmqttCluster::start();
    let mut apps: Vec<AppProcess> = (0..3).map(|i| replica(&cluster, i, i)).collect();
    let publisher = cluster.observer(PUBLISHER_NODE);
    let victim = 1;
    let mut before_kill = Vec::new();
    publisher.publish_numbered("jobs", 0..JOBS, WINDOW, |n| {
        if n == JOBS / 2 {
            apps[victim].kill();
        }
    });
    assert!(apps[victim].wait_exit(T).is_some());
    before_kill.extend(handled(&apps[victim]));
    let back = replica(&cluster, victim, victim);
    let alive: Vec<&AppProcess> = apps
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != victim)
        .map(|(_, a)| a)
        .chain([&back])
        .collect();
    barrier(&publisher, &alive, "after-jobs");
    let mut next = JOBS;
    drain(&publisher, &alive, &mut next);

    let all: Vec<&AppProcess> = apps.iter().chain([&back]).collect();
    let times = times_handled(&all);
    let (lost, duplicated) = (lost(&times), duplicated(&times));
    let back_handled = handled(&back).iter().filter(|n| **n < JOBS).count();
    println!(
        "RMQTT cluster, replica r1 (on node 2) SIGKILLed at job {} ({} handled), back with the same id after the last job: it then handled {back_handled}; lost {} {:?}, duplicated {} (e.g. {:?})",
        JOBS / 2,
        before_kill.len(),
        lost.len(),
        &lost[..lost.len().min(10)],
        duplicated.len(),
        &duplicated[..duplicated.len().min(10)],
    );
    // Whose loss a lost job is, from the replicas' packet traces. One a replica's Paho
    // client received is the client's: acknowledged without being handled, or dropped
    // (what it received and did not acknowledge the broker sends again); that fails. So
    // does a packet number missing from a replica's traces: a PUBLISH the broker wrote
    // and our client lost before Paho parsed it (no trace line), which on a replica that
    // stays connected sits unacknowledged in the broker's in-flight window for the rest
    // of the run. What remains is a job the broker never wrote to any client: RMQTT 0.24
    // drops the PUBLISH it is writing to a connection when the write fails
    // (`Session::deliver` takes the message off the session's queue and puts it in the
    // session's in-flight window only once the write succeeded; a failed write ends the
    // connection's loop with the message in neither), so the kill can cost r1 the one
    // PUBLISH being written to it, right after the last one written before the kill
    // (`rmqtt_drops_the_publish_it_is_writing_when_a_connection_resets` shows it with raw
    // clients). That is allowed in r1's gap only, once per line of a node's log ending
    // a `cluster-r1` connection with a failed write ([`RmqttCluster::failed_writes_of`]).
    let received = received_by_a_replica(&cluster);
    let (ours, never_delivered): (Vec<u64>, Vec<u64>) =
        lost.iter().partition(|n| received.contains(n));
    assert!(
        ours.is_empty(),
        "{} jobs lost that a replica's client received (the client lost them), e.g. {:?}",
        ours.len(),
        &ours[..ours.len().min(20)]
    );
    for i in 0..3 {
        let missing = missing_packet_ids(&cluster, i);
        assert!(
            missing.is_empty(),
            "replica r{i}'s client lost PUBLISH packets before Paho parsed them: packet ids {:?} missing from its traces (lost jobs: {:?})",
            &missing[..missing.len().min(20)],
            &never_delivered[..never_delivered.len().min(20)]
        );
    }
    let (last_before, first_new, gap) = gap_of(&cluster, victim);
    let (in_gap, elsewhere): (Vec<u64>, Vec<u64>) =
        never_delivered.iter().partition(|n| gap.contains(n));
    let failed_writes = cluster.failed_writes_of(&format!("cluster-r{victim}"));
    println!(
        "r{victim}'s gap: after packet {last_before:?}, before packet {first_new:?} of the returning r{victim}, jobs {gap:?}; lost there {in_gap:?}; failed writes to cluster-r{victim}: {}",
        failed_writes.len()
    );
    assert!(
        elsewhere.is_empty(),
        "{} jobs lost that no replica's client received, outside r{victim}'s gap (jobs {gap:?}: after packet {last_before:?} of the killed r{victim}, before packet {first_new:?} of the returning one), e.g. {:?}",
        elsewhere.len(),
        &elsewhere[..elsewhere.len().min(20)]
    );
    assert!(
        in_gap.len() <= failed_writes.len(),
        "{} jobs lost in r{victim}'s gap ({in_gap:?}), more than the connections of cluster-r{victim} a node logged ending with a failed write ({failed_writes:?}), each of which costs RMQTT the one PUBLISH it was writing",
        in_gap.len()
    );
    let unexplained: Vec<&u64> = duplicated
        .iter()
        .filter(|n| !before_kill.contains(n))
        .collect();
    assert!(
        unexplained.is_empty(),
        "handled twice, and not by the killed replica first: {unexplained:?}"
    );
}

/// Jobs of the raw-client scenario.
const RAW_JOBS: u64 = 20_000;
/// Raw consumers in the raw-client scenario's share group; each resets its connection once.
const RAW_CONSUMERS: usize = 10;

/// `RAW_CONSUMERS` raw MQTT 3.1.1 consumers ([`SocketClient`]: no Paho, no flask-mqtt)
/// with persistent sessions (client ids `ID-0`, `ID-1`, ...) in one share group on the
/// broker at `addr` take `RAW_JOBS` numbered QoS 1 jobs that `publisher` publishes on the
/// same broker meanwhile, each acknowledging a job as soon as it has read it. Each
/// resets its connection (RST, as the kernel does for a SIGKILLed process with unread
/// bytes) mid-stream, after 500 to 1,400 jobs (consumer `i` after `500 + 100 i`), and
/// connects again with its id once every job is published, taking what its session kept.
/// Returns the jobs no consumer received (they acknowledged every other one).
fn raw_consumers_reset_once(addr: SocketAddr, publisher: Observer, id: &str) -> Vec<u64> {
    let prefix = format!("{id}-jobs");
    let filter = format!("$share/{id}/{prefix}/+");
    let subscribed = std::sync::Barrier::new(RAW_CONSUMERS + 1);
    let published = Recorder::new();
    let take = |(_, payload, pkid): (String, String, u16),
                conn: &mut SocketClient,
                got: &mut BTreeSet<u64>| {
        conn.puback(pkid);
        got.insert(payload.parse::<u64>().unwrap());
    };
    let got: Vec<BTreeSet<u64>> = std::thread::scope(|s| {
        let consumers: Vec<_> = (0..RAW_CONSUMERS)
            .map(|i| {
                let (subscribed, published, filter) = (&subscribed, &published, &filter);
                s.spawn(move || {
                    let client_id = format!("{id}-{i}");
                    let mut got = BTreeSet::new();
                    let (mut conn, _) =
                        SocketClient::connect(addr, &client_id, false, "a raw consumer");
                    conn.subscribe(filter);
                    subscribed.wait();
                    for k in 0..500 + 100 * i {
                        let Some(publish) = conn.try_next_publish(T) else {
                            panic!("raw consumer {i} got no job for {T:?} ({k} read)")
                        };
                        take(publish, &mut conn, &mut got);
                    }
                    conn.reset();
                    assert!(published.wait_for(T, |p: &[()]| !p.is_empty()));
                    let (mut conn, present) =
                        SocketClient::connect(addr, &client_id, false, "a raw consumer, again");
                    assert!(present, "the broker kept raw consumer {i}'s session");
                    while let Some(publish) = conn.try_next_publish(Duration::from_secs(3)) {
                        take(publish, &mut conn, &mut got);
                    }
                    got
                })
            })
            .collect();
        subscribed.wait();
        publisher.publish_numbered(&prefix, 0..RAW_JOBS, WINDOW, |_| {});
        published.push(());
        consumers.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let got: BTreeSet<u64> = got.into_iter().flatten().collect();
    (0..RAW_JOBS).filter(|n| !got.contains(n)).collect()
}

/// RMQTT's share of a killed replica's loss, with no client of ours involved: a raw
/// consumer resetting its connection `RAW_RESETS` times while jobs stream to it never
/// receives some of them, though the broker acknowledged every one to the publisher and
/// the consumer acknowledged every job it read. RMQTT 0.24's `Session::deliver` takes a
/// message off the session's queue, writes it, and only then puts it in the in-flight
/// window (`//@TODO ... at exception, send hook and or store message`): when the write
/// fails (the connection was reset) the message is in neither, and the resumed session
/// does not have it. Measured and printed (the number varies: a write fails only when
/// the broker picks its next delivery before it sees the reset); every lost job is one
/// the consumer never received, next to a reset.
#[test]
fn rmqtt_drops_the_publish_it_is_writing_when_a_connection_resets() {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let cluster = RmqttCluster::start();
    let addr = SocketAddr::from(([127, 0, 0, 1], cluster.port(0)));
    let lost = raw_consumers_reset_once(addr, cluster.observer(0), "cluster-raw");
    let failed_writes = cluster.failed_writes();
    println!(
        "RMQTT, {RAW_CONSUMERS} raw MQTT 3.1.1 consumers in a share group, each resetting its connection once while {RAW_JOBS} QoS 1 jobs stream to them: lost {} {lost:?}; connections whose end the broker logged with a failed write: {failed_writes:?}",
        lost.len()
    );
    assert!(
        lost.len() <= failed_writes.len(),
        "lost {lost:?}: more jobs than connections whose end the broker logged with a failed write ({failed_writes:?})"
    );
}

/// The control for `rmqtt_drops_the_publish_it_is_writing_when_a_connection_resets`:
/// the same raw consumer and resets against Mosquitto (which puts a message in the
/// in-flight window before it writes it) lose nothing: the scenario itself loses no job.
#[test]
fn mosquitto_loses_nothing_when_a_connection_resets() {
    let broker = Broker::builder().unlimited_queue().start();
    let addr = SocketAddr::from(([127, 0, 0, 1], broker.port()));
    let lost = raw_consumers_reset_once(addr, Observer::connect(&broker), "mosquitto-raw");
    assert!(lost.is_empty(), "Mosquitto lost {lost:?}");
}
