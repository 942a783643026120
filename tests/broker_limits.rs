//! Publishes over a broker's limits are refused before they are sent, with a typed error,
//! and the connection stays up. Against Mosquitto with `max_qos 1`, `retain_available
//! false` and `max_packet_size 2000`, which it announces in its MQTT 5 CONNACK; sent, each
//! of these publishes makes it close the connection ("oversize packet", "Too high QoS").
//! So would an UNSUBSCRIBE over the packet size, which `unsubscribe_all` no longer sends.
//! The packet size is counted as MQTT 5 defines it (§3.1.2.11.4: the whole packet): a
//! publish of exactly 2,000 bytes goes through, one byte more is refused. (Mosquitto 2.0
//! counts the remaining length plus one, so it would take two bytes more; a 5,000-byte
//! one makes it close the connection.)

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{unique, wait_ready, Broker};
use mqtt::{Client, Error, PublishLimit, QoS};

const T: Duration = Duration::from_secs(15);

/// The size of a PUBLISH of `payload` bytes to `limits/big` at QoS 1 with no properties:
/// 1 (type) + 2 (remaining length, 128..16,383) + 2 + 10 (topic) + 2 (packet id) + 1
/// (properties length) + payload.
fn packet_size(payload: usize) -> u64 {
    (18 + payload) as u64
}

#[test]
fn publishes_over_the_brokers_limits_are_refused_and_the_connection_stays() {
    let broker = Broker::builder()
        .extra("max_qos 1")
        .extra("retain_available false")
        .extra("max_packet_size 2000")
        .start();
    let client = Client::start(
        broker
            .config(unique("limits"))
            .protocol_version(mqtt::ProtocolVersion::V5)
            .build()
            .unwrap(),
    )
    .unwrap();
    let m = client.handle();
    // Ready: the client took the CONNACK's limits (Paho says connected a moment before).
    wait_ready(&m, T);
    let publish = |payload: Vec<u8>, qos: QoS, retain: bool| {
        futures::executor::block_on(
            m.publish("limits/big", payload)
                .qos(qos)
                .retain(retain)
                .send(),
        )
    };

    let fits = 2_000 - 18;
    assert_eq!(packet_size(fits), 2_000);
    publish(vec![b'x'; fits], QoS::AtLeastOnce, false).expect("a packet of exactly the limit");
    match publish(vec![b'x'; fits + 1], QoS::AtLeastOnce, false) {
        Err(Error::BrokerLimit {
            topic,
            limit:
                PublishLimit::PacketSize {
                    size: 2_001,
                    max: 2_000,
                    announced: true,
                },
            ..
        }) => assert_eq!(topic, "limits/big"),
        other => panic!("one byte over the limit: {other:?}"),
    }
    match publish(vec![b'x'; 5_000], QoS::AtMostOnce, false) {
        Err(Error::BrokerLimit {
            limit:
                PublishLimit::PacketSize {
                    max: 2_000,
                    announced: true,
                    ..
                },
            ..
        }) => {}
        other => panic!("5,000 bytes: {other:?}"),
    }
    match publish(b"q".to_vec(), QoS::ExactlyOnce, false) {
        Err(Error::BrokerLimit {
            limit: PublishLimit::Qos { qos: 2, max: 1 },
            ..
        }) => {}
        other => panic!("QoS 2 where the broker's maximum is 1: {other:?}"),
    }
    match publish(b"r".to_vec(), QoS::AtMostOnce, true) {
        Err(err @ Error::BrokerLimit {
            limit: PublishLimit::Retain,
            ..
        }) => assert_eq!(
            err.to_string(),
            "message to `limits/big` not sent: the broker does not accept retained messages (Retain Available 0)"
        ),
        other => panic!("a retained message: {other:?}"),
    }
    // Still the first connection, and it still carries publishes.
    publish(b"fine".to_vec(), QoS::AtLeastOnce, false).expect("a publish within the limits");
    assert!(m.is_connected());
    assert_eq!(m.health().connects(), 1, "the connection was never lost");
    assert_eq!(
        broker.count_in_log("oversize packet") + broker.count_in_log("Too high QoS"),
        0,
        "{}",
        broker.log_tail(20)
    );
}

/// `unsubscribe_all` of ten 600-byte filters, each subscribed alone within the broker's
/// `max_packet_size 2000`: the UNSUBSCRIBEs are cut to fit (three filters a packet), and
/// the connection stays. Before, all ten went in one UNSUBSCRIBE of 6,000 bytes and more:
/// Mosquitto logged "oversize packet" and closed the connection, and the call failed
/// unanswered.
#[test]
fn unsubscribe_all_stays_within_the_brokers_maximum_packet_size() {
    let broker = Broker::builder().extra("max_packet_size 2000").start();
    let client = Client::start(
        broker
            .config(unique("unsub-limits"))
            .protocol_version(mqtt::ProtocolVersion::V5)
            .build()
            .unwrap(),
    )
    .unwrap();
    let m = client.handle();
    wait_ready(&m, T);
    futures::executor::block_on(async {
        for i in 0..10 {
            let filter = format!("limits/{i}/{}", "f".repeat(590));
            m.subscribe(&filter, QoS::AtLeastOnce)
                .await
                .expect("a SUBSCRIBE within the limit");
        }
        m.unsubscribe_all()
            .await
            .expect("every UNSUBSCRIBE answered");
    });
    assert!(m.topics().is_empty());
    assert!(m.is_connected());
    assert_eq!(m.health().connects(), 1, "the connection was never lost");
    assert_eq!(
        broker.count_in_log("oversize packet"),
        0,
        "{}",
        broker.log_tail(20)
    );
}
