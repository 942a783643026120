//! Errors reported when a topic filter or a topic name breaks the MQTT grammar.
//!
//! The messages are meant to follow a prefix written by the caller, for
//! example ``invalid topic filter `home/#/temperature`: {err}``, so they never
//! repeat the offending string itself; they name the level that is wrong
//! instead.
//!
//! Level numbers are 1-based and count the levels of the whole string as
//! written. For a shared subscription such as `$share/group/a/b`, `$share` is
//! level 1 and `group` is level 2, so `a` is level 3.

use std::error::Error;
use std::fmt;

use crate::{MAX_TOPIC_LEN, MAX_TOPIC_LEVELS};

/// Why a string is not a valid MQTT topic filter (the argument of a
/// subscription, which may contain the wildcards `+` and `#`).
///
/// Level numbers are 1-based and count the `/`-separated levels of the whole
/// filter as written, including the `$share` and group levels of a shared
/// subscription (`$share/g/a/te#` reports level 4).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopicFilterError {
    /// The filter is the empty string.
    Empty,
    /// The filter is longer than [`MAX_TOPIC_LEN`] bytes of UTF-8.
    TooLong {
        /// Length of the filter in bytes.
        len: usize,
    },
    /// The filter has more than [`MAX_TOPIC_LEVELS`] levels (`$share/{group}/`
    /// included): valid MQTT, but Mosquitto closes the connection of a client that
    /// subscribes to (or unsubscribes from) it.
    TooManyLevels {
        /// The number of levels of the filter.
        levels: usize,
    },
    /// A level contains the NUL character U+0000.
    NulCharacter {
        /// 1-based number of the offending level.
        level: usize,
    },
    /// A level contains another character MQTT says a string should not carry
    /// ([`is_disallowed`](crate::is_disallowed): a control character or a Unicode
    /// non-character), which brokers may treat as a malformed packet (Mosquitto closes
    /// the connection).
    DisallowedCharacter {
        /// 1-based number of the offending level.
        level: usize,
        /// The first such character.
        character: char,
    },
    /// `#` forms a whole level but is not the last level (`a/#/b`).
    HashNotLast {
        /// 1-based number of the level holding `#`.
        level: usize,
    },
    /// `#` appears inside a level together with other characters (`a/te#`).
    HashNotWholeLevel {
        /// 1-based number of the offending level.
        level: usize,
        /// Text of the offending level.
        text: String,
    },
    /// `+` appears inside a level together with other characters (`a/te+mp`).
    PlusNotWholeLevel {
        /// 1-based number of the offending level.
        level: usize,
        /// Text of the offending level.
        text: String,
    },
    /// A shared subscription has an empty share name (`$share//a`).
    SharedGroupEmpty,
    /// The share name of a shared subscription contains `+` or `#`.
    SharedGroupInvalid {
        /// The share name as written.
        group: String,
    },
    /// A shared subscription has no topic filter after the share name
    /// (`$share/g` or `$share/g/`).
    SharedMissingFilter {
        /// The share name as written.
        group: String,
    },
}

impl fmt::Display for TopicFilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => {
                f.write_str("a topic filter must not be empty; use `#` to match every topic")
            }
            Self::TooLong { len } => write!(
                f,
                "topic filter is {len} bytes long; the limit is {MAX_TOPIC_LEN} bytes"
            ),
            Self::TooManyLevels { levels } => write_levels(f, *levels),
            Self::NulCharacter { level } => write_nul(f, *level),
            Self::DisallowedCharacter { level, character } => {
                write_disallowed(f, *level, *character)
            }
            Self::HashNotLast { level } => write!(
                f,
                "`#` must be the last level (it is level {level}); \
                 move it to the end or use `+` for a single level"
            ),
            Self::HashNotWholeLevel { level, text } => write!(
                f,
                "`#` must occupy a whole level (level {level} is `{text}`)"
            ),
            Self::PlusNotWholeLevel { level, text } => write!(
                f,
                "`+` must occupy a whole level (level {level} is `{text}`)"
            ),
            Self::SharedGroupEmpty => {
                f.write_str("the share name after `$share/` must not be empty")
            }
            Self::SharedGroupInvalid { group } => {
                write!(f, "the share name `{group}` must not contain `+` or `#`")
            }
            Self::SharedMissingFilter { group } => {
                write!(f, "`$share/{group}/` must be followed by a topic filter")
            }
        }
    }
}

impl Error for TopicFilterError {}

/// Why a string is not a valid MQTT topic name (the topic a message is
/// published to, which must not contain wildcards).
///
/// Level numbers are 1-based and count the `/`-separated levels of the name.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopicNameError {
    /// The name is the empty string.
    Empty,
    /// The name is longer than [`MAX_TOPIC_LEN`] bytes of UTF-8.
    TooLong {
        /// Length of the name in bytes.
        len: usize,
    },
    /// The name has more than [`MAX_TOPIC_LEVELS`] levels: valid MQTT, but Mosquitto
    /// closes the connection of a client that publishes to it.
    TooManyLevels {
        /// The number of levels of the name.
        levels: usize,
    },
    /// A level contains the NUL character U+0000.
    NulCharacter {
        /// 1-based number of the offending level.
        level: usize,
    },
    /// A level contains another character MQTT says a string should not carry
    /// ([`is_disallowed`](crate::is_disallowed): a control character or a Unicode
    /// non-character), which brokers may treat as a malformed packet (Mosquitto closes
    /// the connection).
    DisallowedCharacter {
        /// 1-based number of the offending level.
        level: usize,
        /// The first such character.
        character: char,
    },
    /// A level contains `+` or `#`, which only topic filters may use.
    Wildcard {
        /// 1-based number of the offending level.
        level: usize,
        /// Text of the offending level.
        text: String,
    },
}

impl fmt::Display for TopicNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("a topic name must not be empty"),
            Self::TooLong { len } => write!(
                f,
                "topic name is {len} bytes long; the limit is {MAX_TOPIC_LEN} bytes"
            ),
            Self::TooManyLevels { levels } => write_levels(f, *levels),
            Self::NulCharacter { level } => write_nul(f, *level),
            Self::DisallowedCharacter { level, character } => {
                write_disallowed(f, *level, *character)
            }
            Self::Wildcard { level, text } => write!(
                f,
                "topic names cannot contain wildcards (level {level} is `{text}`); \
                 `+` and `#` are only for subscribing"
            ),
        }
    }
}

impl Error for TopicNameError {}

/// Also what a publisher's topic template says (its check is a filter's): no noun.
fn write_levels(f: &mut fmt::Formatter<'_>, levels: usize) -> fmt::Result {
    write!(
        f,
        "it has {levels} levels, more than the {MAX_TOPIC_LEVELS} Mosquitto accepts (MQTT \
         sets no limit, but Mosquitto closes the connection of a client that sends a deeper \
         one)"
    )
}

fn write_nul(f: &mut fmt::Formatter<'_>, level: usize) -> fmt::Result {
    write!(
        f,
        "level {level} contains a NUL character (U+0000), which MQTT forbids"
    )
}

fn write_disallowed(f: &mut fmt::Formatter<'_>, level: usize, c: char) -> fmt::Result {
    write!(
        f,
        "level {level} contains {}, which MQTT says must not be sent \
         (brokers such as Mosquitto close the connection)",
        crate::describe_disallowed(c)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_error_display() {
        let cases: &[(TopicFilterError, &str)] = &[
            (
                TopicFilterError::Empty,
                "a topic filter must not be empty; use `#` to match every topic",
            ),
            (
                TopicFilterError::TooLong { len: 65536 },
                "topic filter is 65536 bytes long; the limit is 65535 bytes",
            ),
            (
                TopicFilterError::TooManyLevels { levels: 202 },
                "it has 202 levels, more than the 201 Mosquitto accepts (MQTT sets no limit, but \
                 Mosquitto closes the connection of a client that sends a deeper one)",
            ),
            (
                TopicFilterError::NulCharacter { level: 2 },
                "level 2 contains a NUL character (U+0000), which MQTT forbids",
            ),
            (
                TopicFilterError::DisallowedCharacter {
                    level: 3,
                    character: '\t',
                },
                "level 3 contains U+0009, a control character, which MQTT says must not be \
                 sent (brokers such as Mosquitto close the connection)",
            ),
            (
                TopicFilterError::HashNotLast { level: 2 },
                "`#` must be the last level (it is level 2); \
                 move it to the end or use `+` for a single level",
            ),
            (
                TopicFilterError::HashNotWholeLevel {
                    level: 3,
                    text: "te#".into(),
                },
                "`#` must occupy a whole level (level 3 is `te#`)",
            ),
            (
                TopicFilterError::PlusNotWholeLevel {
                    level: 1,
                    text: "te+mp".into(),
                },
                "`+` must occupy a whole level (level 1 is `te+mp`)",
            ),
            (
                TopicFilterError::SharedGroupEmpty,
                "the share name after `$share/` must not be empty",
            ),
            (
                TopicFilterError::SharedGroupInvalid { group: "g+".into() },
                "the share name `g+` must not contain `+` or `#`",
            ),
            (
                TopicFilterError::SharedMissingFilter { group: "g".into() },
                "`$share/g/` must be followed by a topic filter",
            ),
        ];
        for (err, text) in cases {
            assert_eq!(err.to_string(), *text, "{err:?}");
        }
    }

    #[test]
    fn name_error_display() {
        let cases: &[(TopicNameError, &str)] = &[
            (TopicNameError::Empty, "a topic name must not be empty"),
            (
                TopicNameError::TooLong { len: 70000 },
                "topic name is 70000 bytes long; the limit is 65535 bytes",
            ),
            (
                TopicNameError::TooManyLevels { levels: 300 },
                "it has 300 levels, more than the 201 Mosquitto accepts (MQTT sets no limit, but \
                 Mosquitto closes the connection of a client that sends a deeper one)",
            ),
            (
                TopicNameError::NulCharacter { level: 1 },
                "level 1 contains a NUL character (U+0000), which MQTT forbids",
            ),
            (
                TopicNameError::DisallowedCharacter {
                    level: 2,
                    character: '\u{FDD0}',
                },
                "level 2 contains U+FDD0, a Unicode non-character, which MQTT says must not \
                 be sent (brokers such as Mosquitto close the connection)",
            ),
            (
                TopicNameError::Wildcard {
                    level: 2,
                    text: "+".into(),
                },
                "topic names cannot contain wildcards (level 2 is `+`); \
                 `+` and `#` are only for subscribing",
            ),
        ];
        for (err, text) in cases {
            assert_eq!(err.to_string(), *text, "{err:?}");
        }
    }

    #[test]
    fn errors_are_std_errors() {
        fn assert_error<E: Error + Send + Sync + 'static>() {}
        assert_error::<TopicFilterError>();
        assert_error::<TopicNameError>();
    }
}
