//! Fuzzes `TopicNameTemplate::render` against `TopicTemplate::captures`: a round trip.
//!
//! The input is split at `\n` (invalid UTF-8 replaced by U+FFFD): the first string is
//! the template, the next ones its values, as many as it has names (missing ones are
//! empty, extra ones dropped). When the template parses, `render` either refuses the
//! values, or gives a topic name that the template's filter matches and whose
//! `captures` are exactly the names with the values given: an empty `{rest:#}` value,
//! one ending in `/` or holding `//`, a value of one level that looks like a literal of
//! the template.
#![no_main]

use flask_mqtt_topic::TopicNameTemplate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut pieces = text.split('\n');
    let Some(source) = pieces.next() else {
        return;
    };
    let Ok(template) = TopicNameTemplate::parse(source) else {
        return;
    };
    let names: Vec<&str> = template.names().collect();
    let values: Vec<&str> = names
        .iter()
        .map(|_| pieces.next().unwrap_or_default())
        .collect();
    let Ok(topic) = template.render(&values) else {
        return;
    };
    assert!(
        template.filter().matches(topic.as_str()),
        "{source:?} rendered {values:?} as {:?}, which its filter does not match",
        topic.as_str()
    );
    let captures = template.template().captures(topic.as_str());
    let expected: Vec<(&str, &str)> = names.iter().copied().zip(values.iter().copied()).collect();
    assert_eq!(
        captures.as_deref(),
        Some(expected.as_slice()),
        "{source:?} rendered {values:?} as {:?}",
        topic.as_str()
    );
});
