//! A child process for the acknowledgement tests (issue 15): a client with a persistent
//! session (fixed client id, clean session off; MQTT 5 with a session expiry) whose
//! QoS 1 handler for `ackt/{n}` takes 1 ms and then prints `handled N` (flushed) before
//! it returns, so every number the broker may consider acknowledged was printed first.
//! It prints `connected` when subscribed (each connect). A line `stop` on stdin (or its
//! end) stops the client gracefully and prints `stopped`; the tests SIGKILL it too.
//!
//! With KILL_AFTER, it SIGKILLs itself (`kill -9`, from a thread of its own) once it
//! has handled that many messages.
//!
//! `ACK_APP_POLICY=first` (any `MQTT_ACK_POLICY` value) sets the acknowledgement policy.
//!
//! Usage: `ack_app PORT CLIENT_ID 3|5 [KILL_AFTER]`

use std::io::BufRead;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::say;

#[mqtt::on_connect]
fn connected() {
    say("connected");
}

#[mqtt::on_message("ackt/{n}", qos = 1)]
fn numbered(n: mqtt::Path<u64>) {
    std::thread::sleep(Duration::from_millis(1));
    say(&format!("handled {}", n.into_inner()));
    HANDLED.fetch_add(1, Ordering::SeqCst);
}

/// Messages handled by this process.
static HANDLED: AtomicU64 = AtomicU64::new(0);

/// SIGKILLs this process once `after` messages were handled.
fn kill_after(after: u64) {
    std::thread::spawn(move || {
        while HANDLED.load(Ordering::SeqCst) < after {
            std::thread::sleep(Duration::from_micros(200));
        }
        let pid = std::process::id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid])
            .status();
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (port, id, version) = match args.as_slice() {
        [_, port, id, version] => (port, id, version),
        [_, port, id, version, after] => {
            kill_after(after.parse().unwrap_or(u64::MAX));
            (port, id, version)
        }
        _ => {
            eprintln!("usage: ack_app PORT CLIENT_ID 3|5 [KILL_AFTER]");
            std::process::exit(2);
        }
    };
    let b = mqtt::Config::builder()
        .broker_url("127.0.0.1")
        .port(port.parse().unwrap_or(1883))
        .client_id(id.as_str())
        .clean_session(false)
        .reconnect_delay(Duration::from_millis(100), Duration::from_millis(500));
    let b = match version.as_str() {
        "5" => b
            .protocol_version(mqtt::ProtocolVersion::V5)
            .session_expiry(Duration::from_secs(3600)),
        _ => b.protocol_version(mqtt::ProtocolVersion::V311),
    };
    let b = match std::env::var("ACK_APP_POLICY") {
        Ok(p) => match p.parse::<mqtt::AckPolicy>() {
            Ok(p) => b.ack_policy(p),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        },
        Err(_) => b,
    };
    let config = match b.build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let client = match mqtt::Client::start(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    for line in std::io::stdin().lock().lines() {
        match line {
            Ok(l) if l.trim() == "stop" => break,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    drop(client);
    say("stopped");
}
