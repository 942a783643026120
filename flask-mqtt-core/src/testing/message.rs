//! [`TestMessage`]: a message to inject, with QoS, retain and MQTT 5 properties.

use crate::message::properties::Properties;
use crate::message::{before_nul, Message};
use crate::qos::QoS;

/// A message to inject: topic and payload, QoS 0, not retained, no properties.
pub fn message(topic: impl Into<String>, payload: impl Into<Vec<u8>>) -> TestMessage {
    TestMessage {
        topic: topic.into(),
        payload: payload.into(),
        qos: QoS::AtMostOnce,
        retain: false,
        props: Properties::default(),
    }
}

/// A message being built for [`TestClient::inject`](super::TestClient::inject); start with
/// [`message`].
#[derive(Clone, Debug)]
#[must_use = "inject the message with `TestClient::inject`"]
pub struct TestMessage {
    topic: String,
    payload: Vec<u8>,
    qos: QoS,
    retain: bool,
    props: Properties,
}

impl TestMessage {
    /// The QoS it is delivered with (default: [`QoS::AtMostOnce`]).
    pub fn qos(mut self, qos: QoS) -> Self {
        self.qos = qos;
        self
    }

    /// Whether it is delivered as a retained message (default: `false`).
    pub fn retain(mut self, retain: bool) -> Self {
        self.retain = retain;
        self
    }

    /// Sets the MQTT 5 Response Topic property.
    pub fn response_topic(mut self, topic: impl Into<String>) -> Self {
        self.props.set_response_topic(topic.into());
        self
    }

    /// Sets the MQTT 5 Correlation Data property.
    pub fn correlation_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.props.set_correlation_data(data.into());
        self
    }

    /// Sets the MQTT 5 Content Type property.
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.props.set_content_type(content_type.into());
        self
    }

    /// Adds an MQTT 5 user property (names may repeat; order is kept).
    pub fn user_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.props.add_user(name.into(), value.into());
        self
    }
}

/// Strings are cut at a NUL character, like the topic (Paho keeps them as C strings;
/// MQTT forbids NUL anyway).
impl From<TestMessage> for Message {
    fn from(m: TestMessage) -> Message {
        let topic = before_nul(&m.topic).to_owned();
        let msg = paho_mqtt::MessageBuilder::new()
            .topic(topic)
            .payload(m.payload)
            .qos(m.qos.to_paho())
            .retained(m.retain)
            .properties(m.props.to_paho())
            .finalize();
        Message::from_paho(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_in_an_injected_topic_cuts_it_instead_of_panicking() {
        let m: Message = message("a/b\0c", "x").qos(QoS::AtLeastOnce).into();
        assert_eq!(m.topic(), "a/b");
        assert_eq!(m.payload(), b"x");
    }

    #[test]
    fn a_nul_in_an_injected_property_cuts_it_instead_of_panicking() {
        let m: Message = message("a", "x")
            .content_type("text/plain\0junk")
            .user_property("k\0", "v")
            .into();
        let props = m.as_paho().properties();
        assert_eq!(
            props
                .get_string(paho_mqtt::PropertyCode::ContentType)
                .as_deref(),
            Some("text/plain")
        );
        assert_eq!(
            props.user_iter().collect::<Vec<_>>(),
            [("k".to_owned(), "v".to_owned())]
        );
    }
}
