//! Every handler call is a `tracing` span `mqtt.handler` (handler, kind, broker, topic,
//! qos, outcome), every publish a span `mqtt.publish` (topic, qos, retain, broker,
//! outcome), a publish made in a handler is a child of the handler's span, and events a
//! handler logs belong to its span. Checked through a `tracing-subscriber` layer that
//! records the spans as they close; the dispatch is the real one (`mqtt::testing`).

// Test code: a failed expectation panics, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::Recorder;
use mqtt::testing::{self, TestClient};
use mqtt::QoS;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

const T: Duration = Duration::from_secs(10);

/// A closed span: its name, its fields, its parent's name, the events logged in it.
#[derive(Clone, Debug)]
struct Closed {
    name: &'static str,
    fields: BTreeMap<String, String>,
    parent: Option<&'static str>,
    events: Vec<String>,
}

impl Closed {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

static CLOSED: Recorder<Closed> = Recorder::new();

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

struct Events(Vec<String>);

/// Records each span's fields (at creation and later `record`s) and events, and pushes
/// the span to [`CLOSED`] when it closes.
struct Capture;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let span = ctx.span(id).unwrap();
        span.extensions_mut().insert(fields);
        span.extensions_mut().insert(Events(Vec::new()));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let span = ctx.span(id).unwrap();
        let mut ext = span.extensions_mut();
        if let Some(fields) = ext.get_mut::<Fields>() {
            values.record(fields);
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut ext = span.extensions_mut();
        if let Some(events) = ext.get_mut::<Events>() {
            events
                .0
                .push(fields.0.get("message").cloned().unwrap_or_default());
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let span = ctx.span(&id).unwrap();
        let ext = span.extensions();
        CLOSED.push(Closed {
            name: span.name(),
            fields: ext.get::<Fields>().map(|f| f.0.clone()).unwrap_or_default(),
            parent: span.parent().map(|p| p.name()),
            events: ext.get::<Events>().map(|e| e.0.clone()).unwrap_or_default(),
        });
    }
}

fn install() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Capture))
            .unwrap();
    });
}

/// The closed span named `name` whose `topic` field is `topic`, waited for.
fn span(name: &str, topic: &str) -> Closed {
    let found = |c: &Closed| c.name == name && c.field("topic") == Some(topic);
    assert!(
        CLOSED.wait_for(T, |all| all.iter().any(found)),
        "no {name} span for `{topic}` in {:#?}",
        CLOSED.snapshot()
    );
    CLOSED.with(|all| all.iter().find(|c| found(c)).cloned().unwrap())
}

#[derive(serde::Deserialize)]
struct Reading {
    #[allow(dead_code)]
    celsius: f64,
}

#[mqtt::on_message("spans/ok/+", qos = 1)]
fn ok(msg: mqtt::Message) {
    tracing::info!("handling {}", msg.topic());
}

#[mqtt::on_message("spans/error")]
fn fails() -> Result<(), String> {
    Err("no".to_owned())
}

#[mqtt::on_message("spans/panic")]
fn panics() {
    panic!("boom");
}

#[mqtt::on_message("spans/rejected")]
fn rejects(_reading: mqtt::Json<Reading>) {}

#[mqtt::on_message("spans/relay")]
async fn relay(client: mqtt::Mqtt) -> Result<(), mqtt::Error> {
    client
        .publish("spans/relayed", "x")
        .qos(QoS::AtLeastOnce)
        .retain(true)
        .await
}

#[tokio::test]
async fn each_handler_call_is_a_span_with_its_outcome() {
    install();
    let app = TestClient::new().unwrap();
    let calls = app
        .inject(testing::message("spans/ok/7", "").qos(QoS::AtLeastOnce))
        .await;
    assert!(calls.all_ok(), "{calls:?}");
    let s = span("mqtt.handler", "spans/ok/7");
    assert_eq!(s.field("handler"), Some("tracing_spans::ok"));
    assert_eq!(s.field("kind"), Some("on_message"));
    assert_eq!(s.field("broker"), Some("MQTT"));
    assert_eq!(s.field("qos"), Some("1"));
    assert_eq!(s.field("outcome"), Some("ok"));
    assert_eq!(s.field("otel.kind"), Some("consumer"));
    assert_eq!(s.field("otel.status_code"), None, "{s:?}");
    assert_eq!(
        s.events,
        ["handling spans/ok/7"],
        "the handler's log is in its span"
    );

    for (topic, payload, handler, outcome) in [
        ("spans/error", "", "tracing_spans::fails", "error"),
        ("spans/panic", "", "tracing_spans::panics", "panic"),
        (
            "spans/rejected",
            "not json",
            "tracing_spans::rejects",
            "rejected",
        ),
    ] {
        let calls = app.inject(testing::message(topic, payload)).await;
        assert!(!calls.all_ok(), "{topic}: {calls:?}");
        let s = span("mqtt.handler", topic);
        assert_eq!(s.field("handler"), Some(handler), "{s:?}");
        assert_eq!(s.field("qos"), Some("0"), "{s:?}");
        assert_eq!(s.field("outcome"), Some(outcome), "{s:?}");
        assert_eq!(s.field("otel.status_code"), Some("ERROR"), "{s:?}");
    }
}

#[tokio::test]
async fn a_publish_is_a_span_inside_the_handler_that_made_it() {
    install();
    let app = TestClient::new().unwrap().state(Arc::new(()));
    let calls = app.inject(testing::message("spans/relay", "")).await;
    assert!(calls.all_ok(), "{calls:?}");
    let s = span("mqtt.publish", "spans/relayed");
    assert_eq!(s.parent, Some("mqtt.handler"), "{s:?}");
    assert_eq!(s.field("qos"), Some("1"));
    assert_eq!(s.field("retain"), Some("true"));
    assert_eq!(s.field("broker"), Some("MQTT"));
    assert_eq!(s.field("outcome"), Some("ok"));
    assert_eq!(s.field("otel.kind"), Some("producer"));
    assert_eq!(app.published().len(), 1);
}

#[tokio::test]
async fn a_publish_with_an_invalid_topic_is_an_error_span() {
    install();
    let app = TestClient::new().unwrap();
    let res = app.client().publish("spans/bad/#", "x").await;
    assert!(res.is_err());
    let s = span("mqtt.publish", "spans/bad/#");
    assert_eq!(s.parent, None);
    assert_eq!(s.field("outcome"), Some("error"));
    assert_eq!(s.field("otel.status_code"), Some("ERROR"));
}
