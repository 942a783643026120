//! Stopping the client: graceful (handlers finish, publishes go out) or at once, then
//! DISCONNECT, and the events received meanwhile still reach their handlers.

use std::sync::atomic::Ordering;
use std::time::Duration;

use flask_mqtt_topic::TopicFilter;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::session::Session;
use crate::error::shown_uri;
use crate::event::log::{LogLevel, CLIENT_TARGET};
use crate::event::payloads::{DisconnectReason, Disconnected};
use crate::event::Event;
use crate::handle::health::ConnectionState;
use crate::handle::input::{Done, Input};
use crate::handle::limits::FilterPacket;
use crate::handle::Mqtt;
use crate::sync::lock;

/// How long each shutdown step may take: handlers and unsent publishes settling (graceful
/// shutdown only), the DISCONNECT, handler calls for events received meanwhile.
pub(super) const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// How many steps of a stop may each take up to [`SHUTDOWN_TIMEOUT`], one after the
/// other: leaving the share groups while connected, or waiting for the connect attempt
/// under way while not (never both); handlers and unsent publishes settling; the
/// DISCONNECT; the handler calls of what arrived before it. A step added here needs this
/// raised, and with it what waits for a stop (`Client`'s drop, the actix exit hook).
pub(super) const SHUTDOWN_STEPS: u32 = 4;

/// Stops the client. Graceful: first stops taking QoS 1/2 messages of a persistent
/// session (left unacknowledged, the broker sends them again with the next session),
/// leaves the share groups and, with a clean session, takes what the broker had queued
/// for them (see [`Left`]), lets every handler call already queued or running finish,
/// their acknowledgements go out and every publish handed to Paho complete, bounded by
/// [`SHUTDOWN_TIMEOUT`]; other events arriving meanwhile are still dispatched. Then
/// sends DISCONNECT (after the acknowledgements given before it), runs on_disconnect
/// handlers, hands every event already received to its handlers and waits (bounded) for
/// them.
pub(super) async fn shutdown(
    mut session: Session,
    mut rx: mpsc::UnboundedReceiver<Input>,
    link: Link,
    done: Done,
    graceful: bool,
) {
    let Link {
        mut up,
        mut connecting,
    } = link;
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
    if graceful {
        log::info!(
            target: CLIENT_TARGET,
            "stopping: the handler calls of what was received finish, then DISCONNECT"
        );
    }
    if !*shared.ready.borrow() {
        session.abandon_waiting();
    }

    if graceful {
        // Connected, the share groups are left first (their own step, bounded by
        // `SHUTDOWN_TIMEOUT`); what the broker had queued for them still comes after:
        // waited for with a clean session (`left`; a persistent session keeps it). This
        // loop reads and delivers the inputs meanwhile too (the connection's end answers
        // the UNSUBSCRIBEs still waiting); it settles, and its deadline starts, once the
        // groups are left.
        let mut leaving = up.then(|| Box::pin(leave_share_groups(mqtt)));
        let mut left: Option<Left> = None;
        let mut deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        let mut open = true;
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(5));
        // Since when the handlers have been idle with nothing owed or unsent, and no
        // message of a group left has come.
        let mut settled_since: Option<Instant> = None;
        let mut from_groups = 0usize;
        loop {
            let unsent = shared.unsent.load(Ordering::SeqCst);
            // Acknowledgements still owed by slots: held by an `mqtt::Ack` (the calls are
            // over). Not the messages waiting for the app (`unheld` below covers them):
            // not ready, those arriving during the stop wait for nothing and would hold
            // it for the whole `SHUTDOWN_TIMEOUT`.
            let owed = shared.acks.held();
            // Messages waiting for a ready app whose `Input::Ready` is queued behind this
            // stop (`Mqtt::ready()` racing it) are not settled either: read on until it
            // comes, or they reach handlers after the DISCONNECT, too late to be
            // acknowledged. (Not ready: they never reach any, `abandon_waiting`.)
            let unheld = session.waiting.is_empty() || !*shared.ready.borrow();
            let settled = session.dispatcher.is_idle()
                && ((unsent == 0 && owed == 0) || !up)
                && !connecting
                && unheld;
            if !settled {
                settled_since = None;
            }
            let quiet = match &left {
                Some(left) if up && settled => {
                    settled_since.get_or_insert_with(Instant::now).elapsed() >= left.quiet
                }
                _ => true,
            };
            if settled && quiet && leaving.is_none() {
                if unsent > 0 {
                    mqtt.emit_visible(
                        LogLevel::Warning,
                        format!(
                            "shutting down while disconnected from {}: {unsent} publishes were never sent",
                            shown_uri(&shared.uri)
                        ),
                    );
                }
                break;
            }
            // No fixed order: a connection's end already queued may be read (and
            // counted, `connection_ended`) before the leave first runs and starts to
            // watch for one. Its UNSUBSCRIBEs, asked of Paho after that, are refused at
            // once then, not left unanswered (which a persistent session's Paho would
            // do, for the leave's whole `SHUTDOWN_TIMEOUT`): Paho marks itself
            // disconnected before its connection-lost callback, or right after its
            // disconnected callback (a broker's DISCONNECT), with the lock its unsubscribe
            // takes held across both (`tests/paho_unsubscribe_after_loss.rs`).
            tokio::select! {
                l = async {
                    match leaving.as_mut() {
                        Some(leaving) => leaving.await,
                        None => std::future::pending().await,
                    }
                }, if leaving.is_some() => {
                    leaving = None;
                    left = l.filter(|_| !session.persistent());
                    deadline = Instant::now() + SHUTDOWN_TIMEOUT;
                    if !open {
                        break;
                    }
                }
                i = rx.recv(), if open => match i.map(|i| {
                    if let (Input::Message(m), Some(left)) = (&i, &left) {
                        if left.covers(m.topic()) {
                            from_groups += 1;
                            settled_since = None;
                        }
                    }
                    session.deliver(i)
                }) {
                    Some(None) => {}
                    Some(Some(Input::Connected { .. })) => {
                        connecting = false;
                        up = session.paho.is_connected();
                    }
                    Some(Some(Input::ConnectFailed(_))) => connecting = false,
                    Some(Some(Input::ConnectionLost | Input::BrokerDisconnect(_))) => {
                        if std::mem::take(&mut up) {
                            shared.connection_ended();
                        }
                    }
                    Some(Some(Input::Shutdown { done, .. })) => {
                        hold(done, &mut early, &mut waiting);
                    }
                    Some(Some(Input::Ready)) => session.resume(),
                    Some(Some(_)) => {}
                    None if leaving.is_none() => break,
                    None => open = false,
                },
                _ = tick.tick() => {}
                _ = tokio::time::sleep_until(deadline), if leaving.is_none() => {
                    // What the stop waited for (`held`, as `owed` above), and apart from
                    // it the messages not yet handed to handlers: waiting for
                    // `Mqtt::ready` (not waited for), or for its signal queued behind
                    // this stop (waited for, `unheld` above: the app is ready then).
                    let waiting = shared.acks.waiting();
                    mqtt.emit_visible(
                        LogLevel::Warning,
                        format!(
                            "shutdown: handlers or publishes still busy after {SHUTDOWN_TIMEOUT:?} ({} publishes unacknowledged, {} received messages not acknowledged by their handlers: the broker sends those again with a persistent session{}{}); disconnecting anyway",
                            shared.unsent.load(Ordering::SeqCst),
                            shared.acks.held(),
                            if waiting > 0 {
                                format!("; {waiting} more not yet handed to handlers (waiting for `Mqtt::ready` or its signal), not acknowledged either")
                            } else {
                                String::new()
                            },
                            if left.is_some() {
                                format!("; {from_groups} messages of the shared subscriptions left came after leaving them, and what the broker still holds for this client is dropped with the session")
                            } else {
                                String::new()
                            }
                        ),
                    );
                    break;
                }
            }
        }
    } else {
        // `Mqtt::disconnect`: nothing waits for the publishes under way.
        let unsent = shared.unsent.load(Ordering::SeqCst);
        if unsent > 0 {
            mqtt.emit_visible(
                LogLevel::Warning,
                format!(
                    "disconnecting from {} with {unsent} publishes not yet sent or acknowledged: they may be lost (a graceful shutdown, `Client::shutdown`, waits for them while connected)",
                    shown_uri(&shared.uri)
                ),
            );
        }
    }

    if connecting {
        // The attempt may still connect: wait for it, so that its connection is closed
        // with DISCONNECT (otherwise it lives on unseen and, when the process exits, the
        // broker publishes the last will).
        let mut later = Vec::new();
        up |= finish_attempt(&mut session, &mut rx, &mut later).await;
        for d in later {
            hold(d, &mut early, &mut waiting);
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
            Ok(Ok(_)) => mqtt.emit_log(
                LogLevel::Info,
                format!("disconnected from {}", shown_uri(&shared.uri)),
            ),
            Ok(Err(e)) => mqtt.emit_log(
                LogLevel::Warning,
                format!("disconnect from {} failed: {e}", shown_uri(&shared.uri)),
            ),
            Err(_) => mqtt.emit_log(
                LogLevel::Warning,
                format!("disconnect from {} timed out", shown_uri(&shared.uri)),
            ),
        }
        session.dispatch(Event::Disconnected(Disconnected {
            reason: DisconnectReason::Requested,
        }));
    }
    // What still waits for an answer from the broker gets none now.
    shared.connection_ended();
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
    // Still not ready: what came during the stop waited for nothing (said, as what
    // waited before it was).
    session.abandon_waiting();
    for d in early {
        d.send();
    }
    session.dispatcher.drain(SHUTDOWN_TIMEOUT).await;
    for d in waiting {
        d.send();
    }
}

/// The connection as the driver left it to the stop.
pub(super) struct Link {
    /// A connection is up.
    pub(super) up: bool,
    /// A connection attempt is under way: its outcome has not come yet.
    pub(super) connecting: bool,
}

/// Waits for the outcome of the connection attempt under way, bounded by the attempt's
/// own timeout (at most [`SHUTDOWN_TIMEOUT`]), handing what else arrives meanwhile to
/// dispatch (and shutdown requests to `later`). Whether it connected.
async fn finish_attempt(
    session: &mut Session,
    rx: &mut mpsc::UnboundedReceiver<Input>,
    later: &mut Vec<Done>,
) -> bool {
    let bound = session
        .mqtt
        .shared
        .config
        .attempt_timeout()
        .saturating_add(Duration::from_millis(500))
        .min(SHUTDOWN_TIMEOUT);
    let deadline = Instant::now() + bound;
    loop {
        let input = tokio::select! {
            i = rx.recv() => i,
            _ = tokio::time::sleep_until(deadline) => {
                session.mqtt.emit_visible(
                    LogLevel::Warning,
                    format!(
                        "stopping while a connection attempt to {} still had no outcome after {bound:?}: if it connects after all, the broker may publish the last will",
                        crate::error::shown_uri(&session.mqtt.shared.uri)
                    ),
                );
                return session.paho.is_connected();
            }
        };
        match input.map(|i| session.deliver(i)) {
            None => return session.paho.is_connected(),
            Some(Some(Input::Connected { .. })) => return session.paho.is_connected(),
            Some(Some(Input::ConnectFailed(_))) => return false,
            Some(Some(Input::Shutdown { done, .. })) => later.push(done),
            Some(Some(Input::Ready)) => session.resume(),
            Some(_) => {}
        }
    }
}

/// Share groups the client left before stopping, and how long it waits, once idle, for
/// more of what the broker had queued for it there.
///
/// Leaving a group stops new messages, not the ones the broker already queued for this
/// client: Mosquitto goes on sending them as acknowledgements free the in-flight window,
/// and drops what is left with a clean session at the DISCONNECT instead of giving it to
/// another member. No packet says the queue is empty, so the client waits until nothing
/// of the groups has come for a while set by the UNSUBSCRIBE's round trip
/// ([`quiet_after`]). Measured with the broker 25 ms away: disconnecting at the first
/// idle moment lost 1,949 of 2,000 queued jobs (`tests/shutdown_share_latency.rs`).
struct Left {
    filters: Vec<TopicFilter>,
    quiet: Duration,
}

impl Left {
    /// Whether a message on `topic` came through one of the groups left.
    fn covers(&self, topic: &str) -> bool {
        self.filters.iter().any(|f| f.matches(topic))
    }
}

/// Shortest and longest wait for a quiet group after leaving it.
const QUIET_MIN: Duration = Duration::from_millis(50);
const QUIET_MAX: Duration = Duration::from_secs(1);

/// How long nothing of the groups left must come before the client disconnects: two
/// round trips (an acknowledgement out, the broker's next message back, and the broker's
/// own time) plus [`QUIET_MIN`], at most [`QUIET_MAX`].
fn quiet_after(round_trip: Duration) -> Duration {
    round_trip
        .saturating_mul(2)
        .saturating_add(QUIET_MIN)
        .min(QUIET_MAX)
}

/// Unsubscribes the shared subscriptions before a graceful stop, so the broker gives the
/// rest of their share to the other members of the group instead of to this client,
/// which would then have to handle it before it could go (measured with three replicas:
/// without this, a replica stopped mid-stream kept receiving its share). Plain
/// subscriptions stay: a persistent session keeps collecting them for the next start.
/// `Some` when the broker took any of the UNSUBSCRIBEs, holding only those packets'
/// groups (see [`Left`]); an ended connection ([`Shared::connection_ended`]) answers
/// none of those still waiting.
///
/// [`Shared::connection_ended`]: crate::handle::shared::Shared::connection_ended
async fn leave_share_groups(mqtt: &Mqtt) -> Option<Left> {
    let filters: Vec<String> = lock(&mqtt.shared.topics)
        .keys()
        .filter(|f| f.starts_with("$share/"))
        .cloned()
        .collect();
    // In UNSUBSCRIBEs the broker takes, as a connect's: it closes the connection at a
    // larger one, and the stop's acknowledgements and DISCONNECT would go with it. A
    // filter too large for any was not subscribed on this connection either; with a
    // persistent session the broker may still hold it (subscribed at a broker taking
    // more) and go on giving this client its share: said visibly.
    let packets = mqtt
        .shared
        .split_packets(filters, |f| f, FilterPacket::Unsubscribe);
    for (filter, limit) in packets.too_large {
        let e = FilterPacket::Unsubscribe.too_large(&filter, limit);
        if mqtt.shared.config.clean_session() {
            log::debug!(target: CLIENT_TARGET, "not leaving a shared subscription group before stopping, not subscribed on this connection (clean session): {e}");
        } else {
            mqtt.emit_visible(
                LogLevel::Warning,
                format!("not leaving a shared subscription group before stopping: {e}; the persistent session may still hold it, and the broker give this client its share"),
            );
        }
    }
    if packets.chunks.is_empty() {
        return None;
    }
    // Each packet's answer for its own groups: one refused (or unanswered) leaves the
    // others left, and what the broker queued for them is still to be taken.
    // A connection that ends answers none of those still waiting (with a persistent
    // session Paho does not fail them): as `Mqtt::answered` for the user's requests.
    let sent = Instant::now();
    let deadline = tokio::time::Instant::now() + SHUTDOWN_TIMEOUT;
    let ends = mqtt.shared.ends.subscribe();
    let answers: Vec<_> = packets
        .chunks
        .into_iter()
        .map(|chunk| {
            let answer = mqtt.shared.outbound.unsubscribe(chunk.clone());
            let answered = mqtt.answered(ends.clone(), answer);
            async move { (chunk, tokio::time::timeout_at(deadline, answered).await) }
        })
        .collect();
    let mut filters = Vec::new();
    let (mut not_left, mut failure) = (0, None);
    for (chunk, answer) in futures::future::join_all(answers).await {
        match answer {
            Ok(Some(Ok(()))) => filters.extend(chunk),
            Ok(Some(Err(e))) => {
                not_left += chunk.len();
                failure.get_or_insert_with(|| format!("failed: {e}"));
            }
            Ok(None) => {
                not_left += chunk.len();
                failure.get_or_insert_with(|| "failed: the connection ended".to_owned());
            }
            Err(_) => {
                not_left += chunk.len();
                failure.get_or_insert_with(|| "timed out".to_owned());
            }
        }
    }
    if let Some(failure) = failure {
        mqtt.emit_log(
            LogLevel::Warning,
            format!("leaving {not_left} shared subscription group(s) before stopping {failure}"),
        );
    }
    if filters.is_empty() {
        return None;
    }
    let quiet = quiet_after(sent.elapsed());
    mqtt.emit_log(
        LogLevel::Info,
        format!(
            "left {} shared subscription group(s) before stopping; taking what the broker had queued for them until none comes for {quiet:?}",
            filters.len()
        ),
    );
    Some(Left {
        filters: filters
            .into_iter()
            .filter_map(|f| TopicFilter::new(f).ok())
            .collect(),
        quiet,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::client::test_support::{stop_blocking, test_session, STOP_DEADLINE};
    use crate::handle::outbound::fake::{subscribed_client, Fake, HeldUnsubacks, Unsubacks};

    /// How long a test waits for the share groups' leave, or for its UNSUBSCRIBEs to be
    /// sent: twice the leave's own bound (`SHUTDOWN_TIMEOUT`). Under a paused clock,
    /// which jumps to the next timer when the runtime is idle, the leave's deadline comes
    /// first: this one fires only if the leave never ends.
    const LEAVE_DEADLINE: Duration = SHUTDOWN_TIMEOUT.saturating_mul(2);

    /// [`leave_share_groups`], failing the test unless it returns within
    /// [`LEAVE_DEADLINE`].
    async fn leave(mqtt: &Mqtt) -> Option<Left> {
        tokio::time::timeout(LEAVE_DEADLINE, leave_share_groups(mqtt))
            .await
            .expect("leaving the share groups did not end")
    }

    /// Waits until `n` UNSUBSCRIBEs wait for their answer in `held`; fails the test after
    /// [`LEAVE_DEADLINE`]. Polls with sleeps, not yields: under a paused clock only an
    /// idle runtime moves time on, so a loop of yields would never reach the deadline.
    async fn unsubscribes_sent(held: &HeldUnsubacks, n: usize) {
        let sent = async {
            while lock(held).len() < n {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        tokio::time::timeout(LEAVE_DEADLINE, sent)
            .await
            .unwrap_or_else(|_| panic!("{n} UNSUBSCRIBEs not sent"));
    }

    #[test]
    fn the_quiet_wait_follows_the_round_trip_within_its_bounds() {
        assert_eq!(quiet_after(Duration::ZERO), QUIET_MIN);
        assert_eq!(
            quiet_after(Duration::from_millis(25)),
            Duration::from_millis(100)
        );
        assert_eq!(quiet_after(Duration::from_secs(3)), QUIET_MAX);
        assert_eq!(quiet_after(Duration::MAX), QUIET_MAX);
    }

    /// Messages that arrive once a stop has begun, before the app was ready, reach no
    /// handler: said with their count, as those that waited before the stop are (they
    /// were queued after the one report, and lost without a word).
    #[test]
    fn messages_received_during_a_stop_before_ready_are_said() {
        let c = crate::config::Config::builder()
            .broker_url("tcp://127.0.0.1:1")
            .build()
            .unwrap();
        let client = crate::client::Client::start_paused(c).unwrap();
        let input = &client.mqtt.shared.input;
        let (done, stopped) = std::sync::mpsc::channel();
        input
            .send(Input::Shutdown {
                done: Done::Blocking(done),
                graceful: true,
            })
            .unwrap();
        // Taken by the stop, after it reported what waited before it.
        for _ in 0..3 {
            input
                .send(Input::Message(paho_mqtt::Message::new(
                    "stop/before/ready",
                    "x",
                    0,
                )))
                .unwrap();
        }
        stopped
            .recv_timeout(SHUTDOWN_TIMEOUT * SHUTDOWN_STEPS)
            .unwrap();
        drop(client);
        let said = crate::visible::said::containing("stopping before the app was ready");
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(
            said[0].contains(": 3 messages were not handled"),
            "{said:?}"
        );
    }

    /// A paused client stopped while a publish is still unacknowledged and two QoS 1
    /// messages wait for `Mqtt::ready()`: the stop waits for the publish, not for those
    /// messages (no handler has them), and its warning at the deadline says so: it counts
    /// them apart from the messages handlers have not acknowledged. Before, they were
    /// counted among those ("2 received messages not acknowledged"), as if handlers
    /// held the stop for them. The messages are counted as `Session::deliver_message`
    /// counts one taken while the app is not ready (`Watermark::wait`): a test cannot
    /// make a Paho message that carries an acknowledgement token.
    #[tokio::test(start_paused = true)]
    async fn the_stops_warning_counts_messages_waiting_for_the_app_apart() {
        use crate::handle::outbound::fake::client_and_input;

        let (mqtt, rx) = client_and_input(Fake::default(), crate::config::Config::default(), &[]);
        mqtt.shared.ready.send_replace(false);
        // A figure no other test's stop has: this test's warning.
        mqtt.shared.unsent.store(7, Ordering::SeqCst);
        for id in 1..=2 {
            let token = paho_mqtt::AckToken::from_parts(id, paho_mqtt::QoS::AtLeastOnce, 1);
            mqtt.shared.acks.wait(token);
        }
        stop_blocking(test_session(&mqtt, Vec::new(), None), rx, true).await;
        let said = crate::visible::said::containing("(7 publishes unacknowledged");
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(
            said[0].contains(
                "(7 publishes unacknowledged, 0 received messages not acknowledged by their handlers"
            ),
            "{said:?}"
        );
        assert!(
            said[0].contains(
                "; 2 more not yet handed to handlers (waiting for `Mqtt::ready` or its signal)"
            ),
            "{said:?}"
        );
    }

    /// A broker max of 1,000 bytes and ten 300-byte shared subscriptions: the stop leaves
    /// the groups in UNSUBSCRIBEs that each fit (three filters a packet); a filter too
    /// large for any is not sent. Before, all went in one UNSUBSCRIBE of 3,000 bytes and
    /// more, and the broker closed the connection in the middle of the stop.
    #[tokio::test]
    async fn leaving_the_share_groups_fits_the_brokers_maximum_packet_size() {
        use crate::handle::outbound::fake::Packet;

        let filters: Vec<String> = (0..10)
            .map(|i| format!("$share/g/{i}{}", "x".repeat(290)))
            .collect();
        let huge = format!("$share/g/{}", "h".repeat(2_000));
        let all = [filters.as_slice(), &[huge]].concat();
        let (mqtt, sent) = subscribed_client(Fake::default(), &all, 1_000);
        let left = leave(&mqtt).await.unwrap();
        let packets = lock(&sent).packets.clone();
        let lens: Vec<usize> = packets
            .iter()
            .map(|p| match p {
                Packet::Unsubscribe(f) => f.iter().map(|f| f.len() + 2).sum::<usize>() + 2,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(packets.len(), 4, "remaining lengths {lens:?}");
        assert!(
            lens.iter().all(|&l| l + 3 <= 1_000),
            "remaining lengths {lens:?}"
        );
        assert_eq!(lock(&sent).unsubscribed, filters);
        assert_eq!(left.filters.len(), 10, "the groups left: those sent");
    }

    #[test]
    fn a_group_left_covers_its_topics_only() {
        let left = Left {
            filters: vec![TopicFilter::new("$share/g/jobs/+").unwrap()],
            quiet: QUIET_MIN,
        };
        assert!(left.covers("jobs/1"));
        assert!(!left.covers("jobs/1/x"));
        assert!(!left.covers("other/1"));
    }

    /// A client in four share groups (`$share/g/0xxx..` to `3xxx..`, 410-byte filters),
    /// whose broker takes 1,000 bytes at most (two filters an UNSUBSCRIBE) and holds its
    /// UNSUBACKs: the senders of their answers.
    fn four_groups_held() -> (Mqtt, HeldUnsubacks) {
        let fake = Fake::default().unsubacks(Unsubacks::Held);
        let held = fake.unsubacks_held();
        let filters: Vec<String> = (0..4)
            .map(|i| format!("$share/g/{i}{}", "x".repeat(400)))
            .collect();
        (subscribed_client(fake, &filters, 1_000).0, held)
    }

    /// Two UNSUBSCRIBEs leave the groups; the broker refuses the first (MQTT 5 reason
    /// code) and takes the second: the stop waits for what the broker queued for the
    /// groups of the second, and only for those. Before, one refusal made it `None`
    /// (no quiet wait) for all.
    #[tokio::test]
    async fn groups_left_by_one_packet_are_waited_for_when_another_is_refused() {
        let (mqtt, held) = four_groups_held();
        let m = mqtt.clone();
        let leaving = tokio::spawn(async move { leave(&m).await });
        unsubscribes_sent(&held, 2).await;
        let senders = std::mem::take(&mut *lock(&held));
        let mut senders = senders.into_iter();
        let refused = paho_mqtt::Error::ReasonCode(
            paho_mqtt::ReasonCode::UnspecifiedError,
            paho_mqtt::Properties::new(),
        );
        senders.next().unwrap().send(Err(refused)).unwrap();
        senders.next().unwrap().send(Ok(())).unwrap();
        let left = leaving.await.unwrap();
        let left = left
            .expect("the second packet's groups were left, but the stop does not wait for them");
        assert_eq!(left.filters.len(), 2);
        let x = "x".repeat(400);
        assert!(left.covers(&format!("2{x}")) && left.covers(&format!("3{x}")));
        assert!(!left.covers(&format!("0{x}")));
    }

    /// Two UNSUBSCRIBEs leave the groups; the broker refuses the first and the
    /// connection ends before the second is answered: the stop goes on at once. Before,
    /// it waited for the second's answer until `SHUTDOWN_TIMEOUT` (5 s), which a persistent
    /// session's Paho never fails at a lost connection.
    #[tokio::test(start_paused = true)]
    async fn leaving_the_share_groups_ends_with_the_connection() {
        let (mqtt, held) = four_groups_held();
        let started = Instant::now();
        let m = mqtt.clone();
        let leaving = tokio::spawn(async move { leave(&m).await });
        unsubscribes_sent(&held, 2).await;
        let refused = paho_mqtt::Error::ReasonCode(
            paho_mqtt::ReasonCode::UnspecifiedError,
            paho_mqtt::Properties::new(),
        );
        let first = lock(&held).remove(0);
        first.send(Err(refused)).unwrap();
        mqtt.shared.connection_ended();
        assert!(leaving.await.unwrap().is_none(), "no group was left");
        assert!(
            started.elapsed() < SHUTDOWN_TIMEOUT,
            "the stop waited {:?} (paused clock) for an answer the ended connection never gives",
            started.elapsed()
        );
    }

    /// With a persistent session, a share filter too large for any UNSUBSCRIBE the
    /// broker takes may still be held by the broker (subscribed at one taking more): it
    /// goes on giving this client its share. Said visibly; before, at debug level only.
    #[tokio::test]
    async fn a_share_group_too_large_to_leave_with_a_kept_session_is_said() {
        use crate::handle::outbound::fake::{announcing, kept_session_client};
        use crate::qos::QoS;

        let (mqtt, sent) = kept_session_client(Fake::default(), &[]);
        let filter = format!("$share/kept/{}", "k".repeat(2_000));
        lock(&mqtt.shared.topics).insert(filter, QoS::AtLeastOnce);
        announcing(&mqtt, 1_000);
        assert!(leave(&mqtt).await.is_none());
        assert!(lock(&sent).packets.is_empty());
        let said = crate::visible::said::containing("$share/kept/");
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(said[0].starts_with("WARN "), "{said:?}");
    }

    /// Inputs that come while the share groups are being left are handled, not dropped:
    /// the leave's inputs were queued for the drain loop, which, with a kept session
    /// (nothing to wait for once the groups are left), ended at once without reading the
    /// queue; a second stop request made during the leave was never answered.
    #[tokio::test]
    async fn a_stop_requested_while_the_share_groups_are_left_is_answered() {
        use crate::handle::outbound::fake::{announcing, client_and_input, kept_session};

        let fake = Fake::default().unsubacks(Unsubacks::Held);
        let held = fake.unsubacks_held();
        let config = crate::config::Config {
            client_id: "kept".into(),
            client_id_per_process: false,
            ..kept_session()
        };
        let (mqtt, rx) = client_and_input(fake, config, &["$share/g/jobs"]);
        announcing(&mqtt, 100_000);
        let session = test_session(&mqtt, Vec::new(), None);
        let (first_done, first) = std::sync::mpsc::channel();
        let link = Link {
            up: true,
            connecting: false,
        };
        let stop = tokio::spawn(shutdown(
            session,
            rx,
            link,
            Done::Blocking(first_done),
            true,
        ));
        unsubscribes_sent(&held, 1).await;
        let (second_done, second) = std::sync::mpsc::channel();
        mqtt.shared
            .input
            .send(Input::Shutdown {
                done: Done::Blocking(second_done),
                graceful: true,
            })
            .unwrap();
        // The stop task reads the request while its UNSUBSCRIBE waits (this runtime
        // has one thread: it runs when this test yields).
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        let answer = lock(&held).remove(0);
        answer.send(Ok(())).unwrap();
        tokio::time::timeout(STOP_DEADLINE, stop)
            .await
            .expect("the stop did not end")
            .unwrap();
        assert!(first.try_recv().is_ok(), "the first stop was not answered");
        assert!(
            second.try_recv().is_ok(),
            "the stop requested during the leave was dropped unanswered"
        );
    }

    /// Whether the stop had closed the client (`Shared::closed`, set as the drain loop
    /// ends, before DISCONNECT) at each call of `closed_at_call`.
    static CLOSED_AT_CALL: Mutex<Vec<bool>> = Mutex::new(Vec::new());

    fn closed_at_call(
        ctx: Arc<crate::extract::context::EventContext>,
    ) -> crate::handler_future::HandlerFuture {
        let closed = ctx.client().shared.closed.load(Ordering::SeqCst);
        lock(&CLOSED_AT_CALL).push(closed);
        crate::handler_future::HandlerFuture::new(async { Ok(None) })
    }

    static CLOSED_AT: crate::registry::HandlerDescriptor = crate::registry::HandlerDescriptor::new(
        crate::event::HandlerKind::Message,
        "closed_at_call",
        "client::shutdown::tests",
        crate::registry::HandlerFn::Async(closed_at_call),
    )
    .with_filter("stop-ready/#");

    /// A paused client whose `Mqtt::ready()` races a graceful stop (the stop taken, its
    /// `Input::Ready` queued behind it): what waited for ready reaches its handlers in the
    /// drain loop, before DISCONNECT, while acknowledgements still go out. Before, the
    /// loop ended at once (handlers idle, nothing owed) without taking the
    /// `Input::Ready`, and the messages reached handlers after the DISCONNECT.
    /// Connected (`up: true`), their acknowledgements must go out before the DISCONNECT
    /// too: `tests/stop_ready_race.rs`, against Mosquitto (these messages carry no Paho
    /// acknowledgement).
    #[tokio::test]
    async fn messages_waiting_for_a_ready_queued_behind_a_stop_are_handled_before_disconnect() {
        use crate::handle::outbound::fake::client_and_input;
        use crate::registry::Handler;

        let (mqtt, rx) = client_and_input(Fake::default(), crate::config::Config::default(), &[]);
        mqtt.shared.ready.send_replace(false);
        let handlers = Handler::new(&CLOSED_AT, CLOSED_AT.name())
            .into_iter()
            .collect();
        let mut session = test_session(&mqtt, handlers, None);
        for i in 0..3 {
            let m = paho_mqtt::Message::new(format!("stop-ready/{i}"), "", 0);
            assert!(session.deliver(Input::Message(m)).is_none());
        }
        // The driver took the stop; `ready()` came after it: its `Input::Ready` waits in
        // the queue the stop reads.
        mqtt.ready();
        stop_blocking(session, rx, false).await;
        assert_eq!(
            *lock(&CLOSED_AT_CALL),
            [false, false, false],
            "each message's call: whether the client was closed (past DISCONNECT)"
        );
    }
}
