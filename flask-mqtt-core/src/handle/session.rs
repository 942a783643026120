//! [`Mqtt::pay_owed`]: the one pass at a connect that sends the UNSUBSCRIBEs a
//! persistent session is owed.
//!
//! Two things leave the broker holding a subscription the client no longer wants: a
//! user's filter unsubscribed while disconnected (or whose UNSUBSCRIBE went unanswered,
//! or that Paho failed to send), remembered in [`Owed`]; and a reply topic whose SUBSCRIBE or
//! UNSUBSCRIBE an ended connection left in doubt, which the requests' table keeps (its
//! messages are no handler's until it is settled). A connect that finds the session
//! present asks both once, and unsubscribes what they owe together, each string once (a
//! string in both is one subscription at the broker), in UNSUBSCRIBEs cut as the
//! resubscription's SUBSCRIBEs are
//! ([`Shared::split_packets`](super::shared::Shared::split_packets): at most
//! [`SUBSCRIBE_CHUNK`](super::shared::SUBSCRIBE_CHUNK) filters, and within the broker's
//! Maximum Packet Size: one packet of every string could exceed it); a string too large
//! for any packet is said visibly, not sent, and stays owed. Each answer pays its own
//! strings. A connect without the session forgets them (the broker did).

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use tokio::sync::oneshot;

use super::limits::FilterPacket;
use super::owed::Owed;
use super::Mqtt;
use crate::error::{truncate, Error, PahoOp, Result};
use crate::event::log::{LogLevel, CLIENT_TARGET};
use crate::event::payloads::Unsubscribed;
use crate::event::Event;
use crate::sync::lock;

impl Mqtt {
    /// Remembers `filters`, whose UNSUBSCRIBE the broker did not answer, for the next
    /// connect with the session present ([`Owed`]); with a clean session the broker
    /// forgets them. A filter subscribed again is not owed. Whether one was owed.
    pub(super) fn owe(&self, filters: &[String]) -> bool {
        if self.shared.config.clean_session() {
            return false;
        }
        // Lock order: the owed table, then the topics.
        let mut owed = lock(&self.shared.owed);
        let topics = lock(&self.shared.topics);
        let mut any = false;
        for filter in filters.iter().filter(|f| !topics.contains_key(*f)) {
            owed.owe(filter.clone());
            any = true;
        }
        any
    }

    /// Unsubscribes `filters`, no longer recorded, one UNSUBSCRIBE at a time, each cut
    /// when its turn comes from the filters left then, with the broker's limits then (a
    /// reconnect may change them): [`Shared::split_packets`](super::shared::Shared::split_packets).
    /// A filter subscribed again meanwhile is left out. While disconnected, what is left
    /// is owed ([`Mqtt::owe`]), and no error.
    ///
    /// A filter too large for any UNSUBSCRIBE is not sent (the broker would close the
    /// connection). With a clean session it was not subscribed on this connection either
    /// (its SUBSCRIBE is larger still) and the broker holds nothing of an earlier one;
    /// nor is it owed when subscribed again meanwhile: said at debug level, no error.
    /// With a persistent session the broker may hold it (subscribed at a broker taking
    /// more): owed, and [`Error::FilterLimit`].
    ///
    /// The first error, once every filter was sent or owed.
    pub(super) async fn unsubscribe_packets(&self, mut left: Vec<String>) -> Result<()> {
        let mut first = None;
        loop {
            {
                let topics = lock(&self.shared.topics);
                left.retain(|f| !topics.contains_key(f));
            }
            if left.is_empty() {
                break;
            }
            if !self.shared.outbound.is_connected() {
                self.owe(&left);
                break;
            }
            // All the filters left are split again for each packet sent, quadratic in
            // the packets, on purpose: a reconnect between two packets may change the
            // broker's limit, and a filter be subscribed again. Fine at 64 filters a
            // packet: 10 000 filters are 157 packets, about 800 000 length sums, and
            // each packet waits for the broker's answer.
            let packets = self
                .shared
                .split_packets(left, |f| f, FilterPacket::Unsubscribe);
            for (filter, limit) in packets.too_large {
                let e = FilterPacket::Unsubscribe.too_large(&filter, limit);
                if self.owe(std::slice::from_ref(&filter)) {
                    first.get_or_insert(e);
                } else {
                    log::debug!(target: CLIENT_TARGET, "not unsubscribing, the broker holds nothing of it (clean session) or it was subscribed again meanwhile: {e}");
                }
            }
            let mut chunks = packets.chunks.into_iter();
            let Some(chunk) = chunks.next() else {
                break;
            };
            left = chunks.flatten().collect();
            if let Err(e) = self.unsubscribe_sent(chunk).await {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// At a connect, first: with the session the broker kept (`session_present`), the
    /// UNSUBSCRIBEs (in chunks) of what it is owed (the user's filters [`Owed`], except those
    /// subscribed again or that a request waits on as its reply topic; the reply topics
    /// no request waits on that an ended connection left in doubt,
    /// [`Requests::release_owed`](super::replies::Requests::release_owed)); without it,
    /// they are forgotten. `handled` says which filters the client subscribes (its own:
    /// never unsubscribed). The answer is awaited by a task: a broker answer (also an
    /// MQTT 5 refusal) to one pays its strings, anything else (the connection ended, Paho
    /// failed to send it) keeps them for the next connect. The connect waits for those
    /// with user filters in them: whether the broker answered them all (if not, the
    /// connection went, and on_connect is not told).
    pub(super) async fn pay_owed(
        &self,
        session_present: bool,
        handled: impl Fn(&str) -> bool,
    ) -> bool {
        let shared = &self.shared;
        let connection = lock(&shared.health).connects;
        let due = {
            let mut owed = lock(&shared.owed);
            if !session_present {
                *owed = Owed::default();
            }
            owed.due(&handled)
        };
        if !due.is_empty() && !shared.outbound.is_connected() {
            // Gone already: the next connect tries again.
            return false;
        }
        // Watched before the UNSUBSCRIBEs are sent: a connection ending after it is seen.
        let ends = shared.ends.subscribe();
        let names: Vec<String> = due.iter().map(|(f, _)| f.clone()).collect();
        let released = shared.requests.release_owed(
            connection,
            session_present,
            names,
            |all| shared.split_packets(all, |f| f, FilterPacket::Unsubscribe),
            &handled,
            |chunk| {
                log::debug!(target: CLIENT_TARGET, "unsubscribing what the session the broker kept may still hold: `{}`{}", truncate(chunk.first().map_or("", String::as_str)), if chunk.len() > 1 { format!(" and {} more", chunk.len() - 1) } else { String::new() });
                shared.outbound.unsubscribe(chunk.to_vec())
            },
        );
        // Those a request waits on are its to subscribe: no longer owed.
        let wanted: Vec<(String, u64)> = due
            .iter()
            .filter(|(f, _)| released.wanted.contains(f))
            .cloned()
            .collect();
        let sent: Vec<(String, u64)> = due
            .into_iter()
            .filter(|(f, _)| !released.wanted.contains(f))
            .collect();
        lock(&shared.owed).paid(&wanted);
        // Not sent: owed still (another broker may take it), reply topics in doubt still.
        for (string, limit) in released.too_large {
            self.not_sent(FilterPacket::Unsubscribe, &string, limit);
            if let Some((topic, id)) = released.replies.iter().find(|(t, _)| *t == string) {
                shared.requests.released(topic, *id, false);
            }
        }
        if released.sent.is_empty() {
            return true;
        }
        let (tx, rx) = oneshot::channel();
        let mqtt = self.clone();
        let chunks = released.sent;
        let replies = released.replies;
        let first = sent.first().cloned();
        drop(shared.rt.spawn(async move {
            // Each UNSUBSCRIBE's answer pays its own strings only.
            let mut outcomes = Vec::with_capacity(chunks.len());
            for (strings, answer) in chunks {
                let outcome = mqtt.answered(ends.clone(), answer).await;
                let answered = match &outcome {
                    Some(Ok(())) => true,
                    Some(Err(e)) => Error::answered_by_broker(e),
                    None => false,
                };
                let strings: BTreeSet<String> = strings.into_iter().collect();
                // Stopped: nothing more can be sent.
                let stopped = *mqtt.shared.ended.borrow();
                for (topic, id) in replies.iter().filter(|(t, _)| strings.contains(t)) {
                    mqtt.shared
                        .requests
                        .released(topic, *id, answered || stopped);
                }
                let filters: Vec<(String, u64)> = sent
                    .iter()
                    .filter(|(f, _)| strings.contains(f))
                    .cloned()
                    .collect();
                if answered {
                    lock(&mqtt.shared.owed).paid(&filters);
                }
                outcomes.push((filters, outcome));
            }
            let _ = tx.send(outcomes);
        }));
        let Some(first) = first else {
            return true;
        };
        let Ok(outcomes) = rx.await else {
            // The task is gone: the runtime is shutting down.
            return self.told(None, vec![first]);
        };
        let mut done = true;
        for (filters, outcome) in outcomes {
            if !filters.is_empty() && !self.told(outcome, filters) {
                done = false;
            }
        }
        done
    }

    /// What the answer `outcome` (none: the connection ended first) to a connect's
    /// UNSUBSCRIBE of the user's `filters` says: events and logs, and whether the broker
    /// answered.
    fn told(
        &self,
        outcome: Option<std::result::Result<(), paho_mqtt::Error>>,
        filters: Vec<(String, u64)>,
    ) -> bool {
        let outcome = match outcome {
            Some(outcome) => outcome.map_err(|e| Error::from_paho(e, PahoOp::Unsubscribe)),
            None => Err(Error::Unanswered {
                request: "UNSUBSCRIBE",
                filter: truncate(filters.first().map_or("", |(f, _)| f.as_str())),
                stopped: self.shared.closed.load(Ordering::SeqCst),
            }),
        };
        match outcome {
            Ok(()) => {
                for (filter, _) in filters {
                    log::info!(target: CLIENT_TARGET, "unsubscribed from `{filter}`");
                    self.emit(Event::Unsubscribed(Unsubscribed { filter }));
                }
                true
            }
            // An MQTT 5 refusal is an answer too: paid.
            Err(Error::Paho(e)) if Error::answered_by_broker(&e) => {
                self.emit_log(
                    LogLevel::Warning,
                    format!(
                        "unsubscribing what the session kept failed: {}",
                        Error::Paho(e)
                    ),
                );
                true
            }
            // At a stop nothing is wrong: the stop cut the connect short.
            Err(e) if self.shared.closed.load(Ordering::SeqCst) => {
                log::debug!(target: CLIENT_TARGET, "unsubscribing what the session kept: {e}");
                false
            }
            Err(e) => {
                self.emit_log(
                    LogLevel::Err,
                    format!("unsubscribing what the session kept failed: {e}; on_connect handlers are not told of this connection"),
                );
                false
            }
        }
    }
}
