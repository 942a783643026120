//! Property tests: the topic grammar and matching against reference implementations
//! written here, straight from the MQTT specification (3.1.1 and 5.0 §4.7, §4.8.2 for
//! `$share`), on generated input.
//!
//! - [`filter_and_topic_pairs`]: one filter and one topic per case; validation of both
//!   (exact error), `TopicFilter::matches` and a one-filter `FilterTrie`.
//! - [`trie_against_reference`]: up to 24 filters in one `FilterTrie`, up to 12 topics,
//!   every (filter, topic) pair compared; then a random subset of filters is removed
//!   and every pair compared again.
//! - [`arbitrary_strings`]: validation never panics on any string, and agrees with the
//!   reference validators, error for error.
//! - [`templates`]: `TopicTemplate::parse` never panics, agrees with `TopicFilter` on
//!   strings without braces, and `captures` agrees with a reference on generated
//!   templates.
//!
//! Generated filters and topics mix exact levels from a small pool (so that matches are
//! frequent), `+`, `#`, empty levels, unicode (2, 3 and 4-byte UTF-8), `$SYS`-style `$`
//! first levels, `$share/{group}/...` (with valid and invalid groups), NUL, misplaced
//! wildcards, arbitrary strings, and lengths around the 65535-byte limit.
//!
//! Each test prints its number of cases and of (filter, topic) comparisons (run with
//! `--nocapture` to see them) and asserts the counts, so a change that silently stops
//! exercising something fails. Set `PROPTEST_RNG_SEED` to replay a run.

// Test code: a failed expectation panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::Cell;

use flask_mqtt_topic::{
    validate_filter, validate_topic_name, FilterTrie, TemplateError, TopicFilter, TopicName,
    TopicTemplate, MAX_TOPIC_LEN,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRunner};

/// The validators and matcher the crate is checked against (`tests/reference/mod.rs`).
mod reference;

// ---- generators ----

/// Up to `max` characters from `set`. (Cheaper than proptest's regex strategies, which
/// parse the regex again for every value.)
fn chars(set: &'static [char], max: usize) -> impl Strategy<Value = String> + Clone {
    prop::collection::vec(prop::sample::select(set), 0..=max)
        .prop_map(|chars| chars.into_iter().collect::<String>())
}

/// Exact levels from a small pool, so generated filters and topics often match: empty,
/// ASCII, `$` first-level names, `$share`, multi-byte UTF-8.
const POOL: &[&str] = &[
    "a",
    "b",
    "",
    "$SYS",
    "$x",
    "x$",
    "$share",
    "g",
    "caf\u{e9}",
    "\u{65e5}\u{672c}",
    "\u{1f321}",
    " ",
    "A",
];

/// An exact level (no `/`, `+`, `#` or NUL).
fn exact_level() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => prop::sample::select(POOL).prop_map(str::to_owned),
        2 => chars(&['a', 'b', '$', '\u{e9}', '\u{1f321}', ' '], 3),
        1 => prop::collection::vec(any::<char>(), 0..=6).prop_map(|chars| {
            chars
                .into_iter()
                .map(|c| if matches!(c, '/' | '+' | '#' | '\0') { '_' } else { c })
                .collect::<String>()
        }),
    ]
}

/// A level for a filter other than the last: mostly valid, sometimes a misplaced
/// wildcard (`#` not last, `a+`) or a NUL.
fn filter_level() -> impl Strategy<Value = String> {
    prop_oneof![
        30 => exact_level(),
        10 => Just("+".to_owned()),
        1 => prop::sample::select(&["#", "a+", "+a", "++", "#a", "a#", "##", "+#", "a\0", "\0"][..])
            .prop_map(str::to_owned),
    ]
}

/// The first level of a filter or topic: more often a `$` level than elsewhere.
fn first_level() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(&["$SYS", "$x", "$share", "$"][..]).prop_map(str::to_owned),
        10 => exact_level(),
    ]
}

/// A level for a topic: mostly valid, sometimes a wildcard or NUL (an invalid name).
fn topic_level() -> impl Strategy<Value = String> {
    prop_oneof![
        40 => exact_level(),
        1 => prop::sample::select(&["+", "#", "a+b", "\0"][..]).prop_map(str::to_owned),
    ]
}

/// A `$share/{group}/` prefix, sometimes with an empty or invalid share name.
fn share_prefix() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => Just(String::new()),
        6 => prop::sample::select(&["g", "grp", "$g", "\u{e9}", "share"][..])
            .prop_map(|g| format!("$share/{g}/")),
        1 => prop::sample::select(&["", "g+", "#", "g\0"][..])
            .prop_map(|g| format!("$share/{g}/")),
    ]
}

/// A filter (mostly valid) built from levels: a first level (often `$...`, `+` or
/// `#`), more levels, maybe a final `#`, and an optional `$share` prefix; a few are
/// `$share/g` or `$share/g/` (no filter after the share name).
fn filter_text() -> impl Strategy<Value = String> {
    let first = prop_oneof![
        6 => first_level(),
        2 => Just("+".to_owned()),
        1 => Just("#".to_owned()),
    ];
    let tail = prop_oneof![3 => Just(""), 1 => Just("/#"), 1 => Just("/+")];
    prop_oneof![
        40 => (share_prefix(), first, prop::collection::vec(filter_level(), 0..6), tail)
            .prop_map(|(prefix, first, levels, tail)| {
                let mut filter = prefix;
                filter.push_str(&first);
                for level in levels {
                    filter.push('/');
                    filter.push_str(&level);
                }
                if first != "#" {
                    filter.push_str(tail);
                }
                filter
            }),
        1 => prop::sample::select(&["$share/g", "$share/g/", "$share", "$share/"][..])
            .prop_map(str::to_owned),
    ]
}

/// A topic (mostly a valid name) built from levels; sometimes empty.
fn topic_text() -> impl Strategy<Value = String> {
    prop_oneof![
        60 => (first_level(), prop::collection::vec(topic_level(), 0..6)).prop_map(
            |(first, levels)| {
                let mut topic = first;
                for level in levels {
                    topic.push('/');
                    topic.push_str(&level);
                }
                topic
            }
        ),
        1 => Just(String::new()),
    ]
}

/// Material for a topic built from a filter, so that pairs often match: values for
/// its `+` levels, how many levels its `#` stands for, and maybe one level to change
/// afterwards (a near miss).
#[derive(Clone, Debug)]
struct Fill {
    values: Vec<String>,
    hash_levels: usize,
    change: Option<(prop::sample::Index, String)>,
}

fn fill() -> impl Strategy<Value = Fill> {
    (
        prop::collection::vec(exact_level(), 1..4),
        0usize..3,
        prop::option::weighted(0.3, (any::<prop::sample::Index>(), exact_level())),
    )
        .prop_map(|(values, hash_levels, change)| Fill {
            values,
            hash_levels,
            change,
        })
}

/// A topic built from `filter` (any text) with `fill`: the levels after a `$share/g/`
/// prefix, `+` replaced by a fill value and `#` by 0 to 2 of them. (Only a generator:
/// whether the pair matches is still the reference's call.)
fn topic_from(filter: &str, fill: &Fill) -> String {
    let all: Vec<&str> = filter.split('/').collect();
    let levels = if all.len() >= 3 && all[0] == "$share" {
        &all[2..]
    } else {
        &all[..]
    };
    let mut out: Vec<String> = Vec::new();
    for (i, level) in levels.iter().enumerate() {
        match *level {
            "+" => out.push(fill.values[i % fill.values.len()].clone()),
            "#" => out.extend(fill.values.iter().cycle().take(fill.hash_levels).cloned()),
            other => out.push(other.to_owned()),
        }
    }
    if let Some((index, level)) = &fill.change {
        if !out.is_empty() {
            let i = index.index(out.len());
            out[i] = level.clone();
        }
    }
    out.join("/")
}

/// A string near the 65535-byte limit: a unit repeated to a length in 65530..65545
/// bytes (`a/` repeated is 32k levels deep; `é` and `日` count 2 and 3 bytes).
fn near_limit() -> impl Strategy<Value = String> {
    (
        prop::sample::select(&["a", "a/", "/", "\u{e9}", "\u{65e5}", "+/", "a/#"][..]),
        65530usize..65545,
        prop::option::of(prop::sample::select(&["", "/#", "/+", "$share/g/"][..])),
    )
        .prop_map(|(unit, target, extra)| {
            let mut s = String::with_capacity(target + 16);
            if let Some("$share/g/") = extra {
                s.push_str("$share/g/");
            }
            while s.len() + unit.len() <= target {
                s.push_str(unit);
            }
            if let Some(tail @ ("/#" | "/+")) = extra {
                s.push_str(tail);
            }
            s
        })
}

/// Anything: arbitrary Unicode, a dense mix of the grammar's special characters,
/// grammar-shaped filters and topics, and strings near the length limit.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        14 => any::<String>(),
        14 => chars(&['a', '/', '+', '#', '$', '\0', '\u{e9}', ' '], 12),
        7 => (any::<bool>(), chars(&['a', '/', '+', '#', '$', '\0'], 8))
            .prop_map(|(shared, s)| if shared { format!("$share/{s}") } else { s }),
        12 => filter_text(),
        12 => topic_text(),
        // 1 in 60: validating 64 KiB strings is slow in the debug profile.
        1 => near_limit(),
    ]
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        // Failures are reported with their minimal input; a fixed one becomes a unit test.
        failure_persistence: None,
        // The default ChaCha generator dominates the run time in the (unoptimised) test
        // profile; XorShift is plenty for test input and several times faster there.
        rng_algorithm: RngAlgorithm::XorShift,
        ..Config::default()
    })
}

fn check<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    if let Err(e) = runner(cases).run(&strategy, test) {
        panic!("{name}: {e}");
    }
}

/// Checks one (filter, topic) pair against the reference; returns whether it matched.
fn check_pair(filter: &TopicFilter, topic: &str) -> Result<bool, TestCaseError> {
    let expected = reference::matches(filter.as_str(), topic);
    prop_assert_eq!(
        filter.matches(topic),
        expected,
        "TopicFilter::matches({:?}, {:?})",
        filter.as_str(),
        topic
    );
    Ok(expected)
}

/// Checks `validate_filter`, the `TopicFilter` constructors and accessors against the
/// reference; returns the filter when valid.
fn check_filter(text: &str) -> Result<Option<TopicFilter>, TestCaseError> {
    let expected = reference::filter(text);
    prop_assert_eq!(validate_filter(text), expected.clone(), "{:?}", text);
    let parsed = TopicFilter::new(text);
    prop_assert_eq!(parsed.clone().err(), expected.clone().err());
    prop_assert_eq!(text.parse::<TopicFilter>(), parsed.clone());
    let Ok(filter) = parsed else {
        return Ok(None);
    };
    prop_assert_eq!(filter.as_str(), text);
    prop_assert_eq!(filter.share_group(), reference::share_group(text));
    let inner = reference::inner(text);
    prop_assert_eq!(filter.inner(), inner.as_str());
    prop_assert_eq!(
        filter.has_wildcards(),
        inner.contains('+') || inner.contains('#')
    );
    Ok(Some(filter))
}

/// Checks `validate_topic_name` and `TopicName::new` against the reference.
fn check_topic_name(text: &str) -> Result<(), TestCaseError> {
    let expected = reference::topic_name(text);
    prop_assert_eq!(validate_topic_name(text), expected.clone(), "{:?}", text);
    let parsed = TopicName::new(text);
    prop_assert_eq!(parsed.clone().err(), expected.err());
    if let Ok(name) = parsed {
        prop_assert_eq!(name.as_str(), text);
    }
    Ok(())
}

/// Counters a test reports at the end.
#[derive(Default)]
struct Counts {
    cases: Cell<u64>,
    pairs: Cell<u64>,
    matched: Cell<u64>,
    dollar_matched: Cell<u64>,
    shared_matched: Cell<u64>,
}

impl Counts {
    fn bump(cell: &Cell<u64>) {
        cell.set(cell.get() + 1);
    }

    fn pair(&self, filter: &TopicFilter, topic: &str, matched: bool) {
        Counts::bump(&self.pairs);
        if matched {
            Counts::bump(&self.matched);
            if topic.starts_with('$') {
                Counts::bump(&self.dollar_matched);
            }
            if filter.share_group().is_some() {
                Counts::bump(&self.shared_matched);
            }
        }
    }

    fn report(&self, name: &str) {
        eprintln!(
            "{name}: {} cases, {} (filter, topic) comparisons, {} matched ({} on `$` topics, {} through `$share`)",
            self.cases.get(),
            self.pairs.get(),
            self.matched.get(),
            self.dollar_matched.get(),
            self.shared_matched.get(),
        );
    }
}

// ---- the properties ----

const PAIR_CASES: u32 = 100_000;

#[test]
fn filter_and_topic_pairs() {
    let counts = Counts::default();
    check(
        "filter_and_topic_pairs",
        PAIR_CASES,
        (
            filter_text(),
            topic_text(),
            prop::option::weighted(0.6, fill()),
        ),
        |(filter, random_topic, fill)| {
            Counts::bump(&counts.cases);
            let topic = match &fill {
                Some(fill) => topic_from(&filter, fill),
                None => random_topic,
            };
            check_topic_name(&topic)?;
            let Some(filter) = check_filter(&filter)? else {
                return Ok(());
            };
            let expected = check_pair(&filter, &topic)?;
            let mut trie = FilterTrie::new();
            trie.insert(&filter, ());
            prop_assert_eq!(trie.matches(&topic).len(), usize::from(expected));
            counts.pair(&filter, &topic, expected);
            Ok(())
        },
    );
    counts.report("filter_and_topic_pairs");
    assert_eq!(counts.cases.get(), u64::from(PAIR_CASES));
    // Most generated filters are valid, many pairs match, including `$` and shared ones.
    assert!(counts.pairs.get() > u64::from(PAIR_CASES) / 2);
    assert!(counts.matched.get() > counts.pairs.get() / 20);
    assert!(counts.dollar_matched.get() > 100);
    assert!(counts.shared_matched.get() > 100);
}

const TRIE_CASES: u32 = 4_000;

#[test]
fn trie_against_reference() {
    let counts = Counts::default();
    let strategy = (
        prop::collection::vec((filter_text(), any::<bool>()), 0..24),
        prop::collection::vec(
            (
                topic_text(),
                prop::option::weighted(0.5, (any::<prop::sample::Index>(), fill())),
            ),
            1..12,
        ),
    );
    check(
        "trie_against_reference",
        TRIE_CASES,
        strategy,
        |(filters, topics)| {
            Counts::bump(&counts.cases);
            // Half of the topics are built from one of the filters.
            let topics: Vec<String> = topics
                .into_iter()
                .map(|(topic, from)| match from {
                    Some((index, fill)) if !filters.is_empty() => {
                        topic_from(&filters[index.index(filters.len())].0, &fill)
                    }
                    _ => topic,
                })
                .collect();
            // (filter, value, removed later)
            let mut stored: Vec<(TopicFilter, usize, bool)> = Vec::new();
            let mut trie = FilterTrie::new();
            for (i, (text, remove)) in filters.iter().enumerate() {
                if let Ok(filter) = TopicFilter::new(text.as_str()) {
                    trie.insert(&filter, i);
                    stored.push((filter, i, *remove));
                }
            }
            prop_assert_eq!(trie.len(), stored.len());
            let compare = |trie: &FilterTrie<usize>, alive: &dyn Fn(usize) -> bool| {
                for topic in &topics {
                    let mut found: Vec<usize> = trie.matches(topic).into_iter().copied().collect();
                    found.sort_unstable();
                    let mut expected = Vec::new();
                    for (filter, value, _) in &stored {
                        if !alive(*value) {
                            continue;
                        }
                        let matched = check_pair(filter, topic)?;
                        counts.pair(filter, topic, matched);
                        if matched {
                            expected.push(*value);
                        }
                    }
                    prop_assert_eq!(&found, &expected, "topic {:?} in {:?}", topic, trie);
                }
                Ok(())
            };
            compare(&trie, &|_| true)?;

            // Remove the filters marked for removal (by inner filter, which takes every
            // value stored under it) and compare again.
            let mut gone: Vec<usize> = Vec::new();
            for (filter, _, remove) in &stored {
                if !remove {
                    continue;
                }
                let mut removed = trie.remove_filter(filter);
                removed.sort_unstable();
                let expected: Vec<usize> = stored
                    .iter()
                    .filter(|(f, v, _)| f.inner() == filter.inner() && !gone.contains(v))
                    .map(|(_, v, _)| *v)
                    .collect();
                prop_assert_eq!(&removed, &expected, "removing {}", filter);
                gone.extend(removed);
            }
            prop_assert_eq!(trie.len(), stored.len() - gone.len());
            compare(&trie, &|v| !gone.contains(&v))?;
            Ok(())
        },
    );
    counts.report("trie_against_reference");
    assert_eq!(counts.cases.get(), u64::from(TRIE_CASES));
    assert!(counts.pairs.get() > 100_000, "{}", counts.pairs.get());
    assert!(counts.matched.get() > counts.pairs.get() / 20);
    assert!(counts.dollar_matched.get() > 100);
    assert!(counts.shared_matched.get() > 100);
}

const STRING_CASES: u32 = 30_000;

#[test]
fn arbitrary_strings() {
    let counts = Counts::default();
    let valid_filters = Cell::new(0u64);
    let valid_names = Cell::new(0u64);
    let too_long = Cell::new(0u64);
    check("arbitrary_strings", STRING_CASES, any_text(), |text| {
        Counts::bump(&counts.cases);
        check_topic_name(&text)?;
        if let Some(filter) = check_filter(&text)? {
            Counts::bump(&valid_filters);
            // A filter matches its own text when that is a topic name (no wildcards).
            if TopicName::new(text.as_str()).is_ok() {
                Counts::bump(&valid_names);
                let matched = check_pair(&filter, &text)?;
                prop_assert_eq!(matched, filter.share_group().is_none());
            }
        }
        if text.len() > MAX_TOPIC_LEN {
            Counts::bump(&too_long);
        }
        Ok(())
    });
    eprintln!(
        "arbitrary_strings: {} cases, {} valid filters, {} valid topic names, {} over {MAX_TOPIC_LEN} bytes",
        counts.cases.get(),
        valid_filters.get(),
        valid_names.get(),
        too_long.get()
    );
    assert_eq!(counts.cases.get(), u64::from(STRING_CASES));
    assert!(valid_filters.get() > 1000);
    assert!(valid_names.get() > 1000);
    assert!(too_long.get() > 100);
}

/// A template: levels from the pool, unnamed wildcards and named parameters, names
/// unique, `#` and `{name:#}` only last; sometimes shared.
fn template() -> impl Strategy<Value = reference::Template> {
    use reference::TemplateLevel as L;
    let level = prop_oneof![
        4 => prop::sample::select(&["a", "b", "", "$x", "\u{e9}"][..])
            .prop_map(|t| L::Text(t.to_owned())),
        1 => Just(L::Text("+".to_owned())),
        3 => Just(L::One(String::new())),
    ];
    let last = prop_oneof![
        3 => Just(None),
        1 => Just(Some(L::Text("#".to_owned()))),
        1 => Just(Some(L::Rest(String::new()))),
    ];
    (
        prop::option::weighted(0.15, prop::sample::select(&["g", "$g"][..])),
        prop::collection::vec(level, 0..5),
        last,
        prop::sample::select(&["id", "_x", "Kind9", "a_b"][..]),
    )
        .prop_filter_map(
            "a template is a valid filter (not empty, not `$share/g/`)",
            |(group, mut levels, last, stem)| {
                levels.extend(last);
                if levels.is_empty() {
                    return None;
                }
                // Unique identifier names: stem + position.
                for (i, level) in levels.iter_mut().enumerate() {
                    match level {
                        L::One(n) | L::Rest(n) => *n = format!("{stem}{i}"),
                        L::Text(_) => {}
                    }
                }
                let template = reference::Template {
                    group: group.map(str::to_owned),
                    levels,
                };
                reference::filter(&template.filter())
                    .is_ok()
                    .then_some(template)
            },
        )
}

const TEMPLATE_CASES: u32 = 20_000;

#[test]
fn templates() {
    // Arbitrary strings, dense in the template syntax: parse never panics; without
    // braces a template is a filter; a parsed template's filter is valid and has no
    // braces, and captures exactly when the filter matches.
    let cases = Cell::new(0u64);
    let parsed = Cell::new(0u64);
    let arbitrary = prop_oneof![
        3 => chars(&['a', '{', '}', ':', '#', '+', '/', '_', '1', ' ', '$'], 16),
        1 => (
            prop::option::of(chars(&['g', '{', '}'], 2)),
            prop::collection::vec(chars(&['a', 'z', ':', '#'], 3), 0..=3),
            chars(&['a', '{', '}', '#', '+'], 3),
        )
            .prop_map(|(group, params, last)| {
                let mut s = group.map(|g| format!("$share/{g}/")).unwrap_or_default();
                for p in params {
                    s.push_str(&format!("{{{p}}}/"));
                }
                s.push_str(&last);
                s
            }),
        1 => any_text(),
    ];
    check(
        "templates (arbitrary)",
        TEMPLATE_CASES,
        (arbitrary, topic_text()),
        |(text, topic)| {
            Counts::bump(&cases);
            let result = TopicTemplate::parse(&text);
            if !text.contains(['{', '}']) {
                prop_assert_eq!(
                    result.clone().map(|t| t.filter().clone()),
                    TopicFilter::new(text.as_str()).map_err(TemplateError::Filter)
                );
            }
            if let Ok(t) = result {
                Counts::bump(&parsed);
                prop_assert_eq!(t.as_str(), text.as_str());
                let braces = t.filter().as_str().contains(['{', '}']);
                prop_assert!(!braces, "braces left in the filter {}", t.filter());
                prop_assert_eq!(validate_filter(t.filter().as_str()), Ok(()));
                let names: Vec<&str> = t.names().collect();
                for (i, n) in names.iter().enumerate() {
                    prop_assert!(!names[..i].contains(n), "duplicate {}", n);
                }
                let captured = t.captures(&topic);
                prop_assert_eq!(captured.is_some(), t.filter().matches(&topic));
                if let Some(values) = captured {
                    prop_assert_eq!(values.len(), names.len());
                }
            }
            Ok(())
        },
    );

    // Generated templates: parse gives the filter and names, and captures agree with
    // the reference.
    let generated = Cell::new(0u64);
    let captured = Cell::new(0u64);
    check(
        "templates (generated)",
        TEMPLATE_CASES,
        (template(), prop::collection::vec(topic_text(), 1..6)),
        |(template, topics)| {
            Counts::bump(&generated);
            let source = template.source();
            let t = TopicTemplate::parse(&source);
            prop_assert!(t.is_ok(), "{:?}: {:?}", source, t);
            let t = t.unwrap();
            prop_assert_eq!(t.filter().as_str(), template.filter());
            prop_assert_eq!(t.names().collect::<Vec<_>>(), template.names());
            prop_assert_eq!(t.has_params(), !template.names().is_empty());
            for topic in &topics {
                let expected = template.captures(topic);
                let got = t.captures(topic).map(|v| {
                    v.into_iter()
                        .map(|(n, v)| (n.to_owned(), v.to_owned()))
                        .collect::<Vec<_>>()
                });
                if expected.as_ref().is_some_and(|v| !v.is_empty()) {
                    Counts::bump(&captured);
                }
                prop_assert_eq!(got, expected, "{:?} on {:?}", source, topic);
            }
            Ok(())
        },
    );
    eprintln!(
        "templates: {} arbitrary strings ({} parsed), {} generated templates, {} topics with captures",
        cases.get(),
        parsed.get(),
        generated.get(),
        captured.get()
    );
    assert_eq!(cases.get(), u64::from(TEMPLATE_CASES));
    assert_eq!(generated.get(), u64::from(TEMPLATE_CASES));
    assert!(parsed.get() > 1000);
    assert!(captured.get() > 1000);
}

/// Received topics are not held to Mosquitto's level limit (a broker without it may send
/// a deeper one): `#`, `+/#` and an exact filter match a topic 300 levels deep as the
/// reference says they do. The fuzz target `topic_long` found the reference refusing it.
#[test]
fn deep_received_topics_match() {
    let deep = ["a"; 300].join("/");
    for filter in ["#", "+/#", "a/#", deep.as_str()] {
        let filter = TopicFilter::new(filter).ok();
        // The exact 300-level filter is refused (too deep to subscribe): only the others.
        let Some(filter) = filter else { continue };
        assert!(matches!(check_pair(&filter, &deep), Ok(true)), "{filter}");
    }
    let filter = TopicFilter::new("a/+").unwrap();
    assert!(matches!(check_pair(&filter, &deep), Ok(false)));
}
