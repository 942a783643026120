//! `soak`: a long run through the framework consumer, watching its resident memory.
//!
//! The consumer is the benchmark's flask-mqtt app (`child-framework`: actix-web,
//! `mqtt::configure`, 100 `#[on_message]` handlers, 10 of which match every message),
//! run as a child process against the bench's own Mosquitto. The feeder sends N QoS 1
//! messages (default 1,000,000) at a steady rate (default 20,000/s) in ten equal parts;
//! after each part the soak waits until every handler call of it was made, then reads
//! the child's `VmRSS` (`/proc/<pid>/status`). The reading
//! after the first part is the baseline (start-up and warm-up are behind it by then);
//! a leak shows as growth from there to the end, not as a peak.
//!
//! Exits non-zero when the RSS at the end exceeds the baseline by more than 10 %, when
//! any message or handler call is missing (the child stops making progress for 30 s),
//! or when the child dies. Never because of a timing.

use std::time::{Duration, Instant};

use flask_mqtt_tests::Broker;

use crate::consumers::{self, Event, Kind, Run, Traffic};
use crate::feeder::Feeder;
use crate::wire::{self, Line};

/// The parts the messages are sent in; the RSS is read after each.
const PARTS: u64 = 10;
/// Handler calls per message: 10 of the 100 filters match every topic the feeder uses.
const CALLS_PER_MESSAGE: u64 = 10;
/// Allowed growth of the RSS from the first part to the end.
const MAX_GROWTH: f64 = 0.10;
/// Messages per second by default: a steady load the consumer keeps up with in a release
/// build (it takes 30,000-40,000/s there, about 10,000/s in a debug build: use `--rate
/// 5000` for one), so the memory it holds is what it needs, not the high-water mark of
/// a backlog. Sending each part as fast as possible (`--rate 0`) makes the consumer's
/// queues peak higher now and then, and the RSS keeps such a peak: measured, +6.5 % over
/// 1,000,000 messages in steps, against +0.2 % at 20,000/s.
const DEFAULT_RATE: u64 = 20_000;
/// No progress for this long: what is missing is lost.
const IDLE: Duration = Duration::from_secs(30);

/// What to run.
pub(crate) struct SoakPlan {
    messages: u64,
    /// Messages per second; 0 sends each part as fast as the broker takes it.
    rate: u64,
    window: usize,
    max_inflight: u32,
}

impl SoakPlan {
    pub(crate) fn parse(args: &[String]) -> Result<SoakPlan, String> {
        let mut plan = SoakPlan {
            messages: 1_000_000,
            rate: DEFAULT_RATE,
            window: crate::publish::WINDOW,
            max_inflight: 100,
        };
        let mut rest = args.iter();
        while let Some(flag) = rest.next() {
            let value = rest
                .next()
                .ok_or_else(|| format!("`{flag}` needs a value"))?;
            let number: u64 = value
                .parse()
                .map_err(|_| format!("`{flag} {value}`: expected a number"))?;
            match flag.as_str() {
                "--messages" => plan.messages = number,
                "--rate" => plan.rate = number,
                "--window" => plan.window = usize::try_from(number).unwrap_or(1).max(1),
                "--max-inflight" => plan.max_inflight = u32::try_from(number).unwrap_or(0),
                _ => return Err(format!("unknown soak option `{flag}`")),
            }
        }
        // Every part a multiple of the 10 topics, so each handler's expected count is
        // the same whatever part boundaries fall where.
        let unit = PARTS * wire::TOPICS;
        plan.messages = plan.messages.max(unit).div_ceil(unit) * unit;
        Ok(plan)
    }

    /// `max_inflight_messages` of the broker.
    pub(crate) fn max_inflight(&self) -> u32 {
        self.max_inflight
    }
}

/// The RSS readings and whether the run passed.
struct Readings {
    /// `(messages handled, VmRSS kB)` after each part.
    rss: Vec<(u64, u64)>,
    peak_kb: Option<u64>,
    elapsed: Duration,
}

/// Runs the soak; returns `Err` with the reason on any failure.
pub(crate) fn run(plan: &SoakPlan, broker: &Broker) -> Result<(), String> {
    let part = plan.messages / PARTS;
    eprintln!(
        "soak: {} QoS 1 messages in {PARTS} parts of {part}, {}, through `{}` (100 \
         handlers, {CALLS_PER_MESSAGE} calls per message), broker {}",
        plan.messages,
        if plan.rate == 0 {
            "each part as fast as the broker takes it".to_owned()
        } else {
            format!("{} per second", plan.rate)
        },
        Kind::Framework.name(),
        broker.uri()
    );
    let readings = soak(plan, broker, part)?;
    let Some(&(_, base)) = readings.rss.first() else {
        return Err("no RSS reading".into());
    };
    let Some(&(handled, end)) = readings.rss.last() else {
        return Err("no RSS reading".into());
    };
    let ratio = end as f64 / base.max(1) as f64;
    println!();
    println!("soak: RSS of the flask-mqtt consumer after each part");
    for (n, kb) in &readings.rss {
        println!(
            "  {n:>10} messages  {kb:>8} kB  ({:+.1} %)",
            (*kb as f64 / base.max(1) as f64 - 1.0) * 100.0
        );
    }
    println!(
        "soak: {handled} messages ({} handler calls) in {:.1} s ({:.0} msg/s); RSS after the \
         first {part}: {base} kB, at the end: {end} kB, ratio {ratio:.3} (limit {:.2}); \
         peak {} kB",
        handled * CALLS_PER_MESSAGE,
        readings.elapsed.as_secs_f64(),
        handled as f64 / readings.elapsed.as_secs_f64().max(1e-9),
        1.0 + MAX_GROWTH,
        readings
            .peak_kb
            .map_or_else(|| "unknown".to_owned(), |kb| kb.to_string()),
    );
    if ratio > 1.0 + MAX_GROWTH {
        return Err(format!(
            "the RSS grew from {base} kB to {end} kB ({:+.1} %, more than {:.0} %)",
            (ratio - 1.0) * 100.0,
            MAX_GROWTH * 100.0
        ));
    }
    Ok(())
}

fn soak(plan: &SoakPlan, broker: &Broker, part: u64) -> Result<Readings, String> {
    let run = Run {
        kind: Kind::Framework,
        qos: 1,
        messages: plan.messages,
        // Not `Paced`, whatever the rate: that makes the child keep every latency.
        traffic: Traffic::Burst,
        client_id: "soak-framework".to_owned(),
        broker,
        peer: None,
        settle: Duration::ZERO,
        idle_timeout: IDLE,
        run_timeout: Duration::from_secs(24 * 3600),
    };
    let stderr = broker.dir().join("soak-framework.stderr");
    let (mut child, stdin, mut source) = consumers::spawn(&run, &stderr)?;
    let result = (|| {
        consumers::wait_subscribed(&run, &mut child)
            .map_err(|e| format!("{e}{}", consumers::tail(&stderr)))?;
        let pid = child.id();
        let mut feeder = Feeder::connect(broker.port(), "soak-feeder")?;
        let started = Instant::now();
        let mut rss = Vec::new();
        let mut progress = (0u64, 0u64);
        for i in 1..=PARTS {
            if plan.rate == 0 {
                feeder.burst(part, 1, plan.window)?;
            } else {
                feeder.paced(part, 1, plan.rate)?;
            }
            let want = (i * part, i * part * CALLS_PER_MESSAGE);
            progress = follow(&mut source, &mut child, plan.messages, progress, want)
                .map_err(|e| format!("{e}{}", consumers::tail(&stderr)))?;
            let kb = consumers::proc_status_kb(pid, "VmRSS")
                .ok_or_else(|| format!("cannot read VmRSS of the consumer (pid {pid})"))?;
            eprintln!("soak: {:>10} messages handled, RSS {kb} kB", want.0);
            rss.push((want.0, kb));
        }
        Ok(Readings {
            rss,
            peak_kb: consumers::proc_status_kb(pid, "VmHWM"),
            elapsed: started.elapsed(),
        })
    })();
    consumers::stop(child, stdin, Duration::from_secs(5));
    result
}

/// Follows the child's progress lines until it has handled `want` (messages, calls);
/// fails when it makes no progress for [`IDLE`] or exits.
fn follow(
    source: &mut consumers::Source,
    child: &mut std::process::Child,
    messages: u64,
    mut progress: (u64, u64),
    want: (u64, u64),
) -> Result<(u64, u64), String> {
    let mut last_change = Instant::now();
    while progress.0 < want.0 || progress.1 < want.1 {
        let seen = match source.next(child, messages) {
            Some(Event::Line(Line::Count { messages, calls }, _)) => (messages, calls),
            Some(Event::Line(
                Line::Done {
                    messages,
                    calls,
                    mismatched,
                    ..
                },
                _,
            )) => {
                if mismatched > 0 {
                    return Err(format!(
                        "{mismatched} handlers were called a wrong number of times"
                    ));
                }
                (messages, calls)
            }
            Some(Event::Line(Line::Latency(_), _)) | None => progress,
            Some(Event::Eof) => {
                return Err(format!(
                    "the consumer exited after {} messages, {} calls",
                    progress.0, progress.1
                ))
            }
        };
        if seen != progress {
            progress = seen;
            last_change = Instant::now();
        } else if last_change.elapsed() > IDLE {
            return Err(format!(
                "lost: the consumer stopped at {} of {} messages, {} of {} handler calls \
                 (no progress for {IDLE:?})",
                progress.0, want.0, progress.1, want.1
            ));
        }
    }
    Ok(progress)
}
