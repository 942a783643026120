//! [`AppProcess`]: an app under test in a child process (one of `tests/bin/`), the lines
//! it prints, signals and its exit; [`say`]: how such an app prints a line.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::recorder::Recorder;
use crate::sys;

/// Prints `line` for the test that runs this app process (an [`AppProcess`] reads it),
/// flushed at once so that the test sees it when it happens. A closed stdout is ignored.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// A child process whose stdout lines are recorded as they come. Killed when dropped.
pub struct AppProcess {
    name: String,
    child: Child,
    lines: Arc<Recorder<String>>,
    /// One entry once the reader has read all of stdout (the process and any child
    /// holding it have closed it).
    closed: Arc<Recorder<()>>,
}

/// How long [`AppProcess::kill`] waits for the last lines of the killed process.
const LAST_LINES: Duration = Duration::from_secs(10);

impl AppProcess {
    /// Starts `command` with its stdout piped and recorded; `name` is for messages.
    pub fn spawn(name: &str, mut command: Command) -> AppProcess {
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let lines = Arc::new(Recorder::new());
        let out = child.stdout.take().unwrap();
        let l = Arc::clone(&lines);
        let closed = Arc::new(Recorder::new());
        let c = Arc::clone(&closed);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                l.push(line);
            }
            c.push(());
        });
        AppProcess {
            name: name.to_owned(),
            child,
            lines,
            closed,
        }
    }

    /// The first line printed that matches `pred`, waiting up to `timeout`; panics with
    /// every line printed when none does.
    pub fn expect_line(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        assert!(
            self.lines
                .wait_for(timeout, |ls| ls.iter().any(|l| pred(l))),
            "{} printed {:?}",
            self.name,
            self.lines.snapshot()
        );
        self.lines.snapshot().into_iter().find(|l| pred(l)).unwrap()
    }

    /// Waits up to `timeout` until `n` lines equal to `line` were printed.
    pub fn expect_count(&self, timeout: Duration, line: &str, n: usize) {
        assert!(
            self.lines
                .wait_for(timeout, |ls| ls.iter().filter(|l| *l == line).count() >= n),
            "{} printed {:?}",
            self.name,
            self.lines.snapshot()
        );
    }

    /// Every line printed so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.snapshot()
    }

    /// Every line printed, once the reader has read all of stdout (the process has
    /// exited, or closed it), waiting up to `timeout` for that; what it read so far after
    /// that.
    pub fn all_lines(&self, timeout: Duration) -> Vec<String> {
        self.closed.wait_for(timeout, |c| !c.is_empty());
        self.lines.snapshot()
    }

    /// How many lines printed so far match `pred`.
    pub fn count(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.lines.count(|l| pred(l))
    }

    /// Runs `f` on every line printed so far (without copying them).
    pub fn with_lines<R>(&self, f: impl FnOnce(&[String]) -> R) -> R {
        self.lines.with(f)
    }

    /// Sends SIGKILL (as an OOM kill or a lost node does) and reaps the process; its
    /// printed lines stay readable. Returns once every line it printed has been read
    /// (what it wrote to the pipe before it died outlives it, and the reader may lag
    /// behind), or after 10 s if something else still holds its stdout.
    pub fn kill(&mut self) {
        self.child
            .kill()
            .unwrap_or_else(|e| panic!("SIGKILL to {}: {e}", self.name));
        let _ = self.child.wait();
        self.closed.wait_for(LAST_LINES, |c| !c.is_empty());
    }

    /// Sends SIGTERM (a graceful stop).
    pub fn terminate(&self) {
        sys::terminate(self.child.id()).unwrap_or_else(|e| panic!("SIGTERM to {}: {e}", self.name));
    }

    /// Waits up to `limit` for the process to exit; `None` if it is still running.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
