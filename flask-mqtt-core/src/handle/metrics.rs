//! [`MetricsCollector`]: the metrics of some clients, for a Prometheus scrape.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;

use super::health::ConnectionState;
use super::Mqtt;
use crate::error::{Error, Result};
use crate::metrics::recorder::ClientMetrics;
use crate::metrics::{encode, MetricsFormat, Scrape};
use crate::sync::lock;

/// The Prometheus metrics of one or more clients (see the README's "Metrics" for the
/// families), as a prometheus-client [`Collector`]: written with
/// [`render`](MetricsCollector::render), or registered in an app's own
/// `prometheus_client::registry::Registry` next to its metrics.
///
/// Clients configured with `MQTT_METRICS=false` record nothing and are left out.
///
/// ```
/// # use flask_mqtt_core::{self as mqtt, testing::TestClient, MetricsCollector, MetricsFormat};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> mqtt::Result<()> {
/// let app = TestClient::new()?;
/// let metrics = MetricsCollector::new([app.client().clone()])?;
/// let text = metrics.render(MetricsFormat::OpenMetrics);
/// assert!(text.contains("mqtt_connected{broker=\"MQTT\"} 1"));
/// assert!(text.ends_with("# EOF\n"));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct MetricsCollector {
    clients: Vec<Mqtt>,
}

impl MetricsCollector {
    /// The metrics of `clients` (each family written once, with a series per client).
    ///
    /// # Errors
    ///
    /// [`Error::RepeatedPrefix`] when two of the clients that record metrics have one
    /// configuration prefix (or one client is there twice): their series would have
    /// the same labels. Clients with `MQTT_METRICS=false` write nothing and may repeat.
    pub fn new(clients: impl IntoIterator<Item = Mqtt>) -> Result<MetricsCollector> {
        let clients: Vec<Mqtt> = clients.into_iter().collect();
        let mut prefixes = BTreeSet::new();
        for m in clients.iter().filter_map(Scrape::recorded) {
            if !prefixes.insert(m.broker()) {
                return Err(Error::RepeatedPrefix {
                    prefix: m.broker().to_owned(),
                });
            }
        }
        Ok(MetricsCollector { clients })
    }

    /// Whether no client records metrics (every one has `MQTT_METRICS=false`, or there
    /// is none): [`render`](MetricsCollector::render) would write no series.
    pub fn is_empty(&self) -> bool {
        !self.clients.iter().any(|c| c.shared.metrics.is_some())
    }

    /// The metrics in `format`.
    pub fn render(&self, format: MetricsFormat) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self.clone()));
        let mut out = String::new();
        let written = match format {
            MetricsFormat::PrometheusText => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
            }
            _ => prometheus_client::encoding::text::encode(&mut out, &registry),
        };
        if written.is_err() {
            // Writing to a String does not fail, and our names and labels are valid.
            log::warn!(target: crate::event::log::CLIENT_TARGET, "metrics could not be written in full");
        }
        out
    }
}

impl Collector for MetricsCollector {
    fn encode(&self, encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        encode(&self.clients, encoder)
    }
}

impl Scrape for Mqtt {
    fn recorded(&self) -> Option<&ClientMetrics> {
        self.shared.metrics.as_deref()
    }

    /// From the client's own connection state, not Paho's: asking Paho takes its
    /// process-wide lock, which Paho's threads hold while they run callbacks and process
    /// commands (unpatched Paho C also held it through the broker's host name lookup, so a
    /// slow DNS answer held the scrape and the actix worker serving it; our fork's patch 16
    /// releases it there, docs/paho-fork.md).
    fn is_up(&self) -> bool {
        !self.shared.closed.load(Ordering::SeqCst)
            && lock(&self.shared.health).state == ConnectionState::Connected
    }

    fn buffered(&self) -> usize {
        self.shared.unsent.load(Ordering::SeqCst)
    }

    fn unacknowledged(&self) -> usize {
        self.unacknowledged_messages()
    }

    fn released(&self) -> usize {
        self.released_messages()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handle::outbound::fake::{client, Connection, Fake};

    /// `mqtt_connected` follows the client's own state and never waits on Paho.
    #[tokio::test]
    async fn a_scrape_reads_the_clients_own_connection_state() {
        // Paho's answer waits on its process-wide lock, held through a connect
        // attempt's name lookup.
        let mqtt = client(Fake::default().connection(Connection::MustNotBeAsked));
        assert!(!mqtt.is_up());
        mqtt.shared.set_state(ConnectionState::Connected, |_| {});
        assert!(mqtt.is_up());
        mqtt.shared.set_state(ConnectionState::Reconnecting, |_| {});
        assert!(!mqtt.is_up());
    }
}
