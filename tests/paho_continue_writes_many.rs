//! Paho C under AddressSanitizer (docs/paho-fork.md, patch 23: a pending write closed while
//! another completes), with more pending writes than `Socket_continueWrites` keeps on the
//! stack (8): the walk's allocation. `tests/c/continue_writes_many.c` has ten clients whose
//! 8 MiB publishes stay pending against a loopback listener of its own; the first one's
//! write completes while the last one is destroyed, in the window where
//! `Socket_continueWrites` calls `writecomplete` with the socket mutex released, then the
//! eight others' writes must all complete. This test compiles it with Paho C's sources
//! under `-fsanitize=address` (the harness's `build_paho_c_harness`), runs it, and fails on
//! any AddressSanitizer or LeakSanitizer report.
//!
//! Without patch 23, in each run: "ERROR: AddressSanitizer: heap-use-after-free ... in
//! Socket_continueWrites Socket.c:2186" (the destroyed client's list element). With the
//! patch but its array one socket short: "heap-buffer-overflow ... in
//! Socket_continueWrites"; without its free: "ERROR: LeakSanitizer: detected memory leaks
//! ... malloc ... in Socket_continueWrites".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use flask_mqtt_tests::{assert_sanitizer_clean, build_paho_c_harness, Sanitizer};

#[test]
fn more_than_eight_pending_writes_are_walked_without_overflow_leak_or_use_after_free() {
    let dir = tempfile::tempdir().unwrap();
    let exe = build_paho_c_harness(dir.path(), "continue_writes_many", Sanitizer::Address);
    let out = Command::new(&exe)
        // The first report ends the run with exit code 66; leaks are reported too.
        .env("ASAN_OPTIONS", "exitcode=66 detect_leaks=1")
        .output()
        .unwrap();
    let (_, stderr) =
        assert_sanitizer_clean(&out, Sanitizer::Address, "continue-writes-many: done");
    for line in [
        "10 pending writes",
        "client 0's write completed, client 9 destroyed meanwhile",
        "9 writes completed",
    ] {
        assert!(
            stderr.contains(line),
            "the harness did not get as far as `{line}`:\n{stderr}"
        );
    }
}
