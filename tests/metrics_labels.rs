//! Handlers that share a `module::function` name get distinct `handler` labels: two
//! functions of one name declared in two blocks of a module (`module_path!` does not
//! name the function around them), and one function under two attributes. A repeated
//! label set in a family is invalid OpenMetrics (Prometheus rejects the scrape) and, in
//! the classic format, two series that Prometheus cannot tell apart.
//!
//! Driven through `TestClient` (no broker: the exposition alone is under test).

// Test code: a failed expectation panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use flask_mqtt_actix as mqtt;
use mqtt::testing::{message, TestClient};
use mqtt::{MetricsCollector, MetricsFormat};

#[allow(dead_code)] // holds a handler: never called itself
fn kitchen() {
    #[mqtt::on_message("labels/kitchen")]
    fn reading() {}
}

#[allow(dead_code)] // holds a handler: never called itself
fn garage() {
    #[mqtt::on_message("labels/garage")]
    fn reading() {}
}

#[mqtt::on_message("labels/a")]
#[mqtt::on_message("labels/b")]
fn stacked() {}

/// The series lines of `text` (neither comments nor `# EOF`) whose name starts with
/// `family`.
fn series<'a>(text: &'a str, family: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(family)).collect()
}

/// The series of `lines` (name and labels, value dropped) that appear more than once.
fn repeated<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let mut seen = BTreeSet::new();
    lines
        .iter()
        .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series))
        .filter(|series| !seen.insert(*series))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_of_one_name_have_distinct_series() {
    let app = TestClient::new().unwrap();
    for topic in ["labels/kitchen", "labels/kitchen", "labels/garage"] {
        app.inject(message(topic, "x")).await;
    }
    for topic in ["labels/a", "labels/b", "labels/b", "labels/b"] {
        app.inject(message(topic, "x")).await;
    }
    let metrics = MetricsCollector::new([app.client().clone()]).unwrap();

    for format in [MetricsFormat::OpenMetrics, MetricsFormat::PrometheusText] {
        let text = metrics.render(format);
        for family in [
            "mqtt_handler_calls_total{",
            "mqtt_handler_duration_seconds_",
            "mqtt_handler_queue_depth{",
        ] {
            let lines = series(&text, family);
            assert!(!lines.is_empty(), "no {family} in:\n{text}");
            assert_eq!(
                repeated(&lines),
                Vec::<&str>::new(),
                "{format:?}: series repeated in:\n{text}"
            );
        }
    }

    // Which is which: the second and further of one name get `#2`, `#3`, ... in the
    // order of their filters (`labels/garage` before `labels/kitchen`).
    let text = metrics.render(MetricsFormat::OpenMetrics);
    for (handler, ok) in [
        ("metrics_labels::reading", 1),
        ("metrics_labels::reading#2", 2),
        ("metrics_labels::stacked", 1),
        ("metrics_labels::stacked#2", 3),
    ] {
        let line = format!("mqtt_handler_calls_total{{handler=\"{handler}\",outcome=\"ok\"}} {ok}");
        assert!(
            text.lines().any(|l| l == line),
            "no line `{line}` in:\n{text}"
        );
    }
}
