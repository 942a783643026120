//! Messages a graceful stop takes count as received: `mqtt_messages_received_total`
//! counts every message the broker delivered to the client, also those that arrive
//! while the client stops (the stop reads the client's inputs itself while its handlers
//! finish). Before, only the driver's own loop counted them: a message taken during the
//! stop was handled and acknowledged, but never counted.
//!
//! The stop is held open by a handler call: its message is taken before the stop, and
//! its call waits at a gate, which a graceful stop waits for. The test asks for the stop
//! (its request is queued to the client before anything else happens), then publishes
//! `DURING` QoS 1 messages: they reach the client after the stop request, in the one
//! queue the client reads in order, so the stop takes them. They are owed from the
//! moment they are taken (`Mqtt::unacknowledged_messages`), which shows they are all in
//! the client before the gate opens; then the stop lets their calls finish, acknowledges
//! them and disconnects. The broker's log says how many messages it delivered
//! (`Sending PUBLISH to <id>`): after the stop the counter must say as many.
//!
//! The stop waits for the gated call at most `SHUTDOWN_TIMEOUT` (5 s), then goes on to
//! its DISCONNECT: the `DURING` messages must all be taken within those 5 s of the stop
//! request, not within `T`, which the test's wait for them asserts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::pin::pin;
use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{unique, wait_until_async, Broker, Observer, Recorder};
use mqtt::{Client, MetricsCollector, MetricsFormat};
use tokio::sync::Semaphore;

const T: Duration = Duration::from_secs(20);
/// How long a graceful stop waits for its handler calls (the core's `SHUTDOWN_TIMEOUT`).
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// Messages published once the stop was asked for (below Mosquitto's in-flight window
/// of 20 with the gated one).
const DURING: usize = 5;

/// Lets one held call finish per permit.
static GATE: Semaphore = Semaphore::const_new(0);
/// The topics of the calls that started.
static STARTED: Recorder<String> = Recorder::new();

#[mqtt::on_message("stop-count/+/+", qos = 1)]
async fn gated(topic: mqtt::Topic) {
    STARTED.push(topic.to_string());
    GATE.acquire().await.expect("the gate stays open").forget();
}

/// The value of `mqtt_messages_received_total` for QoS 1 in `text` (Prometheus text).
fn received_qos1(text: &str) -> Option<usize> {
    text.lines()
        .find_map(|l| l.strip_prefix("mqtt_messages_received_total{broker=\"MQTT\",qos=\"1\"} "))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn messages_taken_during_a_graceful_stop_count_as_received() {
    let broker = Broker::start();
    let publisher = Observer::connect(&broker);
    let id = unique("stop-count");
    let config = broker
        .config(id.as_str())
        .build()
        .expect("the broker's configuration builds");
    let client = Client::start(config).expect("the client starts");
    let app = client.handle();
    let metrics = MetricsCollector::new([app.clone()]).expect("one client's metrics collector");
    let text = || metrics.render(MetricsFormat::PrometheusText);
    broker.expect_suback(&id, T);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Taken by the client before the stop; its call holds the stop open.
        let gate = format!("stop-count/{id}/gate");
        publisher.publish(&gate, "", 1);
        assert!(
            STARTED.wait_for_async(T, |s| s.contains(&gate)).await,
            "the gated call did not start: {:?}",
            STARTED.snapshot()
        );
        assert_eq!(received_qos1(&text()), Some(1), "{}", text());

        let mut stop = pin!(client.shutdown());
        // Its first poll queues the stop request: what arrives from now on is the stop's.
        assert!(futures::poll!(stop.as_mut()).is_pending());
        // The stop's `SHUTDOWN_TIMEOUT` runs from here, not from the last publish.
        let asked = std::time::Instant::now();
        for i in 0..DURING {
            publisher.publish(&format!("stop-count/{id}/{i}"), "", 1);
        }
        // All taken (owed from then on) while the gated call still holds the stop: before
        // the stop stops waiting for it.
        let all = || app.unacknowledged_messages() == DURING + 1;
        assert!(
            wait_until_async(SHUTDOWN_TIMEOUT.saturating_sub(asked.elapsed()), all).await,
            "{} of {} messages taken by the stopping client within its SHUTDOWN_TIMEOUT \
             ({SHUTDOWN_TIMEOUT:?}), after which it no longer waits for the gated call: {}",
            app.unacknowledged_messages(),
            DURING + 1,
            broker.log_tail(20)
        );
        GATE.add_permits(DURING + 1);
        tokio::time::timeout(T, stop)
            .await
            .expect("the stop ended in time");
    });

    assert!(
        broker.wait_for_log(&format!("Received DISCONNECT from {id}"), 1, T),
        "{}",
        broker.log_tail(20)
    );
    let delivered = broker.count_in_log(&format!("Sending PUBLISH to {id} ("));
    assert_eq!(
        delivered,
        DURING + 1,
        "the broker's deliveries to the client: {}",
        broker.log_tail(30)
    );
    assert_eq!(
        received_qos1(&text()),
        Some(delivered),
        "mqtt_messages_received_total (QoS 1) after the stop, against the {delivered} \
         messages the broker delivered, {DURING} of them taken during the stop: {}",
        text()
    );
    assert_eq!(
        STARTED.len(),
        DURING + 1,
        "calls started: {:?}",
        STARTED.snapshot()
    );
}
