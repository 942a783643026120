//! The embedded broker's packet limit: rumqttd closes the connection of a client that
//! sends a packet whose remaining length is over 4 MiB (`max_payload_size`, which it
//! checks against the remaining length, vendor/rumqttd/src/protocol/v4/mod.rs), and it
//! speaks MQTT 3.1.1, so it announces no Maximum Packet Size. The client knows the limit
//! when it starts the broker: a publish over it is refused before it is sent, with a
//! typed error, and the connection stays. Sent, a QoS 1 one would cost the connection,
//! and with a kept session Paho would send it again after every reconnect.

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{unique, wait_ready};
use mqtt::{Client, Config, Error, PublishLimit, QoS};

const T: Duration = Duration::from_secs(20);

/// The largest remaining length rumqttd takes: 4 MiB.
const MAX_REMAINING: usize = 4 << 20;
/// The largest packet: 1 byte of type, 4 of remaining length (over 2 MiB), 4 MiB.
const MAX_PACKET: u64 = 1 + 4 + MAX_REMAINING as u64;
const TOPIC: &str = "limits/embedded";

#[test]
fn a_publish_over_the_embedded_brokers_limit_is_refused_and_the_connection_stays() {
    let config = Config::builder()
        .broker_url("embedded")
        .client_id(unique("embedded-limits"))
        .clean_session(false)
        .build()
        .unwrap();
    let client = Client::start(config).unwrap();
    let m = client.handle();
    wait_ready(&m, T);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let publish = |payload: usize| {
        let send = m
            .publish(TOPIC, vec![b'x'; payload])
            .qos(QoS::AtLeastOnce)
            .send();
        rt.block_on(async { tokio::time::timeout(T, send).await })
            .unwrap_or_else(|_| panic!("a publish of {payload} bytes got no answer within {T:?}"))
    };

    // Remaining length: 2 + topic + 2 (packet identifier) + payload.
    let fits = MAX_REMAINING - 2 - TOPIC.len() - 2;
    publish(fits).expect("a packet of exactly the limit");
    match publish(fits + 1) {
        Err(Error::BrokerLimit {
            topic,
            limit:
                PublishLimit::PacketSize {
                    size,
                    max: MAX_PACKET,
                    ..
                },
            ..
        }) => {
            assert_eq!(topic, TOPIC);
            assert_eq!(size, MAX_PACKET + 1);
        }
        other => panic!("one byte over the limit: {other:?}"),
    }
    match publish(4 << 20) {
        Err(Error::BrokerLimit {
            limit: PublishLimit::PacketSize {
                max: MAX_PACKET, ..
            },
            ..
        }) => {}
        other => panic!("a payload of 4 MiB: {other:?}"),
    }
    // Still the first connection, and it still carries publishes.
    publish(4).expect("a publish within the limit");
    assert!(m.is_connected());
    assert_eq!(m.health().connects(), 1, "the connection was never lost");
    rt.block_on(client.shutdown());
}
