//! Fuzzes the topic grammar and matching against the reference the property tests use
//! (`flask-mqtt-topic/tests/reference/mod.rs`, written from the MQTT specification).
//!
//! The input is split at `\n` into up to 32 strings (invalid UTF-8 replaced by U+FFFD).
//! Each string is
//!
//! - validated as a filter and as a topic name: same result as the reference, error for
//!   error; a valid filter's share name and inner filter as the reference says;
//! - parsed as a `TopicTemplate`: no panic; without braces it is exactly the filter;
//! - used as a topic against every valid filter: `TopicFilter::matches` and a
//!   `FilterTrie` holding all of them agree with the reference, also after every other
//!   filter is removed; every template captures exactly when its filter matches.
//!
//! `topic_long` does the same with strings near the 65535-byte limit.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "topic_check.rs"]
mod topic_check;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let pieces: Vec<String> = text.split('\n').take(32).map(str::to_owned).collect();
    topic_check::check(&pieces);
});
