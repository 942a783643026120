//! Topics and filters deeper than Mosquitto takes. MQTT sets no limit on the number of
//! levels, but Mosquitto (`TOPIC_HIERARCHY_LIMIT`, 200 `/` separators, so 201 levels)
//! closes the connection of a client that publishes to a deeper topic ("disconnected due
//! to protocol error"), subscribes or unsubscribes a deeper filter ("Invalid subscription
//! string ... malformed packet"), or names a deeper will topic (the CONNECT is refused).
//! With a persistent session, Paho sends a QoS 1 publish again after every reconnect, so
//! one such publish kept the client reconnecting for ever. They are refused before
//! anything is sent, with a typed error, and the connection stays up.
//!
//! Against a real Mosquitto (2.0): the first test pins where the broker draws the line,
//! with a raw Paho client; the second goes through the app's client.

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{try_mosquitto_pub, unique, wait_ready, Broker, Observer};
use mqtt::{Client, Error, QoS, TopicFilterError, TopicNameError, MAX_TOPIC_LEVELS};

const T: Duration = Duration::from_secs(20);

/// A topic of `levels` levels under `prefix` (one of the levels).
fn deep(prefix: &str, levels: usize) -> String {
    let mut topic = prefix.to_owned();
    for _ in 1..levels {
        topic.push_str("/x");
    }
    topic
}

/// Mosquitto takes 201 levels and closes the connection at 202, for a PUBLISH as for a
/// SUBSCRIBE, and refuses a CONNECT with a will topic that deep: [`MAX_TOPIC_LEVELS`] is
/// its limit, not one level off either way.
#[test]
fn mosquitto_closes_the_connection_past_201_levels() {
    assert_eq!(MAX_TOPIC_LEVELS, 201);
    let broker = Broker::start();
    let prefix = unique("pin");
    let fits = deep(&prefix, MAX_TOPIC_LEVELS);
    let over = deep(&prefix, MAX_TOPIC_LEVELS + 1);

    let observer = Observer::connect(&broker);
    observer.subscribe(&fits, 1);
    observer.publish(&fits, "fits", 1);
    assert_eq!(observer.expect_message(&fits, T).payload_str(), "fits");
    assert!(observer.is_connected());

    let raw = observer.client();
    let published = raw
        .publish(paho_mqtt::Message::new(over.as_str(), "over", 1))
        .wait_for(T);
    assert!(published.is_err(), "{published:?}");
    assert!(
        broker.wait_for_log("disconnected due to protocol error", 1, T),
        "{}",
        broker.log_tail(20)
    );

    let observer = Observer::connect(&broker);
    let subscribed = observer.client().subscribe(over.as_str(), 1).wait_for(T);
    assert!(subscribed.is_err(), "{subscribed:?}");
    assert!(
        broker.wait_for_log("Invalid subscription string", 1, T),
        "{}",
        broker.log_tail(20)
    );

    // A will topic: the CONNECT is refused.
    for (will, accepted) in [(&fits, true), (&over, false)] {
        let id = unique("will");
        let args = [
            "-i",
            &id,
            "-t",
            "w",
            "-m",
            "x",
            "--will-payload",
            "gone",
            "--will-topic",
            will,
        ];
        let out = try_mosquitto_pub(broker.port(), &args, None);
        assert_eq!(out.status.success(), accepted, "{out:?}");
        assert_eq!(broker.connections_from(&id), usize::from(accepted));
    }
}

/// Through the app's client, with a persistent session (where a QoS 1 publish sent
/// would come back after every reconnect): every way of sending a topic or filter deeper
/// than Mosquitto takes fails at once with a typed error, nothing is sent, and the first
/// connection carries on; 201 levels go through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_and_filters_too_deep_for_mosquitto_are_refused_and_the_connection_stays() {
    let broker = Broker::start();
    let id = unique("levels");
    let client = Client::start(
        broker
            .config(id.as_str())
            .protocol_version(mqtt::ProtocolVersion::V5)
            .clean_session(false)
            .build()
            .unwrap(),
    )
    .unwrap();
    let m = client.handle();
    wait_ready(&m, T);
    let prefix = unique("deep");
    let fits = deep(&prefix, MAX_TOPIC_LEVELS);
    let over = deep(&prefix, MAX_TOPIC_LEVELS + 1);
    // Bounded: sent, the publish below never completes while the client reconnects.
    let within = |what: &'static str| {
        let broker = &broker;
        let id = id.as_str();
        move || -> String {
            format!(
                "{what}: no outcome within {T:?}; the broker saw {} connections from the client, {} protocol errors:\n{}",
                broker.connections_from(id),
                broker.count_in_log("disconnected due to protocol error"),
                broker.log_tail(10)
            )
        }
    };
    let too_deep_topic = |res: mqtt::Result<()>| match res {
        Err(Error::InvalidTopic {
            source: TopicNameError::TooManyLevels { levels: 202 },
            ..
        }) => {}
        other => panic!("{other:?}"),
    };
    let too_deep_filter = |res: mqtt::Result<()>, levels: usize| match res {
        Err(Error::InvalidFilter {
            source: TopicFilterError::TooManyLevels { levels: l },
            ..
        }) if l == levels => {}
        other => panic!("{other:?}"),
    };

    let published = tokio::time::timeout(
        T,
        m.publish(over.as_str(), "deep")
            .qos(QoS::AtLeastOnce)
            .send(),
    )
    .await
    .unwrap_or_else(|_| panic!("{}", within("the QoS 1 publish")()));
    match &published {
        Err(e @ Error::InvalidTopic { .. }) => {
            let text = e.to_string();
            assert!(text.starts_with("invalid topic name `deep-"), "{text}");
            assert!(
                text.ends_with(
                    "...`: it has 202 levels, more than the 201 Mosquitto accepts (MQTT sets no \
                     limit, but Mosquitto closes the connection of a client that sends a deeper \
                     one)"
                ),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    too_deep_topic(published);
    too_deep_topic(
        m.publish(prefix.as_str(), "x")
            .response_topic(over.as_str())
            .send()
            .await,
    );
    let requested =
        tokio::time::timeout(T, m.request(prefix.as_str(), "?").reply_to(over.as_str()))
            .await
            .unwrap_or_else(|_| panic!("{}", within("the request")()));
    too_deep_topic(requested.map(drop));
    too_deep_filter(m.subscribe(&over, QoS::AtLeastOnce).await, 202);
    let shared = format!("$share/g/{}", deep(&prefix, MAX_TOPIC_LEVELS - 1));
    too_deep_filter(m.subscribe(&shared, QoS::AtLeastOnce).await, 202);
    too_deep_filter(m.unsubscribe(&over).await, 202);
    assert!(m.topics().is_empty(), "{:?}", m.topics());

    // As deep as Mosquitto takes: subscribed, published, received.
    let observer = Observer::connect(&broker);
    observer.subscribe(&fits, 1);
    m.subscribe(&fits, QoS::AtLeastOnce).await.unwrap();
    m.subscribe(
        &format!("$share/g/{}", deep(&prefix, MAX_TOPIC_LEVELS - 2)),
        QoS::AtLeastOnce,
    )
    .await
    .unwrap();
    m.publish(fits.as_str(), "fits")
        .qos(QoS::AtLeastOnce)
        .await
        .unwrap();
    assert_eq!(observer.expect_message(&fits, T).payload_str(), "fits");

    assert!(m.is_connected());
    assert_eq!(m.health().connects(), 1, "{}", broker.log_tail(20));
    assert_eq!(broker.connections_from(&id), 1, "{}", broker.log_tail(20));
    assert_eq!(
        broker.count_in_log("protocol error") + broker.count_in_log("malformed packet"),
        0,
        "{}",
        broker.log_tail(20)
    );
    client.shutdown().await;
}
