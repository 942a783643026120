//! What every consumer child process shares: its settings (from the environment, with
//! Flask-MQTT's key names for the broker), the stdin watchdog and the progress lines.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::wire::{self, LatencySummary};

/// Settings the orchestrator hands a consumer child.
pub(crate) struct Settings {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) client_id: String,
    /// Messages the publisher sends in this run.
    pub(crate) messages: u64,
    /// Record publish-to-handler latency.
    pub(crate) latency: bool,
    /// Calls each handler should get, by index in the filter table (`BENCH_EXPECTED`,
    /// comma-separated; multi-handler consumers only).
    pub(crate) expected: Vec<u64>,
}

impl Settings {
    pub(crate) fn from_env() -> Result<Settings, String> {
        let var = |key: &str| std::env::var(key).map_err(|e| format!("{key}: {e}"));
        let number = |key: &str| -> Result<u64, String> {
            var(key)?.parse().map_err(|e| format!("{key}: {e}"))
        };
        Ok(Settings {
            host: var("MQTT_BROKER_URL")?,
            port: u16::try_from(number("MQTT_BROKER_PORT")?).map_err(|e| e.to_string())?,
            client_id: var("MQTT_CLIENT_ID")?,
            messages: number("BENCH_MESSAGES")?,
            latency: var("BENCH_LATENCY").is_ok_and(|v| v == "1"),
            expected: match std::env::var("BENCH_EXPECTED") {
                Ok(list) => list
                    .split(',')
                    .map(|n| n.parse().map_err(|e| format!("BENCH_EXPECTED: {e}")))
                    .collect::<Result<_, String>>()?,
                Err(_) => Vec::new(),
            },
        })
    }
}

/// Ends the process when stdin closes: the orchestrator closes it to stop a child, and
/// a dying orchestrator closes it too, so children never outlive a run.
pub(crate) fn exit_when_stdin_closes() {
    let _ = std::thread::Builder::new()
        .name("bench-stdin".into())
        .spawn(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
            std::process::exit(0);
        });
}

/// Counters a child reports.
#[derive(Default)]
pub(crate) struct Progress {
    pub(crate) messages: AtomicU64,
    pub(crate) calls: AtomicU64,
    /// For the multi-handler consumers, (messages, calls) of the whole run: messages are
    /// then reported as handler calls scaled by messages / calls, so a consumer that
    /// routes a message to the wrong handlers still shows how much it handled (the wrong
    /// counts are reported at `done`).
    pub(crate) scale: OnceLock<(u64, u64)>,
}

impl Progress {
    /// Messages handled so far.
    pub(crate) fn messages(&self) -> u64 {
        match self.scale.get() {
            Some(&(messages, calls)) if calls > 0 => {
                let done = u128::from(self.calls.load(Ordering::Relaxed));
                u64::try_from(done * u128::from(messages) / u128::from(calls)).unwrap_or(u64::MAX)
            }
            _ => self.messages.load(Ordering::Relaxed),
        }
    }
}

/// Prints `count <messages> <calls>` every 100 ms while it changes (and with the feature
/// `call-split`, `split <inline> <on workers>` after it).
pub(crate) fn report_progress(progress: Arc<Progress>) {
    let _ = std::thread::Builder::new()
        .name("bench-progress".into())
        .spawn(move || {
            let mut last = (0, 0);
            loop {
                std::thread::sleep(Duration::from_millis(100));
                let now = (progress.messages(), progress.calls.load(Ordering::Relaxed));
                if now != last {
                    say(&format!("count {} {}", now.0, now.1));
                    // The split of flask-mqtt's calls so far (feature `call-split`): made
                    // inline, on the workers; `0 0` in the other consumers.
                    #[cfg(feature = "call-split")]
                    {
                        let split = flask_mqtt_actix::__private::call_split();
                        say(&format!("split {} {}", split.inline, split.on_workers));
                    }
                    last = now;
                }
            }
        });
}

/// Prints one protocol line and flushes it.
pub(crate) fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Counts the messages of a consumer with one subscription (the raw clients): progress,
/// the `done` line once every message arrived, and latencies in latency mode.
pub(crate) struct Tally {
    expected: u64,
    latency: bool,
    count: u64,
    latencies: Vec<u64>,
    progress: Arc<Progress>,
}

impl Tally {
    pub(crate) fn new(settings: &Settings, progress: Arc<Progress>) -> Tally {
        Tally {
            expected: settings.messages,
            latency: settings.latency,
            count: 0,
            latencies: Vec::new(),
            progress,
        }
    }

    /// One message arrived.
    pub(crate) fn message(&mut self, payload: &[u8]) {
        if self.latency {
            if let Some(sent) = wire::sent_at(payload) {
                self.latencies.push(wire::now_ns().saturating_sub(sent));
            }
        }
        self.count += 1;
        let count = self.count;
        self.progress.messages.store(count, Ordering::Relaxed);
        self.progress.calls.store(count, Ordering::Relaxed);
        if count == self.expected {
            say(&format!("done {} {count} {count} 0", wire::now_ns()));
            if self.latency {
                say(&LatencySummary::of(&mut self.latencies).line());
            }
        }
    }
}

/// The exit of a consumer process: on failure, `<name>: <error>` on stderr and status 1.
pub(crate) fn exit_code(name: &str, result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::from(1)
        }
    }
}
