//! The `topic` target's checks on strings near the 65535-byte limit and near the
//! 201-level limit (which libFuzzer's short inputs never reach by themselves).
//!
//! The input is split at `\n` into up to 4 strings (invalid UTF-8 replaced by U+FFFD),
//! and the checks of the `topic` target run twice:
//!
//! * long: the first string is a pattern, its first character `k` and the rest `unit`,
//!   giving `unit` repeated to 65520 + `k % 32` bytes (`a/` repeated is a filter 32,760
//!   levels deep, far over the level limit; `é` counts 2 bytes). The others are used as
//!   they are.
//! * deep: every string is a pattern, its first character `k` and the rest `unit`,
//!   giving a string of `MAX_TOPIC_LEVELS + 1 - k % 8` levels (194 to 202: at the limit,
//!   just under it, and one over): `unit`'s levels but its last, repeated, then its last
//!   level once (`a/+/#` gives `a/+/a/+/.../a/#`, a valid filter 201 levels deep when
//!   `k % 8 == 1`; `x/y` gives the topic `x/x/.../y`). So most of these filters are
//!   valid, and the matching code (`TopicFilter::matches`, the trie, templates) runs
//!   deep, on filters and topics of different depths.
//!
//! A string without `unit` (empty, or one character) is used as it is in both.
#![no_main]

use flask_mqtt_topic::MAX_TOPIC_LEVELS;
use libfuzzer_sys::fuzz_target;

#[path = "topic_check.rs"]
mod topic_check;

/// `piece`'s first character and the rest, or `None` when there is no rest.
fn pattern(piece: &str) -> Option<(usize, &str)> {
    let mut chars = piece.chars();
    let k = chars.next().map_or(0, |c| c as usize);
    Some((k, chars.as_str())).filter(|(_, unit)| !unit.is_empty())
}

/// Repeats the pattern to the byte limit (see the target's docs).
fn long(piece: &str) -> String {
    let Some((k, unit)) = pattern(piece) else {
        return piece.to_owned();
    };
    let target = 65520 + k % 32;
    let mut out = String::with_capacity(target + unit.len());
    while out.len() < target {
        out.push_str(unit);
    }
    out
}

/// Repeats the pattern's levels to about the level limit (see the target's docs).
fn deep(piece: &str) -> String {
    let Some((k, unit)) = pattern(piece) else {
        return piece.to_owned();
    };
    let count = MAX_TOPIC_LEVELS + 1 - k % 8;
    let levels: Vec<&str> = unit.split('/').collect();
    let (last, repeated) = match levels.split_last() {
        Some((last, rest)) if !rest.is_empty() => (*last, rest),
        // One level: repeated to the end.
        _ => (unit, &levels[..]),
    };
    let mut out: Vec<&str> = repeated.iter().copied().cycle().take(count - 1).collect();
    out.push(last);
    out.join("/")
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let pieces: Vec<&str> = text.split('\n').take(4).collect();

    let mut long_pieces: Vec<String> = pieces.iter().map(|&p| p.to_owned()).collect();
    long_pieces[0] = long(pieces[0]);
    topic_check::check(&long_pieces);

    let deep_pieces: Vec<String> = pieces.iter().map(|&p| deep(p)).collect();
    topic_check::check(&deep_pieces);
});
