//! QoS 1 messages that wait for a ready app count as unacknowledged: a client started
//! paused (`Client::start_paused`) holds them, unacknowledged as far as the broker is
//! concerned (they fill its in-flight window), so `Mqtt::unacknowledged_messages()` and
//! the `mqtt_unacknowledged_messages` gauge count them, from the moment the client takes
//! them until their handler is done and the PUBACK is sent. Before, a message got its
//! acknowledgement slot only when `ready()` let it through to dispatch: 0 while waiting.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{wait_until, Broker, Observer, PausedClient, Recorder};
use mqtt::MetricsFormat;
use tokio::sync::Semaphore;

const T: Duration = Duration::from_secs(20);
/// Messages waiting for the app to be ready.
const MESSAGES: usize = 3;

/// Lets one held call finish per permit.
static GATE: Semaphore = Semaphore::const_new(0);
/// The topics of the calls that finished.
static CALLS: Recorder<String> = Recorder::new();

#[mqtt::on_message("ready-count/+/+", qos = 1)]
async fn held(topic: mqtt::Topic) {
    GATE.acquire().await.expect("the gate stays open").forget();
    CALLS.push(topic.to_string());
}

#[test]
fn messages_waiting_for_ready_count_as_unacknowledged_until_handled() {
    let broker = Broker::start();
    let publisher = Observer::connect(&broker);
    // Every message is in the client (counted as the driver takes it), held for the app.
    let PausedClient {
        id,
        client,
        app,
        metrics,
    } = PausedClient::holding(&broker, &publisher, "ready-count", MESSAGES, T);
    let text = || metrics.render(MetricsFormat::PrometheusText);
    let gauge = |n: usize| format!("mqtt_unacknowledged_messages{{broker=\"MQTT\"}} {n}\n");
    let puback = format!("Received PUBACK from {id} (");
    assert_eq!(broker.count_in_log(&puback), 0, "{}", broker.log_tail(20));
    // Owed from the moment the driver takes them (just after it counts them received).
    assert!(
        wait_until(Duration::from_secs(5), || app.unacknowledged_messages()
            == MESSAGES),
        "unacknowledged_messages() is {} with {MESSAGES} QoS 1 messages waiting for ready()",
        app.unacknowledged_messages()
    );
    assert!(text().contains(&gauge(MESSAGES)), "{}", text());

    // Ready: the calls begin and are held; still owed.
    app.ready();
    assert_eq!(app.unacknowledged_messages(), MESSAGES);
    assert!(text().contains(&gauge(MESSAGES)), "{}", text());
    assert_eq!(broker.count_in_log(&puback), 0, "{}", broker.log_tail(20));

    // Handled: acknowledged, owed no more.
    GATE.add_permits(MESSAGES);
    assert!(
        CALLS.wait_for_len(T, MESSAGES),
        "{} of {MESSAGES} calls ended",
        CALLS.len()
    );
    assert!(
        broker.wait_for_log(&puback, MESSAGES, T),
        "{}",
        broker.log_tail(20)
    );
    assert!(
        wait_until(T, || app.unacknowledged_messages() == 0),
        "{} still owed after every PUBACK",
        app.unacknowledged_messages()
    );
    assert!(text().contains(&gauge(0)), "{}", text());

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { tokio::time::timeout(T, client.shutdown()).await })
        .expect("the stop ended in time");
}
