//! With no `tracing` subscriber, the spans `mqtt.handler` and `mqtt.publish` write
//! nothing to `log`: actix-web turns on `tracing`'s `log` feature, which makes every span
//! created while no subscriber was ever set a `log` record (`++ mqtt.handler; ...` at
//! info, on `flask_mqtt::span`, and `->`/`<-` lines at trace on `tracing::span::active`),
//! so an app with env_logger at info got two lines per handler call and publish. The
//! README promises that a span nobody subscribed to costs one check.
//!
//! Alone in its binary: no test here may install a `tracing` subscriber. The dispatch is
//! the real one (`mqtt::testing`), with a logger enabled for every target at trace.

// Test code: a failed expectation panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::LogLines;
use mqtt::testing::{self, TestClient};
use mqtt::QoS;

const T: Duration = Duration::from_secs(10);

/// Every record of the process, at every level.
const ALL: LogLines = LogLines::new("", log::Level::Trace);

#[mqtt::on_message("spanlog/relay", qos = 1)]
async fn relay(msg: mqtt::Message, client: mqtt::Mqtt) -> Result<(), mqtt::Error> {
    log::info!(target: "spanlog", "handling {}", msg.topic());
    client
        .publish("spanlog/relayed", "x")
        .qos(QoS::AtLeastOnce)
        .await
}

#[tokio::test]
async fn spans_without_a_tracing_subscriber_write_no_log_records() {
    ALL.install();
    assert!(
        !tracing::dispatcher::has_been_set(),
        "this binary must not set a tracing subscriber"
    );
    let app = TestClient::new().unwrap().state(Arc::new(()));
    let calls = app
        .inject(testing::message("spanlog/relay", "").qos(QoS::AtLeastOnce))
        .await;
    assert!(calls.all_ok(), "{calls:?}");
    assert_eq!(app.published().len(), 1);
    app.client().publish("spanlog/direct", "y").await.unwrap();
    assert_eq!(app.published().len(), 2);
    // The logger does see what the handler logs.
    assert!(
        ALL.wait_for_line(T, |l| l == "handling spanlog/relay"),
        "the handler's log line is missing: {:#?}",
        ALL.records()
    );
    let spans: Vec<_> = ALL
        .records()
        .into_iter()
        .filter(|l| {
            l.target == "flask_mqtt::span"
                || l.target.starts_with("tracing::span")
                || l.text.contains("mqtt.handler")
                || l.text.contains("mqtt.publish")
        })
        .collect();
    assert!(
        spans.is_empty(),
        "spans written to `log` with no tracing subscriber: {spans:#?}"
    );
}
