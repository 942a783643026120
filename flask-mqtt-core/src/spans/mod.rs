//! The `tracing` spans of the MQTT side of an app: one per handler call
//! (`mqtt.handler`) and one per publish (`mqtt.publish`), with the handler, topic, QoS,
//! broker and outcome as fields. With the `opentelemetry` feature, W3C trace context
//! crosses MQTT in the `traceparent` user property ([`w3c`]).
//!
//! A span nobody listens to costs one check: until a `tracing` subscriber is set
//! ([`listened`]), no span is made at all (so none is written to `log` either), and
//! after, a span the current subscriber does not want costs one check of the callsite's
//! interest, its fields not even evaluated.

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

/// The span of one handler call: `mqtt.handler` with `handler` (the handler's name as
/// its log lines and metrics write it: `module::function`, `#2`, ... when handlers share
/// one; `registry::numbered`), `kind` (its attribute), `broker` (the configuration prefix),
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
/// a scope, now or before: one atomic load). Until then no span is made.
///
/// actix-web turns on `tracing`'s `log` feature, which writes every span made while no
/// subscriber was ever set to `log` (`mqtt.handler; handler=...` at info on
/// `flask_mqtt::span`, `->`/`<-` at trace on `tracing::span::active`): with env_logger at
/// info, two lines per handler call and publish that nobody asked for. That fallback
/// applies exactly when this is `false` (the same check, and it never turns `false`
/// again), so a span made only when this is `true` never reaches `log`. It is also the
/// cheaper path at 10 handler calls per message: a disabled span checks `log` at its
/// creation and at every poll of the call it instruments (about 300 instructions per
/// call, callgrind, bench `child-framework`); [`Span::none`] checks nothing.
#[inline]
pub(crate) fn listened() -> bool {
    tracing::dispatcher::has_been_set()
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
/// once the broker has it (QoS 1/2) or it left (QoS 0), `outcome` `ok` or `error`;
/// [`Span::none`] where nobody may listen ([`listened`]).
pub(crate) fn publish(topic: &str, qos: QoS, retain: bool, broker: &str) -> Span {
    if !listened() {
        return Span::none();
    }
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
