//! The last will (`MQTT_LAST_WILL_*`): what the broker publishes when the client
//! disappears without DISCONNECT.

use flask_mqtt_topic::TopicName;

use super::builder::ConfigBuilder;
use super::keys::{self, QOS_RANGE};
use super::values::{shown, MQTT_STRING_MAX};
use crate::error::ConfigError;
use crate::qos::QoS;

/// The message the broker publishes when the client disappears without DISCONNECT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastWill {
    pub(crate) topic: TopicName,
    pub(crate) message: Vec<u8>,
    pub(crate) qos: QoS,
    pub(crate) retain: bool,
}

impl LastWill {
    /// Its topic.
    pub fn topic(&self) -> &str {
        self.topic.as_str()
    }

    /// Its payload.
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// Its QoS.
    pub fn qos(&self) -> QoS {
        self.qos
    }

    /// Whether it is retained.
    pub fn retain(&self) -> bool {
        self.retain
    }
}

/// The will the builder describes: none without a topic (and then no other will key may
/// be set to anything but its default); the topic a valid topic name (no wildcards, no NUL, at most 65535 bytes), the
/// payload at most 65535 bytes (MQTT's two-byte length), the QoS 0 to 2.
pub(crate) fn build(b: &ConfigBuilder) -> Result<Option<LastWill>, ConfigError> {
    let key = |k: &keys::Key| k.full(&b.prefix);
    let Some(topic) = &b.will_topic else {
        // The defaults (an empty message, QoS 0, no retain) say nothing: accepted, as a
        // Flask-style `.env` listing every key has them. Anything else describes a will
        // that would never be sent.
        let set = [
            (
                &keys::LAST_WILL_MESSAGE,
                b.will_message.as_ref().is_some_and(|m| !m.is_empty()),
            ),
            (&keys::LAST_WILL_QOS, b.will_qos.is_some_and(|q| q != 0)),
            (&keys::LAST_WILL_RETAIN, b.will_retain == Some(true)),
        ];
        if let Some((k, _)) = set.iter().find(|(_, set)| *set) {
            return Err(ConfigError::new(
                &key(&keys::LAST_WILL_TOPIC),
                None,
                format!("a topic whenever {} is set", key(k)),
            ));
        }
        return Ok(None);
    };
    let topic = TopicName::new(topic.as_str()).map_err(|e| {
        ConfigError::new(
            &key(&keys::LAST_WILL_TOPIC),
            Some(&shown(topic)),
            format!("a valid topic name: {e}"),
        )
    })?;
    let message = b.will_message.clone().unwrap_or_default();
    if message.len() > MQTT_STRING_MAX {
        return Err(ConfigError::new(
            &key(&keys::LAST_WILL_MESSAGE),
            None,
            format!(
                "at most {MQTT_STRING_MAX} bytes (MQTT's limit for a will payload); found {} bytes",
                message.len()
            ),
        ));
    }
    let qos_raw = b.will_qos.unwrap_or(0);
    let qos = QoS::from_u8(qos_raw).ok_or_else(|| {
        ConfigError::new(
            &key(&keys::LAST_WILL_QOS),
            Some(&qos_raw.to_string()),
            QOS_RANGE,
        )
    })?;
    Ok(Some(LastWill {
        topic,
        message,
        qos,
        retain: b.will_retain.unwrap_or(false),
    }))
}
