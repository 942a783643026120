//! The grammar of MQTT topic filters and topic names (MQTT 3.1.1 §4.7,
//! MQTT 5.0 §4.7 and §4.8), shared by flask-mqtt's attribute macros (which
//! reject invalid filters at compile time) and its runtime (which checks
//! filters and topics built at run time), plus the [`FilterTrie`] the runtime
//! uses to dispatch incoming messages.
//!
//! - [`TopicFilter`] / [`validate_filter`]: what a client subscribes to; may
//!   use the wildcards `+` (one level) and `#` (the rest), and may be a shared
//!   subscription `$share/{group}/{filter}`.
//! - [`TopicName`] / [`validate_topic_name`]: what a message is published
//!   to; no wildcards.
//! - [`TopicFilterError`] / [`TopicNameError`]: what is wrong, with messages
//!   meant to follow a prefix such as ``invalid topic filter `a/#/b`: ``.
//!   Level numbers in errors are 1-based and count the levels of the whole
//!   string as written, so in `$share/g/a/te#` the bad level is level 4.
//! - [`FilterTrie`]: many filters with values, matched against a topic in
//!   time proportional to the topic's depth.
//! - [`TopicTemplate`] / [`TemplateError`]: a filter whose wildcard levels
//!   have names, `sensors/{sensor_id}/temperature`, for `#[on_message]`
//!   handlers that read those levels; [`Segment`] says what each level matches.
//! - [`TopicNameTemplate`] / [`RenderError`]: a topic name whose varying levels
//!   have names, `devices/{device_id}/command`, for declared publishers that fill
//!   them in.
//! - [`is_disallowed`]: the control characters and non-characters that MQTT says a
//!   string should not carry. Filters and names holding one are refused (Mosquitto
//!   closes the connection of a client that sends one).
//! - [`MAX_TOPIC_LEVELS`]: one rule that is not MQTT's but Mosquitto's. Filters and
//!   names of more levels are refused too (Mosquitto closes the connection of a client
//!   that sends one).
//!
//! The crate has no dependencies and no unsafe code.
//!
//! # Example
//!
//! ```
//! use flask_mqtt_topic::{FilterTrie, TopicFilter, TopicFilterError, TopicName};
//!
//! let filter = TopicFilter::new("home/+/temperature")?;
//! assert!(filter.matches("home/kitchen/temperature"));
//! assert!(!filter.matches("home/kitchen/light/state"));
//!
//! // `#` matches the parent level too, but not topics starting with `$`.
//! let all = TopicFilter::new("#")?;
//! assert!(all.matches("home"));
//! assert!(!all.matches("$SYS/broker/uptime"));
//!
//! // Errors name the offending level without repeating the filter.
//! let err = TopicFilter::new("home/#/temperature").unwrap_err();
//! assert_eq!(err, TopicFilterError::HashNotLast { level: 2 });
//! assert_eq!(
//!     format!("invalid topic filter `home/#/temperature`: {err}"),
//!     "invalid topic filter `home/#/temperature`: `#` must be the last level \
//!      (it is level 2); move it to the end or use `+` for a single level",
//! );
//!
//! // Topic names are for publishing and cannot contain wildcards.
//! assert!(TopicName::new("home/kitchen/temperature").is_ok());
//! assert!("home/+".parse::<TopicName>().is_err());
//!
//! // Dispatch: every handler whose filter matches the topic.
//! let mut handlers = FilterTrie::new();
//! handlers.insert(&filter, "on_temperature");
//! handlers.insert(&TopicFilter::new("$share/workers/home/#")?, "on_home");
//! let mut found = handlers.matches("home/kitchen/temperature");
//! found.sort();
//! assert_eq!(found, [&"on_home", &"on_temperature"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod error;
mod filter;
mod name;
mod name_template;
mod template;
mod text;
mod trie;

pub use error::TopicFilterError;
pub use error::TopicNameError;
pub use filter::validate_filter;
pub use filter::TopicFilter;
pub use name::validate_topic_name;
pub use name::TopicName;
pub use name_template::{RenderError, TopicNameTemplate, ValueProblem};
pub use template::Segment;
pub use template::TemplateError;
pub use template::TopicTemplate;
pub use text::{describe_disallowed, escape_disallowed, first_disallowed, is_disallowed};
#[doc(hidden)]
pub use text::{shortened, shortened_to};
pub use trie::FilterTrie;

/// The maximum length of a topic filter or topic name, in bytes of UTF-8
/// (MQTT encodes strings with a 16-bit length prefix).
pub const MAX_TOPIC_LEN: usize = 65535;

/// The most levels a topic name or filter may have: 201, as many as Mosquitto accepts.
///
/// MQTT itself sets no limit. Mosquitto (`TOPIC_HIERARCHY_LIMIT`: 200 `/` separators)
/// closes the connection of a client that sends a deeper topic or filter: in a PUBLISH
/// ("protocol error"), a SUBSCRIBE or UNSUBSCRIBE ("malformed packet"), or as the will
/// topic of its CONNECT. [`validate_topic_name`] and [`validate_filter`] refuse them
/// ([`TopicNameError::TooManyLevels`], [`TopicFilterError::TooManyLevels`]), because one
/// would not cost the connection once only: a QoS 1 or 2 publish in a persistent session
/// is sent again after every reconnect, so the client would reconnect for ever. Every
/// level counts, empty ones and a shared subscription's `$share` and share name
/// included (Mosquitto counts the separators of the whole string).
pub const MAX_TOPIC_LEVELS: usize = 201;

/// The number of levels of a topic name or filter: one more than its `/` separators.
fn level_count(s: &str) -> usize {
    s.bytes().filter(|&b| b == b'/').count() + 1
}
