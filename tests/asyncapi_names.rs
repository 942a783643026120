//! Type names that are no AsyncAPI component key, through the official parser (npm
//! `@asyncapi/parser`, run by the harness's `asyncapi_verdict`). AsyncAPI 3.0 allows
//! `^[a-zA-Z0-9\.\-_]+$` as the keys of `components`: a payload type named with other
//! characters (`Température`, a generic's `<`) is written under a key that maps it, and
//! every `$ref` follows. Also the types both received and published (`Both`, holding a
//! `State` whose sent form differs: `BothSent` refers to `StateSent`).
//!
//! Handlers that share a `module::function` (`reading` in two blocks) are operations
//! titled with their numbered names (`asyncapi_names::reading#2`, as in log lines, spans
//! and metrics), with ids made from those names: unique, and the same from one build to
//! the next.
//!
//! The document is built without a running client (no servers, no broker needed).

// Test code: a failed expectation panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{asyncapi_problems, asyncapi_verdict};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A reading: `Option` makes its received and sent schemas differ
/// (`TempératureSent`).
#[derive(Deserialize, Serialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct Température {
    celsius: f64,
    room: Option<String>,
}

/// A device's state; its sent form differs too (`StateSent`).
#[derive(Deserialize, Serialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct State {
    on: bool,
    level: Option<u8>,
}

/// Received and sent, holding `State`: the sent one is `BothSent`, holding `StateSent`.
#[derive(Deserialize, Serialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct Both {
    state: State,
}

/// A generic type, named by schemars after its parameter.
#[derive(Deserialize, Serialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct Wrapper<T> {
    inner: T,
}

#[mqtt::on_message("names/{id}/temperature")]
fn on_temperature(_id: mqtt::Path<String>, _t: mqtt::Json<Température>) {}

#[mqtt::on_message("names/{id}/both")]
fn on_both(_id: mqtt::Path<String>, _b: mqtt::Json<Both>) {}

#[mqtt::on_message("names/wrapped")]
fn on_wrapped(_w: mqtt::Json<Wrapper<Température>>) {}

#[allow(dead_code)] // holds a handler: never called itself
fn kitchen() {
    #[mqtt::on_message("names/kitchen/reading")]
    fn reading(_s: mqtt::Json<State>) {}
}

#[allow(dead_code)] // holds a handler: never called itself
fn garage() {
    #[mqtt::on_message("names/garage/reading")]
    fn reading(_s: mqtt::Json<State>) {}
}

mqtt::publisher! {
    #[allow(dead_code)] // registered for the document; never published here
    static TEMPERATURE: Température = "names/{id}/temperature", qos = 1;
    #[allow(dead_code)] // registered for the document; never published here
    static BOTH: Both = "names/{id}/both", qos = 1;
}

/// Whether `key` is an AsyncAPI 3.0 component key: `^[a-zA-Z0-9\.\-_]+$`.
fn is_component_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v.as_str()) {
                    ("$ref", Some(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// The schema `reference` (`#/components/schemas/<key>`) points at, and its key.
fn target<'a>(doc: &'a Value, reference: &Value) -> (&'a str, &'a Value) {
    let reference = reference["$ref"].as_str().expect("a reference");
    let key = reference
        .strip_prefix("#/components/schemas/")
        .unwrap_or_else(|| panic!("not a schema's reference: {reference}"));
    let (key, schema) = doc["components"]["schemas"]
        .as_object()
        .unwrap()
        .get_key_value(key)
        .unwrap_or_else(|| panic!("no schema `{key}`: {doc:#}"));
    (key.as_str(), schema)
}

/// The document, and the official parser's verdict on it, which reports no error and
/// no warning.
fn parsed_document() -> (Value, Value) {
    let doc = mqtt::AsyncApi::new("names", "1.0.0").document([]);
    let verdict = asyncapi_verdict(&doc);
    let problems = asyncapi_problems(&verdict);
    assert!(
        problems.is_empty(),
        "the parser reports: {problems:#?}\n{doc:#}"
    );
    assert_eq!(verdict["parsed"], true, "{verdict:#}");
    (doc, verdict)
}

#[test]
fn names_that_are_no_component_keys_pass_the_official_parser() {
    let (doc, verdict) = parsed_document();
    for channel in verdict["channels"].as_array().unwrap() {
        for message in channel["messages"].as_array().unwrap() {
            assert_eq!(message["payloadType"], "object", "{verdict:#}");
        }
    }

    // Every key a component key; every reference to one that exists.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for key in schemas.keys() {
        assert!(is_component_key(key), "`{key}` in {doc:#}");
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for reference in all {
        if let Some(pointer) = reference.strip_prefix('#') {
            assert!(doc.pointer(pointer).is_some(), "{reference}: {doc:#}");
        }
    }

    // Which schema each operation's message has.
    let payload = |op: &str| {
        let path = doc["operations"][op]["messages"][0]["$ref"]
            .as_str()
            .unwrap();
        doc.pointer(path.strip_prefix('#').unwrap()).unwrap()["payload"].clone()
    };
    let (received, received_schema) = target(&doc, &payload("on_temperature"));
    let (sent, sent_schema) = target(&doc, &payload("TEMPERATURE"));
    assert_ne!(received, sent);
    assert!(received.starts_with("Temp"), "{received}");
    assert_eq!(received_schema["required"], json!(["celsius"]));
    assert_eq!(
        sent_schema["required"],
        json!(["celsius", "room"]),
        "{doc:#}"
    );
    let (_, wrapper) = target(&doc, &payload("on_wrapped"));
    assert_eq!(
        target(&doc, &wrapper["properties"]["inner"]).0,
        received,
        "{doc:#}"
    );

    let (both, both_schema) = target(&doc, &payload("on_both"));
    let (both_sent, both_sent_schema) = target(&doc, &payload("BOTH"));
    assert_eq!((both, both_sent), ("Both", "BothSent"), "{doc:#}");
    assert_eq!(target(&doc, &both_schema["properties"]["state"]).0, "State");
    assert_eq!(
        target(&doc, &both_sent_schema["properties"]["state"]).0,
        "StateSent"
    );
}

#[test]
fn handlers_of_one_name_are_operations_of_their_numbered_names() {
    let (doc, verdict) = parsed_document();
    // The id and title of the operation on `address`, as the parser read them.
    let operation = |address: &str| {
        let ops = verdict["operations"].as_array().unwrap();
        let found: Vec<&Value> = ops
            .iter()
            .filter(|op| op["channels"] == json!([address]))
            .collect();
        assert_eq!(found.len(), 1, "{address}: {verdict:#}");
        let id = found[0]["id"].as_str().unwrap().to_owned();
        let title = doc["operations"][&id]["title"].as_str().unwrap().to_owned();
        (id, title)
    };
    // Numbered in the order of their filters, as the registry numbers them.
    assert_eq!(
        operation("names/garage/reading"),
        ("reading".to_owned(), "asyncapi_names::reading".to_owned()),
        "{doc:#}"
    );
    assert_eq!(
        operation("names/kitchen/reading"),
        (
            "reading-2".to_owned(),
            "asyncapi_names::reading#2".to_owned()
        ),
        "{doc:#}"
    );
    let ids: Vec<&Value> = verdict["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| &op["id"])
        .collect();
    let unique: std::collections::BTreeSet<String> = ids.iter().map(|id| id.to_string()).collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    assert_eq!(ids.len(), doc["operations"].as_object().unwrap().len());
}
