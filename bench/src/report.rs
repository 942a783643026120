//! The tables (Markdown, so they can go into BENCHMARKS.md as printed), the ratios,
//! the targets and what counts as a failure.

use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

use crate::consumers::{Kind, Outcome, Run, Traffic};
use crate::wire::{self, LatencySummary};
use crate::Plan;

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
    pub(crate) flask_versions: String,
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

/// Why the run failed: crashes, QoS 1 losses, and framework handlers called the wrong
/// number of times although every message arrived. Timings never fail a run.
pub(crate) fn failures(results: &Results) -> Vec<String> {
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
        } else if *qos == 1 && o.lost() > 0 {
            out.push(format!("{name}: lost {} QoS 1 messages", o.lost()));
        } else if *kind == Kind::Framework && o.lost() == 0 && o.mismatched != 0 {
            out.push(format!(
                "{name}: every message arrived, but {} handlers were called the wrong number of times",
                o.mismatched
            ));
        }
    }
    out
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
    if !r.flask_versions.is_empty() {
        let _ = writeln!(s, "- Python venv: {}", r.flask_versions);
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
    for note in &r.notes {
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

    let ratio = |a: Kind, b: Kind, qos: i32| -> Option<f64> {
        let a = r.throughput(a, qos)?.rate()?;
        let b = r.throughput(b, qos)?.rate()?;
        (b > 0.0).then(|| a / b)
    };
    let cpu_ratio = |a: Kind, b: Kind, qos: i32| -> Option<f64> {
        let a = r.throughput(a, qos)?.cpu_per_message()?;
        let b = r.throughput(b, qos)?.cpu_per_message()?;
        (b > 0.0).then(|| a / b)
    };
    let rss_ratio = (|| {
        let fw = r.throughput(Kind::Framework, 0)?.idle_rss_kb?;
        let fl = r.throughput(Kind::Flask, 0)?.idle_rss_kb?;
        Some(fw as f64 / fl as f64)
    })();
    let _ = writeln!(s, "\n### Ratios (each from this run)\n");
    let _ = writeln!(s, "| ratio | QoS 0 | QoS 1 | target |");
    let _ = writeln!(s, "|---|---:|---:|---|");
    let mut targets = Vec::new();
    for (label, other, min) in [
        ("3/2 flask-mqtt / raw paho, patched Paho C", Kind::Paho, 0.9),
        (
            "3/2s flask-mqtt / raw paho, stock Paho C",
            Kind::PahoStock,
            0.9,
        ),
        ("3/1 flask-mqtt / mosquitto_sub", Kind::MosquittoSub, 0.85),
        ("3/4 flask-mqtt / Flask-MQTT", Kind::Flask, 2.5),
    ] {
        let q0 = ratio(Kind::Framework, other, 0);
        let q1 = ratio(Kind::Framework, other, 1);
        let _ = writeln!(s, "| {label} | {} | {} | >= {min} |", times(q0), times(q1));
        for (qos, value) in [(0, q0), (1, q1)] {
            targets.push((
                format!("{label} at QoS {qos} >= {min}"),
                value,
                value.map(|v| v >= min),
            ));
        }
    }
    let _ = writeln!(
        s,
        "| idle RSS flask-mqtt / Flask-MQTT | {} | | <= 0.5 |",
        times(rss_ratio)
    );
    targets.push((
        "idle RSS flask-mqtt / Flask-MQTT <= 0.5".to_owned(),
        rss_ratio,
        rss_ratio.map(|v| v <= 0.5),
    ));
    for (label, a, b) in [
        (
            "2/2s raw paho patched / stock Paho C (context)",
            Kind::Paho,
            Kind::PahoStock,
        ),
        (
            "2/4 raw paho patched / Flask-MQTT (context)",
            Kind::Paho,
            Kind::Flask,
        ),
        (
            "1/4 mosquitto_sub / Flask-MQTT (context)",
            Kind::MosquittoSub,
            Kind::Flask,
        ),
    ] {
        let _ = writeln!(
            s,
            "| {label} | {} | {} | |",
            times(ratio(a, b, 0)),
            times(ratio(a, b, 1))
        );
    }
    for (label, a, b) in [
        (
            "CPU/msg flask-mqtt / raw paho patched",
            Kind::Framework,
            Kind::Paho,
        ),
        (
            "CPU/msg flask-mqtt / raw paho stock",
            Kind::Framework,
            Kind::PahoStock,
        ),
        (
            "CPU/msg raw paho patched / stock",
            Kind::Paho,
            Kind::PahoStock,
        ),
        (
            "CPU/msg raw paho patched / mosquitto_sub",
            Kind::Paho,
            Kind::MosquittoSub,
        ),
        (
            "CPU/msg Flask-MQTT / flask-mqtt",
            Kind::Flask,
            Kind::Framework,
        ),
    ] {
        let _ = writeln!(
            s,
            "| {label} | {} | {} | |",
            times(cpu_ratio(a, b, 0)),
            times(cpu_ratio(a, b, 1))
        );
    }

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

    let _ = writeln!(s, "\n### Targets (end to end; the dispatcher targets are in `cargo bench -p flask-mqtt-topic`)\n");
    for (what, value, met) in targets {
        let verdict = match met {
            Some(true) => "MET",
            Some(false) => "MISSED",
            None => "NOT MEASURED",
        };
        let _ = writeln!(s, "- {verdict}: {what} (measured {})", times(value));
    }
    println!("{s}");
}

fn rate(r: f64) -> String {
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

fn times(r: Option<f64>) -> String {
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

fn command_line(program: &str, args: &[&str]) -> String {
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

fn machine() -> String {
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
