//! The `topic` target's checks on strings near the 65535-byte limit (which libFuzzer's
//! short inputs never reach by themselves).
//!
//! The input is split at `\n` into up to 4 strings (invalid UTF-8 replaced by U+FFFD).
//! The first one is a pattern: its first character `k` and the rest `unit` give `unit`
//! repeated to 65520 + `k % 32` bytes (`a/` repeated is a filter 32,760 levels deep,
//! `é` counts 2 bytes). The others are used as they are. Then every check of the
//! `topic` target runs.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "topic_check.rs"]
mod topic_check;

/// Repeats the pattern (see the target's docs).
fn expand(piece: &str) -> String {
    let mut chars = piece.chars();
    let k = chars.next().map_or(0, |c| c as usize % 32);
    let unit = chars.as_str();
    if unit.is_empty() {
        return piece.to_owned();
    }
    let target = 65520 + k;
    let mut out = String::with_capacity(target + unit.len());
    while out.len() < target {
        out.push_str(unit);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut pieces: Vec<String> = text.split('\n').take(4).map(str::to_owned).collect();
    pieces[0] = expand(&pieces[0]);
    topic_check::check(&pieces);
});
