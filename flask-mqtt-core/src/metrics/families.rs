//! The metric families, once: name, help, unit and type, and the label values they use.
//! The README's metric list is checked against [`FAMILIES`] by a test.

use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use crate::qos::QoS;

/// One metric family as it is written: `name` is the OpenMetrics family name (the
/// `_total` of a counter's sample and the `_seconds` of the unit are added when written).
pub(crate) struct Family {
    pub(crate) name: &'static str,
    pub(crate) help: &'static str,
    pub(crate) unit: Option<Unit>,
    pub(crate) kind: MetricType,
    /// Its label names, in the order they are written.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) labels: &'static [&'static str],
}

impl Family {
    /// The name its samples are queried by: `mqtt_messages_received_total`,
    /// `mqtt_handler_duration_seconds` (whose samples add `_bucket`, `_sum`, `_count`).
    #[cfg(test)]
    pub(crate) fn sample_name(&self) -> String {
        let mut name = self.name.to_owned();
        if let Some(unit) = &self.unit {
            name.push('_');
            name.push_str(unit.as_str());
        }
        if matches!(self.kind, MetricType::Counter) {
            name.push_str("_total");
        }
        name
    }
}

pub(crate) const RECEIVED: Family = Family {
    name: "mqtt_messages_received",
    help: "Messages received from the broker, by QoS (replies to Mqtt::request included).",
    unit: None,
    kind: MetricType::Counter,
    labels: &["broker", "qos"],
};

pub(crate) const HANDLER_CALLS: Family = Family {
    name: "mqtt_handler_calls",
    help: "Handler calls that ended, by outcome: ok, error (an Err or a reply not sent), rejected (an argument could not be extracted; not called), panic.",
    unit: None,
    kind: MetricType::Counter,
    labels: &["handler", "outcome"],
};

pub(crate) const HANDLER_DURATION: Family = Family {
    name: "mqtt_handler_duration",
    help: "Time from a handler's worker taking an event to the end of the call (extraction, the call, the reply).",
    unit: Some(Unit::Seconds),
    kind: MetricType::Histogram,
    labels: &["handler"],
};

pub(crate) const HANDLER_QUEUE_DEPTH: Family = Family {
    name: "mqtt_handler_queue_depth",
    help: "Events waiting in a handler's queue (at most its `queue = N`, default 1024).",
    unit: None,
    kind: MetricType::Gauge,
    labels: &["handler"],
};

pub(crate) const CONNECTED: Family = Family {
    name: "mqtt_connected",
    help: "1 while the client is connected to a broker, 0 otherwise.",
    unit: None,
    kind: MetricType::Gauge,
    labels: &["broker"],
};

pub(crate) const CONNECTS: Family = Family {
    name: "mqtt_connects",
    help: "Successful connects (the first one and every reconnect).",
    unit: None,
    kind: MetricType::Counter,
    labels: &["broker"],
};

pub(crate) const CONNECTION_LOSSES: Family = Family {
    name: "mqtt_connection_losses",
    help: "Connections lost or closed by the broker (not a disconnect the app asked for).",
    unit: None,
    kind: MetricType::Counter,
    labels: &["broker"],
};

pub(crate) const PUBLISHED: Family = Family {
    name: "mqtt_messages_published",
    help: "Publishes that ended, by QoS and outcome: ok (the broker has it at its QoS; QoS 0: written to the network), error (it will not be sent: invalid, buffer full, connection lost, client closed).",
    unit: None,
    kind: MetricType::Counter,
    labels: &["broker", "qos", "outcome"],
};

pub(crate) const BUFFERED: Family = Family {
    name: "mqtt_buffered_publishes",
    help: "Publishes handed to the client and not yet confirmed: buffered while disconnected, or in flight.",
    unit: None,
    kind: MetricType::Gauge,
    labels: &["broker"],
};

pub(crate) const UNACKNOWLEDGED: Family = Family {
    name: "mqtt_unacknowledged_messages",
    help: "QoS 1/2 messages received and not acknowledged to the broker yet (waiting for the app to be ready, queued, in a handler, or held by an Ack).",
    unit: None,
    kind: MetricType::Gauge,
    labels: &["broker"],
};

pub(crate) const RELEASED: Family = Family {
    name: "mqtt_released_messages",
    help: "QoS 1/2 messages of the current connection released without an acknowledgement (an Ack dropped without ack(), a nack_on_error failure): each holds a place in the broker's in-flight window until the connection ends.",
    unit: None,
    kind: MetricType::Gauge,
    labels: &["broker"],
};

/// Every family, in the order they are written.
#[cfg(test)]
pub(crate) const FAMILIES: &[&Family] = &[
    &RECEIVED,
    &HANDLER_CALLS,
    &HANDLER_DURATION,
    &HANDLER_QUEUE_DEPTH,
    &CONNECTED,
    &CONNECTS,
    &CONNECTION_LOSSES,
    &PUBLISHED,
    &BUFFERED,
    &UNACKNOWLEDGED,
    &RELEASED,
];

/// The upper bounds of `mqtt_handler_duration_seconds`' buckets, in nanoseconds: 100 µs
/// to 10 s, about 2.5x apart (MQTT handlers are often sub-millisecond; Prometheus'
/// default buckets start at 5 ms).
pub(crate) const DURATION_BOUNDS_NANOS: [u64; 16] = [
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// The `qos` label values, by QoS number.
pub(crate) const QOS_LABELS: [&str; 3] = ["0", "1", "2"];

/// The index of `qos` in per-QoS arrays.
pub(crate) fn qos_index(qos: QoS) -> usize {
    usize::from(qos.as_u8()).min(2)
}

/// How a handler call ended: the `outcome` label of `mqtt_handler_calls_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CallOutcome {
    Ok,
    Error,
    Rejected,
    Panic,
}

impl CallOutcome {
    pub(crate) const ALL: [CallOutcome; 4] = [
        CallOutcome::Ok,
        CallOutcome::Error,
        CallOutcome::Rejected,
        CallOutcome::Panic,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::Error => "error",
            CallOutcome::Rejected => "rejected",
            CallOutcome::Panic => "panic",
        }
    }
}

/// How a publish ended: the `outcome` label of `mqtt_messages_published_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PublishOutcome {
    Ok,
    Error,
}

impl PublishOutcome {
    pub(crate) const ALL: [PublishOutcome; 2] = [PublishOutcome::Ok, PublishOutcome::Error];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PublishOutcome::Ok => "ok",
            PublishOutcome::Error => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The start of each family's row in a docs table: name, type, labels.
    fn row_start(f: &Family) -> String {
        let kind = match f.kind {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            _ => "other",
        };
        let labels: Vec<String> = f.labels.iter().map(|l| format!("`{l}`")).collect();
        format!("| `{}` | {kind} | {} |", f.sample_name(), labels.join(", "))
    }

    /// The rows of the table right after `marker` in `text`, `strip` removed first.
    fn rows(text: &str, marker: &str, strip: &str) -> Vec<String> {
        let start = text.find(marker).expect("the metrics table's section");
        text[start..]
            .lines()
            .map(|l| l.strip_prefix(strip).unwrap_or(l))
            .skip_while(|l| !l.starts_with("| family"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(str::to_owned)
            .collect()
    }

    fn check(what: &str, rows: &[String]) {
        assert_eq!(rows.len(), FAMILIES.len(), "{what}: one row per family");
        for (row, family) in rows.iter().zip(FAMILIES) {
            let start = row_start(family);
            assert!(
                row.starts_with(&start),
                "{what}: the row of `{}` should start with\n{start}\nbut is\n{row}",
                family.name
            );
        }
    }

    /// The README's metric list and this module's say what is written, in order: a
    /// family added, renamed or relabelled without its docs fails here.
    #[test]
    fn the_docs_list_exactly_the_families() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        check("README.md", &rows(&readme, "## Metrics", ""));
        let docs =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/metrics/mod.rs"))
                .unwrap();
        check("metrics/mod.rs", &rows(&docs, "Prometheus metrics", "//! "));
    }

    #[test]
    fn sample_names() {
        assert_eq!(RECEIVED.sample_name(), "mqtt_messages_received_total");
        assert_eq!(
            HANDLER_DURATION.sample_name(),
            "mqtt_handler_duration_seconds"
        );
        assert_eq!(CONNECTED.sample_name(), "mqtt_connected");
        assert!(DURATION_BOUNDS_NANOS.windows(2).all(|w| w[0] < w[1]));
        for (i, outcome) in CallOutcome::ALL.iter().enumerate() {
            assert_eq!(*outcome as usize, i, "{}", outcome.as_str());
        }
        for (i, outcome) in PublishOutcome::ALL.iter().enumerate() {
            assert_eq!(*outcome as usize, i, "{}", outcome.as_str());
        }
    }
}
