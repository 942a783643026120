//! Paho C's file descriptors across restarts of its global state (docs/paho-fork.md,
//! patch 22: the interrupt socket pair closed with the socket module).
//!
//! When the last client is destroyed, Paho C stops its threads and frees its global state
//! (`MQTTAsync_terminate`, `Socket_outTerminate`); the next client created sets it up again
//! (`Socket_outInitialize`), which opens a new socket pair the receive thread's `poll()` is
//! woken through (`Socket_pair`). Unpatched, nothing closed the old pair: two file
//! descriptors leaked per restart (62 restarts left 129 open), until a long-lived process
//! that connects now and then ran out of them.
//!
//! Here one client at a time is created, connected, disconnected and destroyed, and the
//! process's open file descriptors are counted (`/proc/self/fd`) before and after. This test
//! is a binary of its own, with one test: no other test's sockets or files come and go
//! while it counts.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use flask_mqtt_tests::{paho_client_life, unique, Broker};

const T: Duration = Duration::from_secs(10);

/// Clients created and destroyed one after the other: each destroy leaves none, so each
/// restarts Paho's global state.
const CYCLES: usize = 20;

/// The process's open file descriptors (the directory's own among them, each time).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd lists the open file descriptors")
        .count()
}

#[test]
fn paho_restarts_leave_no_file_descriptors_open() {
    let broker = Broker::start();
    let uri = broker.uri();
    // A first life opens what stays open for the process (loaded libraries, the harness's
    // own), so the count after it is the baseline.
    paho_client_life(&uri, &unique("fd-per-restart"), T);
    let before = open_fds();
    for _ in 0..CYCLES {
        paho_client_life(&uri, &unique("fd-per-restart"), T);
    }
    let after = open_fds();
    // Unpatched: 2 per restart (40 here). A descriptor or two of slack for anything the
    // harness or the C library opens late, far below one per restart.
    assert!(
        after <= before + 2,
        "{} file descriptors more open after {CYCLES} Paho restarts ({before} before, {after} \
         after): each restart of Paho's global state leaves its interrupt socket pair open",
        after.saturating_sub(before)
    );
}
