//! The keys of the document's named schemas. AsyncAPI 3.0 allows `^[a-zA-Z0-9\.\-_]+$`
//! as the key of a component; schemars names a schema after its Rust type, which may hold
//! other characters (`Température`, a generic's `<`, `>`, `,` and spaces). A name that is
//! a key is its own key; any other gets one made from it, and the references follow.
//!
//! The key of such a name: each character that a key may not hold replaced by `_`, then
//! `_` and 8 hex digits of the name's 32-bit FNV-1a hash (`Température` is
//! `Temp_rature_b1f3b4c0`), so that names differing only in those characters get
//! different keys, the same on every platform and release. A key already taken (by a
//! name that is its own key, or by one made before, names taken in order) gets `_2`,
//! `_3`, ...

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::refs::rename_refs;

/// `schemas` (by name) by key, their references to each other following; and the keys
/// that differ from their names, by name, for the payloads' references to follow.
pub(super) fn by_component_key(
    schemas: Map<String, Value>,
) -> (Map<String, Value>, HashMap<String, String>) {
    let keys = component_keys(schemas.keys().map(String::as_str));
    if keys.is_empty() {
        return (schemas, keys);
    }
    let schemas = schemas
        .into_iter()
        .map(|(name, mut schema)| {
            rename_refs(&mut schema, &keys);
            (keys.get(&name).cloned().unwrap_or(name), schema)
        })
        .collect();
    (schemas, keys)
}

/// The key of every name of `names` that is no component key (see the module docs).
fn component_keys<'a>(names: impl Iterator<Item = &'a str>) -> HashMap<String, String> {
    let mut names: Vec<&str> = names.collect();
    names.sort_unstable();
    let mut taken: HashSet<String> = names
        .iter()
        .filter(|name| is_component_key(name))
        .map(|name| (*name).to_owned())
        .collect();
    let mut keys = HashMap::new();
    for name in names.into_iter().filter(|name| !is_component_key(name)) {
        let replaced: String = name
            .chars()
            .map(|c| if is_key_char(c) { c } else { '_' })
            .collect();
        let base = format!("{replaced}_{:08x}", fnv1a(name));
        let mut key = base.clone();
        let mut n = 2u32;
        while taken.contains(&key) {
            key = format!("{base}_{n}");
            n = n.saturating_add(1);
        }
        taken.insert(key.clone());
        keys.insert(name.to_owned(), key);
    }
    keys
}

/// Whether `name` may be a component's key as it is.
fn is_component_key(name: &str) -> bool {
    !name.is_empty() && name.chars().all(is_key_char)
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
}

/// The 32-bit FNV-1a hash of `text`'s UTF-8 bytes.
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5, |hash: u32, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(names: &[&str]) -> Vec<(String, String)> {
        let mut out: Vec<_> = component_keys(names.iter().copied()).into_iter().collect();
        out.sort();
        out
    }

    fn key(name: &str) -> String {
        component_keys([name].into_iter())
            .remove(name)
            .unwrap_or_else(|| name.to_owned())
    }

    #[test]
    fn names_that_are_keys_stay_others_get_one() {
        assert_eq!(fnv1a(""), 0x811c_9dc5);
        assert_eq!(fnv1a("a"), 0xe40c_292c, "the published FNV-1a test vector");
        for name in ["State", "StateSent_", "a.b-c_9", "Wrapper_for_uint8"] {
            assert_eq!(key(name), name);
        }
        for name in [
            "Température",
            "Wrapper<u8>",
            "Pair<u8, String>",
            "",
            "a b",
            "€",
        ] {
            let key = key(name);
            assert!(is_component_key(&key), "{name}: {key}");
            assert!(
                key.ends_with(&format!("_{:08x}", fnv1a(name))),
                "{name}: {key}"
            );
        }
        assert_eq!(
            key("Température"),
            "Temp_rature_b1f3b4c0",
            "as the module docs say"
        );
        assert!(key("Wrapper<u8>").starts_with("Wrapper_u8__"));
    }

    #[test]
    fn keys_made_are_distinct_from_each_other_and_from_names() {
        let made = key("Température");
        // Differing only in a replaced character.
        let other = key("Tempérâture");
        assert_ne!(key("Tempèrature"), made);
        assert_ne!(other, made);
        // A name that is the key another would get keeps it; the other gets `_2`.
        assert_eq!(
            keys(&["Température", &made]),
            [("Température".to_owned(), format!("{made}_2"))]
        );
        let taken = format!("{made}_2");
        assert_eq!(
            keys(&["Température", &made, &taken]),
            [("Température".to_owned(), format!("{made}_3"))]
        );
    }

    #[test]
    fn schemas_are_keyed_and_their_references_follow() {
        let schemas: Map<String, Value> = serde_json::from_value(json!({
            "Température": { "type": "object" },
            "Wrapper<Température>": {
                "properties": { "inner": { "$ref": "#/components/schemas/Temp%C3%A9rature" } }
            },
            "State": { "properties": { "t": { "$ref": "#/components/schemas/Temp%C3%A9rature" } } },
        }))
        .unwrap_or_default();
        let (schemas, keys) = by_component_key(schemas);
        let t = key("Température");
        let w = key("Wrapper<Température>");
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert_eq!(keys.get("Température"), Some(&t));
        let reference = json!({ "$ref": format!("#/components/schemas/{t}") });
        assert_eq!(schemas[&w]["properties"]["inner"], reference);
        assert_eq!(schemas["State"]["properties"]["t"], reference);
        assert_eq!(schemas[&t], json!({ "type": "object" }));
        assert!(schemas.keys().all(|k| is_component_key(k)), "{schemas:?}");
    }
}
