//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>) in MQTT 5 user properties,
//! feature `opentelemetry`: a publish made inside a span carries `traceparent` (and
//! `tracestate` when there is one), and a handler's span continues the trace of a
//! message that carries them. The user properties are the carrier MQTT 5 offers; the
//! names and formats are those of the HTTP headers, as the OpenTelemetry semantic
//! conventions for messaging use them.
//!
//! The header is written and read here rather than through the global
//! `TextMapPropagator`: an app that never installed one (the default is a no-op) still
//! gets connected traces, and a malformed value from the network is ignored, never
//! trusted.

use std::str::FromStr;

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::Context;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::message::properties::Properties;
use crate::message::Message;

/// The user property that carries the trace and the parent span.
pub(crate) const TRACEPARENT: &str = "traceparent";
/// The user property that carries vendor-specific trace state.
pub(crate) const TRACESTATE: &str = "tracestate";

/// Adds `traceparent` (and `tracestate`) naming `span` as the parent, unless the span
/// has no OpenTelemetry context (no `tracing-opentelemetry` layer) or the caller set a
/// `traceparent` of their own.
pub(crate) fn inject(span: &Span, props: &mut Properties) {
    if span.is_disabled() || props.has_user(TRACEPARENT) {
        return;
    }
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    if !sc.is_valid() {
        return;
    }
    props.add_user(TRACEPARENT.to_owned(), format(&sc));
    let state = sc.trace_state().header();
    if !state.is_empty() && !props.has_user(TRACESTATE) {
        props.add_user(TRACESTATE.to_owned(), state);
    }
}

/// Makes the message's trace, if it carries a valid `traceparent`, the remote parent of
/// `span`. An invalid `tracestate` is dropped; an invalid `traceparent` is ignored.
pub(crate) fn continue_remote(span: &Span, msg: &Message) {
    let (Some(parent), state) = trace_headers(msg.as_paho().properties().user_iter()) else {
        return;
    };
    let state = state
        .and_then(|s| TraceState::from_str(&s).ok())
        .unwrap_or_default();
    if let Some(sc) = parse(&parent, state) {
        // Fails only when the span was already entered or has no OpenTelemetry layer:
        // then there is no parent to set.
        let _ = span.set_parent(Context::new().with_remote_span_context(sc));
    }
}

/// The first `traceparent` and the first `tracestate` among a message's user properties,
/// in one pass that stops when it has both: each property is looked at once at most (a
/// received message may carry tens of thousands; Paho's iterator steps through them, see
/// docs/paho-fork.md).
fn trace_headers(user: impl Iterator<Item = (String, String)>) -> (Option<String>, Option<String>) {
    let (mut parent, mut state) = (None, None);
    for (name, value) in user {
        if name == TRACEPARENT && parent.is_none() {
            parent = Some(value);
        } else if name == TRACESTATE && state.is_none() {
            state = Some(value);
        }
        if parent.is_some() && state.is_some() {
            break;
        }
    }
    (parent, state)
}

/// `00-<trace id>-<parent id>-<flags>`, lower-case hex.
fn format(sc: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags().to_u8()
    )
}

/// Parses a `traceparent` value by the W3C rules: version `00` is exactly four fields;
/// a later version may append fields after the flags; version `ff`, upper-case hex and
/// all-zero ids are invalid.
fn parse(value: &str, state: TraceState) -> Option<SpanContext> {
    let mut fields = value.split('-');
    let version = fields.next()?;
    let trace_id = fields.next()?;
    let span_id = fields.next()?;
    let flags = fields.next()?;
    let lower_hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !lower_hex(version, 2)
        || version == "ff"
        || !lower_hex(trace_id, 32)
        || !lower_hex(span_id, 16)
        || !lower_hex(flags, 2)
    {
        return None;
    }
    if version == "00" && fields.next().is_some() {
        return None;
    }
    let trace_id = TraceId::from_hex(trace_id).ok()?;
    let span_id = SpanId::from_hex(span_id).ok()?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    if trace_id == TraceId::INVALID || span_id == SpanId::INVALID {
        return None;
    }
    // Only the `sampled` bit is defined; the others are kept as they came.
    Some(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags),
        true,
        state,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_spec_example_round_trips() {
        let sc = parse(VALID, TraceState::default()).expect("valid");
        assert!(sc.is_remote());
        assert!(sc.is_sampled());
        assert_eq!(
            sc.trace_id(),
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("hex")
        );
        assert_eq!(format(&sc), VALID);
    }

    #[test]
    fn malformed_values_are_ignored() {
        for bad in [
            "",
            "00",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            // upper case, all-zero ids, version ff, wrong lengths, extra field on 00
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "0é-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(parse(bad, TraceState::default()).is_none(), "{bad:?}");
        }
    }

    /// Many user properties: both headers are found in one pass, each property pulled
    /// from Paho's iterator once.
    #[test]
    fn the_trace_headers_are_found_in_one_pass() {
        const N: usize = 40_000;
        let mut props = paho_mqtt::Properties::new();
        for i in 0..N {
            props
                .push_string_pair(paho_mqtt::PropertyCode::UserProperty, &format!("k{i}"), "v")
                .expect("a user property");
        }
        props
            .push_string_pair(paho_mqtt::PropertyCode::UserProperty, TRACESTATE, "a=1")
            .expect("tracestate");
        props
            .push_string_pair(paho_mqtt::PropertyCode::UserProperty, TRACEPARENT, VALID)
            .expect("traceparent");
        props
            .push_string_pair(paho_mqtt::PropertyCode::UserProperty, TRACEPARENT, "second")
            .expect("a second traceparent");
        let mut pulled = 0;
        let (parent, state) = trace_headers(props.user_iter().inspect(|_| pulled += 1));
        assert_eq!(parent.as_deref(), Some(VALID));
        assert_eq!(state.as_deref(), Some("a=1"));
        assert_eq!(pulled, N + 2, "one pass, stopping at the second header");

        // Without them: one pass over all.
        let mut pulled = 0;
        let none = paho_mqtt::Properties::new();
        assert_eq!(trace_headers(none.user_iter()), (None, None));
        let (parent, state) = trace_headers(
            (0..N)
                .map(|i| (format!("k{i}"), String::new()))
                .inspect(|_| pulled += 1),
        );
        assert_eq!((parent, state), (None, None));
        assert_eq!(pulled, N);
    }

    #[test]
    fn a_later_version_may_append_fields() {
        let v = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what-ever";
        let sc = parse(v, TraceState::default()).expect("valid");
        assert!(!sc.is_sampled());
    }
}
