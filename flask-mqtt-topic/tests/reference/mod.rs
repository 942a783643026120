//! The reference for the property tests (and the fuzz targets in `fuzz/`): a plain
//! reading of the MQTT specification (3.1.1 and 5.0 §4.7, §4.8.2 for `$share`), written
//! independently of the crate's code (a different shape: whole-string level lists and
//! index loops).
//!
//! Shared by `tests/properties.rs` (`mod reference;`) and the fuzz targets
//! (`#[path = ...]`), so the two check the same statement of the rules.

// Each user compiles this file as its own module and uses part of it.
#![allow(dead_code, unreachable_pub)]

use flask_mqtt_topic::{TopicFilterError, TopicNameError, MAX_TOPIC_LEN, MAX_TOPIC_LEVELS};

/// The `/`-separated levels, as the specification defines them: `a//b` has three,
/// `/a` and `a/` two each.
fn levels(s: &str) -> Vec<&str> {
    s.split('/').collect()
}

/// MQTT 5.0 §1.5.4 (3.1.1 §1.5.3): the control characters (Unicode category Cc) and
/// the non-characters, which a sender should not put in a UTF-8 string.
fn should_not_send(c: char) -> bool {
    let n = c as u32;
    c.is_control() || (0xFDD0..0xFDF0).contains(&n) || n % 0x10000 >= 0xFFFE
}

/// The first character of `level` other than NUL that should not be sent.
fn not_sent(level: &str) -> Option<char> {
    level.chars().find(|&c| c != '\0' && should_not_send(c))
}

/// MQTT 3.1.1 §4.7.3, §1.5.3: a topic name is 1 to 65535 bytes of UTF-8 without
/// U+0000 (nor what else should not be sent), and (§4.7.1) has no wildcard characters.
/// Not MQTT's but Mosquitto's: at most `MAX_TOPIC_LEVELS` levels. Errors report the
/// length first, then the number of levels, then the first bad level (1-based): NUL,
/// then another character not to send, then a wildcard.
pub fn topic_name(name: &str) -> Result<(), TopicNameError> {
    if name.is_empty() {
        return Err(TopicNameError::Empty);
    }
    if name.len() > MAX_TOPIC_LEN {
        return Err(TopicNameError::TooLong { len: name.len() });
    }
    if levels(name).len() > MAX_TOPIC_LEVELS {
        return Err(TopicNameError::TooManyLevels {
            levels: levels(name).len(),
        });
    }
    received_name(name)
}

/// What a received topic is held to: a topic name but for Mosquitto's level limit (a
/// broker without it may send a deeper one, and it is routed like any other).
fn received_name(name: &str) -> Result<(), TopicNameError> {
    if name.is_empty() {
        return Err(TopicNameError::Empty);
    }
    if name.len() > MAX_TOPIC_LEN {
        return Err(TopicNameError::TooLong { len: name.len() });
    }
    for (i, level) in levels(name).into_iter().enumerate() {
        if level.chars().any(|c| c == '\0') {
            return Err(TopicNameError::NulCharacter { level: i + 1 });
        }
        if let Some(character) = not_sent(level) {
            return Err(TopicNameError::DisallowedCharacter {
                level: i + 1,
                character,
            });
        }
        if level.chars().any(|c| c == '+' || c == '#') {
            return Err(TopicNameError::Wildcard {
                level: i + 1,
                text: level.to_owned(),
            });
        }
    }
    Ok(())
}

/// Whether the filter is `$share/{group}/...` (MQTT 5.0 §4.8.2: `$share`, a `/`, the
/// share name, a `/`, the filter): three or more levels, the first `$share`. `$share`
/// and `$share/g` are a plain filter and a shared subscription missing its filter.
fn is_shared(levels: &[&str]) -> bool {
    levels.len() >= 2 && levels[0] == "$share"
}

/// MQTT 3.1.1 §4.7.1, MQTT 5.0 §4.8.2: a topic filter is 1 to 65535 bytes without
/// U+0000; `#` only as the whole last level; `+` only as a whole level; a shared
/// subscription has a non-empty share name without wildcards and a non-empty filter.
/// Not MQTT's but Mosquitto's: at most `MAX_TOPIC_LEVELS` levels, `$share/{group}/`
/// included. Errors: length first, then the number of levels, then the share name,
/// then the first bad level; within a level NUL, then another character not to send,
/// then `#`, then `+`.
pub fn filter(filter: &str) -> Result<(), TopicFilterError> {
    if filter.is_empty() {
        return Err(TopicFilterError::Empty);
    }
    if filter.len() > MAX_TOPIC_LEN {
        return Err(TopicFilterError::TooLong { len: filter.len() });
    }
    let all = levels(filter);
    if all.len() > MAX_TOPIC_LEVELS {
        return Err(TopicFilterError::TooManyLevels { levels: all.len() });
    }
    let mut first = 0;
    if is_shared(&all) {
        let group = all[1];
        if group.is_empty() {
            return Err(TopicFilterError::SharedGroupEmpty);
        }
        if group.contains('\0') {
            return Err(TopicFilterError::NulCharacter { level: 2 });
        }
        if let Some(character) = not_sent(group) {
            return Err(TopicFilterError::DisallowedCharacter {
                level: 2,
                character,
            });
        }
        if group.contains('+') || group.contains('#') {
            return Err(TopicFilterError::SharedGroupInvalid {
                group: group.to_owned(),
            });
        }
        // `$share/g` and `$share/g/` have no filter after the share name.
        if all.len() == 2 || (all.len() == 3 && all[2].is_empty()) {
            return Err(TopicFilterError::SharedMissingFilter {
                group: group.to_owned(),
            });
        }
        first = 2;
    }
    let last = all.len() - 1;
    for (i, level) in all.iter().enumerate().skip(first) {
        let number = i + 1;
        if level.contains('\0') {
            return Err(TopicFilterError::NulCharacter { level: number });
        }
        if let Some(character) = not_sent(level) {
            return Err(TopicFilterError::DisallowedCharacter {
                level: number,
                character,
            });
        }
        if *level == "#" && i != last {
            return Err(TopicFilterError::HashNotLast { level: number });
        }
        if *level != "#" && level.contains('#') {
            return Err(TopicFilterError::HashNotWholeLevel {
                level: number,
                text: (*level).to_owned(),
            });
        }
        if *level != "+" && level.contains('+') {
            return Err(TopicFilterError::PlusNotWholeLevel {
                level: number,
                text: (*level).to_owned(),
            });
        }
    }
    Ok(())
}

/// The share name of a valid filter, if shared.
pub fn share_group(filter: &str) -> Option<&str> {
    let all = levels(filter);
    is_shared(&all).then(|| all[1])
}

/// The levels used for matching: the `$share/{group}/` prefix is stripped.
fn matching_levels(filter: &str) -> Vec<&str> {
    let all = levels(filter);
    if is_shared(&all) {
        all[2..].to_vec()
    } else {
        all
    }
}

/// The filter used for matching, as a string.
pub fn inner(filter: &str) -> String {
    matching_levels(filter).join("/")
}

/// MQTT 3.1.1 §4.7: does the valid filter `filter` match `topic`? Nothing matches a
/// string that is not a valid topic name, except that a received topic holding a
/// character a sender should not send (but a broker may deliver) is matched. Level by level: `+` matches any one level
/// (also an empty one), `#` (last) matches all remaining levels, including none (the
/// parent: `a/#` matches `a`), anything else matches the same text. §4.7.2: a filter
/// whose first level is `+` or `#` does not match a topic starting with `$`.
pub fn matches(filter: &str, topic: &str) -> bool {
    if let Err(e) = received_name(topic) {
        if !matches!(e, TopicNameError::DisallowedCharacter { .. }) {
            return false;
        }
        // The rest of the topic must be valid still.
        let rest: String = topic
            .chars()
            .map(|c| {
                if c != '\0' && should_not_send(c) {
                    'x'
                } else {
                    c
                }
            })
            .collect();
        if received_name(&rest).is_err() {
            return false;
        }
    }
    let f = matching_levels(filter);
    let t = levels(topic);
    if topic.starts_with('$') && (f[0] == "+" || f[0] == "#") {
        return false;
    }
    for (i, fl) in f.iter().enumerate() {
        if *fl == "#" {
            return true;
        }
        match t.get(i) {
            Some(tl) if *fl == "+" || fl == tl => {}
            _ => return false,
        }
    }
    f.len() == t.len()
}

/// One level of a template: a literal (or unnamed wildcard) or a named parameter.
#[derive(Clone, Debug)]
pub enum TemplateLevel {
    /// Matched as written (`a`, `+`, `#`).
    Text(String),
    /// `{name}`: one level, captured.
    One(String),
    /// `{name:#}`: the remaining levels, captured (last only).
    Rest(String),
}

/// A generated template: an optional share name and the levels.
#[derive(Clone, Debug)]
pub struct Template {
    pub group: Option<String>,
    pub levels: Vec<TemplateLevel>,
}

impl Template {
    pub fn source(&self) -> String {
        self.render(|l| match l {
            TemplateLevel::Text(t) => t.clone(),
            TemplateLevel::One(n) => format!("{{{n}}}"),
            TemplateLevel::Rest(n) => format!("{{{n}:#}}"),
        })
    }

    /// The filter: `{name}` is `+`, `{name:#}` is `#`.
    pub fn filter(&self) -> String {
        self.render(|l| match l {
            TemplateLevel::Text(t) => t.clone(),
            TemplateLevel::One(_) => "+".to_owned(),
            TemplateLevel::Rest(_) => "#".to_owned(),
        })
    }

    fn render(&self, level: impl Fn(&TemplateLevel) -> String) -> String {
        let body: Vec<String> = self.levels.iter().map(level).collect();
        let body = body.join("/");
        match &self.group {
            Some(g) => format!("$share/{g}/{body}"),
            None => body,
        }
    }

    pub fn names(&self) -> Vec<&str> {
        self.levels
            .iter()
            .filter_map(|l| match l {
                TemplateLevel::Text(_) => None,
                TemplateLevel::One(n) | TemplateLevel::Rest(n) => Some(n.as_str()),
            })
            .collect()
    }

    /// What each parameter captures of `topic`, or `None` when the filter does not
    /// match: `{name}` the topic's level at its position, `{name:#}` the topic's
    /// levels from its position on, joined by `/` (empty when there are none).
    pub fn captures<'t>(&self, topic: &'t str) -> Option<Vec<(String, String)>> {
        if !matches(&self.filter(), topic) {
            return None;
        }
        let t: Vec<&'t str> = levels(topic);
        let mut out = Vec::new();
        for (i, level) in self.levels.iter().enumerate() {
            match level {
                TemplateLevel::Text(_) => {}
                TemplateLevel::One(n) => out.push((n.clone(), t[i].to_owned())),
                TemplateLevel::Rest(n) => {
                    let rest = t.get(i..).map(|r| r.join("/")).unwrap_or_default();
                    out.push((n.clone(), rest));
                }
            }
        }
        Some(out)
    }
}
