//! Topic filters: what a client subscribes to, possibly with wildcards.

use std::fmt;
use std::str::FromStr;

use crate::name::is_valid_topic_name;
use crate::text::first_disallowed;
use crate::{level_count, TopicFilterError, MAX_TOPIC_LEN, MAX_TOPIC_LEVELS};

/// Prefix of a shared subscription (MQTT 5.0 §4.8.2).
const SHARE_PREFIX: &str = "$share/";

/// Checks that `filter` is a valid MQTT topic filter.
///
/// The rules (MQTT 3.1.1 §4.7, MQTT 5.0 §4.7 and §4.8.2):
///
/// - the filter is not empty and is at most [`MAX_TOPIC_LEN`] bytes of UTF-8;
/// - it has at most [`MAX_TOPIC_LEVELS`] levels, counting those of `$share/{group}/`
///   (not MQTT's rule but Mosquitto's, which closes the connection of a client that
///   subscribes to a deeper filter);
/// - no level contains the NUL character U+0000, nor another character MQTT says
///   must not be sent ([`is_disallowed`](crate::is_disallowed): a control character
///   or a Unicode non-character);
/// - `#` appears only as the whole last level (`a/#`, `#`);
/// - `+` appears only as a whole level (`a/+/c`, `+`);
/// - empty levels are allowed (`a//b`, `/a`, `a/`);
/// - a filter starting with `$share/` is a shared subscription
///   `$share/{group}/{filter}`: the share name `group` is not empty and has no
///   `+` or `#` (a `/` ends it), and `filter` is itself a valid, non-empty
///   topic filter. The prefix is recognised whatever the protocol version
///   (MQTT 3.1.1 has no shared subscriptions, but common brokers accept
///   them), and only in exactly this spelling: `$SHARE/g/a` and `$share` are
///   plain filters.
///
/// When a filter breaks several rules, the length rules (bytes, then levels) are
/// reported first, then the first offending level. Within a level a NUL
/// character is reported first, then another disallowed character, then a
/// misplaced `#`, then a misplaced `+`.
///
/// Level numbers in the errors are 1-based and count the levels of the whole
/// string as written: in `$share/g/a/te#`, `$share` is level 1, `g` level 2
/// and `te#` level 4.
///
/// # Errors
///
/// Returns the [`TopicFilterError`] describing the first rule broken.
///
/// # Examples
///
/// ```
/// use flask_mqtt_topic::{validate_filter, TopicFilterError};
///
/// assert!(validate_filter("home/+/temperature").is_ok());
/// assert_eq!(
///     validate_filter("home/#/temperature"),
///     Err(TopicFilterError::HashNotLast { level: 2 }),
/// );
/// ```
pub fn validate_filter(filter: &str) -> Result<(), TopicFilterError> {
    if filter.is_empty() {
        return Err(TopicFilterError::Empty);
    }
    if filter.len() > MAX_TOPIC_LEN {
        return Err(TopicFilterError::TooLong { len: filter.len() });
    }
    let levels = level_count(filter);
    if levels > MAX_TOPIC_LEVELS {
        return Err(TopicFilterError::TooManyLevels { levels });
    }
    let Some(rest) = filter.strip_prefix(SHARE_PREFIX) else {
        return validate_levels(filter, 0);
    };
    let (group, inner) = match rest.split_once('/') {
        Some((group, inner)) => (group, inner),
        None => (rest, ""),
    };
    if group.is_empty() {
        return Err(TopicFilterError::SharedGroupEmpty);
    }
    if group.contains('\0') {
        return Err(TopicFilterError::NulCharacter { level: 2 });
    }
    if let Some(character) = first_disallowed(group) {
        return Err(TopicFilterError::DisallowedCharacter {
            level: 2,
            character,
        });
    }
    if group.contains(['+', '#']) {
        return Err(TopicFilterError::SharedGroupInvalid {
            group: group.to_owned(),
        });
    }
    if inner.is_empty() {
        return Err(TopicFilterError::SharedMissingFilter {
            group: group.to_owned(),
        });
    }
    // `$share` and the group are levels 1 and 2.
    validate_levels(inner, 2)
}

/// Checks the levels of a non-shared filter; `offset` is the number of levels
/// written before it (for error messages).
fn validate_levels(filter: &str, offset: usize) -> Result<(), TopicFilterError> {
    let mut levels = filter.split('/').enumerate().peekable();
    while let Some((index, text)) = levels.next() {
        let level = offset + index + 1;
        if text.contains('\0') {
            return Err(TopicFilterError::NulCharacter { level });
        }
        if let Some(character) = first_disallowed(text) {
            return Err(TopicFilterError::DisallowedCharacter { level, character });
        }
        if text == "#" {
            if levels.peek().is_some() {
                return Err(TopicFilterError::HashNotLast { level });
            }
        } else if text.contains('#') {
            return Err(TopicFilterError::HashNotWholeLevel {
                level,
                text: text.to_owned(),
            });
        } else if text != "+" && text.contains('+') {
            return Err(TopicFilterError::PlusNotWholeLevel {
                level,
                text: text.to_owned(),
            });
        }
    }
    Ok(())
}

/// Splits a validated filter into its share name and inner filter.
fn split_share(filter: &str) -> (Option<&str>, &str) {
    match filter
        .strip_prefix(SHARE_PREFIX)
        .and_then(|rest| rest.split_once('/'))
    {
        Some((group, inner)) => (Some(group), inner),
        None => (None, filter),
    }
}

/// Whether the (inner, non-shared, valid) filter `filter` matches the valid
/// topic name `topic`.
pub(crate) fn inner_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        // MQTT 3.1.1 §4.7.2: a filter starting with a wildcard does not match
        // topics starting with `$`. In a valid filter, a leading `+` or `#`
        // is the whole first level.
        return false;
    }
    let mut filter_levels = filter.split('/');
    let mut topic_levels = topic.split('/');
    loop {
        match (filter_levels.next(), topic_levels.next()) {
            // `#` matches the parent level too: `a/#` matches `a`.
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(f), Some(t)) if f == t => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// A validated MQTT topic filter, the argument of a subscription.
///
/// The filter may contain the wildcards `+` (exactly one level) and `#` (any
/// number of levels, including none, at the end), and may be a shared
/// subscription `$share/{group}/{filter}`. See [`validate_filter`] for the
/// rules.
///
/// # Examples
///
/// ```
/// use flask_mqtt_topic::TopicFilter;
///
/// let filter = TopicFilter::new("home/+/temperature")?;
/// assert!(filter.matches("home/kitchen/temperature"));
/// assert!(!filter.matches("home/kitchen/humidity"));
///
/// let shared = TopicFilter::new("$share/workers/jobs/#")?;
/// assert_eq!(shared.share_group(), Some("workers"));
/// assert_eq!(shared.inner(), "jobs/#");
/// assert!(shared.matches("jobs/42"));
/// # Ok::<(), flask_mqtt_topic::TopicFilterError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicFilter(String);

impl TopicFilter {
    /// Validates `filter` and wraps it.
    ///
    /// # Errors
    ///
    /// Returns a [`TopicFilterError`] when `filter` is not a valid topic
    /// filter; see [`validate_filter`].
    pub fn new(filter: impl Into<String>) -> Result<TopicFilter, TopicFilterError> {
        let filter = filter.into();
        validate_filter(&filter)?;
        Ok(TopicFilter(filter))
    }

    /// The full filter text, including any `$share/{group}/` prefix.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Unwraps the filter into its `String` (the full text).
    pub fn into_string(self) -> String {
        self.0
    }

    /// Whether a message published to `topic` matches this filter.
    ///
    /// A shared subscription matches with its inner filter. A filter whose
    /// first level is a wildcard (`#`, `+/...`) does not match topics
    /// starting with `$` (such as `$SYS/load`), while `$SYS/#` does. `#`
    /// matches its parent level (`a/#` matches `a`), and `+` matches an empty
    /// level (`+/+` matches `/`).
    ///
    /// Returns `false` when `topic` is not a valid topic name (empty, too
    /// long, or containing NUL, `+` or `#`).
    pub fn matches(&self, topic: &str) -> bool {
        is_valid_topic_name(topic) && inner_matches(self.inner(), topic)
    }

    /// The share name of a shared subscription: `Some("g")` for
    /// `$share/g/a/b`, `None` for a plain filter.
    pub fn share_group(&self) -> Option<&str> {
        split_share(&self.0).0
    }

    /// The filter used for matching: `a/b` for `$share/g/a/b`, the whole
    /// filter when it is not a shared subscription.
    pub fn inner(&self) -> &str {
        split_share(&self.0).1
    }

    /// Whether the inner filter contains a `+` or `#` wildcard.
    pub fn has_wildcards(&self) -> bool {
        self.inner().contains(['+', '#'])
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TopicFilter {
    type Err = TopicFilterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TopicFilter::new(s)
    }
}

impl AsRef<str> for TopicFilter {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for TopicFilter {
    type Error = TopicFilterError;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        TopicFilter::new(value)
    }
}

impl TryFrom<String> for TopicFilter {
    type Error = TopicFilterError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        TopicFilter::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(text: &str) -> TopicFilter {
        TopicFilter::new(text).unwrap()
    }

    #[test]
    fn valid_filters() {
        // (filter, share group, inner, has wildcards)
        let cases: &[(&str, Option<&str>, &str, bool)] = &[
            ("a", None, "a", false),
            ("a/b/c", None, "a/b/c", false),
            ("#", None, "#", true),
            ("+", None, "+", true),
            ("a/#", None, "a/#", true),
            ("+/+", None, "+/+", true),
            ("a/+/c", None, "a/+/c", true),
            ("+/#", None, "+/#", true),
            ("/", None, "/", false),
            ("/#", None, "/#", true),
            ("a//b", None, "a//b", false),
            ("/a", None, "/a", false),
            ("a/", None, "a/", false),
            ("$SYS/#", None, "$SYS/#", true),
            ("$share", None, "$share", false),
            ("$share_x/a", None, "$share_x/a", false),
            ("$SHARE/g/a", None, "$SHARE/g/a", false),
            ("caf\u{e9}/+", None, "caf\u{e9}/+", true),
            ("$share/g/a/b", Some("g"), "a/b", false),
            ("$share/g/#", Some("g"), "#", true),
            ("$share/g/+/x", Some("g"), "+/x", true),
            ("$share/g//", Some("g"), "/", false),
            ("$share/g//a", Some("g"), "/a", false),
            ("$share/$g/a", Some("$g"), "a", false),
            ("$share/g/$share/h/a", Some("g"), "$share/h/a", false),
        ];
        for &(text, group, inner, wild) in cases {
            assert_eq!(validate_filter(text), Ok(()), "{text:?}");
            let f = filter(text);
            assert_eq!(f.as_str(), text);
            assert_eq!(f.share_group(), group, "{text:?}");
            assert_eq!(f.inner(), inner, "{text:?}");
            assert_eq!(f.has_wildcards(), wild, "{text:?}");
            assert_eq!(f.to_string(), text);
            assert_eq!(f.as_ref(), text);
            assert_eq!(text.parse::<TopicFilter>().unwrap(), f);
            assert_eq!(TopicFilter::try_from(text).unwrap(), f);
            assert_eq!(TopicFilter::try_from(text.to_owned()).unwrap(), f);
            assert_eq!(f.into_string(), text);
        }
    }

    #[test]
    fn invalid_filters() {
        use TopicFilterError as E;
        let hash_part = |level: usize, text: &str| E::HashNotWholeLevel {
            level,
            text: text.to_owned(),
        };
        let plus_part = |level: usize, text: &str| E::PlusNotWholeLevel {
            level,
            text: text.to_owned(),
        };
        let cases: Vec<(String, TopicFilterError)> = vec![
            (String::new(), E::Empty),
            (
                "a".repeat(MAX_TOPIC_LEN + 1),
                E::TooLong {
                    len: MAX_TOPIC_LEN + 1,
                },
            ),
            (
                format!("$share/g/{}", "a".repeat(MAX_TOPIC_LEN)),
                E::TooLong {
                    len: MAX_TOPIC_LEN + 9,
                },
            ),
            ("\0".into(), E::NulCharacter { level: 1 }),
            ("a/\0".into(), E::NulCharacter { level: 2 }),
            ("a/b/c\0d/#".into(), E::NulCharacter { level: 3 }),
            ("a/#\0".into(), E::NulCharacter { level: 2 }),
            // Other characters MQTT says must not be sent: after NUL, before wildcards.
            (
                "home/\tkitchen".into(),
                E::DisallowedCharacter {
                    level: 2,
                    character: '\t',
                },
            ),
            (
                "home/\n    temperature".into(),
                E::DisallowedCharacter {
                    level: 2,
                    character: '\n',
                },
            ),
            (
                "a/\u{7f}".into(),
                E::DisallowedCharacter {
                    level: 2,
                    character: '\u{7f}',
                },
            ),
            (
                "a/\u{9f}/b".into(),
                E::DisallowedCharacter {
                    level: 2,
                    character: '\u{9f}',
                },
            ),
            (
                "a/\u{FFFF}".into(),
                E::DisallowedCharacter {
                    level: 2,
                    character: '\u{FFFF}',
                },
            ),
            (
                "ä/\u{10FFFE}".into(),
                E::DisallowedCharacter {
                    level: 2,
                    character: '\u{10FFFE}',
                },
            ),
            (
                "\u{FDD0}#".into(),
                E::DisallowedCharacter {
                    level: 1,
                    character: '\u{FDD0}',
                },
            ),
            ("a\u{1}\0".into(), E::NulCharacter { level: 1 }),
            (
                "$share/g\u{1b}/a".into(),
                E::DisallowedCharacter {
                    level: 2,
                    character: '\u{1b}',
                },
            ),
            (
                "$share/g/a/+\r".into(),
                E::DisallowedCharacter {
                    level: 4,
                    character: '\r',
                },
            ),
            ("#/a".into(), E::HashNotLast { level: 1 }),
            ("home/#/temperature".into(), E::HashNotLast { level: 2 }),
            ("a/#/".into(), E::HashNotLast { level: 2 }),
            ("#/#".into(), E::HashNotLast { level: 1 }),
            ("te#".into(), hash_part(1, "te#")),
            ("a/te#".into(), hash_part(2, "te#")),
            ("a/##".into(), hash_part(2, "##")),
            ("a/b#/c".into(), hash_part(2, "b#")),
            // `#` is checked before `+` within a level
            ("a/+#".into(), hash_part(2, "+#")),
            ("te+mp".into(), plus_part(1, "te+mp")),
            ("a/te+mp/b".into(), plus_part(2, "te+mp")),
            ("a/++".into(), plus_part(2, "++")),
            ("+a/#".into(), plus_part(1, "+a")),
            // the first offending level wins
            ("a+/#/b".into(), plus_part(1, "a+")),
            ("a/#/b+".into(), E::HashNotLast { level: 2 }),
            ("$share/".into(), E::SharedGroupEmpty),
            ("$share//a".into(), E::SharedGroupEmpty),
            ("$share//".into(), E::SharedGroupEmpty),
            (
                "$share/g+/a".into(),
                E::SharedGroupInvalid { group: "g+".into() },
            ),
            (
                "$share/#/a".into(),
                E::SharedGroupInvalid { group: "#".into() },
            ),
            (
                "$share/+".into(),
                E::SharedGroupInvalid { group: "+".into() },
            ),
            ("$share/g\0/a".into(), E::NulCharacter { level: 2 }),
            (
                "$share/g".into(),
                E::SharedMissingFilter { group: "g".into() },
            ),
            (
                "$share/g/".into(),
                E::SharedMissingFilter { group: "g".into() },
            ),
            // levels of the inner filter count `$share` and the group
            ("$share/g/#/a".into(), E::HashNotLast { level: 3 }),
            ("$share/g/a/te#".into(), hash_part(4, "te#")),
            ("$share/g/a/b/c+".into(), plus_part(5, "c+")),
            ("$share/g/a/\0".into(), E::NulCharacter { level: 4 }),
        ];
        for (text, err) in cases {
            let short: String = text.chars().take(20).collect();
            assert_eq!(validate_filter(&text), Err(err.clone()), "{short:?}");
            assert_eq!(TopicFilter::new(text.clone()), Err(err.clone()));
            assert_eq!(text.parse::<TopicFilter>(), Err(err.clone()));
            assert_eq!(TopicFilter::try_from(text.as_str()), Err(err.clone()));
            assert_eq!(TopicFilter::try_from(text), Err(err));
        }
    }

    #[test]
    fn length_limit_is_in_bytes() {
        assert!(TopicFilter::new("a".repeat(MAX_TOPIC_LEN)).is_ok());
        let mut at_limit = "a/".repeat(MAX_TOPIC_LEN / 2);
        at_limit.push('#');
        assert_eq!(at_limit.len(), MAX_TOPIC_LEN);
        // As many bytes as MQTT allows, but far more levels than Mosquitto takes.
        assert_eq!(
            validate_filter(&at_limit),
            Err(TopicFilterError::TooManyLevels {
                levels: MAX_TOPIC_LEN / 2 + 1
            })
        );
        let multibyte = "\u{e9}".repeat(MAX_TOPIC_LEN / 2 + 1);
        assert_eq!(
            validate_filter(&multibyte),
            Err(TopicFilterError::TooLong {
                len: MAX_TOPIC_LEN + 1
            })
        );
    }

    #[test]
    fn error_messages_after_prefix() {
        let cases = [
            (
                "home/#/temperature",
                "invalid topic filter `home/#/temperature`: `#` must be the last level \
                 (it is level 2); move it to the end or use `+` for a single level",
            ),
            (
                "home/te#",
                "invalid topic filter `home/te#`: `#` must occupy a whole level \
                 (level 2 is `te#`)",
            ),
            (
                "$share/g/a/te+mp",
                "invalid topic filter `$share/g/a/te+mp`: `+` must occupy a whole level \
                 (level 4 is `te+mp`)",
            ),
            (
                "$share/g",
                "invalid topic filter `$share/g`: `$share/g/` must be followed by a topic filter",
            ),
        ];
        for (text, message) in cases {
            let err = validate_filter(text).unwrap_err();
            assert_eq!(format!("invalid topic filter `{text}`: {err}"), message);
        }
    }

    #[test]
    fn matching() {
        // (filter, topic, matches)
        let cases: &[(&str, &str, bool)] = &[
            ("a/b", "a/b", true),
            ("a/b", "a/c", false),
            ("a/b", "a", false),
            ("a/b", "a/b/c", false),
            ("a/b", "A/b", false),
            // `#`
            ("#", "a", true),
            ("#", "a/b/c", true),
            ("#", "/", true),
            ("#", "/a", true),
            ("a/#", "a", true),
            ("a/#", "a/", true),
            ("a/#", "a/b", true),
            ("a/#", "a/b/c", true),
            ("a/#", "b", false),
            ("a/#", "ab", false),
            ("a/#", "b/a", false),
            ("a/b/#", "a", false),
            ("/#", "/", true),
            ("/#", "", false),
            ("/#", "a", false),
            // `+`
            ("+", "a", true),
            ("+", "a/b", false),
            ("+", "/", false),
            ("a/+", "a/b", true),
            ("a/+", "a/", true),
            ("a/+", "a", false),
            ("a/+", "a/b/c", false),
            ("+/+", "/", true),
            ("+/+", "a/", true),
            ("+/+", "/b", true),
            ("+/+", "a/b", true),
            ("+/+", "a", false),
            ("a/+/c", "a//c", true),
            ("a/+/c", "a/b/c", true),
            ("a/+/c", "a/b/d", false),
            ("+/#", "a", true),
            ("+/#", "a/b/c", true),
            ("+/#", "/", true),
            // empty levels
            ("a//b", "a//b", true),
            ("a//b", "a/b", false),
            ("/a", "/a", true),
            ("/a", "a", false),
            ("a/", "a/", true),
            ("a/", "a", false),
            ("/", "/", true),
            // `$` topics
            ("#", "$SYS/load", false),
            ("#", "$SYS", false),
            ("+/load", "$SYS/load", false),
            ("+", "$SYS", false),
            ("+/#", "$SYS/load", false),
            ("$SYS/#", "$SYS/load", true),
            ("$SYS/#", "$SYS", true),
            ("$SYS/+", "$SYS/load", true),
            ("$SYS/load", "$SYS/load", true),
            ("a/#", "a/$x", true),
            ("a/+", "a/$x", true),
            ("#", "a$", true),
            // shared subscriptions match with the inner filter
            ("$share/g/a/b", "a/b", true),
            ("$share/g/a/b", "$share/g/a/b", false),
            ("$share/g/#", "a/b", true),
            ("$share/g/#", "$SYS/x", false),
            ("$share/g/+/b", "a/b", true),
            ("$share/g/$SYS/#", "$SYS/x", true),
            // `$share` without a group is a plain filter
            ("$share", "$share", true),
            // invalid topic names match nothing
            ("#", "", false),
            ("#", "a/+", false),
            ("#", "a/#", false),
            ("+", "+", false),
            ("a/+", "a/+", false),
            ("#", "a\0", false),
        ];
        for &(f, topic, expected) in cases {
            assert_eq!(filter(f).matches(topic), expected, "{f:?} vs {topic:?}");
        }
    }

    #[test]
    fn matching_rejects_too_long_topics() {
        let topic = "a".repeat(MAX_TOPIC_LEN + 1);
        assert!(!filter("#").matches(&topic));
        assert!(filter("#").matches(&topic[1..]));
    }

    /// Mosquitto's limit, not MQTT's: 201 levels are a filter, 202 are not, whatever
    /// they hold; `$share/{group}/` counts (Mosquitto counts the whole string).
    #[test]
    fn at_most_mosquittos_number_of_levels() {
        let levels = |n: usize, last: &str| {
            let mut s = "x/".repeat(n - 1);
            s.push_str(last);
            s
        };
        assert!(TopicFilter::new(levels(MAX_TOPIC_LEVELS, "#")).is_ok());
        assert!(TopicFilter::new(levels(MAX_TOPIC_LEVELS, "+")).is_ok());
        let over = TopicFilterError::TooManyLevels {
            levels: MAX_TOPIC_LEVELS + 1,
        };
        assert_eq!(
            validate_filter(&levels(MAX_TOPIC_LEVELS + 1, "#")),
            Err(over.clone())
        );
        // Empty levels count; the number is told before a misplaced wildcard.
        assert_eq!(
            validate_filter(&"/".repeat(MAX_TOPIC_LEVELS)),
            Err(over.clone())
        );
        assert_eq!(
            validate_filter(&format!("#/{}", levels(MAX_TOPIC_LEVELS, "a+"))),
            Err(TopicFilterError::TooManyLevels {
                levels: MAX_TOPIC_LEVELS + 1
            })
        );
        let shared = |n: usize| format!("$share/g/{}", levels(n, "+"));
        assert!(TopicFilter::new(shared(MAX_TOPIC_LEVELS - 2)).is_ok());
        assert_eq!(validate_filter(&shared(MAX_TOPIC_LEVELS - 1)), Err(over));
    }
}
