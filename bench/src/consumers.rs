//! Running one consumer for one run: spawn it, wait until the broker has its
//! subscriptions, let the publisher go, follow its progress, and stop it.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use flask_mqtt_tests::Broker;

use crate::filters::FILTERS;
use crate::framework;
use crate::peers::Peer;
use crate::wire::{self, LatencySummary, Line};

/// The setting that switches flask-mqtt's metrics off (issue 16), set to `false` for 3m.
pub(crate) const METRICS_KEY: &str = "MQTT_METRICS";
/// The setting 3f differs from 3 by.
pub(crate) const ACK_POLICY_KEY: &str = "MQTT_ACK_POLICY";

/// The consumers, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// 1. `mosquitto_sub -C N`.
    MosquittoSub,
    /// 2. Raw paho-mqtt `AsyncClient` with an unbounded stream, built in this workspace:
    ///    with our Paho C (the workspace's `paho-mqtt` is our fork, `vendor/`), the
    ///    transport flask-mqtt runs on.
    Paho,
    /// 2s. The same source built by `bench/stock-paho`: with the stock Paho C of
    /// `paho-mqtt-sys` from crates.io, what a hand-written paho consumer gets.
    PahoStock,
    /// 2r. Raw rumqttc (`bench/rumqttc`): the pure-Rust client baseline, the transport
    /// ruststream runs on.
    Rumqttc,
    /// 3. This framework: an actix app with 100 handlers.
    Framework,
    /// 3m. The same app with `MQTT_METRICS=false` in its environment: metrics on (3)
    /// against off, in the same run (issue 18's "under 5% more CPU with metrics on").
    FrameworkNoMetrics,
    /// 3f. The same app with `MQTT_ACK_POLICY=first` in its environment: every QoS 1
    /// message acknowledged on receipt, as before issue 15, against 3's default (`after`:
    /// acknowledged once its 10 handlers have finished), in the same run.
    FrameworkAckFirst,
    /// 4. Flask-MQTT 1.3 with the same 100 callbacks.
    Flask,
    /// 5. FastStream 0.7 with the same 100 subscribers.
    FastStream,
    /// 6. ruststream with ruststream-rumqttc, the same 100 subscribers (`bench/ruststream`).
    RustStream,
}

impl Kind {
    pub(crate) const ALL: [Kind; 10] = [
        Kind::MosquittoSub,
        Kind::Paho,
        Kind::PahoStock,
        Kind::Rumqttc,
        Kind::Framework,
        Kind::FrameworkNoMetrics,
        Kind::FrameworkAckFirst,
        Kind::Flask,
        Kind::FastStream,
        Kind::RustStream,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::MosquittoSub => "1. mosquitto_sub -C N",
            Kind::Paho => "2. raw paho-mqtt AsyncClient (our Paho C)",
            Kind::PahoStock => "2s. raw paho-mqtt AsyncClient (stock Paho C from crates.io)",
            Kind::Rumqttc => "2r. raw rumqttc AsyncClient",
            Kind::Framework => "3. flask-mqtt (actix, 100 handlers)",
            Kind::FrameworkNoMetrics => "3m. flask-mqtt, metrics off (MQTT_METRICS=false)",
            Kind::FrameworkAckFirst => "3f. flask-mqtt, acks on receipt (MQTT_ACK_POLICY=first)",
            Kind::Flask => "4. Flask-MQTT 1.3 (100 callbacks)",
            Kind::FastStream => "5. FastStream 0.7 MQTT (100 subscribers)",
            Kind::RustStream => "6. ruststream + ruststream-rumqttc (100 subscribers)",
        }
    }

    /// The name on the chart.
    pub(crate) fn short(self) -> &'static str {
        match self {
            Kind::MosquittoSub => "mosquitto_sub",
            Kind::Paho => "raw paho, our Paho C",
            Kind::PahoStock => "raw paho, stock Paho C",
            Kind::Rumqttc => "raw rumqttc",
            Kind::Framework => "flask-mqtt",
            Kind::FrameworkNoMetrics => "flask-mqtt, metrics off",
            Kind::FrameworkAckFirst => "flask-mqtt, acks on receipt",
            Kind::Flask => "Flask-MQTT 1.3",
            Kind::FastStream => "FastStream 0.7",
            Kind::RustStream => "ruststream",
        }
    }

    pub(crate) fn key(self) -> &'static str {
        match self {
            Kind::MosquittoSub => "sub",
            Kind::Paho => "paho",
            Kind::PahoStock => "paho-stock",
            Kind::Rumqttc => "rumqttc",
            Kind::Framework => "framework",
            Kind::FrameworkNoMetrics => "framework-nometrics",
            Kind::FrameworkAckFirst => "framework-ackfirst",
            Kind::Flask => "flask",
            Kind::FastStream => "faststream",
            Kind::RustStream => "ruststream",
        }
    }

    pub(crate) fn from_key(key: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.key() == key)
    }

    /// Whether it declares the 100 handlers (10 calls per message), or counts messages
    /// on one `bench/#` subscription.
    pub(crate) fn has_handlers(self) -> bool {
        self.is_framework() || self.is_peer_framework()
    }

    /// Another project's framework (Flask-MQTT, FastStream, ruststream), measured for
    /// comparison: its message losses are findings about it, not failures of the run.
    pub(crate) fn is_peer_framework(self) -> bool {
        matches!(self, Kind::Flask | Kind::FastStream | Kind::RustStream)
    }

    /// flask-mqtt's own app (3, 3m, 3f), whose handler counts must be right.
    pub(crate) fn is_framework(self) -> bool {
        matches!(
            self,
            Kind::Framework | Kind::FrameworkNoMetrics | Kind::FrameworkAckFirst
        )
    }

    /// A variant of 3 measured against it for one ratio only (3m, 3f): left out of the
    /// latency runs and the chart, and 3f of QoS 0 (nothing is acknowledged there).
    pub(crate) fn is_variant(self) -> bool {
        matches!(self, Kind::FrameworkNoMetrics | Kind::FrameworkAckFirst)
    }

    /// Subscriptions the broker must have before the run starts.
    fn subscriptions(self) -> usize {
        if self.has_handlers() {
            FILTERS.len()
        } else {
            1
        }
    }
}

/// How the publisher sends during a run.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Traffic {
    /// As fast as it can.
    Burst,
    /// At a fixed rate, messages per second; consumers record latency.
    Paced(u64),
}

/// One run of one consumer.
pub(crate) struct Run<'a> {
    pub(crate) kind: Kind,
    pub(crate) qos: i32,
    pub(crate) messages: u64,
    pub(crate) traffic: Traffic,
    pub(crate) client_id: String,
    pub(crate) broker: &'a Broker,
    /// The built or installed program, for the consumers from outside this binary.
    pub(crate) peer: Option<&'a Peer>,
    /// Wait after the subscriptions are in before reading the idle RSS.
    pub(crate) settle: Duration,
    /// No progress for this long after the publisher finished: the rest is lost.
    pub(crate) idle_timeout: Duration,
    /// The whole run, publishing included.
    pub(crate) run_timeout: Duration,
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub(crate) struct Outcome {
    /// Messages the consumer received.
    pub(crate) received: u64,
    pub(crate) expected: u64,
    /// From the first publish to the last message handled.
    pub(crate) elapsed: Duration,
    /// How long the publisher took.
    pub(crate) publish_time: Duration,
    /// Handler calls made (10 per message for the framework and Flask-MQTT).
    pub(crate) calls: u64,
    /// Handlers whose call count differs from the expected one.
    pub(crate) mismatched: u64,
    /// CPU time the consumer process used from the first publish to the end.
    pub(crate) cpu: Option<Duration>,
    /// Context switches of the consumer's threads meanwhile.
    pub(crate) switches: Option<u64>,
    /// CPU time the broker used meanwhile.
    pub(crate) broker_cpu: Option<Duration>,
    pub(crate) idle_rss_kb: Option<u64>,
    pub(crate) peak_rss_kb: Option<u64>,
    pub(crate) latency: Option<LatencySummary>,
    /// Why the consumer failed (crashed, never subscribed, ...).
    pub(crate) failure: Option<String>,
    /// 3m only: the first line of its stderr that names [`METRICS_KEY`] (a build whose
    /// configuration does not know the key says it ignores it).
    pub(crate) metrics_key_line: Option<String>,
}

impl Outcome {
    pub(crate) fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.received as f64 / secs
        } else {
            0.0
        }
    }

    pub(crate) fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.received)
    }
}

/// An event from a child, with the time it was seen.
pub(crate) enum Event {
    Line(Line, u64),
    Eof,
}

/// Where a child's progress comes from.
pub(crate) enum Source {
    /// The line protocol on its stdout, read by a thread.
    Protocol(mpsc::Receiver<Event>),
    /// `mosquitto_sub`'s output file: one fixed-size line per message. Read after it
    /// exits; its size tells the progress before that (no reader competes with the
    /// consumer for the CPU).
    File {
        path: PathBuf,
        line_len: u64,
        latency: bool,
        /// Events made up from the file, not yet handed out.
        pending: VecDeque<Event>,
        last_poll: Instant,
        finished: bool,
    },
}

impl Source {
    pub(crate) fn next(&mut self, child: &mut Child, messages: u64) -> Option<Event> {
        match self {
            Source::Protocol(rx) => match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(event) => Some(event),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => Some(Event::Eof),
            },
            Source::File {
                path,
                line_len,
                latency,
                pending,
                last_poll,
                finished,
            } => {
                if let Some(event) = pending.pop_front() {
                    return Some(event);
                }
                if *finished {
                    return Some(Event::Eof);
                }
                std::thread::sleep(Duration::from_millis(2));
                if let Ok(Some(status)) = child.try_wait() {
                    let now = wire::now_ns();
                    *finished = true;
                    let (count, mut samples) = read_sub_output(path, *latency);
                    pending.push_back(Event::Line(
                        Line::Count {
                            messages: count,
                            calls: count,
                        },
                        now,
                    ));
                    if status.success() && count >= messages {
                        pending.push_back(Event::Line(
                            Line::Done {
                                end_ns: now,
                                messages: count,
                                calls: count,
                                mismatched: 0,
                            },
                            now,
                        ));
                        if *latency {
                            let summary = LatencySummary::of(&mut samples);
                            pending.push_back(Event::Line(Line::Latency(summary), now));
                        }
                    }
                    return pending.pop_front();
                }
                if last_poll.elapsed() < Duration::from_millis(50) {
                    return None;
                }
                *last_poll = Instant::now();
                let size = std::fs::metadata(&*path).map_or(0, |m| m.len());
                let count = size / *line_len;
                Some(Event::Line(
                    Line::Count {
                        messages: count,
                        calls: count,
                    },
                    wire::now_ns(),
                ))
            }
        }
    }

    /// Messages counted once the child is gone (for `mosquitto_sub`, its file).
    fn final_count(&self) -> Option<u64> {
        match self {
            Source::Protocol(_) => None,
            Source::File { path, .. } => Some(read_sub_output(path, false).0),
        }
    }
}

/// Runs `run`; `publish` sends the traffic and returns how long that took.
pub(crate) fn run(run: &Run<'_>, publish: impl FnOnce() -> Result<Duration, String>) -> Outcome {
    let mut outcome = Outcome {
        expected: run.messages,
        ..Outcome::default()
    };
    let stderr = run.broker.dir().join(format!("{}.stderr", run.client_id));
    let (mut child, stdin, mut source) = match spawn(run, &stderr) {
        Ok(spawned) => spawned,
        Err(e) => {
            outcome.failure = Some(format!("could not start: {e}"));
            return outcome;
        }
    };
    let pid = child.id();
    // `mosquitto_sub` ignores stdin: once it is late, it is not going to finish.
    let grace = match run.kind {
        Kind::MosquittoSub => Duration::from_millis(500),
        _ => Duration::from_secs(5),
    };

    if let Err(e) = wait_subscribed(run, &mut child) {
        outcome.failure = Some(format!("{e}{}", tail(&stderr)));
        stop(child, stdin, grace);
        return outcome;
    }
    std::thread::sleep(run.settle);
    outcome.idle_rss_kb = proc_status_kb(pid, "VmRSS");

    let cpu_before = cpu_time(pid);
    let switches_before = context_switches(pid);
    let broker_pid = run.broker.pid();
    let broker_before = broker_pid.and_then(cpu_time);
    let start_ns = wire::now_ns();
    let started = Instant::now();
    match publish() {
        Ok(took) => outcome.publish_time = took,
        Err(e) => {
            outcome.failure = Some(format!("publisher failed: {e}"));
            stop(child, stdin, grace);
            return outcome;
        }
    }

    // Follow the consumer until it has everything, stops making progress, or dies.
    let publish_done_ns = wire::now_ns();
    let mut last_change_ns = publish_done_ns;
    let mut done_at = None;
    let mut cpu_last = None;
    let mut switches_last = None;
    loop {
        if let Some(cpu) = cpu_time(pid) {
            // Read before the child can be reaped (`mosquitto_sub` exits by itself).
            cpu_last = Some(cpu);
            switches_last = context_switches(pid).or(switches_last);
        }
        match source.next(&mut child, run.messages) {
            Some(Event::Line(Line::Count { messages, calls }, at)) => {
                outcome.calls = calls;
                if messages != outcome.received {
                    outcome.received = messages;
                    last_change_ns = at.max(publish_done_ns);
                }
            }
            Some(Event::Line(
                Line::Done {
                    end_ns,
                    messages,
                    calls,
                    mismatched,
                },
                _,
            )) => {
                outcome.received = messages;
                outcome.calls = calls;
                outcome.mismatched = mismatched;
                done_at = Some(end_ns);
                if matches!(run.traffic, Traffic::Burst) {
                    break;
                }
            }
            Some(Event::Line(Line::Latency(summary), _)) => {
                outcome.latency = Some(summary);
                break;
            }
            Some(Event::Eof) => {
                if done_at.is_none() {
                    outcome.failure = Some(format!(
                        "exited after {} of {} messages{}",
                        outcome.received,
                        run.messages,
                        tail(&stderr)
                    ));
                }
                break;
            }
            None => {}
        }
        let idle = Duration::from_nanos(wire::now_ns().saturating_sub(last_change_ns));
        if done_at.is_none() && idle > run.idle_timeout {
            break; // losses: counted below
        }
        if started.elapsed() > run.run_timeout {
            if done_at.is_none() && outcome.received == 0 {
                outcome.failure = Some(format!("nothing received in {:?}", run.run_timeout));
            }
            break;
        }
    }
    let end_ns = done_at.unwrap_or(last_change_ns);
    outcome.elapsed = Duration::from_nanos(end_ns.saturating_sub(start_ns));
    if done_at.is_none() && outcome.failure.is_none() {
        // Losses: every handler count is off.
        outcome.mismatched = u64::MAX;
    }
    outcome.peak_rss_kb = proc_status_kb(pid, "VmHWM");
    outcome.cpu = cpu_last
        .or_else(|| cpu_time(pid))
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    outcome.switches = context_switches(pid)
        .or(switches_last)
        .zip(switches_before)
        .map(|(after, before)| after.saturating_sub(before));
    outcome.broker_cpu = broker_pid
        .and_then(cpu_time)
        .zip(broker_before)
        .map(|(after, before)| after.saturating_sub(before));
    stop(child, stdin, grace);
    if run.kind == Kind::FrameworkNoMetrics {
        outcome.metrics_key_line = std::fs::read_to_string(&stderr)
            .unwrap_or_default()
            .lines()
            .find(|l| l.contains(METRICS_KEY))
            .map(str::to_owned);
    }
    if done_at.is_none() {
        if let Some(count) = source.final_count() {
            outcome.received = count;
        }
    }
    outcome
}

pub(crate) type Spawned = (Child, Option<ChildStdin>, Source);

pub(crate) fn spawn(run: &Run<'_>, stderr: &Path) -> Result<Spawned, String> {
    let latency = matches!(run.traffic, Traffic::Paced(_));
    let mut cmd = match run.kind {
        Kind::MosquittoSub => {
            let mut cmd = Command::new("mosquitto_sub");
            cmd.args(["-h", "127.0.0.1", "-p"])
                .arg(run.broker.port().to_string())
                .args(["-i", &run.client_id, "-q", "1", "-t", "bench/#", "-C"])
                .arg(run.messages.to_string())
                // Never outlive the run, whatever happens to the orchestrator.
                .arg("-W")
                .arg(run.run_timeout.as_secs().max(1).to_string());
            if latency {
                cmd.args(["-F", "%U %p"]);
            }
            cmd
        }
        Kind::Paho | Kind::Framework | Kind::FrameworkNoMetrics | Kind::FrameworkAckFirst => {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let mut cmd = Command::new(exe);
            cmd.arg(match run.kind {
                Kind::Paho => "child-paho",
                _ => "child-framework",
            });
            // 3 runs with the default (metrics on) whatever the bench's environment says.
            if run.kind == Kind::FrameworkNoMetrics {
                cmd.env(METRICS_KEY, "false");
            } else {
                cmd.env_remove(METRICS_KEY);
            }
            // 3f acknowledges on receipt; the others with the default, `after`.
            if run.kind == Kind::FrameworkAckFirst {
                cmd.env(ACK_POLICY_KEY, "first");
            } else {
                cmd.env_remove(ACK_POLICY_KEY);
            }
            cmd
        }
        // Spawned like the children of this binary: same environment, same protocol.
        _ => run
            .peer
            .ok_or_else(|| format!("{} was not built or installed", run.kind.name()))?
            .command(),
    };
    if run.kind.has_handlers() {
        let expected: Vec<String> = framework::expected_calls(run.messages)
            .iter()
            .map(u64::to_string)
            .collect();
        cmd.env("BENCH_FILTERS", FILTERS.join("\n"))
            .env("BENCH_EXPECTED", expected.join(","))
            .env("PYTHONUNBUFFERED", "1");
    }
    let log = std::fs::File::create(stderr).map_err(|e| e.to_string())?;
    let output = run.broker.dir().join(format!("{}.out", run.client_id));
    let stdout = if run.kind == Kind::MosquittoSub {
        Stdio::from(std::fs::File::create(&output).map_err(|e| e.to_string())?)
    } else {
        Stdio::piped()
    };
    cmd.env("MQTT_BROKER_URL", "127.0.0.1")
        .env("MQTT_BROKER_PORT", run.broker.port().to_string())
        .env("MQTT_CLIENT_ID", &run.client_id)
        .env("BENCH_MESSAGES", run.messages.to_string())
        .env("BENCH_LATENCY", if latency { "1" } else { "0" })
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(log);
    let mut child = cmd.spawn().map_err(|e| format!("{cmd:?}: {e}"))?;
    let stdin = child.stdin.take();
    if run.kind == Kind::MosquittoSub {
        let source = Source::File {
            path: output,
            // `<payload>\n`, or `<seconds>.<nanoseconds> <payload>\n` with `-F '%U %p'`.
            line_len: (wire::PAYLOAD_LEN + 1 + if latency { 21 } else { 0 }) as u64,
            latency,
            pending: VecDeque::new(),
            last_poll: Instant::now(),
            finished: false,
        };
        return Ok((child, stdin, source));
    }
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::Builder::new()
        .name("bench-reader".into())
        .spawn(move || read_protocol(stdout, &tx));
    if let Err(e) = reader {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e.to_string());
    }
    Ok((child, stdin, Source::Protocol(rx)))
}

fn read_protocol(stdout: impl Read, tx: &mpsc::Sender<Event>) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(parsed) = Line::parse(&line) {
            if tx.send(Event::Line(parsed, wire::now_ns())).is_err() {
                return;
            }
        }
    }
    let _ = tx.send(Event::Eof);
}

/// Counts the lines of `mosquitto_sub`'s output (one per message) and, in latency
/// mode, the latency of each.
fn read_sub_output(path: &Path, latency: bool) -> (u64, Vec<u64>) {
    let Ok(text) = std::fs::read(path) else {
        return (0, Vec::new());
    };
    let lines = text.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    if !latency {
        return (lines.count() as u64, Vec::new());
    }
    let mut count = 0;
    let mut samples = Vec::new();
    for line in lines {
        count += 1;
        samples.extend(sub_latency(line));
    }
    (count, samples)
}

/// Latency of one `%U %p` line: `1470818943.786368637 <payload>`.
fn sub_latency(line: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(line).ok()?;
    let (stamp, payload) = text.split_once(' ')?;
    let (secs, nanos) = stamp.split_once('.')?;
    let received = secs.parse::<u64>().ok()? * 1_000_000_000 + nanos.parse::<u64>().ok()?;
    let sent = wire::sent_at(payload.as_bytes())?;
    Some(received.saturating_sub(sent))
}

/// Waits until the broker log shows every subscription of the run's client.
pub(crate) fn wait_subscribed(run: &Run<'_>, child: &mut Child) -> Result<(), String> {
    // Mosquitto logs `<client id> <qos> <filter>` per subscription (`log_type subscribe`).
    let needle = format!(": {} 1 ", run.client_id);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if run.broker.count_in_log(&needle) >= run.kind.subscriptions() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited before subscribing ({status})"));
        }
        if Instant::now() > deadline {
            return Err("not subscribed after 60 s".to_owned());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Closes stdin (children exit on that; `mosquitto_sub` exits by itself once it has
/// every message) and kills what is still running after `grace`.
pub(crate) fn stop(mut child: Child, stdin: Option<ChildStdin>, grace: Duration) {
    drop(stdin);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// User plus system CPU time of a process so far (`/proc/<pid>/stat`, 100 ticks/s).
pub(crate) fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces): state is field 3,
    // utime 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Voluntary and involuntary context switches of every thread of a process so far.
pub(crate) fn context_switches(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    for task in tasks.flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        total += status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    Some(total)
}

/// A field of `/proc/<pid>/status` in kB (`VmRSS`, `VmHWM`).
pub(crate) fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?;
    line[field.len() + 1..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The last lines of a child's stderr, for failure messages.
pub(crate) fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return String::new();
    }
    let from = lines.len().saturating_sub(15);
    format!(
        "; its stderr ends with:\n    {}",
        lines[from..].join("\n    ")
    )
}
