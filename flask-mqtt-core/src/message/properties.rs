//! [`Properties`]: the MQTT 5 properties of a message we build (a [`Publish`], a test
//! message), checked before Paho sees them.
//!
//! [`Publish`]: crate::handle::publish::Publish

use flask_mqtt_topic::{TopicName, MAX_TOPIC_LEN};

use super::before_nul;
use crate::error::Error;

/// The longest MQTT string or binary value: a two-byte length prefix (MQTT 5 §1.5.4,
/// §1.5.6).
pub(crate) const MAX_VALUE_LEN: usize = u16::MAX as usize;

// The topic grammar's limit is MQTT's string limit.
const _: () = assert!(MAX_TOPIC_LEN == MAX_VALUE_LEN);

/// The MQTT 5 properties a message is built with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Properties {
    correlation_data: Option<Vec<u8>>,
    content_type: Option<String>,
    response_topic: Option<String>,
    user: Vec<(String, String)>,
}

impl Properties {
    /// Sets the Correlation Data, replacing an earlier value.
    pub(crate) fn set_correlation_data(&mut self, data: Vec<u8>) {
        self.correlation_data = Some(data);
    }

    /// Sets the Content Type, replacing an earlier value.
    pub(crate) fn set_content_type(&mut self, content_type: String) {
        self.content_type = Some(content_type);
    }

    /// Sets the Response Topic, replacing an earlier value.
    pub(crate) fn set_response_topic(&mut self, topic: String) {
        self.response_topic = Some(topic);
    }

    /// Adds a user property (names may repeat; the order is kept).
    pub(crate) fn add_user(&mut self, name: String, value: String) {
        self.user.push((name, value));
    }

    /// Whether a user property named `name` is set.
    #[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
    pub(crate) fn has_user(&self, name: &str) -> bool {
        self.user.iter().any(|(n, _)| n == name)
    }

    /// How many properties are set.
    pub(crate) fn len(&self) -> usize {
        usize::from(self.correlation_data.is_some())
            + usize::from(self.content_type.is_some())
            + usize::from(self.response_topic.is_some())
            + self.user.len()
    }

    /// Whether MQTT can carry every value: the Response Topic is a valid topic name, no
    /// string holds a NUL (MQTT forbids U+0000 in strings, and Paho's property builders
    /// panic on one) or another character MQTT says must not be sent (a control
    /// character or a non-character, [`flask_mqtt_topic::is_disallowed`]), and no value
    /// is longer than 65,535 bytes.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if let Some(topic) = &self.response_topic {
            TopicName::new(topic.as_str()).map_err(|e| Error::invalid_topic(topic, e))?;
        }
        if let Some(data) = &self.correlation_data {
            check_len("Correlation Data", data.len())?;
        }
        if let Some(content_type) = &self.content_type {
            check_str("Content Type", content_type)?;
        }
        for (name, value) in &self.user {
            check_str("User Property name", name)?;
            check_str("User Property value", value)?;
        }
        Ok(())
    }

    /// Paho's form of the properties. Never panics: a string is cut at its first NUL
    /// (call [`validate`](Self::validate) first to refuse one instead).
    pub(crate) fn to_paho(&self) -> paho_mqtt::Properties {
        use paho_mqtt::PropertyCode;
        let mut out = paho_mqtt::Properties::new();
        // Each push matches its code's type, the only thing Paho checks: none can fail.
        if let Some(topic) = &self.response_topic {
            let _ = out.push_string(PropertyCode::ResponseTopic, before_nul(topic));
        }
        if let Some(data) = &self.correlation_data {
            let _ = out.push_binary(PropertyCode::CorrelationData, data.clone());
        }
        if let Some(content_type) = &self.content_type {
            let _ = out.push_string(PropertyCode::ContentType, before_nul(content_type));
        }
        for (name, value) in &self.user {
            let _ = out.push_string_pair(
                PropertyCode::UserProperty,
                before_nul(name),
                before_nul(value),
            );
        }
        out
    }
}

fn check_str(property: &'static str, value: &str) -> Result<(), Error> {
    if value.contains('\0') {
        return Err(Error::InvalidProperty {
            property,
            reason: "it contains a NUL character (U+0000), which MQTT forbids in strings"
                .to_owned(),
        });
    }
    if let Some(c) = flask_mqtt_topic::first_disallowed(value) {
        return Err(Error::InvalidProperty {
            property,
            reason: format!(
                "it contains {}, which MQTT says must not be sent (brokers such as Mosquitto close the connection)",
                flask_mqtt_topic::describe_disallowed(c)
            ),
        });
    }
    check_len(property, value.len())
}

fn check_len(property: &'static str, len: usize) -> Result<(), Error> {
    if len > MAX_VALUE_LEN {
        return Err(Error::InvalidProperty {
            property,
            reason: format!("it is {len} bytes long; the limit is {MAX_VALUE_LEN} bytes"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut Properties)) -> Properties {
        let mut p = Properties::default();
        f(&mut p);
        p
    }

    /// Every way a value can be unsendable is a typed error naming the property, and
    /// `to_paho` does not panic on any of them.
    #[test]
    fn unsendable_values_are_refused_by_name() {
        let long = "x".repeat(MAX_VALUE_LEN + 1);
        let cases: Vec<(Properties, &str, &str)> = vec![
            (
                with(|p| p.set_content_type("a\0b".into())),
                "Content Type",
                "NUL",
            ),
            (
                with(|p| p.add_user("k\0".into(), "v".into())),
                "User Property name",
                "NUL",
            ),
            (
                with(|p| p.add_user("k".into(), "\0".into())),
                "User Property value",
                "NUL",
            ),
            (
                with(|p| p.set_content_type("text/\nplain".into())),
                "Content Type",
                "U+000A, a control character",
            ),
            (
                with(|p| p.add_user("k\u{FFFE}".into(), "v".into())),
                "User Property name",
                "U+FFFE, a Unicode non-character",
            ),
            (
                with(|p| p.add_user("k".into(), "v\tx".into())),
                "User Property value",
                "U+0009",
            ),
            (
                with(|p| p.set_content_type(long.clone())),
                "Content Type",
                "65536 bytes long",
            ),
            (
                with(|p| p.set_correlation_data(vec![0; MAX_VALUE_LEN + 1])),
                "Correlation Data",
                "65536 bytes long",
            ),
        ];
        for (props, property, why) in cases {
            match props.validate() {
                Err(Error::InvalidProperty {
                    property: p,
                    reason,
                }) => {
                    assert_eq!(p, property);
                    assert!(reason.contains(why), "{reason}");
                }
                other => panic!("{property}: {other:?}"),
            }
            let _ = props.to_paho();
        }
        for topic in ["a/\0", "a/\u{1b}"] {
            let bad_topic = with(|p| p.set_response_topic(topic.into()));
            assert!(matches!(
                bad_topic.validate(),
                Err(Error::InvalidTopic { .. })
            ));
            let _ = bad_topic.to_paho();
        }
    }

    #[test]
    fn values_at_the_limit_and_binary_nuls_are_fine() {
        let p = with(|p| {
            p.set_content_type("x".repeat(MAX_VALUE_LEN));
            p.set_correlation_data(vec![0; 16]);
            p.set_response_topic("reply/here".into());
            p.add_user("a".into(), "1".into());
            p.add_user("a".into(), "2".into());
        });
        assert!(p.validate().is_ok());
        assert_eq!(p.len(), 5);
        let paho = p.to_paho();
        assert_eq!(
            paho.get_binary(paho_mqtt::PropertyCode::CorrelationData),
            Some(vec![0; 16])
        );
        assert_eq!(
            paho.user_iter().collect::<Vec<_>>(),
            [
                ("a".to_owned(), "1".to_owned()),
                ("a".to_owned(), "2".to_owned())
            ]
        );
    }

    #[test]
    fn a_later_value_replaces_an_earlier_one() {
        let p = with(|p| {
            p.set_content_type("text/plain".into());
            p.set_content_type("application/json".into());
        });
        assert_eq!(p.len(), 1);
        assert_eq!(
            p.to_paho()
                .get_string(paho_mqtt::PropertyCode::ContentType)
                .as_deref(),
            Some("application/json")
        );
    }
}
