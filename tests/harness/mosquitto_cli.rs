//! Mosquitto's own command-line clients (`mosquitto-clients`) as third-party peers:
//! [`mosquitto_pub`] publishes one message ([`try_mosquitto_pub`] where the broker may
//! refuse it), [`MosquittoSub`] subscribes and hands over what it prints, line by line.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use crate::{unique, Broker};

/// Publishes with `mosquitto_pub` to the broker on loopback `port` at QoS 1; `args` are
/// passed on (`-t`, `-m`, `-V 5`, `-D publish user-property k v`, ...), `stdin` is the
/// payload for `-s`. Panics when it fails.
pub fn mosquitto_pub(port: u16, args: &[&str], stdin: Option<&[u8]>) {
    let out = try_mosquitto_pub(port, args, stdin);
    assert!(
        out.status.success(),
        "mosquitto_pub {args:?} failed: {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `mosquitto_pub` as [`mosquitto_pub`] does, and returns how it ended and what it
/// printed, for a publish the broker may refuse.
pub fn try_mosquitto_pub(port: u16, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1"])
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run mosquitto_pub (mosquitto-clients): {e}"));
    if let Some(bytes) = stdin {
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// A `mosquitto_sub` process, killed on drop.
pub struct MosquittoSub {
    child: Child,
    lines: Receiver<String>,
    /// Every line read so far, for failure messages.
    seen: Vec<String>,
}

impl MosquittoSub {
    /// Subscribes to `filter` on `broker` (`extra` passed on, e.g. `-V 5 -F %P`) and
    /// returns once the broker has sent the SUBACK (its log says so), so that nothing
    /// published afterwards is missed.
    pub fn subscribe(
        broker: &Broker,
        filter: &str,
        extra: &[&str],
        timeout: Duration,
    ) -> MosquittoSub {
        let id = unique("mosquitto-sub");
        let mut child = Command::new("mosquitto_sub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &broker.port().to_string(),
                "-q",
                "1",
            ])
            .args(["-i", &id, "-t", filter])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run mosquitto_sub (mosquitto-clients): {e}"));
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let sub = MosquittoSub {
            child,
            lines,
            seen: Vec::new(),
        };
        assert!(
            broker.wait_for_log(&format!("Sending SUBACK to {id}"), 1, timeout),
            "mosquitto_sub never subscribed to `{filter}`: {}",
            broker.log_tail(20)
        );
        sub
    }

    /// The first line from now on that `pred` accepts; panics with what was printed if
    /// none comes within `timeout`.
    pub fn expect_line(&mut self, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "mosquitto_sub: no expected line within {timeout:?} ({e}); printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

impl Drop for MosquittoSub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
