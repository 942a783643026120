//! Fuzzes dispatch: messages with arbitrary topics, payloads, QoS and retain flags go
//! through `flask_mqtt_core::testing::TestClient` (the real dispatcher, extractors and
//! handler wrappers, without a broker) into handlers that use every message extractor:
//! `Path` (one value, a tuple with a `{rest:#}`), `Json` (typed and `serde_json::Value`),
//! `Text`, `Payload`, `Topic`, `QoS`, `Retain`, `Option<_>` and `Result<_, Rejection>`.
//!
//! Checked for every message:
//! - the handlers called are exactly those whose filter matches the topic (by
//!   `TopicFilter::matches`), or the catch-all when none does;
//! - no handler call panicked: an argument that cannot be extracted is a typed
//!   rejection, and the values handlers receive are right (each handler asserts what it
//!   gets against the topic and payload, so a wrong value is a panic here).
//!
//! Input: byte 0 = flags (QoS = `b % 3`, retain = bit 2), then the topic up to the first
//! `\n` (invalid UTF-8 replaced by U+FFFD), then the payload (raw bytes).
#![no_main]

use std::sync::{Mutex, OnceLock};

use flask_mqtt_core::{self as mqtt, testing::TestClient, HandlerError, Message, QoS};
use flask_mqtt_topic::TopicFilter;
use libfuzzer_sys::fuzz_target;

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Reading {
    celsius: f64,
    #[serde(default)]
    tags: Vec<String>,
}

fn level(topic: &str, n: usize) -> &str {
    topic.split('/').nth(n).unwrap_or_default()
}

#[mqtt::on_message("f/{id}/json")]
fn json_value(
    mqtt::Path(id): mqtt::Path<String>,
    topic: mqtt::Topic,
    mqtt::Json(_value): mqtt::Json<serde_json::Value>,
) {
    assert_eq!(id, level(&topic, 1));
}

#[mqtt::on_message("f/{id}/reading", qos = 1)]
async fn reading(
    mqtt::Path(id): mqtt::Path<u32>,
    mqtt::Json(r): mqtt::Json<Reading>,
    topic: mqtt::Topic,
) {
    assert_eq!(Ok(id), level(&topic, 1).parse::<u32>());
    let _ = (r.celsius, r.tags.len());
}

#[mqtt::on_message("f/{a}/{b}/{rest:#}")]
fn levels(mqtt::Path((a, b, rest)): mqtt::Path<(String, i64, String)>, topic: mqtt::Topic) {
    assert_eq!(a, level(&topic, 1));
    assert_eq!(Ok(b), level(&topic, 2).parse::<i64>());
    let expected: Vec<&str> = topic.split('/').skip(3).collect();
    assert_eq!(rest, expected.join("/"));
}

#[mqtt::on_message("f/+/text")]
fn text(t: mqtt::Text, payload: mqtt::Payload) {
    assert_eq!(t.as_bytes(), payload.as_bytes());
}

#[mqtt::on_message("+/#")]
async fn wildcard(m: mqtt::Message, t: mqtt::Topic, q: QoS, mqtt::Retain(r): mqtt::Retain) {
    assert_eq!(m.topic(), t.as_str());
    assert_eq!(m.qos(), q);
    assert_eq!(m.retain(), r);
    assert_eq!(
        m.payload_str().is_ok(),
        std::str::from_utf8(m.payload()).is_ok()
    );
}

#[mqtt::on_message("$SYS/{rest:#}")]
async fn sys(mqtt::Path(rest): mqtt::Path<Vec<String>>, topic: mqtt::Topic) {
    let expected: Vec<&str> = topic.split('/').skip(1).collect();
    // An empty `{rest:#}` is no levels (documented): `$SYS` (no level below) and `$SYS/`
    // (one empty level) both give `[]`.
    if expected != [""] {
        assert_eq!(rest, expected);
    } else {
        assert!(rest.is_empty());
    }
}

#[mqtt::on_message("$share/g/f/#")]
fn shared(p: mqtt::Payload, m: mqtt::Message) {
    assert_eq!(p.len(), m.payload().len());
}

#[mqtt::on_message("+")]
fn top(
    text: Option<mqtt::Text>,
    json: Result<mqtt::Json<Reading>, mqtt::JsonRejection>,
    m: mqtt::Message,
) {
    assert_eq!(text.is_some(), m.payload_str().is_ok());
    if let Err(e) = json {
        assert!(!e.to_string().is_empty());
    }
}

#[mqtt::on_message]
fn catch_all(m: mqtt::Message) {
    let _ = m.topic();
}

/// Every handler above with its filter (`None`: the catch-all).
const HANDLERS: &[(&str, Option<&str>)] = &[
    ("json_value", Some("f/+/json")),
    ("reading", Some("f/+/reading")),
    ("levels", Some("f/+/+/#")),
    ("text", Some("f/+/text")),
    ("wildcard", Some("+/#")),
    ("sys", Some("$SYS/#")),
    ("shared", Some("$share/g/f/#")),
    ("top", Some("+")),
    ("catch_all", None),
];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// A `TestClient` keeps every call; start a fresh one now and then to bound memory.
const INJECTIONS_PER_CLIENT: usize = 10_000;

static APP: Mutex<Option<(TestClient, usize)>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (topic, payload) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let topic = String::from_utf8_lossy(topic).into_owned();
    let qos = match flags % 3 {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    };
    let message = Message::new(topic, payload.to_vec(), qos, flags & 4 != 0);
    // A topic is cut at a NUL (see `Message::new`); the rest of the check uses what the
    // handlers see.
    let topic = message.topic().to_owned();

    let rt = runtime();
    let mut app = APP.lock().unwrap();
    if app
        .as_ref()
        .is_none_or(|(_, n)| *n >= INJECTIONS_PER_CLIENT)
    {
        let _guard = rt.enter();
        *app = Some((TestClient::new().unwrap(), 0));
    }
    let (client, injected) = app.as_mut().unwrap();
    *injected += 1;
    let calls = rt.block_on(client.inject(message));

    let mut expected: Vec<&str> = HANDLERS
        .iter()
        .filter(|(_, filter)| filter.is_some_and(|f| TopicFilter::new(f).unwrap().matches(&topic)))
        .map(|(name, _)| *name)
        .collect();
    if expected.is_empty() {
        expected.push("catch_all");
    }
    expected.sort_unstable();
    let mut called: Vec<&str> = calls
        .iter()
        .map(|c| c.handler().rsplit("::").next().unwrap_or_default())
        .collect();
    called.sort_unstable();
    assert_eq!(called, expected, "topic {topic:?}");
    for call in calls.iter() {
        assert!(
            !matches!(call.error(), Some(HandlerError::Panicked(_))),
            "{call:?} on {topic:?}"
        );
    }
});
