//! Topic names: the topics messages are published to.

use std::fmt;
use std::str::FromStr;

use crate::text::first_disallowed;
use crate::{level_count, TopicNameError, MAX_TOPIC_LEN, MAX_TOPIC_LEVELS};

/// Checks that `name` is a valid MQTT topic name (a topic to publish to).
///
/// A topic name is non-empty, at most [`MAX_TOPIC_LEN`] bytes of UTF-8, has no
/// NUL character, no other character MQTT says must not be sent
/// ([`is_disallowed`](crate::is_disallowed): a control character or a Unicode
/// non-character) and no wildcard (`+` or `#`) anywhere. Empty levels are
/// allowed (`a//b`, `/a`, `a/`), and so are names starting with `$`. It has at
/// most [`MAX_TOPIC_LEVELS`] levels: not MQTT's rule but Mosquitto's, which closes
/// the connection of a client that publishes to a deeper topic.
///
/// When a name breaks several rules, the length rules (bytes, then levels) are
/// reported first, then the first offending level; within a level a NUL
/// character is reported first, then another disallowed character, then a
/// wildcard.
///
/// # Errors
///
/// Returns the [`TopicNameError`] describing the first rule broken.
///
/// # Examples
///
/// ```
/// use flask_mqtt_topic::{validate_topic_name, TopicNameError};
///
/// assert!(validate_topic_name("home/kitchen/temperature").is_ok());
/// assert_eq!(
///     validate_topic_name("home/+/temperature"),
///     Err(TopicNameError::Wildcard { level: 2, text: "+".into() }),
/// );
/// ```
pub fn validate_topic_name(name: &str) -> Result<(), TopicNameError> {
    // Most names are printable ASCII without wildcards: one pass over the bytes decides
    // them (every `Client::publish` checks its topic). The rules below give the same
    // answer for such a name, in several passes.
    if let Some(levels) = plain_levels(name) {
        if !name.is_empty() && name.len() <= MAX_TOPIC_LEN && levels <= MAX_TOPIC_LEVELS {
            return Ok(());
        }
    }
    validate_by_rules(name)
}

/// The number of levels of `name` if it is printable ASCII (0x20 to 0x7E) without a
/// wildcard, in which no character is disallowed; `None` otherwise.
fn plain_levels(name: &str) -> Option<usize> {
    let mut levels = 1;
    for &b in name.as_bytes() {
        match b {
            b'/' => levels += 1,
            b'+' | b'#' => return None,
            0x20..=0x7E => {}
            _ => return None,
        }
    }
    Some(levels)
}

/// [`validate_topic_name`] rule by rule.
fn validate_by_rules(name: &str) -> Result<(), TopicNameError> {
    if name.is_empty() {
        return Err(TopicNameError::Empty);
    }
    if name.len() > MAX_TOPIC_LEN {
        return Err(TopicNameError::TooLong { len: name.len() });
    }
    let levels = level_count(name);
    if levels > MAX_TOPIC_LEVELS {
        return Err(TopicNameError::TooManyLevels { levels });
    }
    for (index, text) in name.split('/').enumerate() {
        let level = index + 1;
        if text.contains('\0') {
            return Err(TopicNameError::NulCharacter { level });
        }
        if let Some(character) = first_disallowed(text) {
            return Err(TopicNameError::DisallowedCharacter { level, character });
        }
        if text.contains(['+', '#']) {
            return Err(TopicNameError::Wildcard {
                level,
                text: text.to_owned(),
            });
        }
    }
    Ok(())
}

/// Whether `name` is a valid topic name, without building an error. Used to match
/// *received* topics, so it does not refuse what [`is_disallowed`](crate::is_disallowed):
/// a broker that delivers such a topic gets it matched like any other.
pub(crate) fn is_valid_topic_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_TOPIC_LEN && !name.contains(['\0', '+', '#'])
}

/// A validated MQTT topic name: a topic a message can be published to.
///
/// See [`validate_topic_name`] for the rules.
///
/// # Examples
///
/// ```
/// use flask_mqtt_topic::TopicName;
///
/// let name = TopicName::new("home/kitchen/temperature")?;
/// assert_eq!(name.as_str(), "home/kitchen/temperature");
/// assert!(TopicName::new("home/#").is_err());
/// # Ok::<(), flask_mqtt_topic::TopicNameError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName(String);

impl TopicName {
    /// Validates `name` and wraps it.
    ///
    /// # Errors
    ///
    /// Returns a [`TopicNameError`] when `name` is not a valid topic name; see
    /// [`validate_topic_name`].
    pub fn new(name: impl Into<String>) -> Result<TopicName, TopicNameError> {
        let name = name.into();
        validate_topic_name(&name)?;
        Ok(TopicName(name))
    }

    /// The topic name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Unwraps the topic name into its `String`.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TopicName {
    type Err = TopicNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TopicName::new(s)
    }
}

impl AsRef<str> for TopicName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for TopicName {
    type Error = TopicNameError;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        TopicName::new(value)
    }
}

impl TryFrom<String> for TopicName {
    type Error = TopicNameError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        TopicName::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass check for plain names answers as the rules do: every ASCII byte and
    /// a few others, alone and inside a level, and names at the length and level limits.
    #[test]
    fn the_plain_name_check_agrees_with_the_rules() {
        let mut names: Vec<String> = Vec::new();
        for c in (0u8..=0x7F)
            .map(char::from)
            .chain(['\u{80}', '\u{9f}', 'é', '\u{fffe}'])
        {
            names.push(c.to_string());
            names.push(format!("a/b{c}c/d"));
            names.push(format!("{c}/"));
        }
        names.push(String::new());
        names.push("a".repeat(MAX_TOPIC_LEN));
        names.push("a".repeat(MAX_TOPIC_LEN + 1));
        names.push("/".repeat(MAX_TOPIC_LEVELS - 1));
        names.push("/".repeat(MAX_TOPIC_LEVELS));
        for name in &names {
            assert_eq!(
                validate_topic_name(name),
                validate_by_rules(name),
                "{name:?}"
            );
            let plain = name
                .bytes()
                .all(|b| (0x20..=0x7E).contains(&b) && b != b'+' && b != b'#');
            assert_eq!(plain_levels(name).is_some(), plain, "{name:?}");
            if plain {
                assert_eq!(plain_levels(name), Some(level_count(name)), "{name:?}");
            }
        }
    }

    #[test]
    fn valid_names() {
        let cases = [
            "a",
            "a/b/c",
            "home/kitchen/temperature",
            "/",
            "//",
            "/a",
            "a/",
            "a//b",
            "$SYS/broker/load",
            "$share/g/a",
            " ",
            "caf\u{e9}/\u{1f321}",
        ];
        for name in cases {
            assert_eq!(validate_topic_name(name), Ok(()), "{name:?}");
            assert!(is_valid_topic_name(name), "{name:?}");
            let parsed = TopicName::new(name).unwrap();
            assert_eq!(parsed.as_str(), name);
            assert_eq!(parsed.to_string(), name);
            assert_eq!(parsed.as_ref(), name);
            assert_eq!(name.parse::<TopicName>().unwrap(), parsed);
            assert_eq!(TopicName::try_from(name).unwrap(), parsed);
            assert_eq!(TopicName::try_from(name.to_owned()).unwrap(), parsed);
            assert_eq!(parsed.into_string(), name);
        }
    }

    #[test]
    fn invalid_names() {
        let disallowed = |level: usize, character: char| TopicNameError::DisallowedCharacter {
            level,
            character,
        };
        let wildcard = |level: usize, text: &str| TopicNameError::Wildcard {
            level,
            text: text.to_owned(),
        };
        let cases: Vec<(String, TopicNameError)> = vec![
            (String::new(), TopicNameError::Empty),
            (
                "a".repeat(MAX_TOPIC_LEN + 1),
                TopicNameError::TooLong {
                    len: MAX_TOPIC_LEN + 1,
                },
            ),
            (
                // length is checked before the characters
                format!("+{}", "a".repeat(MAX_TOPIC_LEN)),
                TopicNameError::TooLong {
                    len: MAX_TOPIC_LEN + 1,
                },
            ),
            ("\0".into(), TopicNameError::NulCharacter { level: 1 }),
            ("a/b\0c".into(), TopicNameError::NulCharacter { level: 2 }),
            // within a level, NUL is reported before a wildcard
            ("a/+\0".into(), TopicNameError::NulCharacter { level: 2 }),
            // the first offending level wins
            ("a/+/\0".into(), wildcard(2, "+")),
            ("+".into(), wildcard(1, "+")),
            ("#".into(), wildcard(1, "#")),
            ("a/#".into(), wildcard(2, "#")),
            ("a/b/te+mp".into(), wildcard(3, "te+mp")),
            ("//x#".into(), wildcard(3, "x#")),
            ("$share/g/+".into(), wildcard(3, "+")),
        ];
        // Characters MQTT says must not be sent: refused to publish to, but received
        // topics holding one are still matched (`is_valid_topic_name`).
        let not_sent: Vec<(&str, TopicNameError)> = vec![
            ("a/\tb", disallowed(2, '\t')),
            ("a\u{85}", disallowed(1, '\u{85}')),
            ("a/\u{1}\0", TopicNameError::NulCharacter { level: 2 }),
            // within a level before a wildcard
            ("a/+\u{7f}", disallowed(2, '\u{7f}')),
            ("x/\u{1FFFF}", disallowed(2, '\u{1FFFF}')),
        ];
        for (name, err) in not_sent {
            assert_eq!(validate_topic_name(name), Err(err.clone()), "{name:?}");
            assert_eq!(TopicName::new(name), Err(err));
        }
        assert!(is_valid_topic_name("a/\tb"));
        for (name, err) in cases {
            let short: String = name.chars().take(20).collect();
            assert_eq!(validate_topic_name(&name), Err(err.clone()), "{short:?}");
            assert!(!is_valid_topic_name(&name), "{short:?}");
            assert_eq!(TopicName::new(name.clone()), Err(err.clone()));
            assert_eq!(name.parse::<TopicName>(), Err(err.clone()));
            assert_eq!(TopicName::try_from(name.as_str()), Err(err));
        }
    }

    #[test]
    fn length_limit_is_in_bytes() {
        let at_limit = "a".repeat(MAX_TOPIC_LEN);
        assert!(TopicName::new(at_limit).is_ok());
        // 'é' is two bytes in UTF-8
        let multibyte = "\u{e9}".repeat(MAX_TOPIC_LEN / 2 + 1);
        assert_eq!(
            validate_topic_name(&multibyte),
            Err(TopicNameError::TooLong {
                len: multibyte.len()
            })
        );
    }

    /// Mosquitto's limit, not MQTT's: 201 levels are a topic name, 202 are not, empty
    /// ones included; received topics deeper than that are still matched.
    #[test]
    fn at_most_mosquittos_number_of_levels() {
        let at = vec!["x"; MAX_TOPIC_LEVELS].join("/");
        assert!(TopicName::new(at.as_str()).is_ok());
        let over = TopicNameError::TooManyLevels {
            levels: MAX_TOPIC_LEVELS + 1,
        };
        assert_eq!(validate_topic_name(&format!("{at}/x")), Err(over.clone()));
        let empty = "/".repeat(MAX_TOPIC_LEVELS);
        assert_eq!(validate_topic_name(&empty), Err(over.clone()));
        // The number is told before a wildcard.
        assert_eq!(validate_topic_name(&format!("+/{at}")), Err(over));
        assert!(is_valid_topic_name(&empty));
    }
}
