//! Dispatcher micro-benchmark: the handlers matching one topic, among 10 to 100,000
//! registered filters (exact, `+`, `#` and `$share/` mixed), with [`FilterTrie`],
//! paho-mqtt's `TopicMatcher` and a linear scan over [`TopicFilter::matches`]; then at
//! 10,000 filters, topics 2, 4 and 8 levels deep.
//!
//! ```text
//! cargo bench -p flask-mqtt-topic --bench dispatch
//! ```
//!
//! Every lookup finds the same 5 filters (one of each kind), whatever the number of
//! filters: the random ones never match the probe topic, so only the cost of finding
//! changes. After the Criterion output, a Markdown summary with the ratios is printed
//! (from Criterion's median estimates).

// A benchmark: setup failures should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::HashSet;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion};
use flask_mqtt_topic::{FilterTrie, TopicFilter};
use paho_mqtt::topic_matcher::TopicMatcher;

/// Filter counts of the first group; its topics are [`DEPTH`] levels deep.
const SIZES: [usize; 4] = [10, 1_000, 10_000, 100_000];
/// Topic depth of the first group.
const DEPTH: usize = 5;
/// Topic depths of the second group, at [`DEPTH_FILTERS`] filters.
const DEPTHS: [usize; 3] = [2, 4, 8];
const DEPTH_FILTERS: usize = 10_000;
/// Filters that match the probe topic, in every set.
const MATCHING: usize = 5;

/// xorshift64: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x % n as u64) as usize
    }
}

/// The topic every lookup matches: `root/p/p/...`, `depth` levels.
fn probe(depth: usize) -> String {
    let mut levels = vec!["root"];
    levels.resize(depth, "p");
    levels.join("/")
}

/// The [`MATCHING`] filters that match [`probe`]: exact, `+`, `#`, a leading `+`, and a
/// shared subscription.
fn matching(depth: usize) -> Vec<String> {
    let levels: Vec<String> = probe(depth).split('/').map(str::to_owned).collect();
    let with = |i: usize, s: &str| {
        let mut l = levels.clone();
        l[i] = s.to_owned();
        l.join("/")
    };
    vec![
        levels.join("/"),
        with(depth - 1, "+"),
        "root/p/#".to_owned(),
        with(0, "+"),
        format!("$share/workers/{}", vec!["+"; depth].join("/")),
    ]
}

/// `count` distinct filters of topics `depth` levels deep: the [`matching`] ones, then
/// random ones (60 % exact, 20 % with a `+`, 10 % ending in `#`, 10 % `$share/`) that
/// each keep a random literal level, so they never match the probe.
fn filters(count: usize, depth: usize, seed: u64) -> Vec<TopicFilter> {
    let mut rng = Rng(seed);
    let mut texts = matching(depth);
    let mut seen: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(count);
    for text in texts.drain(..) {
        let filter = TopicFilter::new(text).unwrap();
        seen.insert(filter.inner().to_owned());
        out.push(filter);
    }
    while out.len() < count {
        // Level 1 is wide (many devices), deeper levels narrow (a few metrics).
        let mut levels: Vec<String> = (0..depth)
            .map(|i| match i {
                0 => "root".to_owned(),
                1 => rng.below(100_000).to_string(),
                _ => rng.below(10).to_string(),
            })
            .collect();
        // The literal level that keeps a random filter from matching the probe.
        let anchor = 1 + rng.below(depth - 1);
        let text = match rng.below(10) {
            0..=5 => levels.join("/"),
            6 | 7 => {
                let mut at = rng.below(depth);
                if at == anchor {
                    at = if anchor == 1 { 0 } else { anchor - 1 };
                }
                levels[at] = "+".to_owned();
                levels.join("/")
            }
            8 => {
                levels.truncate(anchor + 1 + rng.below(depth - anchor));
                if rng.below(4) == 0 {
                    levels[0] = "+".to_owned();
                }
                levels.push("#".to_owned());
                levels.join("/")
            }
            _ => format!("$share/g{}/{}", rng.below(8), levels.join("/")),
        };
        let filter = TopicFilter::new(text).unwrap();
        if seen.insert(filter.inner().to_owned()) {
            out.push(filter);
        }
    }
    out
}

/// The three ways to find the filters matching a topic.
struct Matchers {
    trie: FilterTrie<usize>,
    paho: TopicMatcher<usize>,
    linear: Vec<TopicFilter>,
}

impl Matchers {
    fn new(filters: Vec<TopicFilter>) -> Matchers {
        let mut trie = FilterTrie::new();
        let mut paho = TopicMatcher::new();
        for (i, f) in filters.iter().enumerate() {
            trie.insert(f, i);
            // paho's matcher does not know `$share/`: give it the inner filter.
            paho.insert(f.inner(), i);
        }
        Matchers {
            trie,
            paho,
            linear: filters,
        }
    }

    fn trie(&self, topic: &str) -> usize {
        let mut n = 0;
        self.trie.for_each_match(topic, |_| n += 1);
        n
    }

    fn paho(&self, topic: &str) -> usize {
        self.paho.matches(topic).count()
    }

    fn linear(&self, topic: &str) -> usize {
        self.linear.iter().filter(|f| f.matches(topic)).count()
    }

    /// Benchmarks the three on `topic`, after checking what they find. Returns a note
    /// when paho's matcher finds something else than the MQTT rules say.
    fn bench(
        &self,
        c: &mut Criterion,
        group: &str,
        parameter: usize,
        topic: &str,
    ) -> Option<String> {
        let counts = [self.trie(topic), self.linear(topic)];
        assert_eq!(counts, [MATCHING; 2], "{group} {parameter}: trie, linear");
        let paho = self.paho(topic);
        let note = (paho != MATCHING).then(|| {
            format!(
                "{group} {parameter}: paho's TopicMatcher finds {paho} of the {MATCHING} filters matching `{topic}`"
            )
        });
        let mut g = c.benchmark_group(group);
        g.sample_size(20)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1));
        g.bench_with_input(BenchmarkId::new("trie", parameter), topic, |b, t| {
            b.iter(|| self.trie(black_box(t)));
        });
        g.bench_with_input(BenchmarkId::new("paho", parameter), topic, |b, t| {
            b.iter(|| self.paho(black_box(t)));
        });
        g.sample_size(10);
        g.bench_with_input(BenchmarkId::new("linear", parameter), topic, |b, t| {
            b.iter(|| self.linear(black_box(t)));
        });
        g.finish();
        note
    }
}

fn by_filters(c: &mut Criterion, notes: &mut Vec<String>) {
    let topic = probe(DEPTH);
    for n in SIZES {
        let set = filters(n, DEPTH, 0x9e37_79b9_7f4a_7c15);
        notes.extend(Matchers::new(set).bench(c, "by_filters", n, &topic));
    }
}

fn by_depth(c: &mut Criterion, notes: &mut Vec<String>) {
    for depth in DEPTHS {
        let set = filters(DEPTH_FILTERS, depth, 0x2545_f491_4f6c_dd1d);
        notes.extend(Matchers::new(set).bench(c, "by_depth", depth, &probe(depth)));
    }
}

/// Where Criterion writes its estimates: `<target>/criterion`.
fn output_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.join("criterion")))
        .unwrap_or_else(|| PathBuf::from("target/criterion"))
}

/// The median time of one benchmark, in nanoseconds, from Criterion's estimates.
fn median_ns(dir: &Path, group: &str, id: &str, parameter: usize) -> Option<f64> {
    let path = dir
        .join(group)
        .join(id)
        .join(parameter.to_string())
        .join("new")
        .join("estimates.json");
    let json = std::fs::read_to_string(path).ok()?;
    let median = &json[json.find("\"median\"")?..];
    let value = &median[median.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = value.find([',', '}'])?;
    value[..end].trim().parse().ok()
}

fn time(ns: Option<f64>) -> String {
    match ns {
        Some(ns) if ns >= 1e6 => format!("{:.2} ms", ns / 1e6),
        Some(ns) if ns >= 1e3 => format!("{:.2} us", ns / 1e3),
        Some(ns) => format!("{ns:.0} ns"),
        None => "-".to_owned(),
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".to_owned(),
    }
}

/// Prints the Markdown summary and the targets.
fn summary(dir: &Path, notes: &[String]) {
    let ids = ["trie", "paho", "linear"];
    let get = |group: &str, id: &str, p: usize| median_ns(dir, group, id, p);
    println!("\n### Matching one topic ({DEPTH} levels) among N filters, {MATCHING} matches (median per lookup)\n");
    println!("| filters | FilterTrie | paho TopicMatcher | linear TopicFilter::matches |");
    println!("|---:|---:|---:|---:|");
    for n in SIZES {
        let cells: Vec<String> = ids
            .iter()
            .map(|id| time(get("by_filters", id, n)))
            .collect();
        println!("| {n} | {} |", cells.join(" | "));
    }
    let (first, last) = (SIZES[0], SIZES[SIZES.len() - 1]);
    let cells: Vec<String> = ids
        .iter()
        .map(|id| ratio(get("by_filters", id, last), get("by_filters", id, first)))
        .collect();
    println!("| {last} / {first} | {} |", cells.join(" | "));

    println!("\n### Matching one topic among {DEPTH_FILTERS} filters, by topic depth\n");
    println!("| depth | FilterTrie | paho TopicMatcher | linear TopicFilter::matches |");
    println!("|---:|---:|---:|---:|");
    for d in DEPTHS {
        let cells: Vec<String> = ids.iter().map(|id| time(get("by_depth", id, d))).collect();
        println!("| {d} | {} |", cells.join(" | "));
    }
    let (shallow, deep) = (DEPTHS[0], DEPTHS[DEPTHS.len() - 1]);
    let cells: Vec<String> = ids
        .iter()
        .map(|id| ratio(get("by_depth", id, deep), get("by_depth", id, shallow)))
        .collect();
    println!("| {deep} / {shallow} | {} |", cells.join(" | "));

    for note in notes {
        println!(
            "\nNOTE: {note} (it yields either the filter equal to the topic or the `#` filter \
             of its parent, not both: `root/p/#` is lost when `root/p` is registered too)"
        );
    }

    let at_10k = get("by_filters", "trie", 10_000);
    let growth = match (
        get("by_filters", "trie", last),
        get("by_filters", "trie", first),
    ) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let verdict = |met: Option<bool>| match met {
        Some(true) => "MET",
        Some(false) => "MISSED",
        None => "NOT MEASURED",
    };
    println!("\n### Targets\n");
    println!(
        "- {}: FilterTrie, one match among 10000 filters <= 1 us (measured {})",
        verdict(at_10k.map(|ns| ns <= 1_000.0)),
        time(at_10k)
    );
    println!(
        "- {}: FilterTrie, {last} / {first} filters <= 4 (measured {})",
        verdict(growth.map(|g| g <= 4.0)),
        growth.map_or("-".to_owned(), |g| format!("{g:.2}x"))
    );
}

fn main() {
    let dir = output_dir();
    let mut c = Criterion::default()
        .output_directory(&dir)
        .configure_from_args();
    let mut notes = Vec::new();
    by_filters(&mut c, &mut notes);
    by_depth(&mut c, &mut notes);
    c.final_summary();
    // `cargo bench` passes `--bench`; `cargo test` runs each benchmark once instead.
    if std::env::args().any(|a| a == "--bench") {
        summary(&dir, &notes);
    }
}
