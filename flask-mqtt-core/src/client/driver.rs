//! The driver task: connection state machine and dispatch.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::paho::start_attempt;
use super::session::Session;
use super::shutdown::{shutdown, Link};
use crate::config::keys;
use crate::dispatch::Intake;
use crate::event::log::{LogLevel, CLIENT_TARGET};
use crate::event::payloads::{Connected, DisconnectReason, Disconnected};
use crate::event::Event;
use crate::handle::health::ConnectionState;
use crate::handle::input::Input;
use crate::handle::Mqtt;
use crate::qos::QoS;
use crate::sync::lock;
use crate::visible::stderr_unless_logged;

/// The driver: connection state machine and dispatch, on the client's runtime.
pub(super) async fn drive(
    mut session: Session,
    mut rx: mpsc::UnboundedReceiver<Input>,
    intake: Arc<Intake>,
) {
    let mqtt = session.mqtt.clone();
    let shared = Arc::clone(&mqtt.shared);
    let (min_delay, max_delay) = shared.config.reconnect_delay();
    let mut delay = min_delay;
    let mut retry_at: Option<Instant> = None;
    let mut up = false;
    let mut ever_connected = false;
    // Whether the first failed connect went to stderr (no logger would have shown it).
    let mut told_stderr = false;
    // Brokers already warned about for shared subscriptions (once each, not per reconnect).
    let mut warned_shared: HashSet<String> = HashSet::new();
    // The brokers, tried in order: each round starts at the first, a failure moves on to
    // the next at once, and the backoff delay comes between rounds.
    let uris = shared.config.server_uris();
    let mut next = 0usize;
    // The broker of the current (or last) connection.
    let mut current = shared.uri.clone();

    // Whether a connection attempt is under way (its outcome not received yet): a stop
    // waits for it, so that a connection it makes is closed with DISCONNECT.
    let mut connecting = true;
    start_attempt(&mqtt, &session.paho, &uris[..], next);
    loop {
        let input = tokio::select! {
            i = rx.recv() => i,
            _ = sleep_until(retry_at), if retry_at.is_some() => {
                retry_at = None;
                if !shared.closed.load(Ordering::SeqCst) {
                    connecting = true;
                    start_attempt(&mqtt, &session.paho, &uris[..], next);
                }
                continue;
            }
        };
        let Some(input) = input else { break };
        if let Input::Message(_) = &input {
            intake.taken();
        }
        if let (Input::Message(m), Some(metrics)) = (&input, &shared.metrics) {
            // Counted on arrival (once: a message that waits for `Mqtt::ready` comes
            // back through `deliver`, not through here).
            metrics.received(QoS::from_paho(m.qos()));
        }
        let Some(input) = session.deliver(input) else {
            continue;
        };
        match input {
            // Delivered above.
            Input::Message(_) | Input::Emit(_) | Input::Log(_) | Input::Resubscribed { .. } => {}
            Input::Ready => session.resume(),
            Input::Connected {
                broker,
                shared_subscriptions,
                session_present,
            } => {
                connecting = false;
                if shared.closed.load(Ordering::SeqCst) {
                    continue;
                }
                if !session.paho.is_connected() {
                    // Lost between its CONNACK and now: Paho's connection-lost callback
                    // came first and was not ours to act on yet (the driver did not know
                    // the connection). Nothing is subscribed and nobody is told it is up;
                    // the next attempt follows as after any lost connection.
                    shared.connection_ended();
                    shared.set_state(ConnectionState::Reconnecting, |_| {});
                    mqtt.emit_log(
                        LogLevel::Err,
                        format!(
                            "connection to {} lost right after the broker accepted it; reconnecting in {delay:?}",
                            crate::error::shown_uri(&broker)
                        ),
                    );
                    next = 0;
                    retry_at = Some(after(delay));
                    delay = delay.saturating_mul(2).min(max_delay);
                    continue;
                }
                up = true;
                current.clone_from(&broker);
                delay = min_delay;
                retry_at = None;
                shared.set_state(ConnectionState::Connected, |h| {
                    h.last_error = None;
                    // Served in the readiness JSON: a query's values may be credentials.
                    h.broker = Some(crate::error::shown_uri(&broker));
                    h.connects += 1;
                });
                if let Some(metrics) = &shared.metrics {
                    metrics.connected();
                }
                if let Some(tx) = session.first_outcome.take() {
                    let _ = tx.send(Ok(()));
                }
                let reconnect = ever_connected;
                ever_connected = true;
                if !reconnect {
                    mqtt.emit_log(LogLevel::Info, crate::paho_version::first_connect_line());
                }
                let shown = crate::error::shown_uri(&broker);
                mqtt.emit_log(
                    LogLevel::Info,
                    format!("connected to {shown} as `{}`", shared.config.client_id()),
                );
                if !warned_shared.contains(&broker) {
                    if let Some(why) = shared_subscription_warning(&mqtt, shared_subscriptions) {
                        mqtt.emit_log(LogLevel::Warning, format!("{shown}: {why}"));
                        warned_shared.insert(broker.clone());
                    }
                }
                // Subscribe first, then tell on_connect handlers (through the queue, so the
                // driver never waits on the broker itself), unless the subscriptions were
                // not answered or this connection ended meanwhile (`Session::deliver`).
                let m = mqtt.clone();
                let connection = *shared.ends.borrow();
                tokio::spawn(async move {
                    if !m.resubscribe(session_present).await {
                        return;
                    }
                    let _ = m.shared.input.send(Input::Resubscribed {
                        connection,
                        connected: Connected {
                            server_uri: broker,
                            reconnect,
                        },
                    });
                });
            }
            Input::ConnectionLost | Input::BrokerDisconnect(_) => {
                let reason = match input {
                    Input::BrokerDisconnect(code) => DisconnectReason::ByBroker(code),
                    _ => DisconnectReason::ConnectionLost,
                };
                if !up || shared.closed.load(Ordering::SeqCst) {
                    continue;
                }
                up = false;
                next = 0;
                shared.connection_ended();
                shared.set_state(ConnectionState::Reconnecting, |_| {});
                if let Some(metrics) = &shared.metrics {
                    metrics.connection_lost();
                }
                mqtt.emit_log(
                    LogLevel::Err,
                    format!(
                        "connection to {} lost ({reason:?}); reconnecting in {delay:?}",
                        crate::error::shown_uri(&current)
                    ),
                );
                session.dispatch(Event::Disconnected(Disconnected { reason }));
                retry_at = Some(after(delay));
                delay = delay.saturating_mul(2).min(max_delay);
            }
            Input::ConnectFailed(err) => {
                connecting = false;
                if shared.closed.load(Ordering::SeqCst) || up {
                    continue;
                }
                let state = if ever_connected {
                    ConnectionState::Reconnecting
                } else {
                    ConnectionState::Connecting
                };
                shared.set_state(state, |h| h.last_error = Some(err.clone()));
                if next + 1 < uris.len() {
                    next += 1;
                    mqtt.emit_log(
                        LogLevel::Warning,
                        format!(
                            "{err}; trying {} next",
                            crate::error::shown_uri(&uris[next])
                        ),
                    );
                    connecting = true;
                    start_attempt(&mqtt, &session.paho, &uris[..], next);
                    continue;
                }
                next = 0;
                mqtt.emit_log(LogLevel::Err, format!("{err}; retrying in {delay:?}"));
                if !ever_connected && !told_stderr {
                    // A wrong password must not be silent in a program without a logger;
                    // once per client, not per attempt.
                    told_stderr = true;
                    stderr_unless_logged(
                        CLIENT_TARGET,
                        log::Level::Error,
                        &format_args!(
                            "{err}; retrying in {delay:?} (later failures are not repeated here)"
                        ),
                    );
                }
                if let Some(tx) = session.first_outcome.take() {
                    let _ = tx.send(Err(err.clone()));
                }
                session.dispatch(Event::Disconnected(Disconnected {
                    reason: DisconnectReason::ConnectFailed(err),
                }));
                retry_at = Some(after(delay));
                delay = delay.saturating_mul(2).min(max_delay);
            }
            Input::Shutdown { done, graceful } => {
                // Shutdown takes what is left on its own terms (and bounds it in time).
                intake.close();
                let link = Link { up, connecting };
                shutdown(session, rx, link, done, graceful).await;
                return;
            }
        }
    }
}

/// Why the shared subscriptions among the subscribed filters may not work on this broker,
/// if they may not.
fn shared_subscription_warning(mqtt: &Mqtt, available: Option<bool>) -> Option<String> {
    let topics = lock(&mqtt.shared.topics);
    let mut shared = topics.keys().filter(|f| f.starts_with("$share/"));
    let first = shared.next()?;
    let which = match shared.count() {
        0 => format!("`{first}`"),
        more => format!("`{first}` and {more} more"),
    };
    match available {
        Some(true) => None,
        Some(false) => Some(format!(
            "the broker's CONNACK says shared subscriptions are not available, so {which} will be refused or treated as an ordinary topic: every process may get every message, or none"
        )),
        None => Some(format!(
            "shared subscription {which} on MQTT 3.1.1, which cannot ask the broker whether it supports them (Mosquitto, EMQX, HiveMQ and VerneMQ do); set {}=5 to have it checked",
            keys::PROTOCOL_VERSION.full(mqtt.shared.config.prefix())
        )),
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => futures::future::pending().await,
    }
}

/// `delay` from now; a delay too long for the clock (no configuration allows one) is a
/// year.
fn after(delay: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(delay)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestClient;

    /// The advice names the client's own key (`ALERTS_PROTOCOL_VERSION` for prefix
    /// `ALERTS`), as every message about a client's settings does.
    #[tokio::test]
    async fn the_shared_subscription_warning_names_the_clients_own_key() {
        let app = TestClient::for_broker("ALERTS").unwrap();
        let mqtt = app.client();
        lock(&mqtt.shared.topics).insert("$share/g/t".to_owned(), QoS::AtMostOnce);
        let why = shared_subscription_warning(mqtt, None).unwrap();
        assert!(why.contains("set ALERTS_PROTOCOL_VERSION=5"), "{why}");
        assert!(!why.contains("MQTT_"), "{why}");
    }
}
