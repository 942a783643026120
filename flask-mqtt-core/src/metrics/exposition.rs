//! Writing the families of several clients through a prometheus-client
//! [`DescriptorEncoder`]: each family once, with a series per client (or per handler),
//! as OpenMetrics requires (a family name may appear once per exposition).
//!
//! Counters and histograms are read from the [`ClientMetrics`] the client recorded into;
//! the gauges (connected, buffered publishes, unacknowledged and released messages, queue depths) are
//! read from the client itself at scrape time, through [`Scrape`], so nothing on the
//! message path keeps them.

use std::fmt;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::ConstGauge;

use super::families::{
    CallOutcome, Family, PublishOutcome, BUFFERED, CONNECTED, CONNECTION_LOSSES, CONNECTS,
    HANDLER_CALLS, HANDLER_DURATION, HANDLER_QUEUE_DEPTH, PUBLISHED, QOS_LABELS, RECEIVED,
    RELEASED, UNACKNOWLEDGED,
};
use super::recorder::ClientMetrics;

/// A client as a scrape sees it.
pub(crate) trait Scrape {
    /// What it recorded; `None` when it records nothing (`MQTT_METRICS=false`): it is
    /// left out.
    fn recorded(&self) -> Option<&ClientMetrics>;
    /// Whether it is connected now.
    fn is_up(&self) -> bool;
    /// Publishes handed over and not confirmed yet.
    fn buffered(&self) -> usize;
    /// QoS 1/2 messages not acknowledged yet.
    fn unacknowledged(&self) -> usize;
    /// QoS 1/2 messages of the current connection released without an acknowledgement.
    fn released(&self) -> usize;
}

/// Writes every family for `clients` (those that record).
pub(crate) fn encode<C: Scrape>(clients: &[C], mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
    let clients: Vec<(&C, &ClientMetrics)> = clients
        .iter()
        .filter_map(|c| c.recorded().map(|m| (c, m)))
        .collect();

    let mut family = descriptor(&mut encoder, &RECEIVED)?;
    for (_, m) in &clients {
        for (qos, counter) in QOS_LABELS.iter().zip(&m.received) {
            counter_series(
                &mut family,
                &[("broker", m.broker.as_str()), ("qos", qos)],
                counter,
            )?;
        }
    }

    let mut family = descriptor(&mut encoder, &HANDLER_CALLS)?;
    for (_, m) in &clients {
        for h in m.handlers.get().iter().flat_map(|h| h.iter()) {
            for (outcome, counter) in CallOutcome::ALL.iter().zip(&h.calls) {
                counter_series(
                    &mut family,
                    &[("handler", h.name.as_str()), ("outcome", outcome.as_str())],
                    counter,
                )?;
            }
        }
    }

    let mut family = descriptor(&mut encoder, &HANDLER_DURATION)?;
    for (_, m) in &clients {
        for h in m.handlers.get().iter().flat_map(|h| h.iter()) {
            h.duration
                .encode(family.encode_family(&[("handler", h.name.as_str())])?)?;
        }
    }

    let mut family = descriptor(&mut encoder, &HANDLER_QUEUE_DEPTH)?;
    for (_, m) in &clients {
        for h in m.handlers.get().iter().flat_map(|h| h.iter()) {
            gauge_series(&mut family, &[("handler", h.name.as_str())], (h.depth)())?;
        }
    }

    let mut family = descriptor(&mut encoder, &CONNECTED)?;
    for (c, m) in &clients {
        gauge_series(&mut family, &broker(m), usize::from(c.is_up()))?;
    }

    let mut family = descriptor(&mut encoder, &CONNECTS)?;
    for (_, m) in &clients {
        counter_series(&mut family, &broker(m), &m.connects)?;
    }

    let mut family = descriptor(&mut encoder, &CONNECTION_LOSSES)?;
    for (_, m) in &clients {
        counter_series(&mut family, &broker(m), &m.losses)?;
    }

    let mut family = descriptor(&mut encoder, &PUBLISHED)?;
    for (_, m) in &clients {
        for (qos, by_outcome) in QOS_LABELS.iter().zip(&m.published) {
            for (outcome, counter) in PublishOutcome::ALL.iter().zip(by_outcome) {
                counter_series(
                    &mut family,
                    &[
                        ("broker", m.broker.as_str()),
                        ("qos", qos),
                        ("outcome", outcome.as_str()),
                    ],
                    counter,
                )?;
            }
        }
    }

    let mut family = descriptor(&mut encoder, &BUFFERED)?;
    for (c, m) in &clients {
        gauge_series(&mut family, &broker(m), c.buffered())?;
    }

    let mut family = descriptor(&mut encoder, &UNACKNOWLEDGED)?;
    for (c, m) in &clients {
        gauge_series(&mut family, &broker(m), c.unacknowledged())?;
    }

    let mut family = descriptor(&mut encoder, &RELEASED)?;
    for (c, m) in &clients {
        gauge_series(&mut family, &broker(m), c.released())?;
    }
    Ok(())
}

fn descriptor<'e>(
    encoder: &'e mut DescriptorEncoder<'_>,
    family: &'e Family,
) -> Result<MetricEncoder<'e>, fmt::Error> {
    encoder.encode_descriptor(family.name, family.help, family.unit.as_ref(), family.kind)
}

fn broker(m: &ClientMetrics) -> [(&'static str, &str); 1] {
    [("broker", m.broker.as_str())]
}

fn counter_series<const N: usize>(
    family: &mut MetricEncoder<'_>,
    labels: &[(&'static str, &str); N],
    counter: &Counter,
) -> fmt::Result {
    counter.encode(family.encode_family(labels)?)
}

fn gauge_series<const N: usize>(
    family: &mut MetricEncoder<'_>,
    labels: &[(&'static str, &str); N],
    value: usize,
) -> fmt::Result {
    ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX)).encode(family.encode_family(labels)?)
}
