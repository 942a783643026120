//! `publish` while the broker refuses the app (issue 13 item 8): an actix app process
//! (`tests/bin/publish_wait_app.rs`) against a real Mosquitto that wants credentials the
//! app does not have. A publish waits at most `MQTT_PUBLISH_TIMEOUT`, then the HTTP
//! handler gets `Error::PublishTimeout`; a SIGTERM while publishes wait ends the process
//! within the publish timeout plus the client's stop (documented on `Publish::send` and
//! in the README), well inside actix's 30 s graceful-shutdown limit that held it before.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flask_mqtt_tests::{http, unique, Broker, Recorder};

/// `MQTT_PUBLISH_TIMEOUT`'s default: what the app runs with.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);
/// The client's stop once the server has drained its requests: disconnected, so no
/// DISCONNECT and nothing to flush; its runtime then stops (at most 1 s).
const STOP: Duration = Duration::from_secs(5);
const T: Duration = Duration::from_secs(20);

/// The app process and the lines it printed.
struct App {
    child: Child,
    lines: Arc<Recorder<String>>,
    addr: SocketAddr,
}

impl App {
    /// Starts the app against `broker`, without the credentials it wants.
    fn spawn(broker: &Broker) -> App {
        let mut child = Command::new(env!("CARGO_BIN_EXE_publish_wait_app"))
            .env("MQTT_BROKER_URL", "127.0.0.1")
            .env("MQTT_BROKER_PORT", broker.port().to_string())
            .env("MQTT_CLIENT_ID", unique("waiter"))
            .env(
                "MQTT_PUBLISH_TIMEOUT",
                PUBLISH_TIMEOUT.as_secs().to_string(),
            )
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Recorder::new());
        let out = child.stdout.take().unwrap();
        let l = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                l.push(line);
            }
        });
        let mut app = App {
            child,
            lines,
            addr: "127.0.0.1:0".parse().unwrap(),
        };
        let listening = app.expect(|l| l.starts_with("listening "));
        app.addr = listening["listening ".len()..].parse().unwrap();
        app
    }

    fn expect(&self, pred: impl Fn(&str) -> bool) -> String {
        assert!(
            self.lines.wait_for(T, |ls| ls.iter().any(|l| pred(l))),
            "publish_wait_app printed {:?}",
            self.lines.snapshot()
        );
        self.lines.snapshot().into_iter().find(|l| pred(l)).unwrap()
    }

    fn count(&self, line: &str) -> usize {
        self.lines.snapshot().iter().filter(|l| *l == line).count()
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

    fn sigterm(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) on our own child's pid.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill({pid}, SIGTERM)");
    }

    /// Waits for the process to end, at most `limit`.
    fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
    app.expect(|l| l == "publishing");
    let (answer, took) = request.join().unwrap();
    println!("answered after {took:?}: {answer:?}");
    assert_timed_out(&answer);
    assert!(
        took >= PUBLISH_TIMEOUT - Duration::from_millis(500),
        "{took:?}"
    );
    assert!(took < PUBLISH_TIMEOUT + Duration::from_secs(3), "{took:?}");
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
    assert!(
        app.lines
            .wait_for(T, |ls| ls.iter().filter(|l| *l == "publishing").count()
                == 3),
        "{:?}",
        app.lines.snapshot()
    );
    let sent = Instant::now();
    app.sigterm();
    let bound = PUBLISH_TIMEOUT + STOP;
    let status = app.wait_exit(bound + Duration::from_secs(2));
    let took = sent.elapsed();
    println!("exited {took:?} after SIGTERM: {status:?}");
    let status = status.unwrap_or_else(|| {
        panic!(
            "still running {took:?} after SIGTERM (bound {bound:?}): {:?}",
            app.lines.snapshot()
        )
    });
    assert!(status.success(), "{status}");
    for request in requests {
        let (answer, _) = request.join().unwrap();
        assert_timed_out(&answer);
    }
    assert_eq!(app.count("exited"), 1, "{:?}", app.lines.snapshot());
}
