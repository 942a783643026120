//! W3C trace context crosses MQTT (feature `opentelemetry`): one trace from an HTTP
//! request, through the publish it makes, a real Mosquitto (MQTT 5), to the handler
//! that receives the message, exported by the OpenTelemetry SDK's in-memory exporter;
//! a third-party client (`mosquitto_sub`) reads the same `traceparent` user property;
//! a malformed `traceparent` from the network starts a new trace instead.
//!
//! One test per binary: the client is per process.

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse};
use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{
    blocking, http, mosquitto_pub, serve, unique, Broker, MosquittoSub, Recorder,
};
use opentelemetry::trace::{SpanId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

const T: Duration = Duration::from_secs(15);

static EVENTS: Recorder<String> = Recorder::new();

#[mqtt::on_connect]
fn connected() {
    EVENTS.push("connect".into());
}

#[mqtt::on_message("otel/orders/+", qos = 1)]
async fn order(msg: mqtt::Message) {
    EVENTS.push(format!("order {}", msg.topic()));
}

/// The HTTP side: the request's span (as a tracing middleware would open it) is the
/// root of the trace; the publish is made inside it.
async fn post_order(client: mqtt::Mqtt) -> HttpResponse {
    let span = tracing::info_span!("POST /orders");
    let publish = client
        .publish("otel/orders/1", "one order")
        .qos(mqtt::QoS::AtLeastOnce);
    match publish.send().instrument(span).await {
        Ok(()) => HttpResponse::Accepted().finish(),
        Err(e) => HttpResponse::ServiceUnavailable().body(e.to_string()),
    }
}

/// The SDK's in-memory exporter behind `tracing-opentelemetry`, as the global
/// subscriber.
fn exporter() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("tests"));
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .unwrap();
        exporter
    })
}

/// The exported span named `name` that `pred` accepts, waited for (spans are exported
/// when they end).
fn exported(name: &str, pred: impl Fn(&SpanData) -> bool) -> SpanData {
    let deadline = Instant::now() + T;
    loop {
        let spans = exporter().get_finished_spans().unwrap();
        if let Some(s) = spans.iter().find(|s| s.name == name && pred(s)) {
            return s.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no {name} span; exported: {:#?}",
            spans
                .iter()
                .map(|s| (&s.name, &s.attributes))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

async fn wait_event(what: String) -> bool {
    blocking(move || EVENTS.wait_for(T, |e| e.contains(&what))).await
}

#[actix_web::test]
async fn one_trace_from_http_through_mqtt_to_the_handler() {
    exporter();
    let broker = Broker::start();
    mqtt::init_with(
        broker
            .config(unique("otel"))
            .protocol_version(mqtt::ProtocolVersion::V5)
            .build()
            .unwrap(),
    )
    .unwrap();
    let server = serve(1, || {
        App::new()
            .configure(mqtt::configure)
            .route("/orders", web::post().to(post_order))
    });
    let addr = server.addr;
    assert!(wait_event("connect".into()).await, "{}", broker.log());

    // The third-party reader, subscribed before the publish.
    let port = broker.port();
    let mut sub = MosquittoSub::subscribe(&broker, "otel/orders/#", &["-V", "5", "-F", "%t %P"], T);

    let (code, body) = blocking(move || http(addr, "POST", "/orders", "")).await;
    assert_eq!(code, 202, "{body}");
    assert!(wait_event("order otel/orders/1".into()).await);

    let request = exported("POST /orders", |_| true);
    let publish = exported("mqtt.publish", |s| {
        attribute(s, "topic").as_deref() == Some("otel/orders/1")
    });
    let handler = exported("mqtt.handler", |s| {
        attribute(s, "topic").as_deref() == Some("otel/orders/1")
    });
    let trace = request.span_context.trace_id();
    assert_eq!(
        request.parent_span_id,
        SpanId::INVALID,
        "the request is the root"
    );
    assert_eq!(publish.span_context.trace_id(), trace);
    assert_eq!(publish.parent_span_id, request.span_context.span_id());
    assert_eq!(
        handler.span_context.trace_id(),
        trace,
        "one trace across MQTT"
    );
    assert_eq!(
        handler.parent_span_id,
        publish.span_context.span_id(),
        "the handler's parent is the publish"
    );
    assert!(handler.parent_span_is_remote, "the parent came over MQTT");
    assert_eq!(
        attribute(&handler, "handler").as_deref(),
        Some("tracing_opentelemetry::order")
    );
    assert_eq!(attribute(&handler, "outcome").as_deref(), Some("ok"));
    assert_eq!(attribute(&publish, "outcome").as_deref(), Some("ok"));

    // mosquitto_sub saw the same context: version 00, the trace, the publish span,
    // sampled.
    let line = blocking(move || {
        let line = sub.expect_line(T, |l| l.starts_with("otel/orders/1 "));
        drop(sub);
        line
    })
    .await;
    let expected = format!(
        "otel/orders/1 traceparent:00-{trace}-{}-01",
        publish.span_context.span_id()
    );
    assert_eq!(line, expected);

    // A malformed traceparent from another client is ignored: a new root trace.
    blocking(move || {
        mosquitto_pub(
            port,
            &[
                "-V",
                "5",
                "-t",
                "otel/orders/2",
                "-m",
                "x",
                "-D",
                "publish",
                "user-property",
                "traceparent",
                "00-not-a-trace-context-01",
            ],
            None,
        );
    })
    .await;
    assert!(wait_event("order otel/orders/2".into()).await);
    let handler = exported("mqtt.handler", |s| {
        attribute(s, "topic").as_deref() == Some("otel/orders/2")
    });
    assert_eq!(handler.parent_span_id, SpanId::INVALID, "a new trace");
    assert_ne!(handler.span_context.trace_id(), trace);

    server.stop().await;
}
