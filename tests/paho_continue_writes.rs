//! Paho C under AddressSanitizer (docs/paho-fork.md, patch 23: a pending write closed while
//! another completes). `tests/c/continue_writes_close.c` drives Paho C's own API: two
//! clients whose 16 MiB publishes stay pending against a loopback listener of its own, the
//! first one's write completing while the second client is destroyed, in the window where
//! `Socket_continueWrites` calls `writecomplete` with the socket mutex released. This test
//! compiles it with Paho C's sources under `-fsanitize=address` (the harness's
//! `build_paho_c_harness`), runs it, and fails on any AddressSanitizer report.
//!
//! Without patch 23, in each run: "ERROR: AddressSanitizer: heap-use-after-free ... READ of
//! size 8 ... in Socket_continueWrites Socket.c", the list element of the destroyed client's
//! pending write, freed by `ListUnlink` (from `Socket_close`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use flask_mqtt_tests::{assert_sanitizer_clean, build_paho_c_harness, Sanitizer};

#[test]
fn a_pending_write_closed_while_another_completes_is_not_read_after_free() {
    let dir = tempfile::tempdir().unwrap();
    let exe = build_paho_c_harness(dir.path(), "continue_writes_close", Sanitizer::Address);
    let out = Command::new(&exe)
        // The first report ends the run with exit code 66; leaks are reported too.
        .env("ASAN_OPTIONS", "exitcode=66 detect_leaks=1")
        .output()
        .unwrap();
    let (_, stderr) = assert_sanitizer_clean(&out, Sanitizer::Address, "continue-writes: done");
    assert!(
        stderr.contains("A's write completed, B destroyed meanwhile"),
        "the harness never held a write's completion while the other client was destroyed:\n{stderr}"
    );
}
