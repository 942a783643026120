//! Request/reply against a real Mosquitto: the client's own reply topic whatever its
//! client id.
//!
//! Each test has its own broker and its own client (a prefix of its own, so that each
//! client has only its test's handlers). Waits are on events with deadlines.

// Test code: a failed expectation panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{unique, wait_until, Broker};
use mqtt::{Client, ProtocolVersion};

const T: Duration = Duration::from_secs(20);

/// Answers every request with its text, reversed.
#[mqtt::on_message("long/ask", qos = 1, broker = "LONGID")]
fn long_answer(text: mqtt::Text) -> mqtt::Reply {
    mqtt::Reply::new(text.as_str().chars().rev().collect::<String>())
}

/// A client id may have 65,535 bytes (Mosquitto accepts it), more than fits in
/// `flask-mqtt/replies/<client id>` (a topic name has at most 65,535 bytes too): the
/// own reply topic is then named by a nonce, and a request gets its reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_id_too_long_for_the_reply_topic_still_gets_replies() {
    let broker = Broker::start();
    let mut id = unique("long");
    id.push_str(&"l".repeat(65_530 - id.len()));
    let config = broker
        .config_with_prefix("LONGID", &id)
        .protocol_version(ProtocolVersion::V5)
        .build()
        .unwrap();
    let client = Client::start(config).unwrap();
    let mqtt = client.handle();
    assert!(
        wait_until(T, || mqtt.is_connected()),
        "never connected: {}",
        broker.log_tail(20)
    );
    let reply = mqtt
        .request("long/ask", "ping")
        .timeout(Duration::from_secs(5))
        .await;
    assert_eq!(
        reply
            .as_ref()
            .map(|m| m.payload())
            .map_err(ToString::to_string),
        Ok(&b"gnip"[..]),
        "broker log: {}",
        broker.log_tail(10)
    );
    assert!(mqtt.is_connected(), "{}", broker.log_tail(10));
    client.shutdown().await;
}
