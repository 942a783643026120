//! [`PausedClient`]: an app client started paused (`Client::start_paused`) that holds
//! QoS 1 messages for a ready app, the preamble of the tests of what waits for
//! `Mqtt::ready()`.

use std::time::Duration;

use flask_mqtt_actix::{Client, MetricsCollector, MetricsFormat, Mqtt};

use crate::{unique, wait_until, Broker, Observer};

/// An app client started paused on a [`Broker`], subscribed, holding QoS 1 messages
/// that wait for the app to be ready: what [`PausedClient::holding`] made.
///
/// ```no_run
/// use std::time::Duration;
/// use flask_mqtt_tests::{Broker, Observer, PausedClient};
///
/// // An `#[on_message("waits/+/+", qos = 1)]` handler in the test takes them.
/// let broker = Broker::start();
/// let publisher = Observer::connect(&broker);
/// let paused = PausedClient::holding(&broker, &publisher, "waits", 3, Duration::from_secs(20));
/// assert_eq!(paused.app.unacknowledged_messages(), 3);
/// paused.app.ready();
/// ```
pub struct PausedClient {
    /// Its client id, `unique(prefix)`; its messages' topics are `<prefix>/<id>/<i>`.
    pub id: String,
    /// The client, for its stop (`Client::shutdown`).
    pub client: Client,
    /// Its handle: `ready()`, `unacknowledged_messages()`, ...
    pub app: Mqtt,
    /// Its metrics ([`text`](PausedClient::text) renders them).
    pub metrics: MetricsCollector,
}

impl PausedClient {
    /// Starts a client on `broker` paused (`Client::start_paused`, with `broker`'s
    /// configuration and the client id `unique(prefix)`), waits for its SUBACK
    /// ([`Broker::expect_suback`]), has `publisher` publish `messages` QoS 1 messages to
    /// `<prefix>/<id>/0`, `<prefix>/<id>/1`, ... (empty payloads) and waits until the
    /// client has taken them all: its `mqtt_messages_received_total` for QoS 1 is
    /// `messages` (counted by the client's driver as it takes a message, just before it
    /// holds it for the app; the broker's `Sending PUBLISH` is not enough, a message may
    /// still be on the wire). The app's handlers must subscribe to `<prefix>/+/+` (QoS 1)
    /// or a filter covering it.
    ///
    /// Panics, with what it saw, if the SUBACK or the messages do not come within
    /// `timeout`; if the client does not start.
    pub fn holding(
        broker: &Broker,
        publisher: &Observer,
        prefix: &str,
        messages: usize,
        timeout: Duration,
    ) -> PausedClient {
        let id = unique(prefix);
        let config = broker
            .config(id.as_str())
            .build()
            .expect("the broker's configuration builds");
        let client = Client::start_paused(config).expect("the paused client starts");
        let app = client.handle();
        broker.expect_suback(&id, timeout);
        for i in 0..messages {
            publisher.publish(&format!("{prefix}/{id}/{i}"), "", 1);
        }
        let metrics = MetricsCollector::new([app.clone()]).expect("one client's metrics collector");
        let paused = PausedClient {
            id,
            client,
            app,
            metrics,
        };
        let received =
            format!("mqtt_messages_received_total{{broker=\"MQTT\",qos=\"1\"}} {messages}\n");
        assert!(
            wait_until(timeout, || paused.text().contains(&received)),
            "{messages} QoS 1 messages not taken by the paused client {} within {timeout:?}: {}",
            paused.id,
            paused.text()
        );
        paused
    }

    /// Its metrics in the Prometheus text format.
    pub fn text(&self) -> String {
        self.metrics.render(MetricsFormat::PrometheusText)
    }
}
