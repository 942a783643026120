//! A program that returns from `main` while its MQTT client still runs, or is stopping,
//! exits without OpenSSL's state freed under its threads (docs/paho-fork.md, patch 24:
//! OpenSSL left in place at exit).
//!
//! Paho C initialised OpenSSL with `SSL_library_init()`, which lets OpenSSL register
//! `OPENSSL_cleanup` with atexit(3): `exit()` then freed OpenSSL's global state while the
//! process's other threads still ran, and a thread that had used OpenSSL and ended
//! meanwhile (an actix worker winding down, the one that created the client among them)
//! read it in OpenSSL's thread-local destructor: a test binary (tracing_opentelemetry)
//! passed its test and was then killed by SIGSEGV, once in a CI run.
//!
//! Each run of `tests/bin/exit_app.rs` starts a client, has 64 threads use OpenSSL and
//! end while `exit()` runs, and says from a last exit handler whether OpenSSL's state is
//! still there. The client is left running and reconnecting (20 runs), left connected
//! over TLS to the harness's TLS Mosquitto (10 runs), or stopping: its graceful stop
//! asked for and waiting for a handler that holds until exit (10 runs). Without the
//! patch (2026-12-07) every run of the first kind says `openssl cleaned up at exit`
//! (exit status 3), some die of SIGSEGV or SIGABRT ("double free or corruption") first.
//! A control run first (`exit_app 64 openssl-first`: the program initialises OpenSSL
//! itself before the client, so OpenSSL's exit handler is registered) must be seen by
//! the detector: `openssl cleaned up at exit` and exit status 3, or a crash; otherwise
//! the test fails, as a detector gone blind would pass everything.
//!
//! Needs OpenSSL 1.1.1b or later (`OPENSSL_INIT_NO_ATEXIT`, which patch 24 passes; CI
//! has 3.0). With OpenSSL 1.1.0 to 1.1.1a the patch keeps `SSL_library_init()`, and so
//! OpenSSL's exit handler: the tests fail at once and say so, rather than fail every run
//! or skip.

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use flask_mqtt_tests::{AppProcess, Broker};

/// Runs of the child with its client running; each takes well under a second.
const RUNS: usize = 20;

/// Runs with the client connected over TLS, and with it stopping.
const CONNECTED_RUNS: usize = 10;

/// Threads of each run that used OpenSSL and end during `exit()`.
const THREADS: &str = "64";

/// How long one run may take (start, connect, exit).
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// `OpenSSL_version_num()` of OpenSSL 1.1.1b, the first with `OPENSSL_INIT_NO_ATEXIT`.
const OPENSSL_1_1_1B: i64 = 0x1010_102f;

/// Fails, saying why, on an OpenSSL older than patch 24 covers.
fn require_openssl_1_1_1b() {
    // `OpenSSL_version_num()`, of the libcrypto this process (and exit_app) links.
    let number = openssl::version::number();
    assert!(
        number >= OPENSSL_1_1_1B,
        "{} ({number:#x}) is below OpenSSL 1.1.1b, the minimum patch 24 covers: without \
         OPENSSL_INIT_NO_ATEXIT Paho C keeps SSL_library_init() and OpenSSL's atexit \
         cleanup, so a program exiting with its client running is not protected here",
        openssl::version::version()
    );
}

/// One run of exit_app: how it ended, what it printed, how its stderr ends.
struct Run {
    status: ExitStatus,
    lines: Vec<String>,
    stderr_tail: Vec<String>,
}

impl Run {
    /// Exited with status 0 after its last exit handler found OpenSSL initialised.
    fn clean(&self) -> bool {
        self.status.success() && self.lines.iter().any(|l| l == "openssl intact at exit")
    }

    /// The detector saw OpenSSL's exit cleanup: status 3 after saying so, or a crash.
    fn saw_cleanup(&self) -> bool {
        let said = self.status.code() == Some(3)
            && self.lines.iter().any(|l| l == "openssl cleaned up at exit");
        let crashed = matches!(
            self.status.signal(),
            Some(libc::SIGSEGV | libc::SIGABRT | libc::SIGBUS)
        );
        said || crashed
    }

    fn describe(&self) -> String {
        let how = match self.status.signal() {
            Some(libc::SIGSEGV) => "killed by SIGSEGV".to_owned(),
            Some(libc::SIGABRT) => "killed by SIGABRT".to_owned(),
            Some(s) => format!("killed by signal {s}"),
            None => format!("exit status {:?}", self.status.code()),
        };
        format!(
            "{how}, printed {:?}, stderr ends {:?}",
            self.lines, self.stderr_tail
        )
    }
}

/// Runs `exit_app THREADS args...` to its end; its stderr (the client's "could not reach
/// the broker", glibc's "double free or corruption") goes to a file in `dir`.
fn run(dir: &Path, name: &str, args: &[&str]) -> Run {
    let stderr_path = dir.join(format!("{name}.stderr"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_exit_app"));
    command
        .arg(THREADS)
        .args(args)
        .stderr(File::create(&stderr_path).unwrap());
    let mut app = AppProcess::spawn("exit_app", command);
    let Some(status) = app.wait_exit(RUN_LIMIT) else {
        panic!(
            "{name}: exit_app did not exit within {RUN_LIMIT:?}; it printed {:?}",
            app.lines()
        );
    };
    let lines = app.all_lines(RUN_LIMIT);
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let all: Vec<&str> = stderr.lines().collect();
    let stderr_tail = all[all.len().saturating_sub(3)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect();
    Run {
        status,
        lines,
        stderr_tail,
    }
}

/// Runs `exit_app THREADS args...` `runs` times; fails with every run that did not exit
/// cleanly with OpenSSL intact.
fn expect_clean_exits(what: &str, runs: usize, args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let failures: Vec<String> = (1..=runs)
        .filter_map(|n| {
            let r = run(dir.path(), &format!("{what}-{n}"), args);
            (!r.clean()).then(|| format!("run {n}: {}", r.describe()))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {runs} runs ({what}) did not exit cleanly with OpenSSL intact (OpenSSL's \
         atexit cleanup ran under the process's threads):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_program_returning_from_main_with_its_client_running_exits_cleanly() {
    require_openssl_1_1_1b();
    // The control: OpenSSL initialised by the program first keeps its exit handler (the
    // patch cannot help), and the detector must say so.
    let dir = tempfile::tempdir().unwrap();
    let control = run(dir.path(), "openssl-first", &["openssl-first"]);
    assert!(
        control.saw_cleanup(),
        "the control run (OpenSSL initialised before the client, so its atexit cleanup is \
         registered) was not seen: want \"openssl cleaned up at exit\" and exit status 3, or \
         a crash; got {}",
        control.describe()
    );
    expect_clean_exits("running", RUNS, &[]);
}

#[test]
fn a_program_returning_from_main_with_its_client_connected_over_tls_exits_cleanly() {
    require_openssl_1_1_1b();
    let broker = Broker::builder().tls().start();
    let url = format!("mqtts://127.0.0.1:{}", broker.tls_port());
    let ca = broker.pki().ca_cert.to_str().unwrap().to_owned();
    expect_clean_exits("tls", CONNECTED_RUNS, &["tls", &url, &ca]);
}

#[test]
fn a_program_returning_from_main_with_its_client_stopping_exits_cleanly() {
    require_openssl_1_1_1b();
    let broker = Broker::start();
    let url = format!("mqtt://127.0.0.1:{}", broker.port());
    expect_clean_exits("stopping", CONNECTED_RUNS, &["stopping", &url]);
}
