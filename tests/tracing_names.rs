//! A handler has one name in its log lines, its `mqtt.handler` span and its metrics
//! series: handlers that share a `module::function` (functions of one name in two blocks
//! of a module, one function under two attributes) are `module::function#2`, ... in all
//! three, so that a failure's warning leads to its span and its series. Handlers of two
//! clients never share a name, so that one collector of both repeats no series; and a
//! collector refuses two clients of one prefix, whose every series would repeat.
//!
//! Driven through `TestClient` (no broker: the names are under test).

// Test code: a failed expectation panics, helpers included.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{LogLines, Recorder};
use mqtt::testing::{message, TestClient};
use mqtt::{MetricsCollector, MetricsFormat};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

const T: Duration = Duration::from_secs(10);

/// Handler failures are warnings of `flask_mqtt::dispatch`.
const DISPATCH_WARNINGS: LogLines = LogLines::new("flask_mqtt::dispatch", log::Level::Warn);

#[allow(dead_code)] // holds a handler: never called itself
fn kitchen() {
    #[mqtt::on_message("names/kitchen")]
    fn reading() -> Result<(), String> {
        Err("sensor unplugged".to_owned())
    }
}

#[allow(dead_code)] // holds a handler: never called itself
fn garage() {
    #[mqtt::on_message("names/garage")]
    fn reading() -> Result<(), String> {
        Err("sensor unplugged".to_owned())
    }
}

/// One function, a handler of each client.
#[mqtt::on_message("names/both")]
#[mqtt::on_message("names/both", broker = "MQTT2")]
fn both() {}

/// Hand-written handlers of one name (`tracing_names::broken`) whose filters are no
/// filters (`#` not last), of a client no other test makes: skipped, with an error each.
mod broken {
    use super::mqtt::__private::{
        inventory, EventContext, HandlerDescriptor, HandlerFn, HandlerKind, Outcome,
    };

    fn call(_: std::sync::Arc<EventContext>) -> Outcome {
        Ok(None)
    }

    const fn broken(filter: &'static str) -> HandlerDescriptor {
        HandlerDescriptor::new(
            HandlerKind::Message,
            "broken",
            "tracing_names",
            HandlerFn::Sync(call),
        )
        .with_filter(filter)
        .with_broker(super::BROKEN)
    }

    // Numbered in the order of their filters: `skipped/#/a` first.
    inventory::submit! { broken("skipped/#/a") }
    inventory::submit! { broken("skipped/#/b") }
}

/// The prefix of the client of the `broken` handlers.
const BROKEN: &str = "NAMES_BROKEN";

/// The fields of the closed spans, oldest first.
static CLOSED: Recorder<BTreeMap<String, String>> = Recorder::new();

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

/// Records each span's fields and pushes them to [`CLOSED`] when it closes.
struct Capture;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        ctx.span(id).unwrap().extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let span = ctx.span(id).unwrap();
        let mut ext = span.extensions_mut();
        if let Some(fields) = ext.get_mut::<Fields>() {
            values.record(fields);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let span = ctx.span(&id).unwrap();
        let fields = span.extensions().get::<Fields>().map(|f| f.0.clone());
        CLOSED.push(fields.unwrap_or_default());
    }
}

fn install() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Capture))
            .unwrap();
    });
    DISPATCH_WARNINGS.install();
}

/// The series lines of `text` (name and labels, value dropped) of the handler families
/// that appear more than once.
fn repeated(text: &str) -> Vec<&str> {
    let mut seen = BTreeSet::new();
    text.lines()
        .filter(|l| l.starts_with("mqtt_handler_"))
        .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series))
        .filter(|series| !seen.insert(*series))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_has_one_name_in_its_warning_span_and_series() {
    install();
    let app = TestClient::new().unwrap();
    let calls = app.inject(message("names/kitchen", "x")).await;
    assert!(!calls.all_ok(), "{calls:?}");

    // The two `reading`s are numbered in the order of their filters: `names/garage`'s
    // is `reading`, `names/kitchen`'s `reading#2`.
    let name = "tracing_names::reading#2";
    let on_kitchen = |l: &str| l.contains("`names/kitchen`");
    assert!(
        DISPATCH_WARNINGS.wait_for_line(T, on_kitchen),
        "no warning for `names/kitchen` in {:#?}",
        DISPATCH_WARNINGS.snapshot()
    );
    let warnings = DISPATCH_WARNINGS.snapshot();
    let warning = warnings.iter().find(|l| on_kitchen(l)).unwrap();
    assert!(
        warning.starts_with(&format!("handler {name} for message on `names/kitchen`")),
        "{warning}"
    );

    let is_kitchen =
        |f: &BTreeMap<String, String>| f.get("topic").map(String::as_str) == Some("names/kitchen");
    assert!(
        CLOSED.wait_for(T, |all| all.iter().any(is_kitchen)),
        "no span for `names/kitchen` in {:#?}",
        CLOSED.snapshot()
    );
    let span = CLOSED.with(|all| all.iter().find(|f| is_kitchen(f)).cloned().unwrap());
    assert_eq!(
        span.get("handler").map(String::as_str),
        Some(name),
        "{span:?}"
    );

    let text = MetricsCollector::new([app.client().clone()])
        .unwrap()
        .render(MetricsFormat::OpenMetrics);
    let line = format!("mqtt_handler_calls_total{{handler=\"{name}\",outcome=\"error\"}} 1");
    assert!(
        text.lines().any(|l| l == line),
        "no line `{line}` in:\n{text}"
    );
}

/// `TestClient` records each call under the handler's name, numbered as in the logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_clients_calls_have_the_numbered_name() {
    let app = TestClient::new().unwrap();
    let calls = app.inject(message("names/kitchen", "x")).await;
    let handlers: Vec<&str> = calls.iter().map(|c| c.handler()).collect();
    assert_eq!(handlers, ["tracing_names::reading#2"]);
    assert!(calls.handler("reading#2").is_some(), "{calls:?}");
    assert!(calls.handler("reading").is_none(), "{calls:?}");
    let calls = app.inject(message("names/garage", "x")).await;
    let handlers: Vec<&str> = calls.iter().map(|c| c.handler()).collect();
    assert_eq!(handlers, ["tracing_names::reading"]);
}

/// A handler skipped for its invalid filter is named in its error as in every other
/// line: the second `broken` is `broken#2` there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skipped_handler_has_the_numbered_name() {
    install();
    let _app = TestClient::for_broker(BROKEN).unwrap();
    let on_b = |l: &str| l.contains("`skipped/#/b`");
    assert!(
        DISPATCH_WARNINGS.wait_for_line(T, on_b),
        "no error for `skipped/#/b` in {:#?}",
        DISPATCH_WARNINGS.snapshot()
    );
    let lines = DISPATCH_WARNINGS.snapshot();
    let skipped: Vec<&String> = lines.iter().filter(|l| l.contains("`skipped/#/")).collect();
    let a = skipped
        .iter()
        .find(|l| l.contains("`skipped/#/a`"))
        .unwrap();
    let b = skipped.iter().find(|l| on_b(l)).unwrap();
    assert!(
        a.starts_with("handler tracing_names::broken skipped: "),
        "{a}"
    );
    assert!(
        b.starts_with("handler tracing_names::broken#2 skipped: "),
        "{b}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_of_two_clients_never_share_a_name() {
    let first = TestClient::new().unwrap();
    let second = TestClient::for_broker("MQTT2").unwrap();
    assert!(first.inject(message("names/both", "x")).await.all_ok());
    assert!(second.inject(message("names/both", "x")).await.all_ok());
    let metrics = MetricsCollector::new([first.client().clone(), second.client().clone()]).unwrap();
    for format in [MetricsFormat::OpenMetrics, MetricsFormat::PrometheusText] {
        let text = metrics.render(format);
        assert_eq!(
            repeated(&text),
            Vec::<&str>::new(),
            "{format:?}: series repeated in:\n{text}"
        );
    }
    // Numbered in the order of their attributes: the default client's first.
    let text = metrics.render(MetricsFormat::OpenMetrics);
    for handler in ["tracing_names::both", "tracing_names::both#2"] {
        let line = format!("mqtt_handler_calls_total{{handler=\"{handler}\",outcome=\"ok\"}} 1");
        assert!(
            text.lines().any(|l| l == line),
            "no line `{line}` in:\n{text}"
        );
    }
}

/// Two clients of one prefix would repeat every series (their `broker` label is the
/// prefix, their handlers are the same): refused, whether they are two clients or one
/// client twice. Clients that record nothing repeat nothing and are taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_refuses_two_clients_of_one_prefix() {
    let first = TestClient::new().unwrap();
    let second = TestClient::new().unwrap();
    let refused = |clients: [&TestClient; 2]| match MetricsCollector::new(
        clients.map(|c| c.client().clone()),
    ) {
        Err(mqtt::Error::RepeatedPrefix { prefix, .. }) => prefix,
        other => panic!("not refused: {other:?}"),
    };
    assert_eq!(refused([&first, &second]), "MQTT");
    assert_eq!(refused([&first, &first]), "MQTT");
    let e = MetricsCollector::new([first.client().clone(), second.client().clone()]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "two clients with the configuration prefix `MQTT` (or one client twice) in one metrics collector: their series would repeat; give each client its own prefix, or each one a collector"
    );

    let other = TestClient::for_broker("MQTT2").unwrap();
    let off = || {
        let config = mqtt::Config::builder().metrics(false).build().unwrap();
        TestClient::with_config(config).unwrap()
    };
    let (off1, off2) = (off(), off());
    let taken =
        MetricsCollector::new([&first, &other, &off1, &off2].map(|c| c.client().clone())).unwrap();
    let text = taken.render(MetricsFormat::OpenMetrics);
    assert_eq!(
        repeated(&text),
        Vec::<&str>::new(),
        "series repeated in:\n{text}"
    );
}
