//! Bad input against a real Mosquitto, through the app's own client and handlers with
//! extractors: every message is either handled or rejected with a typed error and one
//! warning per handler (captured from the `log` facade and counted), and the app keeps
//! serving: a normal message afterwards is handled.
//!
//! - payloads: empty, 1 MiB, invalid UTF-8 (into `Text`, `Message::payload_str` and
//!   `Json`), 100,000 nested `[` (a typed rejection, not a stack overflow), JSON of the
//!   wrong shape;
//! - topics: 65535 bytes (the MQTT maximum; Mosquitto 2.0 accepts it), unicode levels,
//!   empty levels (`a//b`, `/a`, `a/`), `$SYS/...` (only handlers whose filter names
//!   `$SYS` see it; publishing there is denied by Mosquitto);
//! - what Mosquitto refuses: a topic with invalid UTF-8, NUL or a wildcard, or more than
//!   200 `/` (Mosquitto's `TOPIC_HIERARCHY_LIMIT`) costs the publisher its connection and
//!   never reaches the app; the app itself refuses to publish such a valid-but-refused
//!   topic (`Error::InvalidTopic`, see also `tests/topic_levels.rs`) and stays connected;
//! - `Mqtt::publish` with an invalid topic (wildcards, empty, NUL, too long) fails with
//!   `Error::InvalidTopic` on its first poll, connected or not;
//! - poison messages: a handler that panics or fails on one QoS 1 message is logged once
//!   for that handler and never called with it again, neither after a reconnect with the
//!   persistent session kept by the broker nor after a new client takes the session
//!   over; other handlers and later messages are unaffected;
//! - a handler stuck in a slow loop (a blocking sync one, an async one that sleeps, an
//!   async one that blocks its thread) does not stop dispatch to the others; one that
//!   blocks its thread after passing its probation for inline calls holds dispatch up
//!   for as long as it blocks, which is reported while it lasts, naming it.

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{unique, wait_until, Broker, LogLines, Observer, Recorder};
use mqtt::{Client, DisconnectReason};

const T: Duration = Duration::from_secs(20);

// ---- events ----

#[derive(Clone, Debug, PartialEq)]
enum Ev {
    Connect {
        client: String,
        reconnect: bool,
    },
    Disconnect {
        client: String,
        reason: DisconnectReason,
    },
    /// A handler ran (for poison handlers: was called) with a message.
    Handled {
        client: String,
        handler: &'static str,
        topic: String,
        detail: String,
    },
}

static EVENTS: Recorder<Ev> = Recorder::new();

fn record(c: &mqtt::Mqtt, handler: &'static str, topic: &str, detail: impl Into<String>) {
    EVENTS.push(Ev::Handled {
        client: c.client_id().to_owned(),
        handler,
        topic: topic.to_owned(),
        detail: detail.into(),
    });
}

/// `(handler, detail)` of every `Handled` event on `topic`, sorted.
fn handled(topic: &str) -> Vec<(&'static str, String)> {
    let mut out: Vec<_> = EVENTS.with(|evs| {
        evs.iter()
            .filter_map(|e| match e {
                Ev::Handled {
                    handler,
                    topic: t,
                    detail,
                    ..
                } if t == topic => Some((*handler, detail.clone())),
                _ => None,
            })
            .collect()
    });
    out.sort();
    out
}

// ---- log capture: the warnings are part of the contract ----

/// Every line of the process, Paho C's trace included, is logged (installed)...
const ALL_LINES: LogLines = LogLines::new("", log::Level::Debug);
/// ...and the `flask_mqtt::dispatch` ones are read; `warnings` picks the warnings.
const DISPATCH_LOG: LogLines = LogLines::new("flask_mqtt::dispatch", log::Level::Debug);

/// The `flask_mqtt::dispatch` warnings about a message on exactly `topic`, sorted.
fn warnings(topic: &str) -> Vec<String> {
    let needle = format!(" for message on `{topic}` ");
    let mut out: Vec<String> = DISPATCH_LOG
        .records()
        .into_iter()
        .filter(|l| l.level == log::Level::Warn && l.text.contains(&needle))
        .map(|l| l.text)
        .collect();
    out.sort();
    out
}

/// The warning dispatch logs when `handler` fails on `topic` (`what` is the rest).
fn warning(handler: &str, topic: &str, what: &str) -> String {
    format!("handler bad_input::{handler} for message on `{topic}` {what}")
}

/// Waits until the handlers of `topic` have all been heard from (`handled` events plus
/// warnings), then checks that exactly these happened, once each.
fn expect_outcome(topic: &str, want_handled: &[(&'static str, &str)], want_warnings: &[String]) {
    let want_handled: Vec<(&'static str, String)> = {
        let mut v: Vec<_> = want_handled
            .iter()
            .map(|(h, d)| (*h, (*d).to_owned()))
            .collect();
        v.sort();
        v
    };
    let mut want_warnings = want_warnings.to_vec();
    want_warnings.sort();
    let total = want_handled.len() + want_warnings.len();
    assert!(
        wait_until(T, || handled(topic).len() + warnings(topic).len() >= total),
        "topic {}: expected handled {want_handled:?} and warnings {want_warnings:#?}; got {:?} and {:#?}",
        short(topic),
        handled(topic),
        warnings(topic)
    );
    assert_eq!(handled(topic), want_handled, "topic {}", short(topic));
    assert_eq!(warnings(topic), want_warnings, "topic {}", short(topic));
}

/// `s`, cut for messages when it is long.
fn short(s: &str) -> String {
    if s.len() <= 80 {
        return s.to_owned();
    }
    let head: String = s.chars().take(60).collect();
    format!("{head}... ({} bytes)", s.len())
}

// ---- the app ----

#[mqtt::on_connect]
fn connected(c: mqtt::Mqtt, info: mqtt::Connected) {
    EVENTS.push(Ev::Connect {
        client: c.client_id().to_owned(),
        reconnect: info.is_reconnect(),
    });
}

#[mqtt::on_disconnect]
fn disconnected(c: mqtt::Mqtt, info: mqtt::Disconnected) {
    EVENTS.push(Ev::Disconnect {
        client: c.client_id().to_owned(),
        reason: info.reason().clone(),
    });
}

// ---- helpers ----

fn config(broker: &Broker) -> mqtt::ConfigBuilder {
    broker
        .config(unique("bi"))
        .reconnect_delay(Duration::from_millis(100), Duration::from_millis(500))
}

/// Waits until client `id` has connected `n` times with this `reconnect` flag.
fn wait_connects(m: &mqtt::Mqtt, reconnect: bool, n: usize) {
    let id = m.client_id().to_owned();
    let want = Ev::Connect {
        client: id.clone(),
        reconnect,
    };
    assert!(
        EVENTS.wait_for(T, |evs| evs.iter().filter(|e| **e == want).count() >= n),
        "{id} did not connect (reconnect: {reconnect}) {n} time(s); last error: {:?}",
        m.last_connect_error()
    );
}

fn start(broker: &Broker) -> (Client, mqtt::Mqtt) {
    ALL_LINES.install();
    let client = Client::start(config(broker).build().unwrap()).unwrap();
    let m = client.handle();
    wait_connects(&m, false, 1);
    (client, m)
}

/// Publishes a normal message and waits until it is handled: the app still serves.
fn still_serving(obs: &Observer, run: &str) {
    let topic = format!("bi/{run}-after/text");
    obs.publish(&topic, "still here", 1);
    expect_outcome(
        &topic,
        &[("raw_str", "10 bytes"), ("text", "10 bytes")],
        &[],
    );
}

// ---- the tests, by kind of input ----

#[path = "bad_input/payloads.rs"]
mod payloads;
#[path = "bad_input/poison.rs"]
mod poison;
#[path = "bad_input/refused.rs"]
mod refused;
#[path = "bad_input/topics.rs"]
mod topics;
