//! Unique names for topics and client ids.

use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(1);

/// Returns `"<prefix>-<pid>-<n>"`, unique within this machine for the life
/// of the process (`n` is a process-wide counter).
///
/// Use it for topic prefixes and client ids so that tests running in
/// parallel, or against a broker that outlived an earlier run, never see
/// each other's traffic. The result contains only the prefix's characters,
/// digits and `-`, so it is a valid topic level and client id.
///
/// ```
/// let a = flask_mqtt_tests::unique("t");
/// let b = flask_mqtt_tests::unique("t");
/// assert_ne!(a, b);
/// assert!(a.starts_with("t-"));
/// ```
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}
