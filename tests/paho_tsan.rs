//! Paho C under ThreadSanitizer (docs/paho-fork.md, patch 18: two data races on Paho's
//! thread state). `tests/c/tsan_races.c` drives Paho C's own API (two clients against
//! Mosquitto, a publish from the application's thread, the last client destroyed); this test
//! compiles it with Paho C's sources (`vendor/paho-mqtt-sys/paho.mqtt.c/src`, the files the
//! asynchronous library is built from, as `vendor/paho-mqtt-sys/build.rs` chooses them, no
//! TLS) and `-fsanitize=thread`, runs it, and fails on any ThreadSanitizer report.
//!
//! Without patch 18 it reported three races, in each run: `MQTTAsync_inCallback` (from
//! `MQTTAsync_send`) reading `sendThread_id` and `receiveThread_id` against the send and
//! receive threads' writes, and `MQTTAsync_stop` writing `MQTTAsync_tostop` against the
//! send thread's read. The library is built again, by the harness (`tests/harness/paho_c.rs`,
//! `build_paho_c_harness`), not taken from the Rust build: that one has no sanitizer, and
//! TSan needs every access instrumented.
//!
//! Needs a C compiler with ThreadSanitizer (`CC`, else `cc`; GCC's `libtsan`, in Debian's
//! `gcc`). About 6 s to compile on one core.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use flask_mqtt_tests::{assert_sanitizer_clean, build_paho_c_harness, Broker, Sanitizer};

#[test]
fn paho_thread_state_has_no_data_race_under_thread_sanitizer() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let exe = build_paho_c_harness(dir.path(), "tsan_races", Sanitizer::Thread);
    let out = Command::new(&exe)
        .arg(format!("tcp://127.0.0.1:{}", broker.port()))
        // Every report, then exit code 66.
        .env(
            "TSAN_OPTIONS",
            "halt_on_error=0 exitcode=66 second_deadlock_stack=1",
        )
        .output()
        .unwrap();
    assert_sanitizer_clean(&out, Sanitizer::Thread, "tsan-races: done");
}
