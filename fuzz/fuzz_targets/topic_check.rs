//! The checks shared by the `topic` and `topic_long` fuzz targets: validation,
//! matching, `FilterTrie` and `TopicTemplate` against the reference the property tests
//! use (`flask-mqtt-topic/tests/reference/mod.rs`, written from the MQTT specification).

use flask_mqtt_topic::{
    validate_filter, validate_topic_name, FilterTrie, TemplateError, TopicFilter, TopicTemplate,
};

#[path = "../../flask-mqtt-topic/tests/reference/mod.rs"]
mod reference;

fn sorted(mut v: Vec<usize>) -> Vec<usize> {
    v.sort_unstable();
    v
}

/// Checks every string as a filter, a topic name and a template, and every pair of them
/// (topic, filter); see the targets' docs.
pub fn check(pieces: &[String]) {
    let mut trie = FilterTrie::new();
    let mut filters: Vec<(TopicFilter, usize)> = Vec::new();
    let mut templates: Vec<TopicTemplate> = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        let piece = piece.as_str();
        assert_eq!(
            validate_filter(piece),
            reference::filter(piece),
            "{piece:?}"
        );
        assert_eq!(
            validate_topic_name(piece),
            reference::topic_name(piece),
            "{piece:?}"
        );
        if let Ok(filter) = TopicFilter::new(piece) {
            assert_eq!(filter.inner(), reference::inner(piece));
            assert_eq!(filter.share_group(), reference::share_group(piece));
            trie.insert(&filter, i);
            filters.push((filter, i));
        }
        let template = TopicTemplate::parse(piece);
        if !piece.contains(['{', '}']) {
            assert_eq!(
                template.clone().map(|t| t.filter().clone()),
                TopicFilter::new(piece).map_err(TemplateError::Filter),
            );
        }
        if let Ok(template) = template {
            assert!(validate_filter(template.filter().as_str()).is_ok());
            templates.push(template);
        }
    }

    let check = |trie: &FilterTrie<usize>, alive: &dyn Fn(usize) -> bool| {
        for topic in pieces {
            let expected: Vec<usize> = filters
                .iter()
                .filter(|(filter, value)| {
                    let matched = reference::matches(filter.as_str(), topic);
                    assert_eq!(filter.matches(topic), matched, "{filter} vs {topic:?}");
                    matched && alive(*value)
                })
                .map(|(_, value)| *value)
                .collect();
            let found = sorted(trie.matches(topic).into_iter().copied().collect());
            assert_eq!(found, expected, "{topic:?}");
        }
    };
    check(&trie, &|_| true);

    for topic in pieces {
        for template in &templates {
            let captured = template.captures(topic);
            assert_eq!(
                captured.is_some(),
                template.filter().matches(topic),
                "{template} vs {topic:?}"
            );
            if let Some(values) = captured {
                assert_eq!(values.len(), template.names().len());
            }
        }
    }

    // Remove every other filter (with every value stored under its inner filter).
    let mut gone = Vec::new();
    for (filter, _) in filters.iter().step_by(2) {
        let removed = sorted(trie.remove_filter(filter));
        let expected: Vec<usize> = filters
            .iter()
            .filter(|(f, v)| f.inner() == filter.inner() && !gone.contains(v))
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(removed, expected, "removing {filter}");
        gone.extend(removed);
    }
    assert_eq!(trie.len(), filters.len() - gone.len());
    check(&trie, &|value| !gone.contains(&value));
}
