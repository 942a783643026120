//! The last-will tests' steps: [`spawn_will_client`] starts `tests/bin/will_client` (a
//! process whose client has a last will), [`expect_no_will`] checks that the broker
//! published none.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use crate::client::Observer;

/// Starts `program` (`env!("CARGO_BIN_EXE_will_client")`: only the test binary knows the
/// path) as `will_client PORT ID TOPIC MODE` against the broker on loopback `port`, and
/// checks that the first line it prints is `first` (`connected`, or `dropped` for the
/// `early` modes). Returns the child and the rest of its stdout.
pub fn spawn_will_client(
    program: &str,
    port: u16,
    id: &str,
    topic: &str,
    mode: &str,
    first: &str,
) -> (Child, BufReader<ChildStdout>) {
    let mut child = Command::new(program)
        .args([&port.to_string(), id, topic, mode])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), first, "will_client {mode}'s first line");
    (child, out)
}

/// Checks that the broker has published no last will on `topic`, to which `watcher` is
/// subscribed at QoS 1 (and where nothing else was published): a marker `watcher`
/// publishes now is the first message there, as a will would have been queued before
/// it. `context` says what a will would mean, for the panic message.
pub fn expect_no_will(watcher: &Observer, topic: &str, timeout: Duration, context: &str) {
    watcher.publish(topic, "marker", 1);
    let first = watcher.expect_message(topic, timeout);
    assert_eq!(first.payload(), b"marker", "{context}");
}
