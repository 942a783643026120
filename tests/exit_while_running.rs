//! A program that returns from `main` while its MQTT client still runs exits cleanly
//! (docs/paho-fork.md, patch 24: OpenSSL left in place at exit).
//!
//! Paho C initialised OpenSSL with `SSL_library_init()`, which lets OpenSSL register
//! `OPENSSL_cleanup` with atexit(3): `exit()` then freed OpenSSL's global state while the
//! process's other threads still ran, and a thread that had used OpenSSL and ended
//! meanwhile (an actix worker winding down, the one that created the client among them)
//! read it in OpenSSL's thread-local destructor: a test binary (tracing_opentelemetry)
//! passed its test and was then killed by SIGSEGV, once in a CI run.
//!
//! Each run of `tests/bin/exit_app.rs` starts a client, leaves it running, has 64 threads
//! use OpenSSL and end while `exit()` runs, and says from a last exit handler whether
//! OpenSSL's state is still there. Without the patch (2026-12-07) every run says
//! `openssl cleaned up at exit` (exit status 3), some die of SIGSEGV or SIGABRT ("double
//! free or corruption") first.

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Duration;

use flask_mqtt_tests::AppProcess;

/// Runs of the child; each takes well under a second.
const RUNS: usize = 20;

/// Threads of each run that used OpenSSL and end during `exit()`.
const THREADS: &str = "64";

/// How long one run may take (start, exit).
const RUN_LIMIT: Duration = Duration::from_secs(30);

#[test]
fn a_program_returning_from_main_with_its_client_running_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for run in 1..=RUNS {
        // Its stderr (the client's "could not reach the broker", glibc's "double free or
        // corruption") goes to a file, shown for a failed run.
        let stderr_path = dir.path().join(format!("run-{run}.stderr"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_exit_app"));
        command
            .arg(THREADS)
            .stderr(File::create(&stderr_path).unwrap());
        let mut app = AppProcess::spawn("exit_app", command);
        let Some(status) = app.wait_exit(RUN_LIMIT) else {
            panic!(
                "run {run}: exit_app did not exit within {RUN_LIMIT:?}; it printed {:?}",
                app.lines()
            );
        };
        let lines = app.all_lines(RUN_LIMIT);
        let intact = lines.iter().any(|l| l == "openssl intact at exit");
        if !status.success() || !intact {
            let how = match status.signal() {
                Some(libc::SIGSEGV) => "killed by SIGSEGV".to_owned(),
                Some(libc::SIGABRT) => "killed by SIGABRT".to_owned(),
                Some(s) => format!("killed by signal {s}"),
                None => format!("exit status {:?}", status.code()),
            };
            let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            let lines_err: Vec<&str> = stderr.lines().collect();
            let tail = &lines_err[lines_err.len().saturating_sub(3)..];
            failures.push(format!(
                "run {run}: {how}, printed {lines:?}, stderr ends {tail:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {RUNS} runs did not exit cleanly with OpenSSL intact (OpenSSL's atexit \
         cleanup ran under the process's threads):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
