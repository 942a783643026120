//! A graceful stop of a client that is not ready (`Client::start_paused`) while QoS 1
//! messages keep arriving ends as soon as its handlers and publishes are settled: the
//! messages that arrive during the stop wait for a ready app that never comes (they are
//! left to the broker at the end), so they are no handler's or publish's business. Since
//! such waiting messages count as unacknowledged (`Mqtt::unacknowledged_messages`), the
//! stop read them as acknowledgements still owed and waited for the whole
//! `SHUTDOWN_TIMEOUT` (5 s), then warned "handlers or publishes still busy".
//!
//! The stop's graceful loop must be running when the messages arrive: the client holds a
//! shared subscription, so the stop leaves its group and then reads its inputs until
//! nothing of the group has come for a while (at least 50 ms), while a publisher sends to
//! the client's plain subscription every few milliseconds. The publisher starts before the
//! stop, and keeps on until the stop has ended, so that the arrivals do not depend on when
//! the stop's loop runs (a loaded machine may deschedule the test's thread for longer than
//! the loop's ~55 ms). A paused client acknowledges nothing: with Mosquitto's default
//! in-flight window (20) the broker would stop sending some 60 ms after the publisher
//! began, so this test's broker has a window (and queue) of 10,000, which a publisher
//! pacing at 3 ms does not fill within `T`.
//!
//! Not vacuous: the test sees messages arrive during the stop's loop (the client's
//! unacknowledged count above 0 between the stop's leaving what waited before it and its
//! DISCONNECT), without which a quick stop proves nothing.
//!
//! It asserts what the stop did, not how long it took: the stall ends in the "still
//! busy" warning, which the test's logger records. The stop takes 50 to 200 ms here (its
//! 50 ms quiet period after leaving the group); with the stall, 5.0 s. A time bound would
//! have to sit between the two, 1 s from `SHUTDOWN_TIMEOUT` for 4 s, which a loaded 2-core
//! CI machine can cross; `T` only keeps a hung stop from hanging the test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{Broker, LogLines, Observer, PausedClient};

const T: Duration = Duration::from_secs(20);

/// The client's lines: the stop's, and its warnings (this binary's one test's).
const CLIENT: LogLines = LogLines::new("flask_mqtt::client", log::Level::Info);

/// What a stop says when it has waited out `SHUTDOWN_TIMEOUT` (the stall).
const STILL_BUSY: &str = "handlers or publishes still busy";

/// What a stop of a client that is not ready says when it leaves messages that waited for
/// the app: at its start (after it left them: unacknowledged 0), and at its end.
const NOT_READY: &str = "stopping before the app was ready";

#[mqtt::on_message("stop-paused/+/+", qos = 1)]
fn plain(_topic: mqtt::Topic) {}

#[mqtt::on_message("$share/stop-paused/stop-paused-group/+", qos = 1)]
fn grouped(_topic: mqtt::Topic) {}

#[test]
fn a_stop_before_ready_is_not_held_by_messages_arriving_during_it() {
    CLIENT.install();
    // A window the unacknowledged arrivals never fill (see the module's doc); a queue as
    // large, not 0 (unlimited), with which Mosquitto 2.0 lifts the window itself.
    let broker = Broker::builder()
        .extra("max_queued_messages 10000")
        .extra("max_inflight_messages 10000")
        .start();
    let observer = Observer::connect(&broker);
    // One message waits for the app.
    let PausedClient {
        id, client, app, ..
    } = PausedClient::holding(&broker, &observer, "stop-paused", 1, T);

    // Publishes until told to stop (after the stop has ended), paced; begun before the
    // stop, so messages arrive all through it.
    let publishing = Arc::new(AtomicBool::new(true));
    let publisher = {
        let publishing = Arc::clone(&publishing);
        let topic = format!("stop-paused/{id}");
        std::thread::spawn(move || {
            let mut n = 1u32;
            while publishing.load(Ordering::SeqCst) {
                observer.publish(&format!("{topic}/{n}"), "", 1);
                n += 1;
                std::thread::sleep(Duration::from_millis(3));
            }
        })
    };

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let (stopped, arrived) = rt.block_on(async {
        let mut stop = pin!(tokio::time::timeout(T, client.shutdown()));
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        // Late (the thread descheduled), one look, not a burst of them.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // The most messages seen waiting during the stop's loop.
        let mut arrived = 0;
        loop {
            tokio::select! {
                stopped = stop.as_mut() => break (stopped, arrived),
                _ = tick.tick() => {
                    // In this order: the stop had left what waited before it (said once
                    // done: a count of 0) before `owed` was read, and had not yet
                    // disconnected (said before its count goes to 0, and up again with
                    // what it drains after) when it was read.
                    let began = CLIENT.snapshot().iter().any(|l| l.starts_with(NOT_READY));
                    let owed = app.unacknowledged_messages();
                    let disconnected =
                        CLIENT.snapshot().iter().any(|l| l.starts_with("disconnect"));
                    if began && !disconnected {
                        arrived = arrived.max(owed);
                    }
                }
            }
        }
    });
    let took = started.elapsed();
    publishing.store(false, Ordering::SeqCst);
    publisher.join().unwrap();
    eprintln!("the stop took {took:?}; {arrived} messages waited during its loop at most");
    stopped.expect("the stop ended");
    let lines = CLIENT.snapshot();
    assert!(
        !lines.iter().any(|l| l.contains(STILL_BUSY)),
        "the stop of a paused client waited for the messages that arrived during it \
         (SHUTDOWN_TIMEOUT, {STILL_BUSY:?}), in {took:?}: {lines:#?}"
    );
    assert!(
        arrived > 0,
        "no message arrived during the stop's loop, whose quick end proves nothing: {lines:#?}"
    );
    assert!(
        broker.wait_for_log(&format!("Received DISCONNECT from {id}"), 1, T),
        "{}",
        broker.log_tail(20)
    );
    assert_eq!(
        app.unacknowledged_messages(),
        0,
        "owed after the stop left every waiting message to the broker"
    );
}
