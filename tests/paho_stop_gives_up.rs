//! Paho C under AddressSanitizer (docs/paho-fork.md, patch 21: Paho's threads stopped while
//! other clients restart them), the stop that gives up. `tests/c/stop_gives_up.c` holds
//! Paho's receive thread outside Paho's lock (where it calls `writecomplete` for a 16 MiB
//! publish's write) for longer than the 10 s that `MQTTAsync_stop` waits, while the last
//! client is destroyed: the stop gives up. Patch 21 then leaves the stop flag set (the
//! threads stop once the receive thread comes back) and `MQTTAsync_terminate` keeps Paho's
//! global state ("Paho's threads still run: global state kept"); before it, the stop cleared
//! the flag and the state was freed under the running receive thread. Then the receive
//! thread is let go and a new client connects and is destroyed, in two orders: the threads
//! stop first (`after`), or the new client comes while the receive thread is still held and
//! reuses the state kept (`reuse`). A third run (`takeover`) has another client created and
//! destroyed (no connect) while the first stop waits, so that a second stop takes the wait
//! over (the first returns at once) and gives up. In each, Paho's global state must be kept
//! after the give-up and freed after the last destroy once the threads have stopped (the
//! harness reads `global_initialized`). This test compiles the harness with Paho C's sources under
//! `-fsanitize=address` (the harness's `build_paho_c_harness`), runs the three side by
//! side, and fails on any AddressSanitizer report, on a step past its deadline (exit status
//! 3) or on a stop that did not give up or was not taken over, or state not kept or not
//! freed (exit status 2).
//!
//! Without patch 21's give-up and keep: "ERROR: AddressSanitizer: SEGV on unknown address
//! ... in ListFindItem ... MQTTAsync_writeComplete" (`after`: the list of clients freed
//! under the receive thread) and "SEGV ... in intcompare ... isConnectPending ...
//! Socket_getReadySocket" (`reuse`: the socket module's saved poll arrays set up again
//! under it, the crash first seen in `isReady`), and in `takeover` the first SEGV after
//! "A's destroy took 5 s or more: its stop was not taken over by D's". With the keep but
//! the flag cleared, the threads never stop: "step not finished in time: the receive thread
//! let go: Paho's threads stop". Without the numbering of the stops alone, `takeover` fails
//! on "A's destroy took 5 s or more"; with a terminate that never frees the state, every run
//! fails on "Paho's global state still set up after the last destroy (global_initialized 1)".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use flask_mqtt_tests::{assert_sanitizer_clean, build_paho_c_harness, Sanitizer};

/// The harness compiled, in a temporary directory of its own, removed with the last
/// [`Arc`] of it.
struct Harness {
    exe: PathBuf,
    _dir: tempfile::TempDir,
}

/// The harness, compiled once for the tests that run side by side (they share it while
/// any of them runs), each run of this test binary into a directory of its own: two runs
/// at once (two checkouts sharing one target directory) never overwrite each other's, and
/// the directory goes with the last test that used it. A test that starts after the
/// others ended (`--test-threads=1`) compiles it again (some seconds).
fn harness() -> Arc<Harness> {
    static SHARED: Mutex<Weak<Harness>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(built) = shared.upgrade() {
        return built;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = build_paho_c_harness(dir.path(), "stop_gives_up", Sanitizer::Address);
    let built = Arc::new(Harness { exe, _dir: dir });
    *shared = Arc::downgrade(&built);
    built
}

#[track_caller]
fn run(order: &str, lines: &[&str]) {
    let harness = harness();
    let out = Command::new(&harness.exe)
        .arg(order)
        // The first report ends the run with exit code 66; leaks are reported too.
        .env("ASAN_OPTIONS", "exitcode=66 detect_leaks=1")
        .output()
        .unwrap();
    let (_, stderr) = assert_sanitizer_clean(&out, Sanitizer::Address, "stop-gives-up: done");
    for line in [
        "stop gave up waiting: the threads stop later",
        "Paho's threads still run: global state kept",
    ]
    .iter()
    .chain(lines)
    {
        assert!(
            stderr.contains(line),
            "no trace line `{line}`: the stop did not give up as forced:\n{stderr}"
        );
    }
}

#[test]
fn a_stop_that_gives_up_leaves_the_threads_to_stop_and_keeps_the_state() {
    run("after", &[]);
}

#[test]
fn a_client_created_after_a_stop_gave_up_reuses_the_state_kept() {
    run("reuse", &[]);
}

#[test]
fn a_stop_taken_over_by_a_later_one_returns_and_the_later_one_gives_up() {
    run("takeover", &["stop taken over by a later stop"]);
}
