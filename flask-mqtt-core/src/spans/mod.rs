//! The `tracing` spans of the MQTT side of an app: one per handler call
//! (`mqtt.handler`) and one per publish (`mqtt.publish`), with the handler, topic, QoS,
//! broker and outcome as fields. With the `opentelemetry` feature, W3C trace context
//! crosses MQTT in the `traceparent` user property ([`w3c`]).
//!
//! A span nobody listens to costs one check of the callsite's interest: the fields are
//! not even evaluated. Where nobody may listen at all ([`listened`]), a handler call
//! makes no span.

#[cfg(feature = "opentelemetry")]
pub(crate) mod w3c;

use std::fmt;

use tracing::field::Empty;
use tracing::Span;

use crate::event::{Event, HandlerKind};
use crate::message::properties::Properties;
use crate::metrics::families::CallOutcome;
use crate::qos::QoS;

/// The target of both spans, to filter them (`RUST_LOG=flask_mqtt::span=info`).
pub(crate) const TARGET: &str = "flask_mqtt::span";

/// The span of one handler call: `mqtt.handler` with `handler` (`module::function`, as
/// the logs name it), `kind` (its attribute), `broker` (the configuration prefix),
/// `topic` and `qos` (message handlers), and `outcome` once the call has ended. With the
/// `opentelemetry` feature, a message's `traceparent` becomes the span's remote parent.
///
/// Callers check [`listened`] first: a call nobody may listen to has no span at all,
/// which costs less than making and dropping a [`Span::none`] (about 50 instructions
/// per call, callgrind, bench `child-framework`).
pub(crate) fn handler(
    name: impl fmt::Display,
    kind: HandlerKind,
    broker: &str,
    event: &Event,
) -> Span {
    let span = tracing::info_span!(
        target: TARGET,
        "mqtt.handler",
        handler = %name,
        kind = kind.attribute(),
        broker,
        topic = Empty,
        qos = Empty,
        outcome = Empty,
        otel.kind = "consumer",
        otel.status_code = Empty,
    );
    if span.is_disabled() {
        return span;
    }
    if let Event::Message(m) = event {
        span.record("topic", m.topic());
        span.record("qos", m.qos().as_u8());
        #[cfg(feature = "opentelemetry")]
        w3c::continue_remote(&span, m);
    }
    span
}

/// Whether anyone may listen to a span: a `tracing` subscriber was set (globally or for
/// a scope), or `log` takes info lines (actix-web turns on `tracing`'s `log` feature,
/// which writes spans to `log`). Otherwise even a disabled span is measurable at 10
/// handler calls per message: it checks `log` at its creation and at every poll of the
/// call it instruments (about 300 instructions per call, callgrind, bench
/// `child-framework`); [`Span::none`] checks nothing.
#[inline]
pub(crate) fn listened() -> bool {
    tracing::dispatcher::has_been_set() || log::max_level() >= log::LevelFilter::Info
}

/// Records how a handler call ended, with the label of `mqtt_handler_calls_total`.
pub(crate) fn handler_ended(span: &Span, outcome: CallOutcome) {
    if span.is_disabled() {
        return;
    }
    span.record("outcome", outcome.as_str());
    if outcome != CallOutcome::Ok {
        span.record("otel.status_code", "ERROR");
    }
}

/// The span of one publish: `mqtt.publish` with `topic`, `qos`, `retain`, `broker` and,
/// once the broker has it (QoS 1/2) or it left (QoS 0), `outcome` `ok` or `error`.
pub(crate) fn publish(topic: &str, qos: QoS, retain: bool, broker: &str) -> Span {
    tracing::info_span!(
        target: TARGET,
        "mqtt.publish",
        topic,
        qos = qos.as_u8(),
        retain,
        broker,
        outcome = Empty,
        otel.kind = "producer",
        otel.status_code = Empty,
    )
}

/// Adds `span`'s W3C trace context to a publish's MQTT 5 properties (feature
/// `opentelemetry`; without it, nothing).
pub(crate) fn inject(span: &Span, props: &mut Properties) {
    #[cfg(feature = "opentelemetry")]
    w3c::inject(span, props);
    #[cfg(not(feature = "opentelemetry"))]
    let _ = (span, props);
}

/// Records how a publish ended.
pub(crate) fn publish_ended<T, E>(span: &Span, result: &Result<T, E>) {
    if span.is_disabled() {
        return;
    }
    span.record("outcome", if result.is_ok() { "ok" } else { "error" });
    if result.is_err() {
        span.record("otel.status_code", "ERROR");
    }
}
