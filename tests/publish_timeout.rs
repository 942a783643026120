//! `publish` while the broker refuses the app (issue 13 item 8): an actix app process
//! (`tests/bin/publish_wait_app.rs`) against a real Mosquitto that wants credentials the
//! app does not have. A publish waits at most `MQTT_PUBLISH_TIMEOUT`, then the HTTP
//! handler gets `Error::PublishTimeout`; a SIGTERM while publishes wait ends the process
//! within the publish timeout plus the client's stop (documented on `Publish::send` and
//! in the README), well inside actix's 30 s graceful-shutdown limit that held it before.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use flask_mqtt_tests::{http, unique, AppProcess, Broker};

/// What the app runs with (`MQTT_PUBLISH_TIMEOUT`; the default is 10 s).
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(3);
/// The client's stop once the server has drained its requests: disconnected, so no
/// DISCONNECT and nothing to flush; its runtime then stops (at most 1 s).
const STOP: Duration = Duration::from_secs(5);
const T: Duration = Duration::from_secs(20);

/// The app process and the address it listens on.
struct App {
    process: AppProcess,
    addr: SocketAddr,
}

impl App {
    /// Starts the app against `broker`, without the credentials it wants.
    fn spawn(broker: &Broker) -> App {
        let mut command = Command::new(env!("CARGO_BIN_EXE_publish_wait_app"));
        command
            .env("MQTT_BROKER_URL", "127.0.0.1")
            .env("MQTT_BROKER_PORT", broker.port().to_string())
            .env("MQTT_CLIENT_ID", unique("waiter"))
            .env(
                "MQTT_PUBLISH_TIMEOUT",
                PUBLISH_TIMEOUT.as_secs().to_string(),
            );
        let process = AppProcess::spawn("publish_wait_app", command);
        let listening = process.expect_line(T, |l| l.starts_with("listening "));
        let addr = listening["listening ".len()..].parse().unwrap();
        App { process, addr }
    }

    /// `POST /publish` in a thread: its answer and how long it took.
    fn publish(&self) -> std::thread::JoinHandle<((u16, String), Duration)> {
        let addr = self.addr;
        std::thread::spawn(move || {
            let start = Instant::now();
            let answer = http(addr, "POST", "/publish", "");
            (answer, start.elapsed())
        })
    }
}

fn refusing_broker() -> Broker {
    Broker::builder().password("app", "secret").start()
}

fn assert_timed_out((status, body): &(u16, String)) {
    assert_eq!(*status, 503, "{body}");
    assert!(
        body.contains(&format!(
            "not connected to the broker for {PUBLISH_TIMEOUT:?}; the message to `wait/command` stays buffered"
        )),
        "{body}"
    );
}

#[test]
fn a_publish_waits_at_most_the_publish_timeout_while_the_broker_refuses_the_app() {
    let broker = refusing_broker();
    let app = App::spawn(&broker);
    let request = app.publish();
    app.process.expect_line(T, |l| l == "publishing");
    let (answer, took) = request.join().unwrap();
    println!("answered after {took:?}: {answer:?}");
    assert_timed_out(&answer);
    assert!(
        took >= PUBLISH_TIMEOUT - Duration::from_millis(500),
        "{took:?}"
    );
    // Bounded, not left hanging; the ceiling is the test's deadline, not a speed target.
    assert!(took < T, "{took:?}");
    assert!(
        broker.count_in_log("not authorised") > 0,
        "the broker did not refuse the app: {}",
        broker.log()
    );
}

#[test]
fn sigterm_with_publishes_waiting_ends_within_the_publish_timeout_and_the_stop() {
    let broker = refusing_broker();
    let mut app = App::spawn(&broker);
    let requests: Vec<_> = (0..3).map(|_| app.publish()).collect();
    app.process.expect_count(T, "publishing", 3);
    let sent = Instant::now();
    app.process.terminate();
    let bound = PUBLISH_TIMEOUT + STOP;
    let status = app.process.wait_exit(bound + Duration::from_secs(2));
    let took = sent.elapsed();
    println!("exited {took:?} after SIGTERM: {status:?}");
    let status = status.unwrap_or_else(|| {
        panic!(
            "still running {took:?} after SIGTERM (bound {bound:?}): {:?}",
            app.process.lines()
        )
    });
    assert!(status.success(), "{status}");
    for request in requests {
        let (answer, _) = request.join().unwrap();
        assert_timed_out(&answer);
    }
    let lines = app.process.lines();
    assert_eq!(
        lines.iter().filter(|l| *l == "exited").count(),
        1,
        "{lines:?}"
    );
}
