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
    // When the current connection was made, and how often one ended soon after.
    let mut flapping = Flapping::default();
    // The end of a connection lost before the driver handled its `Connected`.
    let mut early = EarlyEnd::default();

    // Whether a connection attempt is under way (its outcome not received yet): a stop
    // waits for it, so that a connection it makes is closed with DISCONNECT.
    let mut connecting = true;
    start_attempt(&mqtt, &session.paho, &uris[..], next);
    loop {
        let input = match retry_at {
            // No reconnect waiting (connected, the common case, or an attempt under way):
            // the inputs alone, without `select!`'s random branch order per input.
            None => rx.recv().await,
            Some(at) => tokio::select! {
                i = rx.recv() => i,
                () = tokio::time::sleep_until(at) => {
                    retry_at = None;
                    if !shared.closed.load(Ordering::SeqCst) {
                        connecting = true;
                        start_attempt(&mqtt, &session.paho, &uris[..], next);
                    }
                    continue;
                }
            },
        };
        let input = match input {
            Some(Input::Message(m)) => {
                intake.taken();
                // Counted as received there, as a message a stop takes is.
                session.deliver_message(m);
                continue;
            }
            Some(input) => input,
            None => break,
        };
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
                    // the next attempt follows as after any lost connection. It counts
                    // as a short connection, and its end (a takeover's DISCONNECT 0x8E,
                    // before or after this) is told as any other's.
                    if let Some(code) = early.gone() {
                        flapping.connected();
                        let _ = flapping.lost(&mqtt, code);
                    }
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
                early = EarlyEnd::default();
                current.clone_from(&broker);
                // The delay goes back to the minimum when this connection is lost after
                // lasting a while (`Flapping::lost`), not now: two processes with one
                // client id would otherwise take the connection from each other twice
                // a second for ever.
                flapping.connected();
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
                if shared.closed.load(Ordering::SeqCst) {
                    continue;
                }
                if !up {
                    if let Some(code) = early.ended(reason_code(&reason), connecting) {
                        flapping.connected();
                        let _ = flapping.lost(&mqtt, code);
                    }
                    continue;
                }
                up = false;
                next = 0;
                if flapping.lost(&mqtt, reason_code(&reason)) {
                    delay = min_delay;
                }
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
                early = EarlyEnd::default();
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

/// A connection that lasts less than this does not bring the reconnect delay back to
/// its minimum.
const SHORT_LIVED: Duration = Duration::from_secs(1);

/// Short-lived connections in a row that make the driver say another client may have
/// the same id.
const SHORT_LIVED_WARNING: u32 = 3;

/// MQTT 5's DISCONNECT reason "session taken over": another client connected with the
/// same client id.
const SESSION_TAKEN_OVER: u8 = 0x8E;

/// Connections that end soon after they are made: another client with the same client
/// id taking each one over (MQTT 3.1.1 says nothing; MQTT 5 says [`SESSION_TAKEN_OVER`]).
#[derive(Default)]
struct Flapping {
    since: Option<Instant>,
    short_in_a_row: u32,
    /// Whether the user was told (once per client).
    told: bool,
}

impl Flapping {
    fn connected(&mut self) {
        self.since = Some(Instant::now());
    }

    /// The connection made last was lost, the broker saying `code` (MQTT 5) or not:
    /// whether it lasted long enough to bring the reconnect delay back to its minimum.
    /// A takeover, or [`SHORT_LIVED_WARNING`] short connections in a row, are said
    /// visibly, once per client, naming the client id key.
    fn lost(&mut self, mqtt: &Mqtt, code: Option<u8>) -> bool {
        let lasted = self.since.take().map(|t| t.elapsed());
        let long = lasted.is_some_and(|d| d >= SHORT_LIVED);
        self.short_in_a_row = if long {
            0
        } else {
            self.short_in_a_row.saturating_add(1)
        };
        let why = if code == Some(SESSION_TAKEN_OVER) {
            "the broker closed the connection because another client connected with the same client id (MQTT 5 reason 0x8e, session taken over)".to_owned()
        } else if self.short_in_a_row >= SHORT_LIVED_WARNING {
            format!(
                "{} connections in a row were lost less than {SHORT_LIVED:?} after they were made: another client with the same client id may be taking each one over",
                self.short_in_a_row
            )
        } else {
            return long;
        };
        if !self.told {
            self.told = true;
            let config = &mqtt.shared.config;
            let key = crate::config::keys::CLIENT_ID.full(config.prefix());
            mqtt.emit_visible(
                LogLevel::Warning,
                format!(
                    "{why}; client id `{}`: give each process its own {key} (`{{hostname}}` and `{{pid}}` in it are replaced); reconnecting, with a growing delay while connections keep ending within 1 s",
                    config.client_id()
                ),
            );
        }
        long
    }
}

/// The end of a connection the broker accepted but which was gone when the driver
/// handled its `Connected` ("lost right after the broker accepted it"). Its end comes
/// apart from it: Paho's callbacks send the end at once, the `Connected` comes from the
/// task awaiting the connect, so either may be first. Without this, an end arriving
/// while no connection is up was dropped, and with it a takeover's DISCONNECT 0x8E
/// that follows at once: the warning never came.
#[derive(Default)]
struct EarlyEnd {
    /// An end that came while an attempt was under way: the reason code (MQTT 5) of the
    /// first that had one.
    seen: Option<Option<u8>>,
    /// The `Connected` of a connection already gone was handled, its end not seen yet.
    awaited: bool,
}

impl EarlyEnd {
    /// An end (`code`: the broker's DISCONNECT reason, if it sent one) arrived while no
    /// connection was up (`connecting`: an attempt under way, whose `Connected` may still
    /// come): the end to count now, if it ends a connection already handled as gone.
    fn ended(&mut self, code: Option<u8>, connecting: bool) -> Option<Option<u8>> {
        if self.awaited {
            self.awaited = false;
            return Some(code);
        }
        if connecting {
            // Paho may say it twice (the DISCONNECT, then the connection lost).
            self.seen = Some(self.seen.flatten().or(code));
        }
        None
    }

    /// The `Connected` of a connection already gone was handled: its end, if it came
    /// first (else the next one, [`EarlyEnd::ended`]).
    fn gone(&mut self) -> Option<Option<u8>> {
        let seen = self.seen.take();
        self.awaited = seen.is_none();
        seen
    }
}

/// The MQTT 5 reason code of a DISCONNECT from the broker, if that ended the connection.
fn reason_code(reason: &DisconnectReason) -> Option<u8> {
    match reason {
        DisconnectReason::ByBroker(code) => Some(*code),
        _ => None,
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
    use crate::config::Config;
    use crate::handle::outbound::fake::{client, client_with, Fake};
    use crate::qos::QoS;
    use crate::testing::TestClient;
    use crate::visible::said;

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

    /// An MQTT 5 takeover is said at once, visibly and naming the client id key; short
    /// connections do not bring the delay back to its minimum, a long one does.
    #[tokio::test]
    async fn a_takeover_is_said_visibly_and_short_connections_keep_the_backoff() {
        // A client id of its own: other tests of this binary say takeovers too, at the
        // same time, into the same process-wide record of what was said.
        let id = "driver-takeover-said-once";
        let config = Config {
            client_id: id.to_owned(),
            ..Config::default()
        };
        let mqtt = client_with(Fake::default(), config, &[]);
        let mut flapping = Flapping::default();
        flapping.connected();
        assert!(!flapping.lost(&mqtt, Some(SESSION_TAKEN_OVER)));
        let ours = || -> Vec<String> {
            said::containing("session taken over")
                .into_iter()
                .filter(|l| l.contains(id))
                .collect()
        };
        let said = ours();
        assert!(
            said.len() == 1 && said[0].contains("MQTT_CLIENT_ID"),
            "{said:?}"
        );
        // Said once per client.
        flapping.connected();
        assert!(!flapping.lost(&mqtt, Some(SESSION_TAKEN_OVER)));
        assert_eq!(ours(), said);
        flapping.since = Instant::now().checked_sub(SHORT_LIVED);
        assert!(
            flapping.lost(&mqtt, None),
            "a long connection resets the delay"
        );
        assert_eq!(flapping.short_in_a_row, 0);
    }

    /// A takeover's DISCONNECT 0x8E of a connection lost before the driver handled its
    /// `Connected` is said, whether it came before that `Connected` or after; a second
    /// end of the same connection (Paho's connection lost) counts nothing more. Before,
    /// an end while no connection was up was dropped, and the warning never came.
    #[tokio::test]
    async fn a_takeover_right_after_the_connack_is_said_either_way() {
        // Whether the warning came, for a connection lost right after its CONNACK, with
        // its `Input`s in this order (true: `Connected`; else the end, as `code`).
        fn told(order: &[Option<Option<u8>>]) -> Vec<Option<u8>> {
            let mut early = EarlyEnd::default();
            let mut connecting = true;
            let mut counted = Vec::new();
            for input in order {
                match input {
                    None => {
                        connecting = false;
                        counted.extend(early.gone());
                    }
                    Some(code) => counted.extend(early.ended(*code, connecting)),
                }
            }
            counted
        }
        let takeover = Some(Some(SESSION_TAKEN_OVER));
        let lost = Some(None);
        assert_eq!(told(&[None, takeover, lost]), [Some(SESSION_TAKEN_OVER)]);
        assert_eq!(told(&[takeover, lost, None]), [Some(SESSION_TAKEN_OVER)]);
        assert_eq!(told(&[takeover, None, lost]), [Some(SESSION_TAKEN_OVER)]);
        assert_eq!(told(&[lost, None]), [None]);
        assert_eq!(told(&[None, lost]), [None]);
        // And counted as the warning says: once, visibly.
        let mqtt = client(Fake::default());
        let mut flapping = Flapping::default();
        for code in told(&[None, takeover]) {
            flapping.connected();
            assert!(!flapping.lost(&mqtt, code));
        }
        assert!(flapping.told);
    }

    /// However many short connections came before, one more is counted without an
    /// overflow (a panic in a debug build, a wrap to 0 in a release one).
    #[tokio::test]
    async fn short_connections_in_a_row_are_counted_without_overflow() {
        let mqtt = client(Fake::default());
        let mut flapping = Flapping {
            short_in_a_row: u32::MAX,
            told: true,
            ..Flapping::default()
        };
        flapping.connected();
        assert!(!flapping.lost(&mqtt, None));
        assert_eq!(flapping.short_in_a_row, u32::MAX);
    }
}
