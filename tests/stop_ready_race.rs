//! A graceful stop racing `Mqtt::ready()` while connected: a client started paused
//! (`Client::start_paused`) holds QoS 1 messages for a ready app; the stop is asked for,
//! then `ready()` is called at once, so its ready signal is queued behind the stop
//! request. What waited for it must reach its handler during the stop's drain, before
//! DISCONNECT: every handled message's PUBACK is logged by Mosquitto before the client's
//! DISCONNECT (`Received PUBACK from <id>` lines before `Received DISCONNECT from <id>`,
//! as many as messages handled). Mosquitto closes the connection on DISCONNECT, so a
//! PUBACK sent after it is never logged at all: it shows as one too few before. The unit
//! test of this race in `flask-mqtt-core`'s `client::shutdown`
//! (`messages_waiting_for_a_ready_queued_behind_a_stop_are_handled_before_disconnect`)
//! covers a lost connection only (`up: false`): a unit test's messages carry no Paho
//! acknowledgement.
//!
//! The messages are in the client (its `mqtt_messages_received_total`) before the stop:
//! Mosquitto's `Sending PUBLISH` is not enough, a message still on the wire when the
//! DISCONNECT goes is never received. The stop reads the ready flag as it starts: set
//! already, the messages wait for the queued ready signal (the race); not yet, they are
//! left unhandled ("stopping before the app was ready") and the attempt is made again
//! with a new client.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::pin::pin;
use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{Broker, Observer, PausedClient, Recorder};

const T: Duration = Duration::from_secs(20);
/// Messages waiting for the app to be ready, per attempt.
const MESSAGES: usize = 5;
/// Attempts until one stop starts with the ready flag already set.
const ATTEMPTS: usize = 10;

/// The topics of the calls, all attempts.
static CALLS: Recorder<String> = Recorder::new();

#[mqtt::on_message("stop-ready/+/+", qos = 1)]
fn waited(topic: mqtt::Topic) {
    CALLS.push(topic.to_string());
}

/// The PUBACKs `id` sent before its DISCONNECT, from the broker's log; `None` before its
/// DISCONNECT is logged.
fn pubacks_before_disconnect(log: &str, id: &str) -> Option<usize> {
    let puback = format!("Received PUBACK from {id} (");
    let disconnect = format!("Received DISCONNECT from {id}");
    let mut before = 0;
    for line in log.lines() {
        if line.contains(&puback) {
            before += 1;
        } else if line.trim_end().ends_with(&disconnect) {
            return Some(before);
        }
    }
    None
}

#[test]
fn a_stop_racing_ready_while_connected_acknowledges_what_waited_before_disconnect() {
    let broker = Broker::start();
    let publisher = Observer::connect(&broker);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for attempt in 1..=ATTEMPTS {
        // Every message reached the paused client, which holds it: counted by the
        // client's driver as it takes it, just before it queues it for the ready app.
        let PausedClient {
            id, client, app, ..
        } = PausedClient::holding(&broker, &publisher, "stop-ready", MESSAGES, T);
        rt.block_on(async {
            let mut stop = pin!(client.shutdown());
            // Its first poll sends the stop request; `ready()` queues its signal behind it.
            assert!(futures::poll!(stop.as_mut()).is_pending());
            app.ready();
            tokio::time::timeout(T, stop)
                .await
                .expect("the stop ended in time");
        });
        let prefix = format!("stop-ready/{id}/");
        let handled = CALLS.count(|t| t.starts_with(&prefix));
        assert!(
            broker.wait_for_log(&format!("Received DISCONNECT from {id}"), 1, T),
            "{}",
            broker.log_tail(20)
        );
        let before = pubacks_before_disconnect(&broker.log(), &id).unwrap();
        eprintln!(
            "attempt {attempt}: {handled} of {MESSAGES} handled, PUBACKs {before} before DISCONNECT"
        );
        assert_eq!(
            before,
            handled,
            "every message handled has its PUBACK logged before DISCONNECT (PUBACKs before \
             DISCONNECT, messages handled): {}",
            broker.log_tail(40)
        );
        if handled > 0 {
            assert_eq!(handled, MESSAGES, "what waited for ready is handled");
            return;
        }
        // The stop began before the ready flag was set: nothing waited; again.
    }
    panic!("in {ATTEMPTS} attempts, no stop began after `ready()` set the ready flag");
}
