//! MQTT 5 request/response against a real Mosquitto: a requester (a raw Paho MQTT 5
//! client) publishes with a Response Topic; the handler returns a `Reply`, which the
//! client publishes to that topic. Also: properties reach the extractors over the wire.

// Test code: a failed expectation panics, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::paho_mqtt as paho;
use flask_mqtt_tests::{unique, Broker, Recorder};
use mqtt::{Client, ProtocolVersion, QoS};

const T: Duration = Duration::from_secs(15);

static EVENTS: Recorder<String> = Recorder::new();

#[mqtt::on_connect]
fn connected(client: mqtt::Mqtt) {
    EVENTS.push(format!("connect {}", client.client_id()));
}

#[mqtt::on_message("rr/+/time", qos = 1)]
fn answer(
    text: mqtt::Text,
    content_type: Option<mqtt::ContentType>,
    props: mqtt::UserProperties,
) -> mqtt::Reply {
    mqtt::Reply::new(format!(
        "answer to {} ({}, {:?})",
        text.as_str(),
        content_type
            .map(mqtt::ContentType::into_string)
            .unwrap_or_default(),
        props.get("who")
    ))
    .qos(QoS::AtLeastOnce)
}

/// A raw Paho MQTT 5 client: the requester.
struct Requester {
    client: paho::AsyncClient,
    stream: paho::SyncReceiver<Option<paho::Message>>,
}

impl Requester {
    fn connect(broker: &Broker, replies: &str) -> Requester {
        let client = paho::CreateOptionsBuilder::new()
            .server_uri(broker.uri())
            .client_id(unique("requester"))
            .mqtt_version(paho::MQTT_VERSION_5)
            .persistence(paho::PersistenceType::None)
            .create_client()
            .unwrap();
        // Before connecting, so that nothing is missed.
        let stream = client.start_consuming();
        let opts = paho::ConnectOptionsBuilder::new_v5()
            .clean_start(true)
            .connect_timeout(T)
            .finalize();
        client.connect(opts).wait_for(T).unwrap();
        client.subscribe(replies, 1).wait_for(T).unwrap();
        Requester { client, stream }
    }

    fn request(&self, topic: &str, payload: &str, response_topic: &str, correlation: &[u8]) {
        let mut props = paho::Properties::new();
        props
            .push_string(paho::PropertyCode::ResponseTopic, response_topic)
            .unwrap();
        props
            .push_binary(paho::PropertyCode::CorrelationData, correlation.to_vec())
            .unwrap();
        props
            .push_string(paho::PropertyCode::ContentType, "text/plain")
            .unwrap();
        props
            .push_string_pair(paho::PropertyCode::UserProperty, "who", "test")
            .unwrap();
        let msg = paho::MessageBuilder::new()
            .topic(topic)
            .payload(payload)
            .qos(1)
            .properties(props)
            .finalize();
        self.client.publish(msg).wait_for(T).unwrap();
    }

    fn response(&self) -> paho::Message {
        match self.stream.recv_timeout(T) {
            Ok(Some(msg)) => msg,
            other => panic!("no response within {T:?}: {other:?}"),
        }
    }
}

#[test]
fn a_reply_answers_an_mqtt5_request_on_its_response_topic() {
    let broker = Broker::start();
    let id = unique("responder");
    let config = broker
        .config(&id)
        .protocol_version(ProtocolVersion::V5)
        .build()
        .unwrap();
    let client = Client::start(config).unwrap();
    assert!(
        EVENTS.wait_for(T, |e| e.contains(&format!("connect {id}"))),
        "never connected: {}",
        broker.log()
    );

    let replies = format!("rr/replies/{id}");
    let requester = Requester::connect(&broker, &replies);
    requester.request("rr/a/time", "what time is it", &replies, b"req-42");
    let response = requester.response();
    assert_eq!(response.topic(), replies);
    assert_eq!(
        response.payload_str(),
        r#"answer to what time is it (text/plain, Some("test"))"#
    );
    assert_eq!(response.qos(), paho::QoS::AtLeastOnce);
    // The reply carries the request's Correlation Data.
    assert_eq!(
        response
            .properties()
            .get_binary(paho::PropertyCode::CorrelationData)
            .as_deref(),
        Some(&b"req-42"[..])
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(client.shutdown());
}
