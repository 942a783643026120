//! Acknowledging QoS 1/2 messages after their handlers: when the PUBACK (QoS 1) or
//! PUBREC (QoS 2) of a received message leaves for the broker.
//!
//! [`policy::AckPolicy`] is the choice a handler makes (`#[on_message(.., ack = "...")]`)
//! or the configuration makes for handlers that do not (`MQTT_ACK_POLICY`): acknowledge
//! once the handler has finished (`after`, the default), as soon as the message arrives
//! (`first`), or when the handler says so through the `Ack` extractor (`manual`).
//! Acknowledgements always leave in the order the messages arrived, as MQTT requires.
//!
//! `watermark` is the engine: the acknowledgements a client owes, one slot per QoS 1/2
//! message, settled when its handlers are done with it.

pub mod policy;
#[cfg(test)]
pub(crate) mod test_support;
pub(crate) mod watermark;
pub(crate) mod window;

pub use self::policy::{AckPolicy, UnknownAckPolicy};
