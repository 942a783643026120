//! Runs the driver task and reports how it ended: a driver that panics must not leave
//! the client "connecting" forever with nothing said, nor acknowledge messages whose
//! calls die with it.

use std::any::Any;
use std::future::Future;
use std::sync::atomic::Ordering;

use crate::event::log::CLIENT_TARGET;
use crate::handle::health::ConnectionState;
use crate::handle::shared::Shared;
use crate::handle::Mqtt;
use crate::handler::panic_message;
use crate::visible::report;

/// Runs `driver` as a task of the current runtime and waits for it. If it panics (or is
/// cancelled), the error is reported with its message (on stderr when no logger shows
/// it), the client is closed (later operations return `Error::Closed`) and its health
/// says why: readiness probes then answer 503 with the reason.
pub(super) async fn supervise(driver: impl Future<Output = ()> + Send + 'static, mqtt: &Mqtt) {
    let Err(e) = tokio::spawn(driver).await else {
        return;
    };
    let why = if e.is_panic() {
        format!(
            "the MQTT client stopped: its driver task panicked: {}",
            panic_message(e.into_panic())
        )
    } else {
        "the MQTT client stopped: its driver task was cancelled".to_owned()
    };
    stopped(&mqtt.shared, why);
}

/// Reports a panic on the client's thread outside the driver task (while dispatch or
/// the session is being set up, which [`supervise`] does not see) as [`supervise`]
/// reports the driver task's: said with its message (on stderr when no logger shows
/// it), the client closed, its health saying why; only said if no handle holds the
/// client any more (`shared` is `None`). `payload` is disposed of as a handler's is
/// ([`panic_message`]).
pub(super) fn thread_panicked(payload: Box<dyn Any + Send>, shared: Option<&Shared>) {
    let why = format!(
        "the MQTT client stopped: its thread panicked: {}",
        panic_message(payload)
    );
    match shared {
        Some(shared) => stopped(shared, why),
        None => {
            report(CLIENT_TARGET, log::Level::Error, &why);
        }
    }
}

/// The client stopped for good, for the reason `why`: says it, closes the client and
/// puts `why` in its health.
fn stopped(shared: &Shared, why: String) {
    // The client is gone for good: a program without a logger must see it too.
    report(CLIENT_TARGET, log::Level::Error, &why);
    // Calls still queued or running are dropped with the runtime: none of their messages
    // may be acknowledged now (the connection is still up), so the broker sends them
    // again to the next session instead of counting them handled.
    shared.acks.abandon();
    shared.closed.store(true, Ordering::SeqCst);
    shared.set_state(ConnectionState::Closed, |h| h.fault = Some(why));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestClient;

    /// A panic in the driver closes the client and says why, in its health.
    #[tokio::test]
    async fn a_panicking_driver_closes_the_client_with_the_reason() {
        let app = TestClient::new().unwrap();
        let mqtt = app.client().clone();
        assert!(mqtt.health().is_ready());
        supervise(
            async {
                let input: Option<&str> = None;
                panic!("bad input: {input:?}");
            },
            &mqtt,
        )
        .await;
        let health = mqtt.health();
        assert!(
            mqtt.shared.acks.is_abandoned(),
            "owed acknowledgements must not be sent for calls the runtime drops"
        );
        assert_eq!(health.state(), ConnectionState::Closed);
        assert!(!health.is_ready());
        assert_eq!(
            health.fault(),
            Some("the MQTT client stopped: its driver task panicked: bad input: None")
        );
        assert!(!mqtt.is_connected());
        assert!(matches!(
            mqtt.publish("a", "b").await,
            Err(crate::error::Error::Closed)
        ));
        // Seen without a logger (these tests install none): on stderr.
        assert_eq!(
            crate::visible::said::containing("bad input: None"),
            ["ERROR flask_mqtt::client: the MQTT client stopped: its driver task panicked: bad input: None"]
        );
    }

    /// A driver that returns leaves the client as it was.
    #[tokio::test]
    async fn a_driver_that_returns_changes_nothing() {
        let app = TestClient::new().unwrap();
        let mqtt = app.client().clone();
        supervise(async {}, &mqtt).await;
        assert!(mqtt.health().is_ready());
        assert_eq!(mqtt.health().fault(), None);
    }
}
