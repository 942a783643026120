//! The metrics exposition itself, without Prometheus: every family in both text formats,
//! the labels and values of known handler calls (driven through `TestClient`), clients
//! with `MQTT_METRICS=false` left out, and `mqtt::metrics` over HTTP choosing the format
//! by the `Accept` header (against a real Mosquitto).

// Test code: a failed expectation panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix_web::http::header::{ACCEPT, CONTENT_TYPE};
use actix_web::{test, web, App};
use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{unique, Broker, Recorder};
use mqtt::testing::{message, TestClient};
use mqtt::{MetricsCollector, MetricsFormat};

/// The `Accept` header Prometheus 2.x scrapes with (no protobuf).
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

static EVENTS: Recorder<String> = Recorder::new();

#[mqtt::on_connect]
fn connected() {
    EVENTS.push("connect".into());
}

#[mqtt::on_message("t/ok", qos = 1)]
fn ok() {}

#[mqtt::on_message("t/fail")]
fn fails() -> Result<(), String> {
    Err("no".into())
}

#[mqtt::on_message("t/panic")]
fn panics() {
    panic!("on purpose");
}

#[mqtt::on_message("t/number")]
fn number(_n: mqtt::Json<u32>) {}

/// The task each async handler below was first polled on, by handler: the injecting
/// test's own task when the call was made inline (see
/// `with_metrics_and_the_testing_observer_each_call_counts_once_in_each`).
static POLLED_ON: Recorder<(&'static str, Option<tokio::task::Id>)> = Recorder::new();

#[mqtt::on_message("t/async/ok")]
async fn async_ok() {
    POLLED_ON.push(("ok", tokio::task::try_id()));
}

#[mqtt::on_message("t/async/fail")]
async fn async_fails() -> Result<(), String> {
    POLLED_ON.push(("fails", tokio::task::try_id()));
    Err("no".into())
}

#[mqtt::on_message("t/async/number")]
async fn async_number(_n: mqtt::Json<u32>) {}

/// Waits once: a call made inline returns `Pending` from its first poll and ends on its
/// worker (the `settle` and `resume` of an inline call), polled on another task.
#[mqtt::on_message("t/async/yield")]
async fn async_yields() {
    POLLED_ON.push(("yields", tokio::task::try_id()));
    tokio::task::yield_now().await;
    POLLED_ON.push(("yields, then", tokio::task::try_id()));
}

/// Calls of the two `mixed` handlers so far, by handler.
static MIXED_CALLS: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];

/// Every third call waits once, and goes on on the handler's worker (on either of the
/// runtime's threads); the others end where they began: inline on the dispatching
/// thread when the handler was idle, else on its worker.
async fn mixed(handler: usize) {
    if MIXED_CALLS[handler].fetch_add(1, Ordering::Relaxed) % 3 == 0 {
        tokio::task::yield_now().await;
    }
}

/// One call at a time (the default): its metrics are recorded without atomic
/// read-modify-writes.
#[mqtt::on_message("t/mixed/one")]
async fn mixed_one() {
    mixed(0).await;
}

/// Up to four calls at once: its metrics are recorded with atomic adds.
#[mqtt::on_message("t/mixed/four", concurrency = 4)]
async fn mixed_four() {
    mixed(1).await;
}

#[mqtt::on_message("t/publish")]
async fn publishes(client: mqtt::Mqtt) -> mqtt::Result<()> {
    client
        .publish("t/out", "x")
        .qos(mqtt::QoS::ExactlyOnce)
        .await
}

/// The lines of `text` that start with `prefix`.
fn lines<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

fn assert_line(text: &str, line: &str) {
    assert!(
        text.lines().any(|l| l == line),
        "no line `{line}` in:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_family_with_the_labels_and_values_of_the_calls() {
    let app = TestClient::new().unwrap();
    app.inject(message("t/ok", "x").qos(mqtt::QoS::AtLeastOnce))
        .await;
    app.inject(message("t/ok", "x")).await;
    app.inject(message("t/fail", "x")).await;
    app.inject(message("t/panic", "x")).await;
    app.inject(message("t/number", "not a number")).await;
    app.inject(message("t/number", "7")).await;
    app.inject(message("t/publish", "x")).await;

    let metrics = MetricsCollector::new([app.client().clone()]).unwrap();
    assert!(!metrics.is_empty());
    let text = metrics.render(MetricsFormat::OpenMetrics);
    println!("{text}");

    // Every family, in order, with its type (and unit), once.
    let types: Vec<&str> = lines(&text, "# TYPE ");
    assert_eq!(
        types,
        [
            "# TYPE mqtt_messages_received counter",
            "# TYPE mqtt_handler_calls counter",
            "# TYPE mqtt_handler_duration_seconds histogram",
            "# TYPE mqtt_handler_queue_depth gauge",
            "# TYPE mqtt_connected gauge",
            "# TYPE mqtt_connects counter",
            "# TYPE mqtt_connection_losses counter",
            "# TYPE mqtt_messages_published counter",
            "# TYPE mqtt_buffered_publishes gauge",
            "# TYPE mqtt_unacknowledged_messages gauge",
            "# TYPE mqtt_released_messages gauge",
        ]
    );
    assert_line(&text, "# UNIT mqtt_handler_duration_seconds seconds");
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with `# EOF`");

    // Received, by QoS.
    assert_eq!(
        lines(&text, "mqtt_messages_received_total"),
        [
            "mqtt_messages_received_total{broker=\"MQTT\",qos=\"0\"} 6",
            "mqtt_messages_received_total{broker=\"MQTT\",qos=\"1\"} 1",
            "mqtt_messages_received_total{broker=\"MQTT\",qos=\"2\"} 0",
        ]
    );
    // Calls by handler (named as the logs name them) and outcome: all four outcomes of
    // every handler, in registry order.
    for (handler, counts) in [
        ("metrics_text::connected", [0, 0, 0, 0]),
        ("metrics_text::fails", [0, 1, 0, 0]),
        ("metrics_text::number", [1, 0, 1, 0]),
        ("metrics_text::ok", [2, 0, 0, 0]),
        ("metrics_text::panics", [0, 0, 0, 1]),
        ("metrics_text::publishes", [1, 0, 0, 0]),
    ] {
        let expected: Vec<String> = ["ok", "error", "rejected", "panic"]
            .iter()
            .zip(counts)
            .map(|(outcome, n)| {
                format!(
                    "mqtt_handler_calls_total{{handler=\"{handler}\",outcome=\"{outcome}\"}} {n}"
                )
            })
            .collect();
        assert_eq!(
            lines(
                &text,
                &format!("mqtt_handler_calls_total{{handler=\"{handler}\"")
            ),
            expected
        );
    }
    // The histogram: 16 buckets and +Inf, count and sum per handler.
    let ok_buckets: Vec<&str> = lines(&text, "mqtt_handler_duration_seconds_bucket{")
        .into_iter()
        .filter(|l| l.contains("handler=\"metrics_text::ok\""))
        .collect();
    assert_eq!(ok_buckets.len(), 17, "{ok_buckets:?}");
    let bounds: Vec<&str> = ok_buckets
        .iter()
        .filter_map(|l| l.split('"').nth(1))
        .collect();
    assert_eq!(
        bounds,
        [
            "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
            "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "+Inf"
        ]
    );
    assert_eq!(
        ok_buckets.last().copied(),
        Some("mqtt_handler_duration_seconds_bucket{le=\"+Inf\",handler=\"metrics_text::ok\"} 2")
    );
    assert_line(
        &text,
        "mqtt_handler_duration_seconds_count{handler=\"metrics_text::ok\"} 2",
    );
    assert_line(
        &text,
        "mqtt_handler_duration_seconds_count{handler=\"metrics_text::number\"} 2",
    );
    assert_line(
        &text,
        "mqtt_handler_queue_depth{handler=\"metrics_text::ok\"} 0",
    );
    // The test client is connected (it says so to its handlers) and records publishes.
    assert_line(&text, "mqtt_connected{broker=\"MQTT\"} 1");
    assert_line(&text, "mqtt_connects_total{broker=\"MQTT\"} 0");
    assert_line(&text, "mqtt_connection_losses_total{broker=\"MQTT\"} 0");
    assert_eq!(
        lines(&text, "mqtt_messages_published_total"),
        [
            "mqtt_messages_published_total{broker=\"MQTT\",qos=\"0\",outcome=\"ok\"} 0",
            "mqtt_messages_published_total{broker=\"MQTT\",qos=\"0\",outcome=\"error\"} 0",
            "mqtt_messages_published_total{broker=\"MQTT\",qos=\"1\",outcome=\"ok\"} 0",
            "mqtt_messages_published_total{broker=\"MQTT\",qos=\"1\",outcome=\"error\"} 0",
            "mqtt_messages_published_total{broker=\"MQTT\",qos=\"2\",outcome=\"ok\"} 1",
            "mqtt_messages_published_total{broker=\"MQTT\",qos=\"2\",outcome=\"error\"} 0",
        ]
    );
    assert_line(&text, "mqtt_buffered_publishes{broker=\"MQTT\"} 0");
    assert_line(&text, "mqtt_unacknowledged_messages{broker=\"MQTT\"} 0");
    assert_line(&text, "mqtt_released_messages{broker=\"MQTT\"} 0");

    // The classic text format: the same series, `_total` in the family name, no `# EOF`.
    let classic = metrics.render(MetricsFormat::PrometheusText);
    assert_line(&classic, "# TYPE mqtt_messages_received_total counter");
    assert_line(
        &classic,
        "mqtt_messages_received_total{broker=\"MQTT\",qos=\"0\"} 6",
    );
    assert_line(
        &classic,
        "mqtt_handler_calls_total{handler=\"metrics_text::panics\",outcome=\"panic\"} 1",
    );
    assert!(!classic.contains("# EOF"));
}

/// The metrics are recorded directly and the `testing` observer is told after them
/// (BENCHMARKS.md item 49): with both on, every call counts once in each, on every path
/// a call takes. Sync handlers are always called on their workers; async ones are called
/// inline after 16 quick calls in a row on their workers (`dispatch::trust`), so 40
/// rounds or more make the later calls of each async handler inline: one that returns
/// at once (the fast path), one that fails, one whose argument is rejected, and one
/// that waits (its call goes on on its worker).
///
/// `TestClient::inject` dispatches on the test's own task, so a call made inline is first
/// polled on that task, and a call on a worker on the worker's task: each async handler
/// but the rejected one (whose body never runs) records the task it was first polled on,
/// and the test asserts that some calls of each were made inline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_metrics_and_the_testing_observer_each_call_counts_once_in_each() {
    let app = TestClient::new().unwrap();
    // Made inline: first polled on this task (no other test injects these topics).
    let here = tokio::task::try_id();
    let inline = |handler: &str| POLLED_ON.count(|&(h, on)| h == handler && on == here);
    let detected = ["ok", "fails", "yields"];
    // At least 40 rounds, and more (up to a bound) until a call of each handler that
    // records it was made inline: a loaded machine can send a handler back on probation
    // (one poll longer than `trust::BOUND`).
    let mut rounds = 0;
    while rounds < 40 || (rounds < 1_000 && detected.iter().any(|h| inline(h) == 0)) {
        rounds += 1;
        for (topic, payload) in [
            ("t/ok", "x"),
            ("t/fail", "x"),
            ("t/panic", "x"),
            ("t/number", "not a number"),
            ("t/async/ok", "x"),
            ("t/async/fail", "x"),
            ("t/async/number", "not a number"),
            ("t/async/yield", "x"),
        ] {
            let calls = app.inject(message(topic, payload)).await;
            assert_eq!(calls.len(), 1, "{topic}: {calls:?}");
        }
    }
    assert_eq!(app.calls().len(), 8 * rounds);
    let text = MetricsCollector::new([app.client().clone()])
        .unwrap()
        .render(MetricsFormat::OpenMetrics);
    for (handler, outcome) in [
        ("ok", "ok"),
        ("fails", "error"),
        ("panics", "panic"),
        ("number", "rejected"),
        ("async_ok", "ok"),
        ("async_fails", "error"),
        ("async_number", "rejected"),
        ("async_yields", "ok"),
    ] {
        assert_eq!(
            app.calls().iter().filter(|c| c.is(handler)).count(),
            rounds,
            "{handler}"
        );
        assert_line(
            &text,
            &format!(
                "mqtt_handler_calls_total{{handler=\"metrics_text::{handler}\",outcome=\"{outcome}\"}} {rounds}"
            ),
        );
        assert_line(
            &text,
            &format!(
                "mqtt_handler_duration_seconds_count{{handler=\"metrics_text::{handler}\"}} {rounds}"
            ),
        );
    }
    for handler in detected {
        let polled = POLLED_ON.count(|(h, _)| *h == handler);
        let inline = inline(handler);
        assert_eq!(polled, rounds, "{handler}");
        assert!(
            inline > 0 && inline < rounds,
            "{handler}: {inline} of {rounds} calls made inline"
        );
    }
    // After waiting, every call went on on its worker.
    assert_eq!(
        POLLED_ON.count(|&(h, on)| h == "yields, then" && on == here),
        0
    );
}

/// Events dispatched back to back, without waiting for their calls, to a handler that
/// runs one call at a time and to one that runs four, on a two-thread runtime: calls
/// end on the workers and (when a handler is idle) inline, on either thread. Every call
/// is counted, in its outcome and in its duration histogram: none lost to two calls
/// recording at once. (A smoke test: the race it would show is a few instructions
/// wide; `dispatch::measure`'s unit test pins which handlers record without atomics.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_ending_on_several_threads_are_each_counted() {
    const EVENTS: usize = 3_000;
    let app = TestClient::new().unwrap();
    let mut pending = Vec::with_capacity(2 * EVENTS);
    for _ in 0..EVENTS {
        pending.push(app.inject(message("t/mixed/one", "x")));
        pending.push(app.inject(message("t/mixed/four", "x")));
    }
    let calls = tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(pending))
        .await
        .expect("every call ended within 60 s");
    assert!(calls.iter().all(|c| c.len() == 1 && c.all_ok()));
    let text = MetricsCollector::new([app.client().clone()])
        .unwrap()
        .render(MetricsFormat::OpenMetrics);
    for handler in ["mixed_one", "mixed_four"] {
        assert_line(
            &text,
            &format!(
                "mqtt_handler_calls_total{{handler=\"metrics_text::{handler}\",outcome=\"ok\"}} {EVENTS}"
            ),
        );
        assert_line(
            &text,
            &format!(
                "mqtt_handler_duration_seconds_count{{handler=\"metrics_text::{handler}\"}} {EVENTS}"
            ),
        );
    }
}

#[tokio::test]
async fn a_client_with_metrics_off_records_nothing_and_is_left_out() {
    // The default client's prefix, so that a handler of this binary runs: a call that
    // happened is what it must not record.
    let off =
        TestClient::with_config(mqtt::Config::builder().metrics(false).build().unwrap()).unwrap();
    let calls = off.inject(message("t/ok", "x")).await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls.all_ok(), "{calls:?}");
    assert!(MetricsCollector::new([off.client().clone()])
        .unwrap()
        .is_empty());
    assert!(MetricsCollector::new([]).unwrap().is_empty());

    let on = TestClient::new().unwrap();
    let alone = MetricsCollector::new([on.client().clone()])
        .unwrap()
        .render(MetricsFormat::OpenMetrics);
    // The call of `off` is nowhere, not in the series of a client with metrics on either.
    assert_line(
        &alone,
        "mqtt_handler_calls_total{handler=\"metrics_text::ok\",outcome=\"ok\"} 0",
    );
    let both = MetricsCollector::new([on.client().clone(), off.client().clone()]).unwrap();
    assert!(!both.is_empty());
    let text = both.render(MetricsFormat::OpenMetrics);
    assert!(text.contains("broker=\"MQTT\""));
    assert_eq!(text, alone, "the client with metrics off is left out");
}

#[actix_web::test]
async fn the_http_handler_answers_in_the_format_asked_for() {
    let broker = Broker::start();
    mqtt::init_with(broker.config(unique("metrics-text")).build().unwrap()).unwrap();
    let app = test::init_service(
        App::new()
            .configure(mqtt::configure)
            .route("/metrics", web::get().to(mqtt::metrics)),
    )
    .await;
    let connected = actix_web::rt::task::spawn_blocking(|| {
        EVENTS.wait_for(Duration::from_secs(15), |e| {
            e.iter().any(|x| x == "connect")
        })
    })
    .await
    .unwrap();
    assert!(connected, "never connected: {}", broker.log());

    let req = test::TestRequest::get()
        .uri("/metrics")
        .insert_header((ACCEPT, PROMETHEUS_ACCEPT))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers().get(CONTENT_TYPE).unwrap(),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let body = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert!(body.ends_with("# EOF\n"));
    assert_line(&body, "mqtt_connected{broker=\"MQTT\"} 1");
    assert_line(&body, "mqtt_connects_total{broker=\"MQTT\"} 1");

    let req = test::TestRequest::get().uri("/metrics").to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers().get(CONTENT_TYPE).unwrap(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let body = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert_line(&body, "# TYPE mqtt_connects_total counter");
    assert_line(&body, "mqtt_connects_total{broker=\"MQTT\"} 1");
}
