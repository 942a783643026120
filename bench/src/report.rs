//! The tables (Markdown, so they can go into BENCHMARKS.md as printed), the ratios,
//! the targets and what counts as a failure.

use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

use crate::consumers::{Kind, Outcome, Run, Traffic};
use crate::targets;
use crate::wire::{self, LatencySummary};
use crate::Plan;

/// The ratio rows: label, numerator, denominator.
const RATIOS: &[(&str, Kind, Kind)] = &[
    (
        "3/2 flask-mqtt / raw paho, our Paho C",
        Kind::Framework,
        Kind::Paho,
    ),
    (
        "3/3m flask-mqtt, metrics on / off",
        Kind::Framework,
        Kind::FrameworkNoMetrics,
    ),
    (
        "3/3f flask-mqtt, acks after handling / on receipt",
        Kind::Framework,
        Kind::FrameworkAckFirst,
    ),
    (
        "3/2s flask-mqtt / raw paho, stock Paho C",
        Kind::Framework,
        Kind::PahoStock,
    ),
    (
        "3/1 flask-mqtt / mosquitto_sub",
        Kind::Framework,
        Kind::MosquittoSub,
    ),
    ("3/4 flask-mqtt / Flask-MQTT", Kind::Framework, Kind::Flask),
    (
        "3/5 flask-mqtt / FastStream",
        Kind::Framework,
        Kind::FastStream,
    ),
    (
        "3/6 flask-mqtt / ruststream",
        Kind::Framework,
        Kind::RustStream,
    ),
    (
        "3/2r flask-mqtt / raw rumqttc",
        Kind::Framework,
        Kind::Rumqttc,
    ),
    (
        "6/2r ruststream / raw rumqttc (its client)",
        Kind::RustStream,
        Kind::Rumqttc,
    ),
    ("5/4 FastStream / Flask-MQTT", Kind::FastStream, Kind::Flask),
    (
        "2/2s raw paho, our / stock Paho C",
        Kind::Paho,
        Kind::PahoStock,
    ),
    (
        "2/2r raw paho, our Paho C / raw rumqttc",
        Kind::Paho,
        Kind::Rumqttc,
    ),
    (
        "2/1 raw paho, our Paho C / mosquitto_sub",
        Kind::Paho,
        Kind::MosquittoSub,
    ),
];

/// One publish-throughput row.
pub(crate) struct PublishRow {
    pub(crate) name: &'static str,
    pub(crate) window: usize,
    pub(crate) messages: u64,
    /// Messages per second at QoS 0 and QoS 1.
    pub(crate) rates: [f64; 2],
}

impl PublishRow {
    pub(crate) fn new(name: &'static str, window: usize, messages: u64) -> PublishRow {
        PublishRow {
            name,
            window,
            messages,
            rates: [0.0; 2],
        }
    }

    pub(crate) fn progress_line(&self, raw: &PublishRow) -> String {
        format!(
            "publish, {} at once: raw paho {} / {} msg/s, Mqtt::publish {} / {} msg/s (QoS 0 / QoS 1)",
            self.window,
            rate(raw.rates[0]),
            rate(raw.rates[1]),
            rate(self.rates[0]),
            rate(self.rates[1])
        )
    }
}

/// Everything one run of the bench measured.
#[derive(Default)]
pub(crate) struct Results {
    /// (raw paho, `Mqtt::publish`) per window.
    pub(crate) publish: Vec<(PublishRow, PublishRow)>,
    pub(crate) throughput: Vec<(Kind, i32, Outcome)>,
    pub(crate) latency: Vec<(Kind, i32, Outcome)>,
    /// The consumer runs' publisher alone, messages/s at QoS 0 and QoS 1.
    pub(crate) feeder: [f64; 2],
    /// What each peer from outside this binary runs on.
    pub(crate) versions: Vec<(Kind, String)>,
    /// Peers that could not be built or installed, and why.
    pub(crate) skipped: Vec<(Kind, String)>,
    pub(crate) notes: Vec<String>,
    pub(crate) wall: Duration,
}

impl Results {
    /// The rounds of one consumer at one QoS: the median run (a failed run, if any),
    /// and the slowest and fastest rates.
    fn throughput(&self, kind: Kind, qos: i32) -> Option<Rounds<'_>> {
        let mut runs: Vec<&Outcome> = self
            .throughput
            .iter()
            .filter(|(k, q, _)| *k == kind && *q == qos)
            .map(|(_, _, o)| o)
            .collect();
        runs.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
        let failed = runs.iter().find(|o| o.failure.is_some()).copied();
        Some(Rounds {
            median: failed.or_else(|| runs.get(runs.len() / 2).copied())?,
            slowest: runs.first()?.rate(),
            fastest: runs.last()?.rate(),
            count: runs.len(),
            lost: runs.iter().map(|o| o.lost()).max().unwrap_or(0),
            idle_rss_kb: runs.first()?.idle_rss_kb,
            peak_rss_kb: runs.iter().filter_map(|o| o.peak_rss_kb).max(),
        })
    }

    /// The median rate of `kind` at `qos` (none if a round failed) and its CPU per message
    /// in microseconds.
    pub(crate) fn median(&self, kind: Kind, qos: i32) -> Option<(f64, Option<f64>)> {
        let rounds = self.throughput(kind, qos)?;
        Some((rounds.rate()?, rounds.cpu_per_message()))
    }

    /// Median rate of `a` over `b`'s at `qos`.
    pub(crate) fn rate_ratio(&self, a: Kind, b: Kind, qos: i32) -> Option<f64> {
        let a = self.throughput(a, qos)?.rate()?;
        let b = self.throughput(b, qos)?.rate()?;
        (b > 0.0).then(|| a / b)
    }

    /// CPU per message of `a` over `b`'s at `qos` (median runs).
    pub(crate) fn cpu_ratio(&self, a: Kind, b: Kind, qos: i32) -> Option<f64> {
        let a = self.throughput(a, qos)?.cpu_per_message()?;
        let b = self.throughput(b, qos)?.cpu_per_message()?;
        (b > 0.0).then(|| a / b)
    }

    /// Idle resident memory of `a` over `b`'s.
    pub(crate) fn idle_rss_ratio(&self, a: Kind, b: Kind) -> Option<f64> {
        let a = self.throughput(a, 0)?.idle_rss_kb?;
        let b = self.throughput(b, 0)?.idle_rss_kb?;
        (b > 0).then(|| a as f64 / b as f64)
    }

    /// `Mqtt::publish` over raw paho's publish rate at `qos`, `window` awaited at once.
    pub(crate) fn publish_ratio(&self, window: usize, qos: usize) -> Option<f64> {
        let (raw, fw) = self.publish.iter().find(|(raw, _)| raw.window == window)?;
        (raw.rates[qos] > 0.0).then(|| fw.rates[qos] / raw.rates[qos])
    }

    /// The consumer runs' publisher alone, with nobody subscribed.
    fn publisher_alone(&self, qos: i32) -> Option<f64> {
        let rate = self.feeder[usize::from(qos == 1)];
        (rate > 0.0).then_some(rate)
    }
}

/// Every round of one consumer at one QoS.
struct Rounds<'a> {
    median: &'a Outcome,
    slowest: f64,
    fastest: f64,
    count: usize,
    /// The most any round lost.
    lost: u64,
    /// From the first round.
    idle_rss_kb: Option<u64>,
    peak_rss_kb: Option<u64>,
}

impl Rounds<'_> {
    /// The median rate, or `None` when a round failed.
    fn rate(&self) -> Option<f64> {
        self.median.failure.is_none().then(|| self.median.rate())
    }

    fn cpu_per_message(&self) -> Option<f64> {
        let o = self.median;
        let cpu = o.cpu?;
        (o.received > 0).then(|| cpu.as_secs_f64() * 1e6 / o.received as f64)
    }
}

fn find(list: &[(Kind, i32, Outcome)], kind: Kind, qos: i32) -> Option<&Outcome> {
    list.iter()
        .find(|(k, q, _)| *k == kind && *q == qos)
        .map(|(_, _, o)| o)
}

/// One line per finished run, while the bench goes.
pub(crate) fn progress_line(run: &Run<'_>, o: &Outcome) -> String {
    let what = match run.traffic {
        Traffic::Burst => "throughput".to_owned(),
        Traffic::Paced(r) => format!("latency at {r} msg/s"),
    };
    let mut line = format!(
        "{} QoS {} {what}: {}/{} messages ({} handler calls) in {:.2} s = {} msg/s (publisher {:.2} s; CPU per message: consumer {}, broker {}; consumer context switches per message: {})",
        run.kind.name(),
        run.qos,
        o.received,
        o.expected,
        o.calls,
        o.elapsed.as_secs_f64(),
        rate(o.rate()),
        o.publish_time.as_secs_f64(),
        cpu_per_message(o.cpu, o.received),
        cpu_per_message(o.broker_cpu, o.received),
        o.switches
            .filter(|_| o.received > 0)
            .map_or("-".into(), |n| format!("{:.2}", n as f64 / o.received as f64)),
    );
    if let Some(l) = o.latency {
        let _ = write!(line, ", p50 {} p99 {}", micros(l.p50_ns), micros(l.p99_ns));
    }
    if let Some(f) = &o.failure {
        let _ = write!(line, " -- FAILED: {f}");
    }
    line
}

/// Why the run failed: crashes, QoS 1 losses of our consumers and of the baselines (a
/// loss there is a fault of the bench or the broker; a peer framework's loss is a finding
/// about the peer, printed by `peer_losses`), flask-mqtt's handlers called the wrong
/// number of times although every message arrived, and in `quick` mode (CI) a peer that
/// could not be built or installed. Timings never fail a run.
pub(crate) fn failures(plan: &Plan, results: &Results) -> Vec<String> {
    let mut out = Vec::new();
    let runs = results
        .throughput
        .iter()
        .map(|r| ("throughput", r))
        .chain(results.latency.iter().map(|r| ("latency", r)));
    for (what, (kind, qos, o)) in runs {
        let name = format!("{} ({what}, QoS {qos})", kind.name());
        if let Some(f) = &o.failure {
            out.push(format!("{name}: {f}"));
        } else if *qos == 1 && o.lost() > 0 && !kind.is_peer_framework() {
            out.push(format!("{name}: lost {} QoS 1 messages", o.lost()));
        } else if kind.is_framework() && o.lost() == 0 && o.mismatched != 0 {
            out.push(format!(
                "{name}: every message arrived, but {} handlers were called the wrong number of times",
                o.mismatched
            ));
        }
    }
    if plan.mode == "quick" {
        for (kind, why) in &results.skipped {
            out.push(format!(
                "{} could not be built or installed: {why}",
                kind.name()
            ));
        }
    }
    out
}

/// Peers whose handlers were called the wrong number of times although every message
/// arrived (a finding about the peer, not a failure of the run).
fn miscounted(results: &Results) -> Vec<String> {
    results
        .throughput
        .iter()
        .filter(|(kind, _, o)| {
            kind.has_handlers()
                && !kind.is_framework()
                && o.failure.is_none()
                && o.lost() == 0
                && o.mismatched != 0
        })
        .map(|(kind, qos, o)| {
            format!(
                "{} at QoS {qos}: {} of its handlers were called the wrong number of times ({} calls for {} messages)",
                kind.name(),
                o.mismatched,
                o.calls,
                o.received
            )
        })
        .collect()
}

/// QoS 1 messages a peer framework lost (FastStream's client reconnects with a clean
/// start after a long backlog; ruststream stalls): reported, not a failure of our run.
fn peer_losses(results: &Results) -> Vec<String> {
    results
        .throughput
        .iter()
        .filter(|(kind, qos, o)| kind.is_peer_framework() && *qos == 1 && o.lost() > 0)
        .map(|(kind, _, o)| {
            format!(
                "{} lost {} QoS 1 messages in a round (a finding about the peer; its figures count what arrived)",
                kind.name(),
                o.lost()
            )
        })
        .collect()
}

/// What 3m is, and whether this build knows the setting that makes it differ from 3.
fn metrics_notes(r: &Results) -> Vec<String> {
    let runs: Vec<&Outcome> = r
        .throughput
        .iter()
        .filter(|(k, _, _)| *k == Kind::FrameworkNoMetrics)
        .map(|(_, _, o)| o)
        .collect();
    if runs.is_empty() {
        return Vec::new();
    }
    let mut out = vec![format!(
        "{} is the app of 3 with {}=false in its environment, rounds interleaved with 3's; 3/3m is the cost of the metrics (issue 16). A build whose flask-mqtt has no metrics (before issue 16's merge) runs 3m exactly like 3, and 3/3m is then the spread between two identical consumers",
        Kind::FrameworkNoMetrics.name(),
        crate::consumers::METRICS_KEY
    )];
    if let Some(line) = runs.iter().find_map(|o| o.metrics_key_line.as_deref()) {
        out.push(format!(
            "{}'s stderr names {}: `{}`",
            Kind::FrameworkNoMetrics.name(),
            crate::consumers::METRICS_KEY,
            line.trim()
        ));
    }
    out
}

/// What 3f is, when it ran.
fn ack_note(r: &Results) -> Option<String> {
    r.throughput
        .iter()
        .any(|(k, _, _)| *k == Kind::FrameworkAckFirst)
        .then(|| {
            format!(
                "{} is the app of 3 with {}=first in its environment, QoS 1 only, rounds interleaved with 3's: every message acknowledged on receipt, where 3 acknowledges it once its 10 handlers have finished (issue 15); 3/3f at QoS 1 is what acknowledging after handling costs",
                Kind::FrameworkAckFirst.name(),
                crate::consumers::ACK_POLICY_KEY
            )
        })
}

pub(crate) fn print(plan: &Plan, r: &Results) {
    let mut s = String::new();
    let build = if cfg!(debug_assertions) {
        "debug build: figures are not meaningful"
    } else {
        "release build"
    };
    let _ = writeln!(s, "\n## flask-mqtt-bench {} ({build})\n", plan.mode);
    let _ = writeln!(
        s,
        "- {}, {}; {}",
        command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        machine(),
        command_line("mosquitto", &["-h"])
    );
    for (kind, versions) in &r.versions {
        let _ = writeln!(s, "- {}: {versions}", kind.name());
    }
    let _ = writeln!(
        s,
        "- {} messages of {} bytes, round robin over bench/0/value .. bench/{}/value; broker: max_queued_messages 0, max_inflight_messages {}; whole run {:.0} s",
        plan.messages,
        wire::PAYLOAD_LEN,
        wire::TOPICS - 1,
        plan.max_inflight,
        r.wall.as_secs_f64()
    );
    for note in r
        .notes
        .iter()
        .cloned()
        .chain(metrics_notes(r))
        .chain(ack_note(r))
        .chain(miscounted(r))
        .chain(peer_losses(r))
    {
        let _ = writeln!(s, "- NOTE: {note}");
    }

    let rounds = r
        .throughput
        .iter()
        .filter(|(k, q, _)| *k == Kind::Framework && *q == 0)
        .count();
    let _ = writeln!(
        s,
        "\n### End to end: messages/s from the first publish to the last message handled\n"
    );
    let _ = writeln!(
        s,
        "Median of {rounds} run(s) per consumer and QoS, [slowest - fastest]; CPU is the consumer \
         process's user + system time per message in the median run.\n"
    );
    let _ = writeln!(
        s,
        "| consumer | QoS 0 msg/s | lost | CPU/msg | QoS 1 msg/s | lost | CPU/msg | idle RSS | peak RSS |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        s,
        "| publisher alone (no subscriber) | {} | | | {} | | | | |",
        r.publisher_alone(0).map_or("-".into(), rate),
        r.publisher_alone(1).map_or("-".into(), rate)
    );
    let mut publisher_bound = Vec::new();
    for kind in Kind::ALL {
        let (q0, q1) = (r.throughput(kind, 0), r.throughput(kind, 1));
        if q0.is_none() && q1.is_none() {
            continue;
        }
        let mut cells = |qos: i32, rounds: &Option<Rounds<'_>>| match rounds {
            None => ["-".to_owned(), "-".to_owned(), "-".to_owned()],
            Some(x) => {
                let speed = match x.rate() {
                    None => "FAILED".to_owned(),
                    Some(v) if x.count > 1 => {
                        format!("{} [{} - {}]", rate(v), rate(x.slowest), rate(x.fastest))
                    }
                    Some(v) => rate(v),
                };
                if let (Some(v), Some(alone)) = (x.rate(), r.publisher_alone(qos)) {
                    if v >= 0.9 * alone {
                        publisher_bound.push(format!("{} at QoS {qos}", kind.name()));
                    }
                }
                [
                    speed,
                    x.lost.to_string(),
                    x.cpu_per_message()
                        .map_or("-".into(), |us| format!("{us:.1} us")),
                ]
            }
        };
        let [a, b, c] = cells(0, &q0);
        let [d, e, f] = cells(1, &q1);
        let _ = writeln!(
            s,
            "| {} | {a} | {b} | {c} | {d} | {e} | {f} | {} | {} |",
            kind.name(),
            q0.as_ref()
                .and_then(|x| x.idle_rss_kb)
                .map_or("-".into(), mb),
            q0.as_ref()
                .and_then(|x| x.peak_rss_kb)
                .map_or("-".into(), mb),
        );
    }
    if !publisher_bound.is_empty() {
        let _ = writeln!(
            s,
            "\nNOTE: within 10% of the publisher's own rate, so possibly publisher-bound: {}",
            publisher_bound.join(", ")
        );
    }

    let _ = writeln!(s, "\n### Ratios (each from this run; medians)\n");
    let _ = writeln!(
        s,
        "| ratio | msg/s QoS 0 | msg/s QoS 1 | CPU/msg QoS 0 | CPU/msg QoS 1 |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|");
    for (label, a, b) in RATIOS {
        let _ = writeln!(
            s,
            "| {label} | {} | {} | {} | {} |",
            times(r.rate_ratio(*a, *b, 0)),
            times(r.rate_ratio(*a, *b, 1)),
            times(r.cpu_ratio(*a, *b, 0)),
            times(r.cpu_ratio(*a, *b, 1))
        );
    }
    let _ = writeln!(
        s,
        "| idle RSS flask-mqtt / Flask-MQTT | {} | | | |",
        times(r.idle_rss_ratio(Kind::Framework, Kind::Flask))
    );

    let _ = writeln!(
        s,
        "\n### Publish throughput, no subscriber (messages/s until the last publish completed)\n"
    );
    let _ = writeln!(
        s,
        "| publisher | awaited at once | messages | QoS 0 | QoS 1 |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|");
    for (raw, fw) in &r.publish {
        for row in [raw, fw] {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                row.name,
                row.window,
                row.messages,
                rate(row.rates[0]),
                rate(row.rates[1])
            );
        }
        let q = |i: usize| (raw.rates[i] > 0.0).then(|| fw.rates[i] / raw.rates[i]);
        let _ = writeln!(
            s,
            "| Mqtt::publish / raw paho | {} | | {} | {} |",
            raw.window,
            times(q(0)),
            times(q(1))
        );
    }

    if !r.latency.is_empty() {
        let _ = writeln!(
            s,
            "\n### Latency, publish to handler, at {} msg/s for {} s (every handler call counts: 10 per message for flask-mqtt and Flask-MQTT)\n",
            plan.rate, plan.latency_secs
        );
        let _ = writeln!(
            s,
            "| consumer | QoS 0 p50 | QoS 0 p99 | QoS 1 p50 | QoS 1 p99 | QoS 1 max |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
        for kind in Kind::ALL {
            let get = |qos| find(&r.latency, kind, qos);
            if get(0).is_none() && get(1).is_none() {
                continue;
            }
            let l = |qos| -> Option<LatencySummary> { get(qos)?.latency };
            let p =
                |qos, f: fn(&LatencySummary) -> u64| l(qos).map_or("-".into(), |l| micros(f(&l)));
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                kind.name(),
                p(0, |l| l.p50_ns),
                p(0, |l| l.p99_ns),
                p(1, |l| l.p50_ns),
                p(1, |l| l.p99_ns),
                p(1, |l| l.max_ns),
            );
        }
    }

    targets::print(&mut s, plan, &targets::evaluate(r));
    println!("{s}");
}

pub(crate) fn rate(r: f64) -> String {
    let n = r.round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// CPU time per message, in microseconds.
fn cpu_per_message(cpu: Option<Duration>, messages: u64) -> String {
    match cpu {
        Some(cpu) if messages > 0 => format!("{:.1} us", cpu.as_secs_f64() * 1e6 / messages as f64),
        _ => "-".into(),
    }
}

pub(crate) fn times(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.2}x"))
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

fn micros(ns: u64) -> String {
    if ns >= 10_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else {
        format!("{:.0} us", ns as f64 / 1e3)
    }
}

pub(crate) fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.lines().next().map(|l| l.trim().to_owned())
        })
        .unwrap_or_else(|| format!("{program}: ?"))
}

pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    format!("{cpu}, {cores} cores")
}
