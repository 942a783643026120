//! The driver task: connection state machine and dispatch.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{ConnectionState, Done, Input, Mqtt, SHUTDOWN_TIMEOUT};
use crate::config::{ProtocolVersion, Transport};
use crate::dispatch::Dispatcher;
use crate::extract::{Connected, DisconnectReason, Disconnected, Event};
use crate::log::LogLevel;
use crate::sync::lock;
use crate::{Config, ConnectError, Message};

/// The driver: connection state machine and dispatch, on the client's runtime.
pub(super) async fn drive(
    mqtt: Mqtt,
    dispatcher: Dispatcher,
    mut rx: mpsc::UnboundedReceiver<Input>,
) {
    let shared = Arc::clone(&mqtt.shared);
    let (min_delay, max_delay) = shared.config.reconnect_delay();
    let mut delay = min_delay;
    let mut retry_at: Option<Instant> = None;
    let mut up = false;
    let mut ever_connected = false;
    // Brokers already warned about for shared subscriptions (once each, not per reconnect).
    let mut warned_shared: HashSet<String> = HashSet::new();
    // The brokers, tried in order: each round starts at the first, a failure moves on to
    // the next at once, and the backoff delay comes between rounds.
    let uris = shared.config.server_uris();
    let mut next = 0usize;
    // The broker of the current (or last) connection.
    let mut current = shared.uri.clone();

    start_attempt(&mqtt, &uris[..], next);
    loop {
        let input = tokio::select! {
            i = rx.recv() => i,
            _ = sleep_until(retry_at), if retry_at.is_some() => {
                retry_at = None;
                if !shared.closed.load(Ordering::SeqCst) {
                    start_attempt(&mqtt, &uris[..], next);
                }
                continue;
            }
        };
        let Some(input) = input else { break };
        match input {
            Input::Message(m) => dispatcher.dispatch(&mqtt, Event::Message(Message::from_paho(m))),
            Input::Emit(ev) => dispatcher.dispatch(&mqtt, ev),
            Input::Log(entry) => dispatcher.dispatch(&mqtt, Event::Log(entry)),
            Input::Connected {
                broker,
                shared_subscriptions,
            } => {
                if shared.closed.load(Ordering::SeqCst) {
                    continue;
                }
                up = true;
                current.clone_from(&broker);
                delay = min_delay;
                retry_at = None;
                {
                    let mut h = lock(&shared.health);
                    h.last_error = None;
                    h.broker = Some(broker.clone());
                    h.connects += 1;
                    h.set(ConnectionState::Connected);
                }
                if let Some(tx) = lock(&shared.first_outcome).take() {
                    let _ = tx.send(Ok(()));
                }
                let reconnect = ever_connected;
                ever_connected = true;
                if !reconnect {
                    mqtt.emit_log(LogLevel::Info, crate::paho_version::first_connect_line());
                }
                mqtt.emit_log(
                    LogLevel::Info,
                    format!("connected to {broker} as `{}`", shared.config.client_id()),
                );
                if !warned_shared.contains(&broker) {
                    if let Some(why) = shared_subscription_warning(&mqtt, shared_subscriptions) {
                        mqtt.emit_log(LogLevel::Warning, format!("{broker}: {why}"));
                        warned_shared.insert(broker.clone());
                    }
                }
                // Subscribe first, then tell on_connect handlers (through the queue, so the
                // driver never waits on the broker itself).
                let m = mqtt.clone();
                tokio::spawn(async move {
                    m.resubscribe().await;
                    m.emit(Event::Connected(Connected {
                        server_uri: broker,
                        reconnect,
                    }));
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
                lock(&shared.health).set(ConnectionState::Reconnecting);
                mqtt.emit_log(
                    LogLevel::Err,
                    format!("connection to {current} lost ({reason:?}); reconnecting in {delay:?}"),
                );
                dispatcher.dispatch(&mqtt, Event::Disconnected(Disconnected { reason }));
                retry_at = Some(Instant::now() + delay);
                delay = (delay * 2).min(max_delay);
            }
            Input::ConnectFailed(err) => {
                if shared.closed.load(Ordering::SeqCst) || up {
                    continue;
                }
                {
                    let mut h = lock(&shared.health);
                    h.last_error = Some(err.clone());
                    if ever_connected {
                        h.set(ConnectionState::Reconnecting);
                    }
                }
                if next + 1 < uris.len() {
                    next += 1;
                    mqtt.emit_log(
                        LogLevel::Warning,
                        format!("{err}; trying {} next", uris[next]),
                    );
                    start_attempt(&mqtt, &uris[..], next);
                    continue;
                }
                next = 0;
                mqtt.emit_log(LogLevel::Err, format!("{err}; retrying in {delay:?}"));
                if let Some(tx) = lock(&shared.first_outcome).take() {
                    let _ = tx.send(Err(err.clone()));
                }
                dispatcher.dispatch(
                    &mqtt,
                    Event::Disconnected(Disconnected {
                        reason: DisconnectReason::ConnectFailed(err),
                    }),
                );
                retry_at = Some(Instant::now() + delay);
                delay = (delay * 2).min(max_delay);
            }
            Input::Shutdown { done, graceful } => {
                shutdown(&mqtt, dispatcher, rx, up, done, graceful).await;
                return;
            }
        }
    }
}

/// Stops the client. Graceful: first lets every handler call already queued or running
/// finish and every publish handed to Paho complete, while still dispatching what
/// arrives (Paho has acknowledged it: dropping it would lose it), bounded by
/// [`SHUTDOWN_TIMEOUT`]. Then sends DISCONNECT, runs on_disconnect handlers, hands every
/// event already received to its handlers and waits (bounded) for them.
async fn shutdown(
    mqtt: &Mqtt,
    dispatcher: Dispatcher,
    mut rx: mpsc::UnboundedReceiver<Input>,
    mut up: bool,
    done: Done,
    graceful: bool,
) {
    let shared = &mqtt.shared;
    // Answered once DISCONNECT went out (`Mqtt::disconnect()` may be awaited inside a
    // handler), and once the handlers are drained.
    let mut early = Vec::new();
    let mut waiting = Vec::new();
    let hold = |d: Done, early: &mut Vec<Done>, waiting: &mut Vec<Done>| match d {
        d @ Done::Async(_) => early.push(d),
        d => waiting.push(d),
    };
    hold(done, &mut early, &mut waiting);

    if graceful && up {
        leave_share_groups(mqtt).await;
    }
    if graceful {
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(5));
        loop {
            let unsent = shared.unsent.load(Ordering::SeqCst);
            if dispatcher.is_idle() && (unsent == 0 || !up) {
                if unsent > 0 {
                    mqtt.emit_log(
                        LogLevel::Warning,
                        format!(
                            "shutting down while disconnected from {}: {unsent} publishes were never sent",
                            shared.uri
                        ),
                    );
                }
                break;
            }
            tokio::select! {
                i = rx.recv() => match i {
                    Some(Input::Message(m)) => {
                        dispatcher.dispatch(mqtt, Event::Message(Message::from_paho(m)));
                    }
                    Some(Input::Emit(ev)) => dispatcher.dispatch(mqtt, ev),
                    Some(Input::Log(e)) => dispatcher.dispatch(mqtt, Event::Log(e)),
                    Some(Input::Connected { .. }) => up = true,
                    Some(Input::ConnectionLost | Input::BrokerDisconnect(_)) => up = false,
                    Some(Input::ConnectFailed(_)) => {}
                    Some(Input::Shutdown { done, .. }) => hold(done, &mut early, &mut waiting),
                    None => break,
                },
                _ = tick.tick() => {}
                _ = tokio::time::sleep_until(deadline) => {
                    mqtt.emit_log(
                        LogLevel::Warning,
                        format!(
                            "shutdown: handlers or publishes still busy after {SHUTDOWN_TIMEOUT:?} ({} publishes unacknowledged); disconnecting anyway",
                            shared.unsent.load(Ordering::SeqCst)
                        ),
                    );
                    break;
                }
            }
        }
    }

    shared.closed.store(true, Ordering::SeqCst);
    if up || shared.paho.is_connected() {
        let tok = shared.paho.disconnect(None);
        match tokio::time::timeout(SHUTDOWN_TIMEOUT, tok).await {
            Ok(Ok(_)) => mqtt.emit_log(LogLevel::Info, format!("disconnected from {}", shared.uri)),
            Ok(Err(e)) => mqtt.emit_log(
                LogLevel::Warning,
                format!("disconnect from {} failed: {e}", shared.uri),
            ),
            Err(_) => mqtt.emit_log(
                LogLevel::Warning,
                format!("disconnect from {} timed out", shared.uri),
            ),
        }
        dispatcher.dispatch(
            mqtt,
            Event::Disconnected(Disconnected {
                reason: DisconnectReason::Requested,
            }),
        );
    }
    lock(&shared.health).set(ConnectionState::Closed);
    for d in early.drain(..) {
        d.send();
    }
    // Events that arrived before the DISCONNECT still reach their handlers.
    rx.close();
    while let Some(i) = rx.recv().await {
        match i {
            Input::Message(m) => dispatcher.dispatch(mqtt, Event::Message(Message::from_paho(m))),
            Input::Emit(ev) => dispatcher.dispatch(mqtt, ev),
            Input::Log(e) => dispatcher.dispatch(mqtt, Event::Log(e)),
            Input::Shutdown { done, .. } => hold(done, &mut early, &mut waiting),
            _ => {}
        }
    }
    for d in early {
        d.send();
    }
    dispatcher.drain(SHUTDOWN_TIMEOUT).await;
    for d in waiting {
        d.send();
    }
}

/// Unsubscribes the shared subscriptions before a graceful stop, so the broker gives the
/// rest of their share to the other members of the group instead of to this client,
/// which would then have to handle it before it could go (measured with three replicas:
/// without this, a replica stopped mid-stream kept receiving its share). Plain
/// subscriptions stay: a persistent session keeps collecting them for the next start.
async fn leave_share_groups(mqtt: &Mqtt) {
    let filters: Vec<String> = lock(&mqtt.shared.topics)
        .keys()
        .filter(|f| f.starts_with("$share/"))
        .cloned()
        .collect();
    if filters.is_empty() {
        return;
    }
    let tok = mqtt.shared.paho.unsubscribe_many(&filters);
    match tokio::time::timeout(SHUTDOWN_TIMEOUT, tok).await {
        Ok(Ok(_)) => mqtt.emit_log(
            LogLevel::Info,
            format!(
                "left {} shared subscription group(s) before stopping",
                filters.len()
            ),
        ),
        Ok(Err(e)) => mqtt.emit_log(
            LogLevel::Warning,
            format!("leaving the shared subscriptions before stopping failed: {e}"),
        ),
        Err(_) => mqtt.emit_log(
            LogLevel::Warning,
            "leaving the shared subscriptions before stopping timed out".to_owned(),
        ),
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
            "shared subscription {which} on MQTT 3.1.1, which cannot ask the broker whether it supports them (Mosquitto, EMQX, HiveMQ and VerneMQ do); set MQTT_PROTOCOL_VERSION=5 to have it checked"
        )),
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => futures::future::pending().await,
    }
}

/// Starts one connection attempt to broker `uris[i]`; its outcome comes back as
/// `Input::Connected` or `Input::ConnectFailed`.
pub(super) fn start_attempt(mqtt: &Mqtt, uris: &[String], i: usize) {
    let shared = Arc::clone(&mqtt.shared);
    let uri = uris.get(i).cloned().unwrap_or_else(|| shared.uri.clone());
    // One broker: the URI the Paho client was created with. Several: this attempt's.
    let only = (uris.len() > 1).then_some(uri.as_str());
    let opts = match connect_options(&shared.config, only) {
        Ok(o) => o,
        Err(e) => {
            let err = ConnectError::from_paho(&e, &uri);
            let _ = shared.input.send(Input::ConnectFailed(err));
            return;
        }
    };
    if shared.config.tls().is_some_and(|t| t.insecure()) {
        mqtt.emit_log(
            LogLevel::Warning,
            format!(
                "TLS certificate and host name checks are OFF for {uri} (MQTT_TLS_INSECURE); anyone on the path can read and change this connection"
            ),
        );
    }
    log::debug!(target: crate::log::CLIENT_TARGET, "connecting to {uri}");
    let rt = shared.rt.clone();
    rt.spawn(async move {
        match shared.paho.connect(opts).await {
            Ok(rsp) => {
                let shared_subscriptions =
                    (shared.config.protocol_version() == ProtocolVersion::V5).then(|| {
                        // Absent means available (MQTT 5.0 §3.2.2.3.18).
                        rsp.properties()
                            .get_int(paho_mqtt::PropertyCode::SharedSubscriptionAvailable)
                            != Some(0)
                    });
                let _ = shared.input.send(Input::Connected {
                    broker: uri,
                    shared_subscriptions,
                });
            }
            Err(e) => {
                let err = ConnectError::from_paho(&e, &uri);
                let _ = shared.input.send(Input::ConnectFailed(err));
            }
        }
    });
}

/// Paho's connect options for `c`: version, transport, session, credentials, TLS, will;
/// and the broker, when it is not the one the Paho client was created with.
pub(super) fn connect_options(
    c: &Config,
    server: Option<&str>,
) -> Result<paho_mqtt::ConnectOptions, paho_mqtt::Error> {
    let v5 = c.protocol_version() == ProtocolVersion::V5;
    let mut b = match (c.transport(), v5) {
        (Transport::Tcp, false) => {
            paho_mqtt::ConnectOptionsBuilder::with_mqtt_version(paho_mqtt::MQTT_VERSION_3_1_1)
        }
        (Transport::Tcp, true) => paho_mqtt::ConnectOptionsBuilder::new_v5(),
        (Transport::WebSockets, false) => paho_mqtt::ConnectOptionsBuilder::new_ws(),
        (Transport::WebSockets, true) => paho_mqtt::ConnectOptionsBuilder::new_ws_v5(),
    };
    b.keep_alive_interval(c.keepalive())
        .connect_timeout(c.connect_timeout());
    if let Some(server) = server {
        // A list of one: the driver does the failover itself, because given several
        // Paho C 1.3 also moves on to the next broker by itself after a lost connection
        // without completing any connect token (measured), so nobody would resubscribe.
        b.server_uris(&[server]);
        if c.tls().is_none() {
            // Paho C 1.3 prints "checking <uri>" to stdout for a server list that comes
            // without SSL options (a leftover debug printf in MQTTAsync_connect). Empty
            // SSL options skip that branch; they are only used for `ssl://` URIs, which a
            // configuration without TLS does not produce.
            b.ssl_options(paho_mqtt::SslOptions::default());
        }
    }
    if v5 {
        b.clean_start(c.clean_session());
        let mut props = paho_mqtt::Properties::new();
        let expiry = u32::try_from(c.session_expiry().as_secs()).unwrap_or(u32::MAX);
        if expiry > 0 {
            props.push_u32(paho_mqtt::PropertyCode::SessionExpiryInterval, expiry)?;
        }
        b.properties(props);
    } else {
        b.clean_session(c.clean_session());
    }
    if let Some(user) = c.username() {
        b.user_name(user);
    }
    if let Some(pw) = &c.password {
        b.password(pw.expose());
    }
    if let Some(tls) = c.tls() {
        let mut s = paho_mqtt::SslOptionsBuilder::new();
        if let Some(ca) = tls.ca_certs() {
            s.trust_store(ca)?;
        }
        if let Some(cert) = tls.certfile() {
            s.key_store(cert)?;
        }
        if let Some(key) = tls.keyfile() {
            s.private_key(key)?;
        }
        if let Some(ciphers) = tls.ciphers() {
            s.enabled_cipher_suites(ciphers);
        }
        // Verify the chain and the host name unless explicitly told not to.
        s.enable_server_cert_auth(!tls.insecure())
            .verify(!tls.insecure());
        b.ssl_options(s.finalize());
    }
    if let Some(will) = c.last_will() {
        let msg = paho_mqtt::MessageBuilder::new()
            .topic(will.topic())
            .payload(will.message())
            .qos(will.qos().to_paho())
            .retained(will.retain())
            .finalize();
        b.will_message(msg);
    }
    Ok(b.finalize())
}
