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
//! the client's plain subscription every few milliseconds. Mosquitto's in-flight window
//! (20) is not filled before the stop: it starts at the first message the client takes
//! (the one held first, `PausedClient`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{wait_until, Broker, Observer, PausedClient};

const T: Duration = Duration::from_secs(20);
/// Well under the stop's 5 s `SHUTDOWN_TIMEOUT`, which the stall waited out.
const STOP_BOUND: Duration = Duration::from_secs(4);

#[mqtt::on_message("stop-paused/+/+", qos = 1)]
fn plain(_topic: mqtt::Topic) {}

#[mqtt::on_message("$share/stop-paused/stop-paused-group/+", qos = 1)]
fn grouped(_topic: mqtt::Topic) {}

#[test]
fn a_stop_before_ready_is_not_held_by_messages_arriving_during_it() {
    let broker = Broker::start();
    let observer = Observer::connect(&broker);
    // One message waits for the app.
    let PausedClient {
        id, client, app, ..
    } = PausedClient::holding(&broker, &observer, "stop-paused", 1, T);

    // Publishes until told to stop, paced so that the broker's window (20) lasts well
    // beyond the stop's quiet period.
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
    assert!(
        wait_until(T, || app.unacknowledged_messages() >= 2),
        "no message of the publisher reached the paused client"
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stopped = rt.block_on(async { tokio::time::timeout(STOP_BOUND, client.shutdown()).await });
    publishing.store(false, Ordering::SeqCst);
    publisher.join().unwrap();
    assert!(
        stopped.is_ok(),
        "the stop of a paused client waited for the messages that arrived during it \
         (SHUTDOWN_TIMEOUT, \"handlers or publishes still busy\")"
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
