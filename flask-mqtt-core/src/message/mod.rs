//! Incoming messages, and the properties of messages we build.

pub(crate) mod properties;

use std::fmt;
use std::sync::Arc;

use crate::qos::QoS;

/// A message received from the broker. Cloning is cheap (the payload is shared).
#[derive(Clone)]
pub struct Message {
    inner: Arc<paho_mqtt::Message>,
}

impl Message {
    pub(crate) fn from_paho(msg: paho_mqtt::Message) -> Self {
        Message {
            inner: Arc::new(msg),
        }
    }

    /// Builds a message by hand (for tests of handlers and for re-publishing).
    ///
    /// The topic is not validated (a message built here is never sent as it is), with one
    /// exception: Paho keeps topics as C strings, so a topic containing NUL (which MQTT
    /// forbids anyway) is cut at the first NUL instead of panicking.
    pub fn new(
        topic: impl Into<String>,
        payload: impl Into<Vec<u8>>,
        qos: QoS,
        retain: bool,
    ) -> Self {
        let mut topic = topic.into();
        topic.truncate(before_nul(&topic).len());
        let payload = payload.into();
        let msg = if retain {
            paho_mqtt::Message::new_retained(topic, payload, qos.to_paho())
        } else {
            paho_mqtt::Message::new(topic, payload, qos.to_paho())
        };
        Message::from_paho(msg)
    }

    /// The topic the message was published to.
    pub fn topic(&self) -> &str {
        self.inner.topic()
    }

    /// The payload bytes.
    pub fn payload(&self) -> &[u8] {
        self.inner.payload()
    }

    /// The payload as UTF-8 text, or the reason it is not.
    pub fn payload_str(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(self.inner.payload())
    }

    /// The QoS the message was delivered with.
    pub fn qos(&self) -> QoS {
        QoS::from_paho(self.inner.qos())
    }

    /// Whether the broker delivered it as a retained message.
    pub fn retain(&self) -> bool {
        self.inner.retained()
    }

    /// The underlying Paho message (MQTT 5 properties and the rest), a type of our Paho
    /// fork, re-exported as [`paho`](crate::paho) with `PropertyCode` and `Properties`:
    ///
    /// ```
    /// use flask_mqtt_core::{paho::PropertyCode, Message};
    ///
    /// fn expiry(msg: &Message) -> Option<i32> {
    ///     msg.as_paho().properties().get_int(PropertyCode::MessageExpiryInterval)
    /// }
    /// ```
    pub fn as_paho(&self) -> &paho_mqtt::Message {
        &self.inner
    }
}

/// `s` up to its first NUL: Paho keeps strings as C strings and panics on a NUL.
pub(crate) fn before_nul(s: &str) -> &str {
    s.split('\0').next().unwrap_or_default()
}

impl fmt::Debug for Message {
    /// Shows topic, QoS, retain and the payload length; never the payload itself.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("topic", &self.topic())
            .field("qos", &self.qos())
            .field("retain", &self.retain())
            .field("payload_len", &self.payload().len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors() {
        let m = Message::new("a/b", "hi", QoS::AtLeastOnce, true);
        assert_eq!(m.topic(), "a/b");
        assert_eq!(m.payload(), b"hi");
        assert_eq!(m.payload_str(), Ok("hi"));
        assert_eq!(m.qos(), QoS::AtLeastOnce);
        assert!(m.retain());
        let bin = Message::new("a", vec![0xff, 0xfe], QoS::AtMostOnce, false);
        assert!(bin.payload_str().is_err());
        assert!(!format!("{bin:?}").contains("255"));
    }

    /// Paho's own constructor panics on a NUL in the topic; ours does not.
    #[test]
    fn a_nul_in_the_topic_cuts_it_instead_of_panicking() {
        let m = Message::new("a/b\0c/d", "x", QoS::AtMostOnce, true);
        assert_eq!(m.topic(), "a/b");
        assert_eq!(m.payload(), b"x");
        assert!(m.retain());
        assert_eq!(Message::new("\0", "", QoS::AtMostOnce, false).topic(), "");
    }
}
