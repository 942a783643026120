//! No message is handled (or acknowledged) before the app is ready (issue 15, item 4):
//! an actix app with a persistent session, whose factory registers the handlers' state
//! with `manage` after `configure` and 50 ms of other setup, gets every one of the 200
//! QoS 1 messages the broker kept for it while it was away. Before ready gating, they
//! arrived before `manage`, were rejected ("no shared state"), acknowledged and gone:
//! all 200 with the 50 ms (issue 15).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use flask_mqtt_tests::{unique, AppProcess, Broker, Observer};

const T: Duration = Duration::from_secs(20);
const QUEUED: u64 = 200;

fn start(broker: &Broker, id: &str) -> AppProcess {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ready_app"));
    cmd.args([&broker.port().to_string(), id]);
    let app = AppProcess::spawn("ready_app", cmd);
    app.expect_line(T, |l| l.starts_with("listening "));
    app
}

#[test]
fn manage_after_configure_loses_none_of_the_queued_messages() {
    let broker = Broker::builder()
        .persistence(true)
        .unlimited_queue()
        .build();
    let id = unique("ready-app");
    // First run: the session and its subscription.
    let mut app = start(&broker, &id);
    app.expect_line(T, |l| l == "connected");
    app.terminate();
    assert!(app.wait_exit(T).is_some(), "ready_app did not stop");
    drop(app);

    // While it is away, the broker keeps 200 QoS 1 messages for the session.
    let observer = Observer::connect(&broker);
    for n in 0..QUEUED {
        observer.publish(&format!("ready/{n}"), "x", 1);
    }
    assert!(
        broker.wait_for_log("Received PUBLISH from", QUEUED as usize, T),
        "{}",
        broker.log_tail(20)
    );

    let mut app = start(&broker, &id);
    let handled = |app: &AppProcess| -> BTreeSet<u64> {
        app.lines()
            .iter()
            .filter_map(|l| l.strip_prefix("handled ")?.parse().ok())
            .collect()
    };
    let all = flask_mqtt_tests::wait_until(T, || handled(&app).len() as u64 == QUEUED);
    let got = handled(&app);
    eprintln!(
        "ack_ready: {} of {QUEUED} queued messages handled after a restart with manage() 50 ms after configure()",
        got.len()
    );
    assert!(
        all,
        "{} of {QUEUED} queued messages were handled; missing: {:?}",
        got.len(),
        (0..QUEUED).filter(|n| !got.contains(n)).collect::<Vec<_>>()
    );
    app.terminate();
    assert!(app.wait_exit(T).is_some(), "ready_app did not stop");
}
