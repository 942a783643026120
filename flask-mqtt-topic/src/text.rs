//! The characters MQTT says a UTF-8 string should not carry, which brokers refuse.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether MQTT says `c` should not appear in a UTF-8 string (MQTT 5.0 §1.5.4, MQTT
/// 3.1.1 §1.5.3): the control characters U+0000–U+001F and U+007F–U+009F, and the
/// Unicode non-characters U+FDD0–U+FDEF and U+xFFFE, U+xFFFF of every plane.
///
/// Brokers may treat a packet holding one as malformed: Mosquitto closes the connection
/// of a client that sends one in a topic name, a topic filter, its client id or user
/// name. A publish with such a topic would be sent again after every reconnect (at QoS 1
/// and 2), and the connection closed again each time.
///
/// # Examples
///
/// ```
/// use flask_mqtt_topic::is_disallowed;
///
/// assert!(is_disallowed('\t'));
/// assert!(is_disallowed('\u{85}'));
/// assert!(is_disallowed('\u{FFFF}'));
/// assert!(!is_disallowed('ä'));
/// ```
pub fn is_disallowed(c: char) -> bool {
    let c = u32::from(c);
    c <= 0x1F
        || (0x7F..=0x9F).contains(&c)
        || (0xFDD0..=0xFDEF).contains(&c)
        || c & 0xFFFE == 0xFFFE
}

/// The first character of `text` that [`is_disallowed`].
pub fn first_disallowed(text: &str) -> Option<char> {
    // Most text is ASCII without controls: checked a byte at a time until the first
    // other byte.
    let bytes = text.as_bytes();
    let plain = bytes
        .iter()
        .take_while(|&&b| (0x20..0x7F).contains(&b))
        .count();
    text.get(plain..)?.chars().find(|&c| is_disallowed(c))
}

/// `text` with every character that [`is_disallowed`] written as `\u{..}`, for quoting
/// user input in a message: a line break or terminal escape in it is then shown, not
/// acted on.
///
/// # Examples
///
/// ```
/// use flask_mqtt_topic::escape_disallowed;
///
/// assert_eq!(escape_disallowed("a/\tb"), "a/\\u{9}b");
/// assert_eq!(escape_disallowed("häuser/1"), "häuser/1");
/// ```
pub fn escape_disallowed(text: &str) -> Cow<'_, str> {
    if first_disallowed(text).is_none() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_disallowed(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The most of a piece of user input an error quotes, in bytes: input often comes
/// from an HTTP request or a payload, and errors are logged or sent back.
const MAX_QUOTED: usize = 200;

/// `text` as an error quotes it: whole up to 200 bytes, else its first
/// 200 bytes (cut on a character boundary) followed by `...`. Characters are kept as
/// they are: escape them ([`escape_disallowed`]) where the text is shown.
///
/// Support for flask-mqtt's other crates, not part of this crate's API.
#[doc(hidden)]
pub fn shortened(text: &str) -> Cow<'_, str> {
    shortened_to(text, MAX_QUOTED)
}

/// [`shortened`] to at most `max` bytes (then `...`).
///
/// Support for flask-mqtt's other crates, not part of this crate's API.
#[doc(hidden)]
pub fn shortened_to(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}...", text.get(..end).unwrap_or_default()))
}

/// Names `c` (one that [`is_disallowed`]) for an error message: its code point and
/// what kind of character it is.
///
/// # Examples
///
/// ```
/// use flask_mqtt_topic::describe_disallowed;
///
/// assert_eq!(describe_disallowed('\t'), "U+0009, a control character");
/// assert_eq!(describe_disallowed('\u{FFFF}'), "U+FFFF, a Unicode non-character");
/// ```
pub fn describe_disallowed(c: char) -> String {
    let kind = if c.is_control() {
        "a control character"
    } else {
        "a Unicode non-character"
    };
    format!("U+{:04X}, {kind}", u32::from(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ranges_are_exactly_mqtts() {
        let disallowed: Vec<u32> = (0..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter(|&c| is_disallowed(c))
            .map(u32::from)
            .collect();
        let mut want: Vec<u32> = (0..=0x1F)
            .chain(0x7F..=0x9F)
            .chain(0xFDD0..=0xFDEF)
            .collect();
        for plane in 0..=0x10u32 {
            want.push(plane << 16 | 0xFFFE);
            want.push(plane << 16 | 0xFFFF);
        }
        want.sort_unstable();
        assert_eq!(disallowed, want);
    }

    #[test]
    fn the_first_one_is_found_wherever_it_is() {
        for (text, want) in [
            ("", None),
            ("home/kitchen", None),
            ("~ !/\"", None),
            ("\u{7f}", Some('\u{7f}')),
            ("a/\tb", Some('\t')),
            ("häuser/\u{85}/\u{1}", Some('\u{85}')),
            ("ä/\u{10FFFF}", Some('\u{10FFFF}')),
            ("\u{FDEF}", Some('\u{FDEF}')),
            ("\u{FDF0}\u{FFFD}", None),
        ] {
            assert_eq!(first_disallowed(text), want, "{text:?}");
        }
    }

    /// User input quoted in an error keeps its first 200 bytes, cut on a character
    /// boundary, then `...`; shorter input is kept whole, unchanged.
    #[test]
    fn shortening_cuts_at_200_bytes_on_a_character_boundary() {
        let ascii = "x".repeat(1000);
        assert_eq!(shortened(&ascii), format!("{}...", "x".repeat(200)));
        // 'é' is 2 bytes: byte 200 falls between two of them; '€' is 3: the cut moves back.
        let two = "é".repeat(300);
        assert_eq!(shortened(&two), format!("{}...", "é".repeat(100)));
        let three = "€".repeat(100);
        assert_eq!(shortened(&three), format!("{}...", "€".repeat(66)));
        for whole in ["", "short", &"y".repeat(200), "a\nb"] {
            assert!(
                matches!(shortened(whole), Cow::Borrowed(s) if s == whole),
                "{whole:?}"
            );
        }
    }

    #[test]
    fn escaping_shows_them_and_keeps_the_rest() {
        assert_eq!(escape_disallowed("a\nb\u{1b}[31m"), "a\\u{a}b\\u{1b}[31m");
        assert_eq!(escape_disallowed("ä/\u{FFFE}"), "ä/\\u{fffe}");
        assert!(matches!(escape_disallowed("plain/ä"), Cow::Borrowed(_)));
        assert_eq!(
            describe_disallowed('\u{10FFFE}'),
            "U+10FFFE, a Unicode non-character"
        );
    }
}
