//! End-to-end benchmark of flask-mqtt against `mosquitto_sub`, the raw clients (paho-mqtt
//! on our Paho C and on the stock one, rumqttc) and the frameworks (Flask-MQTT 1.3,
//! FastStream 0.7, ruststream), on a loopback Mosquitto it starts. See BENCHMARKS.md.
//!
//! ```text
//! cargo run --release -p flask-mqtt-bench -- full     # the measured table
//! cargo run -p flask-mqtt-bench -- quick              # CI smoke run (5,000 messages)
//! cargo run --release -p flask-mqtt-bench -- soak     # 1,000,000 messages, RSS checked
//! cargo run -p flask-mqtt-bench -- soak --messages 100000 --rate 5000   # CI
//! cargo run -p flask-mqtt-bench -- chart REPORT       # the chart again, from a printed report
//! cargo run --release -p flask-mqtt-bench -- calls    # one handler call's cost, in process
//! BENCH_PUBLISHER=framework ... flask-mqtt-bench child-publish   # one publisher alone
//! ```
//!
//! Options (after the mode): `--messages N`, `--rounds R`, `--rate R` (latency runs, messages/s),
//! `--latency-secs S`, `--consumers sub,paho,paho-stock,rumqttc,framework,framework-nometrics,framework-ackfirst,flask,faststream,ruststream`,
//! `--max-inflight N`, `--window N`, `--skip publish,throughput,latency`, `--chart PATH`
//! (an SVG of the throughput table; `full` writes `bench/e2e.svg` unless told otherwise).
//! The peers from outside this binary are built or installed at the start (`peers.rs`);
//! one that cannot be is left out with the reason. The `soak` mode takes `--messages N` (default
//! 1,000,000), `--rate R` (messages/s, default 20,000; 0 for bursts), `--window N` and
//! `--max-inflight N`; see `soak.rs`. The `calls` mode takes `--messages N` (calls per figure,
//! default 20,000), `--rounds R` (default 3) and `--only TEXT` (the scenarios whose label
//! starts with it; exits 2 when it starts none); see `calls.rs`.
//!
//! Exits non-zero only when a consumer crashes (or never subscribes) or loses QoS 1
//! messages, when a multi-handler consumer's handlers were called the wrong number of
//! times although every message arrived, or, in `quick` mode (CI), when a peer could not
//! be built or installed (`soak`: also when the consumer's resident memory grew by more
//! than 10 %); never because of a timing. Targets are printed MET/MISSED in `full` mode
//! only: a debug build's figures mean nothing.

mod calls;
mod chart;
mod child;
mod consumers;
mod counters;
mod feeder;
mod filters;
mod framework;
mod paho_consumer;
mod peers;
mod publish;
mod report;
mod soak;
mod targets;
mod wire;

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::Broker;

use crate::consumers::{Kind, Outcome, Run, Traffic};
use crate::feeder::Feeder;
use crate::publish::RawPublisher;
use crate::report::{PublishRow, Results};

/// What to run.
pub(crate) struct Plan {
    pub(crate) mode: &'static str,
    pub(crate) messages: u64,
    /// Messages per sequential publish row (each awaited before the next).
    pub(crate) sequential: u64,
    pub(crate) rate: u64,
    pub(crate) latency_secs: u64,
    /// Throughput runs per consumer and QoS; the table shows the median.
    pub(crate) rounds: usize,
    pub(crate) consumers: Vec<Kind>,
    /// Phases left out: `publish`, `throughput`, `latency`.
    pub(crate) skip: Vec<String>,
    pub(crate) max_inflight: u32,
    /// Publishes the publisher has pending at once.
    pub(crate) window: usize,
    /// Where the chart goes, if anywhere.
    pub(crate) chart: Option<std::path::PathBuf>,
    settle: Duration,
    idle_timeout: Duration,
    run_timeout: Duration,
}

impl Plan {
    fn new(mode: &str) -> Option<Plan> {
        let quick = match mode {
            "quick" => true,
            "full" => false,
            _ => return None,
        };
        Some(Plan {
            mode: if quick { "quick" } else { "full" },
            messages: if quick { 5_000 } else { 200_000 },
            sequential: if quick { 500 } else { 10_000 },
            rate: 5_000,
            latency_secs: if quick { 1 } else { 4 },
            rounds: if quick { 1 } else { 3 },
            consumers: Kind::ALL.to_vec(),
            skip: Vec::new(),
            max_inflight: 100,
            window: publish::WINDOW,
            chart: (!quick)
                .then(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e.svg")),
            settle: Duration::from_millis(if quick { 300 } else { 1_000 }),
            idle_timeout: Duration::from_secs(if quick { 5 } else { 10 }),
            run_timeout: Duration::from_secs(if quick { 60 } else { 600 }),
        })
    }

    /// Messages per throughput run of `kind`: FastStream handles a few hundred messages a
    /// second here, so it gets a twentieth (at least 1,000) to keep the run in minutes.
    pub(crate) fn messages_for(&self, kind: Kind) -> u64 {
        match kind {
            Kind::FastStream => (self.messages / 20).max(self.messages.min(1_000)),
            _ => self.messages,
        }
    }

    fn skips(&self, phase: &str) -> bool {
        self.skip.iter().any(|p| p == phase)
    }

    fn parse(args: &[String]) -> Result<Plan, String> {
        let mode = args.first().map_or("full", String::as_str);
        let mut plan = Plan::new(mode).ok_or_else(|| format!("unknown mode `{mode}`"))?;
        let mut rest = args.iter().skip(1);
        while let Some(flag) = rest.next() {
            let value = rest
                .next()
                .ok_or_else(|| format!("`{flag}` needs a value"))?;
            let number = || -> Result<u64, String> {
                value
                    .parse()
                    .map_err(|_| format!("`{flag} {value}`: expected a number"))
            };
            match flag.as_str() {
                "--messages" => {
                    plan.messages = number()?.max(10);
                    plan.sequential = (plan.messages / 20).max(10);
                }
                "--rounds" => plan.rounds = usize::try_from(number()?).unwrap_or(1).max(1),
                "--rate" => plan.rate = number()?.max(1),
                "--latency-secs" => plan.latency_secs = number()?.max(1),
                "--skip" => {
                    plan.skip = value.split(',').map(str::to_owned).collect();
                    if let Some(bad) = plan
                        .skip
                        .iter()
                        .find(|p| !["publish", "throughput", "latency"].contains(&p.as_str()))
                    {
                        return Err(format!(
                            "unknown phase `{bad}`; expected publish, throughput or latency"
                        ));
                    }
                }
                "--chart" => plan.chart = Some(value.into()),
                "--window" => plan.window = usize::try_from(number()?).unwrap_or(1).max(1),
                "--max-inflight" => plan.max_inflight = u32::try_from(number()?).unwrap_or(0),
                "--consumers" => {
                    plan.consumers = value
                        .split(',')
                        .filter(|k| !k.is_empty())
                        .map(|k| {
                            Kind::from_key(k).ok_or_else(|| {
                                format!(
                                    "unknown consumer `{k}`; expected one of {}",
                                    Kind::ALL.map(Kind::key).join(", ")
                                )
                            })
                        })
                        .collect::<Result<_, _>>()?;
                }
                _ => return Err(format!("unknown option `{flag}`")),
            }
        }
        Ok(plan)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let child = match args.first().map(String::as_str) {
        Some("child-framework") => Some(framework::run()),
        Some("child-paho") => Some(paho_consumer::run()),
        Some("child-publish") => Some(publish::child_run()),
        Some("-h" | "--help") => {
            println!("usage: flask-mqtt-bench [quick|full] [--messages N] [--rounds R] [--rate R] [--latency-secs S] [--consumers sub,paho,paho-stock,rumqttc,framework,framework-nometrics,framework-ackfirst,flask,faststream,ruststream] [--max-inflight N] [--window N] [--skip publish,throughput,latency] [--chart PATH]");
            println!("       flask-mqtt-bench soak [--messages N] [--rate R] [--window N] [--max-inflight N]");
            println!("       flask-mqtt-bench chart REPORT [--chart PATH]   (redraws the chart from a run's printed report)");
            println!("       flask-mqtt-bench calls [--messages N] [--rounds R] [--only TEXT]   (one handler call's cost, in process)");
            println!("       flask-mqtt-bench child-publish   (one publisher alone, for a profiler: env BENCH_PUBLISHER=paho|framework, BENCH_MESSAGES, BENCH_QOS, BENCH_WINDOW, MQTT_BROKER_URL, MQTT_BROKER_PORT, MQTT_CLIENT_ID)");
            return ExitCode::SUCCESS;
        }
        Some("soak") => return soak_main(&args[1..]),
        Some("calls") => return calls_main(&args[1..]),
        Some("chart") => return chart_main(&args[1..]),
        _ => None,
    };
    if let Some(result) = child {
        return child::exit_code("flask-mqtt-bench child", result);
    }
    let plan = match Plan::parse(&args) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("flask-mqtt-bench: {e} (try --help)");
            return ExitCode::from(2);
        }
    };
    match orchestrate(&plan) {
        Ok(results) => {
            report::print(&plan, &results);
            if let Some(path) = &plan.chart {
                match chart::write(path, &plan, &results) {
                    Ok(()) => eprintln!("bench: chart written to {}", path.display()),
                    Err(e) => eprintln!("bench: no chart: {e}"),
                }
            }
            let failures = report::failures(&plan, &results);
            if failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                eprintln!("\nbench: FAILED:");
                for f in failures {
                    eprintln!("  - {f}");
                }
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("bench: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The broker of every run: no queue limit, `max_inflight` messages in flight per
/// client, and no per-PUBLISH log lines.
fn bench_broker(max_inflight: u32) -> Broker {
    Broker::builder()
        .unlimited_queue()
        .extra(format!("max_inflight_messages {max_inflight}"))
        // The harness logs everything; a line per PUBLISH would make the broker the
        // bottleneck. Keep what the harness and the readiness check read.
        .extra("log_type none")
        .extra("log_type error")
        .extra("log_type warning")
        .extra("log_type notice")
        .extra("log_type information")
        .extra("log_type subscribe")
        .build()
}

/// `chart REPORT [--chart PATH]`: the chart of a report a run printed (default path
/// `bench/e2e.svg`), e.g. after a change of the drawing.
fn chart_main(args: &[String]) -> ExitCode {
    let (report, path) = match args {
        [report] => (
            report,
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e.svg"),
        ),
        [report, flag, path] if flag == "--chart" => (report, path.into()),
        _ => {
            eprintln!("flask-mqtt-bench: usage: chart REPORT [--chart PATH]");
            return ExitCode::from(2);
        }
    };
    let drawn = std::fs::read_to_string(report)
        .map_err(|e| format!("{report}: {e}"))
        .and_then(|text| chart::redraw(&text, &path));
    match drawn {
        Ok(()) => {
            eprintln!("bench: chart written to {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("flask-mqtt-bench chart: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `soak` mode: see `soak.rs`.
fn soak_main(args: &[String]) -> ExitCode {
    let plan = match soak::SoakPlan::parse(args) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("flask-mqtt-bench: {e} (try --help)");
            return ExitCode::from(2);
        }
    };
    let broker = bench_broker(plan.max_inflight());
    match soak::run(&plan, &broker) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("soak: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `calls [--messages N] [--rounds R] [--only TEXT]`: see `calls.rs`.
fn calls_main(args: &[String]) -> ExitCode {
    let mut calls = 20_000;
    let mut rounds = 3;
    let mut only = String::new();
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let text = rest.next();
        let value = text.and_then(|v| v.parse::<u64>().ok());
        match (flag.as_str(), value) {
            ("--messages", Some(n)) => calls = n.max(100),
            ("--rounds", Some(n)) => rounds = usize::try_from(n).unwrap_or(1).max(1),
            ("--only", _) => match text {
                Some(text) => only = text.clone(),
                None => {
                    eprintln!("flask-mqtt-bench: calls: `--only` needs a TEXT (try --help)");
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprintln!("flask-mqtt-bench: calls: `{flag}`: expected --messages N, --rounds R or --only TEXT (try --help)");
                return ExitCode::from(2);
            }
        }
    }
    if !calls::labels().any(|label| label.starts_with(&only)) {
        let labels: Vec<_> = calls::labels().map(|l| format!("`{l}`")).collect();
        eprintln!(
            "flask-mqtt-bench: calls: `--only {only}` matches no scenario; labels: {}",
            labels.join(", ")
        );
        return ExitCode::from(2);
    }
    match calls::run(calls, rounds, &only) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("calls: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn orchestrate(plan: &Plan) -> Result<Results, String> {
    let begun = Instant::now();
    let mut results = Results::default();
    let mut consumers = plan.consumers.clone();
    // The peers from outside this binary: built or installed once, before anything runs.
    // One that cannot be is left out, with the reason, and the run goes on.
    let runs_consumers = !(plan.skips("throughput") && plan.skips("latency"));
    let mut peers = HashMap::new();
    for &kind in &plan.consumers {
        if !runs_consumers {
            break;
        }
        match peers::prepare(kind, plan.mode == "full") {
            None => {}
            Some(Ok(peer)) => {
                results.versions.push((kind, peer.versions.clone()));
                peers.insert(kind, peer);
            }
            Some(Err(e)) => {
                let why = format!("{} SKIPPED: {e}", kind.name());
                eprintln!("bench: {why}");
                results.skipped.push((kind, e));
                results.notes.push(why);
                consumers.retain(|k| *k != kind);
            }
        }
    }

    for &kind in &consumers {
        if plan.messages_for(kind) != plan.messages && !plan.skips("throughput") {
            results.notes.push(format!(
                "{}: {} messages per throughput run, not {}",
                kind.name(),
                plan.messages_for(kind),
                plan.messages
            ));
        }
    }
    let broker = bench_broker(plan.max_inflight);
    eprintln!(
        "bench: {} mode, {} messages of {} bytes, broker {}",
        plan.mode,
        plan.messages,
        wire::PAYLOAD_LEN,
        broker.uri()
    );
    if !plan.skips("publish") {
        publish_rows(plan, &broker, &mut results)?;
    }
    let mut feeder = Feeder::connect(broker.port(), "bench-feeder")?;
    for qos in [0, 1] {
        let took = feeder.burst(plan.messages, qos, plan.window)?;
        results.feeder[qos as usize] = plan.messages as f64 / took.as_secs_f64().max(1e-9);
    }
    eprintln!(
        "bench: publisher alone: {:.0} / {:.0} msg/s (QoS 0 / QoS 1)",
        results.feeder[0], results.feeder[1]
    );

    let mut runs = 0;
    let mut next_id = |kind: Kind, qos: i32, what: &str| {
        runs += 1;
        format!("bench-{}-{what}-q{qos}-{runs}", kind.key())
    };
    let throughput = if plan.skips("throughput") {
        &[][..]
    } else {
        &consumers[..]
    };
    for qos in [0, 1] {
        for _ in 0..plan.rounds {
            // 3f differs from 3 only in when QoS 1 messages are acknowledged.
            for &kind in throughput
                .iter()
                .filter(|k| qos == 1 || **k != Kind::FrameworkAckFirst)
            {
                let messages = plan.messages_for(kind);
                let run = Run {
                    kind,
                    qos,
                    messages,
                    traffic: Traffic::Burst,
                    client_id: next_id(kind, qos, "tput"),
                    broker: &broker,
                    peer: peers.get(&kind),
                    settle: plan.settle,
                    idle_timeout: plan.idle_timeout,
                    run_timeout: plan.run_timeout,
                };
                let outcome = consumers::run(&run, || feeder.burst(messages, qos, plan.window));
                eprintln!("bench: {}", report::progress_line(&run, &outcome));
                results.throughput.push((kind, qos, outcome));
            }
        }
    }
    let latency_messages = plan.rate * plan.latency_secs;
    let latency = if plan.skips("latency") {
        &[][..]
    } else {
        &consumers[..]
    };
    for qos in [0, 1] {
        // 3m and 3f are there for one ratio against 3 each; their latency is 3's.
        for &kind in latency.iter().filter(|k| !k.is_variant()) {
            // Paced faster than it can handle, a consumer would measure its backlog.
            let rate = results.median(kind, qos).map(|(rate, _)| rate);
            if let Some(rate) = rate.filter(|r| *r < plan.rate as f64) {
                let why = format!(
                    "{}: no latency run at QoS {qos}: its throughput ({rate:.0} msg/s) is below the paced rate ({} msg/s)",
                    kind.name(),
                    plan.rate
                );
                eprintln!("bench: {why}");
                results.notes.push(why);
                continue;
            }
            let run = Run {
                kind,
                qos,
                messages: latency_messages,
                traffic: Traffic::Paced(plan.rate),
                client_id: next_id(kind, qos, "lat"),
                broker: &broker,
                peer: peers.get(&kind),
                settle: Duration::from_millis(200),
                idle_timeout: plan.idle_timeout,
                run_timeout: plan.run_timeout,
            };
            let outcome: Outcome =
                consumers::run(&run, || feeder.paced(latency_messages, qos, plan.rate));
            eprintln!("bench: {}", report::progress_line(&run, &outcome));
            results.latency.push((kind, qos, outcome));
        }
    }
    results.wall = begun.elapsed();
    Ok(results)
}

/// Publish throughput, raw paho against `Mqtt::publish`, with no subscriber.
fn publish_rows(plan: &Plan, broker: &Broker, results: &mut Results) -> Result<(), String> {
    let publisher = RawPublisher::connect(&broker.uri(), "bench-paho-pub")?;
    // The host of `Broker::uri`, which the raw publisher connects to.
    let (client, handle) =
        publish::framework_publisher("127.0.0.1", broker.port(), "bench-framework-pub")?;
    let rate = |n: u64, took: Duration| n as f64 / took.as_secs_f64().max(1e-9);
    for (window, n) in [(plan.window, plan.messages), (1, plan.sequential)] {
        let mut raw = PublishRow::new("raw paho AsyncClient::publish", window, n);
        let mut fw = PublishRow::new("flask-mqtt Mqtt::publish", window, n);
        for (qos, q) in [(0, mqtt::QoS::AtMostOnce), (1, mqtt::QoS::AtLeastOnce)] {
            let took = publisher.burst(n, qos, window)?;
            raw.rates[qos as usize] = rate(n, took);
            let took = publish::framework_burst(&handle, n, q, window)?;
            fw.rates[qos as usize] = rate(n, took);
        }
        eprintln!("bench: {}", fw.progress_line(&raw));
        results.publish.push((raw, fw));
    }
    drop(client);
    drop(publisher);
    Ok(())
}
