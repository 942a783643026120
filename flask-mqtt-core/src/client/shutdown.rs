//! Stopping the client: graceful (handlers finish, publishes go out) or at once, then
//! DISCONNECT, and the events received meanwhile still reach their handlers.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::session::Session;
use crate::event::log::LogLevel;
use crate::event::payloads::{DisconnectReason, Disconnected};
use crate::event::Event;
use crate::handle::health::ConnectionState;
use crate::handle::input::{Done, Input};
use crate::handle::Mqtt;
use crate::sync::lock;

/// How long each shutdown step may take: handlers and unsent publishes settling (graceful
/// shutdown only), the DISCONNECT, handler calls for events received meanwhile.
pub(super) const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Stops the client. Graceful: first stops taking QoS 1/2 messages of a persistent
/// session (left unacknowledged, the broker sends them again with the next session),
/// lets every handler call already queued or running finish, their acknowledgements go
/// out and every publish handed to Paho complete, bounded by [`SHUTDOWN_TIMEOUT`]; other
/// events arriving meanwhile are still dispatched. Then sends DISCONNECT (after the
/// acknowledgements given before it), runs on_disconnect handlers, hands every event
/// already received to its handlers and waits (bounded) for them.
pub(super) async fn shutdown(
    mut session: Session,
    mut rx: mpsc::UnboundedReceiver<Input>,
    mut up: bool,
    done: Done,
    graceful: bool,
) {
    let mqtt = &session.mqtt.clone();
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
    shared.acks.close();
    if !*shared.ready.borrow() {
        session.abandon_waiting();
    }

    if graceful && up {
        leave_share_groups(mqtt).await;
    }
    if graceful {
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(5));
        loop {
            let unsent = shared.unsent.load(Ordering::SeqCst);
            // Acknowledgements still owed: held by an `mqtt::Ack` (the calls are over).
            let owed = shared.acks.unacknowledged();
            if session.dispatcher.is_idle() && ((unsent == 0 && owed == 0) || !up) {
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
                i = rx.recv() => match i.map(|i| session.deliver(i)) {
                    Some(None) => {}
                    Some(Some(Input::Connected { .. })) => up = true,
                    Some(Some(Input::ConnectionLost | Input::BrokerDisconnect(_))) => up = false,
                    Some(Some(Input::Shutdown { done, .. })) => {
                        hold(done, &mut early, &mut waiting);
                    }
                    Some(Some(Input::Ready)) => session.resume(),
                    Some(Some(_)) => {}
                    None => break,
                },
                _ = tick.tick() => {}
                _ = tokio::time::sleep_until(deadline) => {
                    mqtt.emit_log(
                        LogLevel::Warning,
                        format!(
                            "shutdown: handlers or publishes still busy after {SHUTDOWN_TIMEOUT:?} ({} publishes unacknowledged, {} received messages not acknowledged: the broker sends those again with a persistent session); disconnecting anyway",
                            shared.unsent.load(Ordering::SeqCst),
                            shared.acks.unacknowledged()
                        ),
                    );
                    break;
                }
            }
        }
    }

    shared.closed.store(true, Ordering::SeqCst);
    if session.persistent() {
        // Acknowledgements from now on would come too late (Paho refuses those given
        // after the DISCONNECT): calls not started yet are skipped, the broker sends
        // their messages again with the next session.
        shared.acks.abandon();
    }
    if up || session.paho.is_connected() {
        let tok = session.paho.disconnect(None);
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
        session.dispatch(Event::Disconnected(Disconnected {
            reason: DisconnectReason::Requested,
        }));
    }
    shared.set_state(ConnectionState::Closed, |_| {});
    for d in early.drain(..) {
        d.send();
    }
    // Events that arrived before the DISCONNECT still reach their handlers.
    rx.close();
    while let Some(i) = rx.recv().await {
        match session.deliver(i) {
            Some(Input::Shutdown { done, .. }) => hold(done, &mut early, &mut waiting),
            Some(Input::Ready) => session.resume(),
            _ => {}
        }
    }
    for d in early {
        d.send();
    }
    session.dispatcher.drain(SHUTDOWN_TIMEOUT).await;
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
    let tok = mqtt.shared.outbound.unsubscribe(filters.clone());
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
