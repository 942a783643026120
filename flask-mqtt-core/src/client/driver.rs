//! The driver task: connection state machine and dispatch.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{lock, Done, Input, Mqtt, SHUTDOWN_TIMEOUT};
use crate::config::{ProtocolVersion, Transport};
use crate::dispatch::Dispatcher;
use crate::extract::{Connected, DisconnectReason, Disconnected, Event};
use crate::log::LogLevel;
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

    start_attempt(&mqtt);
    loop {
        let input = tokio::select! {
            i = rx.recv() => i,
            _ = sleep_until(retry_at), if retry_at.is_some() => {
                retry_at = None;
                if !shared.closed.load(Ordering::SeqCst) {
                    start_attempt(&mqtt);
                }
                continue;
            }
        };
        let Some(input) = input else { break };
        match input {
            Input::Message(m) => dispatcher.dispatch(&mqtt, Event::Message(Message::from_paho(m))),
            Input::Emit(ev) => dispatcher.dispatch(&mqtt, ev),
            Input::Log(entry) => dispatcher.dispatch(&mqtt, Event::Log(entry)),
            Input::Connected => {
                if shared.closed.load(Ordering::SeqCst) {
                    continue;
                }
                up = true;
                if let Some(tx) = lock(&shared.first_outcome).take() {
                    let _ = tx.send(Ok(()));
                }
                delay = min_delay;
                retry_at = None;
                *lock(&shared.last_error) = None;
                let reconnect = ever_connected;
                ever_connected = true;
                mqtt.emit_log(
                    LogLevel::Info,
                    format!(
                        "connected to {} as `{}`",
                        shared.uri,
                        shared.config.client_id()
                    ),
                );
                // Subscribe first, then tell on_connect handlers (through the queue, so the
                // driver never waits on the broker itself).
                let m = mqtt.clone();
                tokio::spawn(async move {
                    m.resubscribe().await;
                    m.emit(Event::Connected(Connected {
                        server_uri: m.shared.uri.clone(),
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
                mqtt.emit_log(
                    LogLevel::Err,
                    format!(
                        "connection to {} lost ({reason:?}); reconnecting in {delay:?}",
                        shared.uri
                    ),
                );
                dispatcher.dispatch(&mqtt, Event::Disconnected(Disconnected { reason }));
                retry_at = Some(Instant::now() + delay);
                delay = (delay * 2).min(max_delay);
            }
            Input::ConnectFailed(err) => {
                if shared.closed.load(Ordering::SeqCst) || up {
                    continue;
                }
                mqtt.emit_log(LogLevel::Err, format!("{err}; retrying in {delay:?}"));
                if let Some(tx) = lock(&shared.first_outcome).take() {
                    let _ = tx.send(Err(err.clone()));
                }
                *lock(&shared.last_error) = Some(err.clone());
                dispatcher.dispatch(
                    &mqtt,
                    Event::Disconnected(Disconnected {
                        reason: DisconnectReason::ConnectFailed(err),
                    }),
                );
                retry_at = Some(Instant::now() + delay);
                delay = (delay * 2).min(max_delay);
            }
            Input::Shutdown(done) => {
                shutdown(&mqtt, dispatcher, rx, up, done).await;
                return;
            }
        }
    }
}

/// Sends DISCONNECT, runs on_disconnect handlers, hands every event already received to
/// its handlers and waits (bounded) for them.
async fn shutdown(
    mqtt: &Mqtt,
    dispatcher: Dispatcher,
    mut rx: mpsc::UnboundedReceiver<Input>,
    up: bool,
    done: Done,
) {
    let shared = &mqtt.shared;
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
    // `Mqtt::disconnect()` may be awaited inside a handler: answer it now, before
    // waiting for the handlers. `Client`'s drop waits for the handlers too.
    let mut waiting = Vec::new();
    match done {
        d @ Done::Async(_) => d.send(),
        d => waiting.push(d),
    }
    // Events that arrived before the shutdown still reach their handlers.
    rx.close();
    while let Some(i) = rx.recv().await {
        match i {
            Input::Message(m) => dispatcher.dispatch(mqtt, Event::Message(Message::from_paho(m))),
            Input::Emit(ev) => dispatcher.dispatch(mqtt, ev),
            Input::Log(e) => dispatcher.dispatch(mqtt, Event::Log(e)),
            Input::Shutdown(d @ Done::Async(_)) => d.send(),
            Input::Shutdown(d) => waiting.push(d),
            _ => {}
        }
    }
    dispatcher.drain(SHUTDOWN_TIMEOUT).await;
    for d in waiting {
        d.send();
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => futures::future::pending().await,
    }
}

pub(super) fn start_attempt(mqtt: &Mqtt) {
    let shared = Arc::clone(&mqtt.shared);
    let opts = match connect_options(&shared.config) {
        Ok(o) => o,
        Err(e) => {
            let err = ConnectError::from_paho(&e, &shared.uri);
            let _ = shared.input.send(Input::ConnectFailed(err));
            return;
        }
    };
    if shared.config.tls().is_some_and(|t| t.insecure()) {
        mqtt.emit_log(
            LogLevel::Warning,
            format!(
                "TLS certificate and host name checks are OFF for {} (MQTT_TLS_INSECURE); anyone on the path can read and change this connection",
                shared.uri
            ),
        );
    }
    log::debug!(target: crate::log::CLIENT_TARGET, "connecting to {}", shared.uri);
    let rt = shared.rt.clone();
    rt.spawn(async move {
        if let Err(e) = shared.paho.connect(opts).await {
            let err = ConnectError::from_paho(&e, &shared.uri);
            let _ = shared.input.send(Input::ConnectFailed(err));
        }
    });
}

/// Paho's connect options for `c`: version, transport, session, credentials, TLS, will.
pub(super) fn connect_options(c: &Config) -> Result<paho_mqtt::ConnectOptions, paho_mqtt::Error> {
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
