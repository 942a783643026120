//! A trie of topic filters for dispatching incoming messages.

use std::collections::HashMap;
use std::fmt;
use std::mem;

use crate::name::is_valid_topic_name;
use crate::TopicFilter;

/// One level of the trie.
struct Node<V> {
    /// Children for literal levels (including the empty level).
    children: HashMap<Box<str>, Node<V>>,
    /// Child for a `+` level.
    plus: Option<Box<Node<V>>>,
    /// Values of filters ending in `#` right after this node.
    hash_values: Vec<V>,
    /// Values of filters ending at this node.
    values: Vec<V>,
}

impl<V> Node<V> {
    fn new() -> Self {
        Node {
            children: HashMap::new(),
            plus: None,
            hash_values: Vec::new(),
            values: Vec::new(),
        }
    }

    fn child(&self, level: &str) -> Option<&Node<V>> {
        if level == "+" {
            self.plus.as_deref()
        } else {
            self.children.get(level)
        }
    }

    fn child_mut(&mut self, level: &str) -> Option<&mut Node<V>> {
        if level == "+" {
            self.plus.as_deref_mut()
        } else {
            self.children.get_mut(level)
        }
    }

    /// Number of children, counting the `+` child.
    fn child_count(&self) -> usize {
        self.children.len() + usize::from(self.plus.is_some())
    }
}

impl<V> Drop for Node<V> {
    /// Tears the subtree down with an explicit stack, so that dropping a trie
    /// holding a very deep filter (up to 32768 levels) cannot overflow the
    /// call stack.
    fn drop(&mut self) {
        if self.child_count() == 0 {
            return;
        }
        let mut stack: Vec<Node<V>> = Vec::new();
        detach_children(self, &mut stack);
        while let Some(mut node) = stack.pop() {
            detach_children(&mut node, &mut stack);
            // `node` has no children left, so its own drop does not recurse.
        }
    }
}

fn detach_children<V>(node: &mut Node<V>, stack: &mut Vec<Node<V>>) {
    stack.extend(node.children.drain().map(|(_, child)| child));
    if let Some(plus) = node.plus.take() {
        stack.push(*plus);
    }
}

/// Which list of a node holds the values of a filter.
#[derive(Clone, Copy)]
enum Slot {
    /// The filter ends at the node.
    End,
    /// The filter is the node's path followed by `#`.
    Hash,
}

impl Slot {
    fn of<V>(self, node: &Node<V>) -> &Vec<V> {
        match self {
            Slot::End => &node.values,
            Slot::Hash => &node.hash_values,
        }
    }

    fn of_mut<V>(self, node: &mut Node<V>) -> &mut Vec<V> {
        match self {
            Slot::End => &mut node.values,
            Slot::Hash => &mut node.hash_values,
        }
    }

    /// Whether `node` holds anything besides this slot's values.
    fn has_other_content<V>(self, node: &Node<V>) -> bool {
        let other = match self {
            Slot::End => &node.hash_values,
            Slot::Hash => &node.values,
        };
        !other.is_empty() || node.child_count() != 0
    }
}

/// Splits a valid inner filter into the path of the node holding its values
/// (`None` for the root) and the slot within that node.
fn locate(inner: &str) -> (Option<&str>, Slot) {
    if inner == "#" {
        (None, Slot::Hash)
    } else if let Some(path) = inner.strip_suffix("/#") {
        (Some(path), Slot::Hash)
    } else {
        (Some(inner), Slot::End)
    }
}

/// Splits the first level off `rest` (the levels still to consume).
fn next_level(rest: &str) -> (&str, Option<&str>) {
    match rest.split_once('/') {
        Some((level, more)) => (level, Some(more)),
        None => (rest, None),
    }
}

/// A set of topic filters, each with any number of values, that finds the
/// values whose filter matches a topic by walking the topic's levels once.
///
/// The cost of a lookup grows with the depth of the topic (and the number of
/// matching values), not with the number of filters stored. Matching follows
/// [`TopicFilter::matches`] exactly: `#` matches its parent level, `+`
/// matches an empty level, filters starting with a wildcard do not match
/// topics starting with `$`, and a topic that is not a valid topic name
/// matches nothing.
///
/// Shared subscriptions (`$share/{group}/{filter}`) are stored under their
/// inner filter: `$share/g/a/b` and `a/b` share one list of values.
///
/// # Examples
///
/// ```
/// use flask_mqtt_topic::{FilterTrie, TopicFilter};
///
/// let mut trie = FilterTrie::new();
/// trie.insert(&TopicFilter::new("home/+/temperature")?, "temperature");
/// trie.insert(&TopicFilter::new("home/#")?, "everything at home");
///
/// let mut found = trie.matches("home/kitchen/temperature");
/// found.sort();
/// assert_eq!(found, [&"everything at home", &"temperature"]);
///
/// trie.remove_filter(&TopicFilter::new("home/#")?);
/// assert_eq!(trie.matches("home/kitchen/temperature"), [&"temperature"]);
/// # Ok::<(), flask_mqtt_topic::TopicFilterError>(())
/// ```
pub struct FilterTrie<V> {
    root: Node<V>,
    len: usize,
}

impl<V> FilterTrie<V> {
    /// Creates an empty trie.
    pub fn new() -> Self {
        FilterTrie {
            root: Node::new(),
            len: 0,
        }
    }

    /// Adds `value` for `filter`.
    ///
    /// A shared subscription is stored under its inner filter. A filter may
    /// hold several values; they are kept in insertion order.
    pub fn insert(&mut self, filter: &TopicFilter, value: V) {
        self.insert_inner(filter.inner(), value);
    }

    /// Adds `value` under the valid, non-shared filter `inner`.
    fn insert_inner(&mut self, inner: &str, value: V) {
        let (path, slot) = locate(inner);
        let mut node = &mut self.root;
        for level in path.into_iter().flat_map(|path| path.split('/')) {
            node = if level == "+" {
                node.plus.get_or_insert_with(|| Box::new(Node::new()))
            } else {
                node.children.entry(level.into()).or_insert_with(Node::new)
            };
        }
        slot.of_mut(node).push(value);
        self.len += 1;
    }

    /// Removes and returns, in insertion order, every value stored for
    /// exactly `filter` (compared by inner filter, so `$share/g/a` also
    /// removes values inserted for `a` or `$share/h/a`). Nodes left empty are
    /// pruned. Returns an empty vector when nothing was stored for `filter`.
    pub fn remove_filter(&mut self, filter: &TopicFilter) -> Vec<V> {
        let (path, slot) = locate(filter.inner());
        let levels = || path.into_iter().flat_map(|path| path.split('/'));

        // Find the topmost node of the chain that becomes empty once the
        // values are gone (the root is never removed).
        let mut node = &self.root;
        let mut depth = 0;
        let mut prune_from: Option<usize> = None;
        let mut walk = levels().peekable();
        while let Some(level) = walk.next() {
            let Some(child) = node.child(level) else {
                return Vec::new();
            };
            node = child;
            depth += 1;
            let removable = if walk.peek().is_some() {
                node.values.is_empty() && node.hash_values.is_empty() && node.child_count() == 1
            } else {
                !slot.has_other_content(node)
            };
            if !removable {
                prune_from = None;
            } else if prune_from.is_none() {
                prune_from = Some(depth);
            }
        }
        if slot.of(node).is_empty() {
            return Vec::new();
        }

        let mut node = &mut self.root;
        for level in levels() {
            let Some(child) = node.child_mut(level) else {
                return Vec::new();
            };
            node = child;
        }
        let removed = mem::take(slot.of_mut(node));
        self.len -= removed.len();

        if let Some(prune_from) = prune_from {
            let mut parent = &mut self.root;
            let mut levels = levels();
            for level in levels.by_ref().take(prune_from - 1) {
                let Some(child) = parent.child_mut(level) else {
                    return removed;
                };
                parent = child;
            }
            // Dropping the detached chain is iterative (see `Node::drop`).
            match levels.next() {
                Some("+") => drop(parent.plus.take()),
                Some(level) => drop(parent.children.remove(level)),
                None => {}
            }
        }
        removed
    }

    /// Calls `f` with every value whose filter matches `topic`, with the same
    /// semantics as [`TopicFilter::matches`].
    ///
    /// Walks the levels of `topic` once and allocates nothing. The order of
    /// the values is unspecified but deterministic: it depends only on the
    /// filters and values stored, and the values of one filter come in
    /// insertion order. Nothing matches a topic that is not a valid topic
    /// name.
    pub fn for_each_match<'a>(&'a self, topic: &str, mut f: impl FnMut(&'a V)) {
        if !is_valid_topic_name(topic) {
            return;
        }
        if topic.starts_with('$') {
            // Filters starting with a wildcard do not match `$` topics: skip
            // the root's `#` values and `+` child.
            let (level, rest) = next_level(topic);
            if let Some(child) = self.root.children.get(level) {
                walk(child, rest, &mut f);
            }
        } else {
            walk(&self.root, Some(topic), &mut f);
        }
    }

    /// Every value whose filter matches `topic`, in the order of
    /// [`for_each_match`](Self::for_each_match).
    pub fn matches(&self, topic: &str) -> Vec<&V> {
        let mut found = Vec::new();
        self.for_each_match(topic, |value| found.push(value));
        found
    }

    /// The number of values stored (a filter with three values counts three).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no value is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every non-empty value list with the inner filter it belongs to, sorted
    /// by filter. Iterative, so deep tries are fine.
    fn entries(&self) -> Vec<(String, &[V])> {
        let mut entries = Vec::new();
        let mut stack: Vec<(&Node<V>, Option<String>)> = vec![(&self.root, None)];
        while let Some((node, path)) = stack.pop() {
            if !node.hash_values.is_empty() {
                let filter = match &path {
                    Some(path) => format!("{path}/#"),
                    None => "#".to_owned(),
                };
                entries.push((filter, node.hash_values.as_slice()));
            }
            let join = |level: &str| match &path {
                Some(path) => format!("{path}/{level}"),
                None => level.to_owned(),
            };
            for (level, child) in &node.children {
                stack.push((child, Some(join(level))));
            }
            if let Some(plus) = &node.plus {
                stack.push((plus, Some(join("+"))));
            }
            if let Some(path) = path {
                if !node.values.is_empty() {
                    entries.push((path, node.values.as_slice()));
                }
            }
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries
    }
}

/// Visits `node` with the topic levels `rest` still to match (`None` once
/// every level is consumed). Follows single branches in a loop and recurses
/// only where a literal child and a `+` child both match, so the recursion
/// depth stays small even for very deep topics and filters.
fn walk<'a, V, F: FnMut(&'a V)>(mut node: &'a Node<V>, mut rest: Option<&str>, f: &mut F) {
    loop {
        // `prefix/#` matches the prefix itself and everything below it.
        node.hash_values.iter().for_each(&mut *f);
        let Some(levels) = rest else {
            node.values.iter().for_each(&mut *f);
            return;
        };
        let (level, more) = next_level(levels);
        node = match (node.children.get(level), node.plus.as_deref()) {
            (Some(exact), Some(plus)) => {
                walk(exact, more, f);
                plus
            }
            (Some(next), None) | (None, Some(next)) => next,
            (None, None) => return,
        };
        rest = more;
    }
}

impl<V> Default for FilterTrie<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: fmt::Debug> fmt::Debug for FilterTrie<V> {
    /// Formats as a map from inner filter to its values, sorted by filter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.entries()).finish()
    }
}

impl<V: Clone> Clone for FilterTrie<V> {
    fn clone(&self) -> Self {
        let mut trie = FilterTrie::new();
        for (filter, values) in self.entries() {
            for value in values {
                trie.insert_inner(&filter, value.clone());
            }
        }
        trie
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MAX_TOPIC_LEN, MAX_TOPIC_LEVELS};

    fn filter(text: &str) -> TopicFilter {
        TopicFilter::new(text).unwrap()
    }

    fn sorted(mut found: Vec<&str>) -> Vec<&str> {
        found.sort_unstable();
        found
    }

    fn found<'a>(trie: &FilterTrie<&'a str>, topic: &str) -> Vec<&'a str> {
        sorted(trie.matches(topic).into_iter().copied().collect())
    }

    /// Builds a trie whose values are the filter texts.
    fn trie_of<'a>(filters: &[&'a str]) -> FilterTrie<&'a str> {
        let mut trie = FilterTrie::new();
        for &text in filters {
            trie.insert(&filter(text), text);
        }
        trie
    }

    /// The number of nodes below (and including) the root.
    fn node_count<V>(trie: &FilterTrie<V>) -> usize {
        let mut count = 0;
        let mut stack = vec![&trie.root];
        while let Some(node) = stack.pop() {
            count += 1;
            stack.extend(node.children.values());
            stack.extend(node.plus.as_deref());
        }
        count
    }

    const FILTERS: &[&str] = &[
        "#",
        "+",
        "+/+",
        "+/#",
        "a",
        "a/",
        "a/#",
        "a/+",
        "a/b",
        "a/b/#",
        "a/+/c",
        "a//c",
        "/",
        "/#",
        "/a",
        "$SYS/#",
        "$SYS/+",
        "$SYS/load",
        "$share/g/a/b",
        "$share/h/$SYS/#",
    ];

    #[test]
    fn matching_table() {
        let trie = trie_of(FILTERS);
        let cases: &[(&str, &[&str])] = &[
            ("a", &["#", "+", "+/#", "a", "a/#"]),
            ("a/", &["#", "+/+", "+/#", "a/", "a/#", "a/+"]),
            (
                "a/b",
                &[
                    "#",
                    "$share/g/a/b",
                    "+/+",
                    "+/#",
                    "a/#",
                    "a/+",
                    "a/b",
                    "a/b/#",
                ],
            ),
            ("a/b/c", &["#", "+/#", "a/#", "a/+/c", "a/b/#"]),
            ("a//c", &["#", "+/#", "a/#", "a/+/c", "a//c"]),
            ("/", &["#", "+/+", "+/#", "/", "/#"]),
            ("/a", &["#", "+/+", "+/#", "/#", "/a"]),
            ("b", &["#", "+", "+/#"]),
            ("b/c/d", &["#", "+/#"]),
            ("$SYS", &["$SYS/#", "$share/h/$SYS/#"]),
            (
                "$SYS/load",
                &["$SYS/#", "$SYS/+", "$SYS/load", "$share/h/$SYS/#"],
            ),
            ("$SYS/a/b", &["$SYS/#", "$share/h/$SYS/#"]),
            ("$other", &[]),
            ("", &[]),
            ("+", &[]),
            ("a/#", &[]),
            ("a/+", &[]),
            ("a\0", &[]),
        ];
        for &(topic, expected) in cases {
            let expected = sorted(expected.to_vec());
            assert_eq!(found(&trie, topic), expected, "{topic:?}");
            let by_filter: Vec<&str> = FILTERS
                .iter()
                .copied()
                .filter(|text| filter(text).matches(topic))
                .collect();
            assert_eq!(sorted(by_filter), expected, "{topic:?}");
        }
    }

    #[test]
    fn values_per_filter_keep_insertion_order() {
        let mut trie = FilterTrie::new();
        trie.insert(&filter("a/+"), 1);
        trie.insert(&filter("$share/g/a/+"), 2);
        trie.insert(&filter("a/+"), 3);
        trie.insert(&filter("a/#"), 4);
        trie.insert(&filter("a/#"), 5);
        assert_eq!(trie.len(), 5);
        assert_eq!(trie.matches("a/b"), [&4, &5, &1, &2, &3]);
        assert_eq!(trie.remove_filter(&filter("$share/x/a/+")), [1, 2, 3]);
        assert_eq!(trie.len(), 2);
        assert_eq!(trie.matches("a/b"), [&4, &5]);
    }

    #[test]
    fn for_each_match_order_is_deterministic() {
        // Values of one filter come in insertion order, so leave out the
        // filters that share an inner filter with another one.
        let distinct: Vec<&str> = FILTERS
            .iter()
            .copied()
            .filter(|text| !text.starts_with("$share/"))
            .collect();
        let first = trie_of(&distinct);
        let second = trie_of(&distinct);
        let reversed: Vec<&str> = distinct.iter().rev().copied().collect();
        let third = trie_of(&reversed);
        for topic in ["a/b", "a", "/", "$SYS/load", "x/y/z"] {
            let expected = first.matches(topic);
            assert_eq!(second.matches(topic), expected, "{topic:?}");
            assert_eq!(third.matches(topic), expected, "{topic:?}");
            assert_eq!(first.clone().matches(topic), expected, "{topic:?}");
        }
    }

    #[test]
    fn remove_filter_table() {
        // (filter to remove, values removed, len after, nodes after)
        let cases: &[(&str, &[&str], usize, usize)] = &[
            ("a/b/c", &[], 20, 15),
            ("a/b/#", &["a/b/#"], 19, 15),
            ("a/b", &["$share/g/a/b", "a/b"], 17, 14),
            ("a/+/c", &["a/+/c"], 16, 13),
            ("#", &["#"], 15, 13),
            ("+/#", &["+/#"], 14, 13),
            ("+", &["+"], 13, 13),
            ("+/+", &["+/+"], 12, 11),
            ("$share/x/$SYS/#", &["$SYS/#", "$share/h/$SYS/#"], 10, 11),
            ("$SYS/load", &["$SYS/load"], 9, 10),
            ("$SYS/+", &["$SYS/+"], 8, 8),
            ("a/#", &["a/#"], 7, 8),
            ("a", &["a"], 6, 8),
            ("a//c", &["a//c"], 5, 7),
            ("a/+", &["a/+"], 4, 6),
            ("a/", &["a/"], 3, 4),
            ("/#", &["/#"], 2, 4),
            ("/a", &["/a"], 1, 3),
            ("/", &["/"], 0, 1),
            ("/", &[], 0, 1),
        ];
        let mut trie = trie_of(FILTERS);
        // root, +, +/+, a, a/, a/+, a/b, a/+/c, a//c, (empty), /(empty), /a,
        // $SYS, $SYS/+, $SYS/load
        assert_eq!(trie.len(), FILTERS.len());
        assert_eq!(node_count(&trie), 15);
        for &(text, removed, len, nodes) in cases {
            assert_eq!(
                sorted(trie.remove_filter(&filter(text))),
                removed,
                "{text:?}"
            );
            assert_eq!(trie.len(), len, "{text:?}");
            assert_eq!(node_count(&trie), nodes, "{text:?}");
            assert!(trie.matches(text).iter().all(|v| !removed.contains(v)));
        }
        assert!(trie.is_empty());
    }

    #[test]
    fn remove_keeps_nodes_still_in_use() {
        let mut trie = trie_of(&["a/b/c", "a/b", "a/b/c/#"]);
        assert_eq!(trie.remove_filter(&filter("a/b/c")), ["a/b/c"]);
        assert_eq!(trie.matches("a/b/c"), [&"a/b/c/#"]);
        assert_eq!(trie.matches("a/b"), [&"a/b"]);
        assert_eq!(trie.remove_filter(&filter("a/b/c/#")), ["a/b/c/#"]);
        // a/b/c is gone, a/b stays
        assert_eq!(node_count(&trie), 3);
        assert_eq!(trie.remove_filter(&filter("a/b")), ["a/b"]);
        assert_eq!(node_count(&trie), 1);
        assert!(trie.is_empty());
    }

    #[test]
    fn default_debug_and_clone() {
        let empty: FilterTrie<u8> = FilterTrie::default();
        assert!(empty.is_empty());
        assert_eq!(empty.len(), 0);
        assert_eq!(format!("{empty:?}"), "{}");

        let mut trie = FilterTrie::new();
        trie.insert(&filter("a/+"), 1);
        trie.insert(&filter("#"), 2);
        trie.insert(&filter("$share/g/a/+"), 3);
        trie.insert(&filter("/#"), 4);
        trie.insert(&filter("a//b"), 5);
        assert_eq!(
            format!("{trie:?}"),
            r##"{"#": [2], "/#": [4], "a/+": [1, 3], "a//b": [5]}"##
        );
        let copy = trie.clone();
        assert_eq!(format!("{copy:?}"), format!("{trie:?}"));
        assert_eq!(copy.len(), trie.len());
        assert_eq!(copy.matches("a/b"), trie.matches("a/b"));
    }

    #[test]
    fn deep_filters_do_not_overflow_the_stack() {
        // Run on a thread with a small stack to make recursion visible.
        let handle = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                // The deepest filters there are (`MAX_TOPIC_LEVELS`, Mosquitto's limit)...
                let depth = MAX_TOPIC_LEVELS - 1;
                let deep_exact = filter(&vec!["a"; depth].join("/"));
                let deep_plus = filter(&vec!["+"; depth].join("/"));
                let mut deep_hash = vec!["a"; depth];
                deep_hash.push("#");
                let deep_hash = filter(&deep_hash.join("/"));
                let mut trie = FilterTrie::new();
                trie.insert(&deep_exact, 1);
                trie.insert(&deep_plus, 2);
                trie.insert(&deep_hash, 3);
                let mut found = trie.matches(deep_exact.as_str());
                found.sort_unstable();
                assert_eq!(found, [&1, &2, &3]);
                // ... and received topics, which have no such limit: 32k levels.
                let deep_topic = vec!["a"; MAX_TOPIC_LEN / 2].join("/");
                assert_eq!(trie.matches(&deep_topic), [&3]);
                let copy = trie.clone();
                assert_eq!(copy.len(), 3);
                assert!(format!("{copy:?}").len() > depth * 6);
                drop(copy);
                assert_eq!(trie.remove_filter(&deep_exact), [1]);
                assert_eq!(trie.remove_filter(&deep_plus), [2]);
                assert_eq!(node_count(&trie), depth + 1);
                drop(trie);
            })
            .unwrap();
        handle.join().unwrap();
    }

    /// xorshift64: tiny, deterministic, dependency-free.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const ALPHABET: &[&str] = &["a", "b", "", "$x", "+", "#"];

    fn random_levels(rng: &mut Rng) -> String {
        let count = 1 + rng.below(4);
        let levels: Vec<&str> = (0..count)
            .map(|_| ALPHABET[rng.below(ALPHABET.len())])
            .collect();
        levels.join("/")
    }

    /// An independent statement of MQTT matching: a filter without `#`
    /// matches topics with as many levels, level by level; a filter ending
    /// in `#` matches topics whose first levels match the levels before it.
    fn reference_matches(filter: &str, topic: &str) -> bool {
        let filter = match filter.strip_prefix("$share/") {
            Some(rest) => rest.split_once('/').map_or(rest, |(_, inner)| inner),
            None => filter,
        };
        let topic_ok = !topic.is_empty()
            && topic.len() <= MAX_TOPIC_LEN
            && topic.chars().all(|c| c != '+' && c != '#' && c != '\0');
        if !topic_ok {
            return false;
        }
        let f: Vec<&str> = filter.split('/').collect();
        let t: Vec<&str> = topic.split('/').collect();
        if topic.starts_with('$') && (f[0] == "+" || f[0] == "#") {
            return false;
        }
        let level_ok = |(fl, tl): (&&str, &&str)| *fl == "+" || fl == tl;
        if f.last() == Some(&"#") {
            let prefix = &f[..f.len() - 1];
            t.len() >= prefix.len() && prefix.iter().zip(&t).all(level_ok)
        } else {
            f.len() == t.len() && f.iter().zip(&t).all(level_ok)
        }
    }

    #[test]
    fn cross_check_with_reference_and_trie() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut total_matches = 0;
        let mut dollar_matches = 0;
        for round in 0..40 {
            let mut filters: Vec<TopicFilter> = Vec::new();
            while filters.len() < 60 {
                let mut text = random_levels(&mut rng);
                if rng.below(8) == 0 {
                    text = format!("$share/g{}/{text}", rng.below(3));
                }
                if let Ok(f) = TopicFilter::new(text) {
                    filters.push(f);
                }
            }
            let mut trie = FilterTrie::new();
            for (index, f) in filters.iter().enumerate() {
                trie.insert(f, index);
            }
            assert_eq!(trie.len(), filters.len());

            let topics: Vec<String> = (0..150).map(|_| random_levels(&mut rng)).collect();
            // Returns how many (filter, topic) pairs matched, in total and for
            // `$` topics, so the test can tell it exercised something.
            let check = |trie: &FilterTrie<usize>, alive: &[bool]| {
                let mut counts = (0, 0);
                for topic in &topics {
                    let mut from_trie: Vec<usize> =
                        trie.matches(topic).into_iter().copied().collect();
                    from_trie.sort_unstable();
                    let mut expected = Vec::new();
                    for (index, f) in filters.iter().enumerate() {
                        let matches = f.matches(topic);
                        assert_eq!(
                            matches,
                            reference_matches(f.as_str(), topic),
                            "round {round}: {f} vs {topic:?}"
                        );
                        if matches && alive[index] {
                            expected.push(index);
                        }
                    }
                    assert_eq!(from_trie, expected, "round {round}: {topic:?}");
                    counts.0 += expected.len();
                    if topic.starts_with('$') {
                        counts.1 += expected.len();
                    }
                }
                counts
            };
            let mut alive = vec![true; filters.len()];
            let (all, dollar) = check(&trie, &alive);
            total_matches += all;
            dollar_matches += dollar;
            assert_eq!(check(&trie.clone(), &alive), (all, dollar));

            // Remove a third of the filters and check again.
            for _ in 0..filters.len() / 3 {
                let victim = filters[rng.below(filters.len())].clone();
                let mut removed = trie.remove_filter(&victim);
                removed.sort_unstable();
                let expected: Vec<usize> = (0..filters.len())
                    .filter(|&i| alive[i] && filters[i].inner() == victim.inner())
                    .collect();
                assert_eq!(removed, expected, "round {round}: removing {victim}");
                for i in expected {
                    alive[i] = false;
                }
                assert_eq!(trie.len(), alive.iter().filter(|a| **a).count());
            }
            total_matches += check(&trie, &alive).0;

            // Removing everything leaves only the root.
            for f in &filters {
                trie.remove_filter(f);
            }
            assert!(trie.is_empty());
            assert_eq!(node_count(&trie), 1);
        }
        eprintln!("{total_matches} matches, {dollar_matches} for `$` topics");
        assert!(total_matches > 10_000, "{total_matches}");
        assert!(dollar_matches > 100, "{dollar_matches}");
    }
}
