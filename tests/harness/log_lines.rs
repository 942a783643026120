//! [`LogLines`]: the `log` records of the test process, by target and level, for
//! tests that expect a warning (or its absence).

use std::fmt;
use std::sync::{Mutex, MutexGuard, Once, PoisonError};
use std::time::Duration;

use crate::Recorder;

/// One `log` record the process's logger saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Its level.
    pub level: log::Level,
    /// Its target (`flask_mqtt::dispatch`, a module path, ...).
    pub target: String,
    /// The formatted message.
    pub text: String,
}

/// `LEVEL target: text`.
impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.level, self.target, self.text)
    }
}

/// The records the installed views cover, oldest first.
static RECORDS: Recorder<LogLine> = Recorder::new();

/// The views [`install`](LogLines::install)ed: what the logger wants.
static INSTALLED: Mutex<Vec<LogLines>> = Mutex::new(Vec::new());

fn installed() -> MutexGuard<'static, Vec<LogLines>> {
    INSTALLED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The process's one `log` logger: enabled for, and recording, what an installed view
/// covers, and nothing else (`log_enabled!` answers for the code under test too: Paho C's
/// trace is on only when `paho_mqtt_c` is wanted).
struct Logger;

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        installed()
            .iter()
            .any(|view| view.covers_target(m.target(), m.level()))
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            RECORDS.push(LogLine {
                level: record.level(),
                target: record.target().to_owned(),
                text: record.args().to_string(),
            });
        }
    }

    fn flush(&self) {}
}

/// The log lines of one target at one level or more severe: a view of the records of
/// the test process's one logger, which [`install`](Self::install) installs.
///
/// `log` allows one logger per process, and the tests of a binary run in parallel in one
/// process: every view reads the same records, those of the views installed. A `const`
/// view per kind of line:
///
/// ```
/// use std::time::Duration;
/// use flask_mqtt_tests::LogLines;
///
/// /// `flask_mqtt::dispatch` warnings (and errors).
/// const DISPATCH_WARNINGS: LogLines = LogLines::new("flask_mqtt::dispatch", log::Level::Warn);
///
/// DISPATCH_WARNINGS.install();
/// log::warn!(target: "flask_mqtt::dispatch", "handler h for message on `a/b` panicked");
/// log::info!(target: "flask_mqtt::dispatch", "not a warning");
/// log::warn!(target: "flask_mqtt::client", "another target");
/// assert!(DISPATCH_WARNINGS.wait_for_line(Duration::from_secs(5), |l| l.contains("`a/b`")));
/// assert_eq!(
///     DISPATCH_WARNINGS.snapshot(),
///     ["handler h for message on `a/b` panicked"]
/// );
/// ```
///
/// Filter on something unique to the test (a topic or client id made with
/// [`unique`](crate::unique)): the other tests' lines are there too.
///
/// The logger is enabled for, and records, exactly what the installed views cover, as a
/// logger written for them would be; `log_enabled!` in the code under test answers
/// accordingly (Paho C's trace is on only when a view covers `paho_mqtt_c`). A test
/// that wants a logger enabled for everything installs a view of `""` and reads narrower
/// views: a view that is not installed reads what the installed ones recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogLines {
    target: &'static str,
    level: log::Level,
}

impl LogLines {
    /// The lines whose target is `target` or below it (`flask_mqtt` covers
    /// `flask_mqtt::dispatch`, not `flask_mqtt_paho`; `""` covers every target) at
    /// `level` or more severe (`Warn` includes `Error`).
    pub const fn new(target: &'static str, level: log::Level) -> Self {
        Self { target, level }
    }

    /// Has the process's logger record this view's lines from now on: installs the
    /// logger if it is not yet, and raises `log`'s maximum level to this view's level if
    /// it is lower. Call it before the code under test logs; again is harmless.
    ///
    /// Panics if another logger was installed in the process.
    pub fn install(&self) {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            log::set_logger(&Logger).expect("another `log` logger is installed in this process")
        });
        let mut installed = installed();
        if !installed.contains(self) {
            installed.push(*self);
        }
        if log::max_level() < self.level {
            log::set_max_level(self.level.to_level_filter());
        }
    }

    /// Whether `line` is one of this view's.
    pub fn covers(&self, line: &LogLine) -> bool {
        self.covers_target(&line.target, line.level)
    }

    fn covers_target(&self, target: &str, level: log::Level) -> bool {
        level <= self.level
            && (self.target.is_empty()
                || target
                    .strip_prefix(self.target)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with("::")))
    }

    /// The texts of this view's lines so far, oldest first.
    pub fn snapshot(&self) -> Vec<String> {
        RECORDS.with(|records| {
            records
                .iter()
                .filter(|l| self.covers(l))
                .map(|l| l.text.clone())
                .collect()
        })
    }

    /// This view's lines so far, with their level and target, oldest first.
    pub fn records(&self) -> Vec<LogLine> {
        RECORDS.with(|records| records.iter().filter(|l| self.covers(l)).cloned().collect())
    }

    /// Blocks until one of this view's lines (its text) satisfies `pred` (returns
    /// `true`), or until `timeout` elapses (returns `false`). `pred` runs with the
    /// records locked: keep it quick, and do not log from it.
    pub fn wait_for_line(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> bool {
        RECORDS.wait_for(timeout, |records| {
            records.iter().any(|l| self.covers(l) && pred(&l.text))
        })
    }
}
