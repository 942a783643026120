//! Extractors for MQTT 5 message properties. Messages received over MQTT 3.1.1 have no
//! properties: [`UserProperties`] is then empty and the others are rejected as absent
//! (take them as `Option<_>` when they are optional).

use std::convert::Infallible;
use std::fmt;
use std::ops::Deref;

use paho_mqtt::PropertyCode;

use super::context::{EventContext, WrongEvent};
use super::{FromEvent, OptionalFromEvent, MESSAGE_ONLY};
use crate::event::HandlerKinds;

/// Why an MQTT 5 property extractor was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PropertyRejection {
    /// The handler does not receive messages.
    #[error(transparent)]
    WrongEvent(#[from] WrongEvent),
    /// The message does not carry the property (always so over MQTT 3.1.1).
    #[error("the message has no {property} property (an MQTT 5 property); take `Option<{extractor}>` if it is optional")]
    Missing {
        /// The property's name in the MQTT 5 specification, e.g. `Response Topic`.
        property: &'static str,
        /// The extractor, e.g. `ResponseTopic`.
        extractor: &'static str,
    },
}

/// The MQTT 5 user properties of the message, `(name, value)` in the order they came;
/// a name may repeat. Empty when there are none. Derefs to the slice.
///
/// ```
/// # use flask_mqtt_core as mqtt;
/// #[mqtt::on_message("jobs/+")]
/// fn job(props: mqtt::UserProperties) {
///     let tenant = props.get("tenant").unwrap_or("default");
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserProperties(pub Vec<(String, String)>);

impl UserProperties {
    /// The value of the first property named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of the properties named `name`.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The pairs.
    pub fn into_inner(self) -> Vec<(String, String)> {
        self.0
    }
}

impl Deref for UserProperties {
    type Target = [(String, String)];

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl FromEvent for UserProperties {
    type Rejection = WrongEvent;
    const AVAILABLE_IN: HandlerKinds = MESSAGE_ONLY;

    fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        let msg = ctx.require_message("UserProperties")?;
        Ok(UserProperties(
            msg.as_paho().properties().user_iter().collect(),
        ))
    }
}

/// `None` in handlers of other events and for a message without user properties.
impl OptionalFromEvent for UserProperties {
    type Rejection = Infallible;
    const AVAILABLE_IN: HandlerKinds = MESSAGE_ONLY;

    fn from_event_optional(ctx: &EventContext) -> Result<Option<Self>, Self::Rejection> {
        Ok(<Self as FromEvent>::from_event(ctx)
            .ok()
            .filter(|props| !props.is_empty()))
    }
}

macro_rules! string_property {
    ($(#[$doc:meta])* $name:ident, $code:ident, $property:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub struct $name(pub String);

        impl $name {
            /// The value.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The value as a `String`.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromEvent for $name {
            type Rejection = PropertyRejection;
            const AVAILABLE_IN: HandlerKinds = MESSAGE_ONLY;

            fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
                let msg = ctx.require_message(stringify!($name))?;
                msg.as_paho()
                    .properties()
                    .get_string(PropertyCode::$code)
                    .map($name)
                    .ok_or(PropertyRejection::Missing {
                        property: $property,
                        extractor: stringify!($name),
                    })
            }
        }

        /// `None` in handlers of other events and when the message has no such property.
        impl OptionalFromEvent for $name {
            type Rejection = Infallible;
            const AVAILABLE_IN: HandlerKinds = MESSAGE_ONLY;

            fn from_event_optional(ctx: &EventContext) -> Result<Option<Self>, Self::Rejection> {
                Ok(<Self as FromEvent>::from_event(ctx).ok())
            }
        }
    };
}

string_property!(
    /// The MQTT 5 Content Type property: what the payload is, e.g. `application/json`.
    /// Rejected when absent.
    ContentType,
    ContentType,
    "Content Type"
);

string_property!(
    /// The MQTT 5 Response Topic property: where the sender of a request expects the
    /// response. Rejected when absent. A handler returning [`Reply`](crate::Reply)
    /// publishes there without needing it.
    ResponseTopic,
    ResponseTopic,
    "Response Topic"
);

/// The MQTT 5 Correlation Data property: bytes the requester uses to match a response
/// to its request. Rejected when absent. Derefs to `[u8]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CorrelationData(pub Vec<u8>);

impl CorrelationData {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes as a `Vec`.
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }
}

impl Deref for CorrelationData {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl FromEvent for CorrelationData {
    type Rejection = PropertyRejection;
    const AVAILABLE_IN: HandlerKinds = MESSAGE_ONLY;

    fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        let msg = ctx.require_message("CorrelationData")?;
        msg.as_paho()
            .properties()
            .get_binary(PropertyCode::CorrelationData)
            .map(CorrelationData)
            .ok_or(PropertyRejection::Missing {
                property: "Correlation Data",
                extractor: "CorrelationData",
            })
    }
}

/// `None` in handlers of other events and when the message has no Correlation Data.
impl OptionalFromEvent for CorrelationData {
    type Rejection = Infallible;
    const AVAILABLE_IN: HandlerKinds = MESSAGE_ONLY;

    fn from_event_optional(ctx: &EventContext) -> Result<Option<Self>, Self::Rejection> {
        Ok(<Self as FromEvent>::from_event(ctx).ok())
    }
}
