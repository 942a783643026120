//! A reply topic's subscription over the life of the requests waiting on it: subscribed
//! by the first ([`Waiter::ensure_subscribed`]), again at a reconnect
//! ([`Mqtt::resubscribe_replies`]), unsubscribed after the last (a topic the caller
//! named). The answer to each SUBSCRIBE is awaited by a task of its own, not by the
//! request that sent it: every request waiting on the topic learns it (a refusal fails
//! them all), and a subscription granted after the last request ended is undone. A
//! SUBSCRIBE or UNSUBSCRIBE whose connection ended before its answer leaves the topic in
//! doubt: with no request left on it, the next connect unsubscribes it if the broker kept
//! the session (a persistent one keeps what the broker handled, and would otherwise
//! bring its messages for ever, no reply to anything).

use std::collections::HashSet;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::{oneshot, watch};

use super::limits::FilterPacket;
use super::replies::{Key, Suback, Subscribing};
use super::shared::Shared;
use super::Mqtt;
use crate::error::{truncate, Error, PahoOp, Result};
use crate::event::log::CLIENT_TARGET;
use crate::qos::QoS;
use crate::sync::lock;

/// The QoS of the reply topic subscriptions: replies are delivered at most at this QoS.
const REPLY_QOS: QoS = QoS::AtLeastOnce;

impl Mqtt {
    /// At a connect: subscribes the reply topics requests still wait on, except
    /// `handled` (the client's own filters, subscribed anyway). Their requests subscribed
    /// them on an earlier connection; a clean session lost that, and a waiting request
    /// does not subscribe again. Whether the broker answered (if not, the connection
    /// went: the next connect subscribes them). A refusal is logged, and ends the
    /// requests waiting on the topic; a topic refused, or failed by Paho, is not asked
    /// for again on this connection (the next request on it asks again). The reply
    /// topics no request waits on that an ended connection left in doubt are released
    /// before, by [`pay_owed`](Self::pay_owed).
    pub(super) async fn resubscribe_replies(&self, handled: &[(String, QoS)]) -> bool {
        let shared = &self.shared;
        let connection = lock(&shared.health).connects;
        let mut tried = HashSet::new();
        loop {
            let ends = shared.ends.subscribe();
            let mut too_large = Vec::new();
            let next = shared.requests.subscribe_waited_on(
                connection,
                |topic| tried.contains(topic) || handled.iter().any(|(filter, _)| filter == topic),
                |topics| {
                    // As the client's own filters: packets the broker takes.
                    let packets =
                        shared.split_packets(topics, |t| t.as_str(), FilterPacket::Subscribe);
                    too_large = packets.too_large;
                    packets.chunks.into_iter().next().unwrap_or_default()
                },
                |topics| {
                    shared
                        .outbound
                        .subscribe(topics.to_vec(), vec![REPLY_QOS; topics.len()])
                },
            );
            let more = !too_large.is_empty();
            for (topic, limit) in too_large {
                // Its requests were accepted by a broker taking more; they wait for their
                // reply (or time out) without it.
                self.not_sent(FilterPacket::Subscribe, &topic, limit);
                tried.insert(topic);
            }
            let Some((sent, granted)) = next else {
                if more {
                    continue;
                }
                return true;
            };
            let first = sent.first().map_or("", |(topic, _, _)| topic.as_str());
            // Paho C fails a SUBSCRIBE of one filter that the broker refused (an MQTT 5
            // reason code) instead of answering with its code: that is a refusal too.
            let answer = self.answered(ends, granted).await.map(|answer| {
                answer.map_err(|e| Error::from_paho(e, PahoOp::Subscribe { filter: first }))
            });
            let codes = match &answer {
                None | Some(Err(Error::SubscribeRejected { .. })) => Vec::new(),
                Some(Ok(codes)) => codes.clone(),
                Some(Err(e)) => {
                    log::warn!(target: CLIENT_TARGET, "subscribing again to the reply topics requests wait on failed (`{}` first): {e}", truncate(first));
                    Vec::new()
                }
            };
            for (i, (topic, id, told)) in sent.iter().enumerate() {
                let suback = match &answer {
                    None => Suback::Unanswered,
                    Some(Err(Error::SubscribeRejected { .. })) => Suback::Refused,
                    Some(Err(_)) => Suback::Failed,
                    Some(Ok(_)) if granted_qos(codes.get(i).copied()).is_some() => {
                        log::debug!(target: CLIENT_TARGET, "subscribed again to the reply topic `{}`: a request waits on it", truncate(topic));
                        Suback::Granted
                    }
                    Some(Ok(_)) => Suback::Refused,
                };
                if suback == Suback::Refused {
                    log::warn!(target: CLIENT_TARGET, "the broker refused the reply topic `{}` when subscribing it again: the requests waiting on it end with the refusal", truncate(topic));
                }
                settle(shared, topic, *id, suback, told);
            }
            tried.extend(sent.into_iter().map(|(topic, _, _)| topic));
            if answer.is_none() {
                return false;
            }
        }
    }
}

/// The QoS a SUBACK's `code` grants, if it grants one (no code: the one asked for).
fn granted_qos(code: Option<i32>) -> Option<QoS> {
    let code = code.unwrap_or(i32::from(REPLY_QOS.as_u8()));
    u8::try_from(code).ok().and_then(QoS::from_u8)
}

/// Records `suback`, the answer to the SUBSCRIBE `id` of `topic`, and tells it to the
/// requests waiting for it through `told`; when granted after the last request on the
/// topic ended, unsubscribes it again (unless it is one of the client's own filters, or
/// the own reply topic, which stays subscribed).
fn settle(
    shared: &Arc<Shared>,
    topic: &str,
    id: u64,
    suback: Suback,
    told: &watch::Sender<Option<Suback>>,
) {
    // Watched before the UNSUBSCRIBE may be sent: a connection ending after it is seen.
    let ends = shared.ends.subscribe();
    let connection = lock(&shared.health).connects;
    let unsubscribed = shared
        .requests
        .settle(topic, id, suback, connection, |topic| {
            unsubscribe_unless_own(shared, topic)
        });
    told.send_replace(Some(suback));
    if let Some((unsubscribed, release)) = unsubscribed {
        if matches!(unsubscribed, Release::Sent(_)) {
            log::debug!(target: CLIENT_TARGET, "the reply topic `{}` was subscribed after its last request ended: unsubscribing", truncate(topic));
        }
        await_unsuback(shared, topic, unsubscribed, release, ends);
    }
}

/// Sends the UNSUBSCRIBE of the reply topic `topic`, unless it is one of the client's own
/// topics (which stays subscribed for its handlers). A topic subscribed at a broker
/// taking more than the one connected to now takes is not sent (that broker would close
/// the connection): left in doubt for the next connect ([`Mqtt::pay_owed`], within that
/// broker's limit).
fn unsubscribe_unless_own(shared: &Shared, topic: &str) -> Release {
    if lock(&shared.topics).contains_key(topic) {
        return Release::Own;
    }
    if let Err(e) = shared.fits_alone(topic, FilterPacket::Unsubscribe) {
        log::debug!(target: CLIENT_TARGET, "the reply topic is left to the next connect: {e}");
        return Release::NotSent;
    }
    Release::Sent(shared.outbound.unsubscribe(vec![topic.to_owned()]))
}

/// What becomes of a reply topic no request waits on any more.
enum Release {
    /// One of the client's own topics: it stays subscribed.
    Own,
    /// Too large for the broker connected to now: not sent, and the broker may hold it.
    NotSent,
    /// Its UNSUBSCRIBE, sent: the answer.
    Sent(Unsubscribed),
}

/// The answer to an UNSUBSCRIBE.
type Unsubscribed = BoxFuture<'static, std::result::Result<(), paho_mqtt::Error>>;

/// Awaits the UNSUBSCRIBE `release` of the reply topic `topic` (if sent: `unsubscribed`)
/// on the client's runtime, then tells the table
/// ([`Requests::released`](super::replies::Requests::released)) whether the broker
/// answered it; also when the connection ends first (Paho may wait for ever for its
/// answer), or Paho could not send it (a connection that just ended): then the broker
/// may still hold the subscription. `ends` is [`Shared::ends`] watched since before the
/// UNSUBSCRIBE was sent, so that a connection ending in between is seen. Not sent, the
/// table is told at once: answered for one of the client's own topics, in doubt for one
/// too large.
fn await_unsuback(
    shared: &Arc<Shared>,
    topic: &str,
    unsubscribed: Release,
    release: u64,
    mut ends: watch::Receiver<u64>,
) {
    let unsubscribed = match unsubscribed {
        Release::Own => return shared.requests.released(topic, release, true),
        Release::NotSent => return shared.requests.released(topic, release, false),
        Release::Sent(unsubscribed) => unsubscribed,
    };
    let topic = topic.to_owned();
    let owner = Arc::clone(shared);
    let mut ended = shared.ended.subscribe();
    drop(shared.rt.spawn(async move {
        let answered = tokio::select! {
            biased;
            res = unsubscribed => match res {
                Ok(()) => true,
                Err(e) => {
                    log::debug!(target: CLIENT_TARGET, "unsubscribing from the reply topic `{}` failed: {e}", truncate(&topic));
                    Error::answered_by_broker(&e)
                }
            },
            _ = ends.changed() => false,
            // Stopped: nothing more can be sent.
            _ = ended.wait_for(|ended| *ended) => true,
        };
        owner.requests.released(&topic, release, answered);
    }));
}

/// One waiting request: registered in the table until dropped.
pub(super) struct Waiter {
    pub(super) mqtt: Mqtt,
    pub(super) key: Key,
}

impl Waiter {
    /// Subscribes to the reply topic unless it is already subscribed on this connection
    /// (by an earlier request, or as one of the client's own topics). The SUBSCRIBE is
    /// queued before the request's PUBLISH, and brokers handle a connection's packets in
    /// order; the SUBACK is awaited all the same, to report a refusal: also by the
    /// requests that find it sent by another and not answered yet. A SUBSCRIBE that the
    /// connection's end leaves unanswered is sent again once connected (or by the
    /// connect's [`Mqtt::resubscribe_replies`]).
    pub(super) async fn ensure_subscribed(&self) -> Result<()> {
        let shared = &self.mqtt.shared;
        let topic = self.key.topic.as_str();
        loop {
            self.mqtt.ensure_open()?;
            if lock(&shared.topics).contains_key(topic) {
                return Ok(());
            }
            // Checked again at each try: a reconnect may have gone to a broker taking
            // less.
            shared.fits_alone(topic, FilterPacket::Subscribe)?;
            let connection = lock(&shared.health).connects;
            let ends = shared.ends.subscribe();
            let (mut told, mine) = match shared.requests.subscribe_once(topic, connection, || {
                shared
                    .outbound
                    .subscribe(vec![topic.to_owned()], vec![REPLY_QOS])
            }) {
                Subscribing::Done => return Ok(()),
                Subscribing::Wait(told) => (told, None),
                Subscribing::Sent { sent, id, answer } => {
                    let told = answer.subscribe();
                    let (tx, mine) = oneshot::channel();
                    let mqtt = self.mqtt.clone();
                    let topic = topic.to_owned();
                    // Awaited whatever becomes of this request (its timeout, its future
                    // dropped): the answer is every waiting request's, and a grant after
                    // the last one ended must be undone.
                    drop(shared.rt.spawn(async move {
                        let (suback, outcome) = match mqtt.answered(ends, sent).await {
                            None => (Suback::Unanswered, Ok(())),
                            Some(Ok(codes)) if granted_qos(codes.first().copied()).is_some() => {
                                log::debug!(target: CLIENT_TARGET, "subscribed to the reply topic `{}`", truncate(&topic));
                                (Suback::Granted, Ok(()))
                            }
                            Some(Ok(_)) => (
                                Suback::Refused,
                                Err(Error::SubscribeRejected {
                                    filter: topic.clone(),
                                }),
                            ),
                            Some(Err(e)) => {
                                let e = Error::from_paho(e, PahoOp::Subscribe { filter: &topic });
                                let refused = matches!(e, Error::SubscribeRejected { .. });
                                (
                                    if refused { Suback::Refused } else { Suback::Failed },
                                    Err(e),
                                )
                            }
                        };
                        settle(&mqtt.shared, &topic, id, suback, &answer);
                        let _ = tx.send(outcome);
                    }));
                    (told, Some(mine))
                }
            };
            let suback = match told.wait_for(Option::is_some).await {
                Ok(suback) => suback.unwrap_or(Suback::Unanswered),
                Err(_) => Suback::Unanswered,
            };
            match (suback, mine) {
                (Suback::Granted, _) => return Ok(()),
                // The sender has Paho's error; another request tries again.
                (Suback::Refused | Suback::Failed, Some(mine)) => {
                    return mine.await.unwrap_or(Err(Error::Closed))
                }
                (Suback::Refused, None) => {
                    return Err(Error::SubscribeRejected {
                        filter: topic.to_owned(),
                    })
                }
                (Suback::Failed, None) => {}
                (Suback::Unanswered, _) => self.connected().await?,
            }
        }
    }

    /// Waits until the client is connected; [`Error::Closed`] once it is stopped.
    async fn connected(&self) -> Result<()> {
        let shared = &self.mqtt.shared;
        let mut link = shared.link.subscribe();
        let mut ended = shared.ended.subscribe();
        tokio::select! {
            up = link.wait_for(|up| *up) => up.map(drop).map_err(|_| Error::Closed),
            _ = ended.wait_for(|ended| *ended) => Err(Error::Closed),
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let shared = &self.mqtt.shared;
        let ends = shared.ends.subscribe();
        let connection = lock(&shared.health).connects;
        // A topic the caller named and no request waits on any more goes back to the
        // handlers: unsubscribed, unless it is also one of the client's own topics.
        let unsubscribed = shared.requests.unregister(&self.key, connection, |topic| {
            unsubscribe_unless_own(shared, topic)
        });
        if let Some((unsubscribed, release)) = unsubscribed {
            await_unsuback(shared, &self.key.topic, unsubscribed, release, ends);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::sync::Notify;

    use crate::error::Error;
    use crate::handle::health::ConnectionState;
    use crate::handle::outbound::fake::{
        announcing, client, connected_with_request, Fake, Subacks, Unsubacks,
    };
    use crate::handle::replies::{Suback, Subscribing};
    use crate::handle::Mqtt;
    use crate::qos::QoS;
    use crate::sync::lock;

    /// How long a test waits for what must happen before it fails.
    const DEADLINE: Duration = Duration::from_secs(5);

    /// Whether a message on `topic` that is no reply goes to the handlers: `topic` is no
    /// reply topic (any more), or none in doubt.
    fn given_back(mqtt: &Mqtt, topic: &str) -> bool {
        mqtt.shared
            .requests
            .route(plain(topic), |_| false)
            .is_some()
    }

    /// Waits until `topic` is given back to the handlers, at most [`DEADLINE`]: the
    /// table says so only when asked (the task that awaits an UNSUBSCRIBE's answer
    /// tells it, and tells nobody else), so this polls.
    async fn until_given_back(mqtt: &Mqtt, topic: &str) -> bool {
        tokio::time::timeout(DEADLINE, async {
            while !given_back(mqtt, topic) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .is_ok()
    }

    /// A message on `topic` that is no reply (no Correlation Data).
    fn plain(topic: &str) -> paho_mqtt::Message {
        paho_mqtt::MessageBuilder::new()
            .topic(topic)
            .payload("x")
            .finalize()
    }

    /// A reply topic whose SUBSCRIBE went unanswered when the connection ended, and
    /// whose request ended meanwhile: the broker may have granted it. The next connect
    /// unsubscribes it when the broker kept the session (until then, and until the
    /// UNSUBACK, what it brings is no handler's), and forgets it when it did not (a new
    /// session holds no subscription).
    #[tokio::test]
    async fn a_reply_topic_left_in_doubt_is_unsubscribed_if_the_session_was_kept() {
        for session_present in [true, false] {
            let fake = Fake::default().subacks(Subacks::Never);
            let sent = fake.sent();
            let (mqtt, waiting) =
                connected_with_request(fake, Some("svc/replies"), Duration::from_millis(300));
            // The fake tells nobody it was asked: polled, within the deadline.
            let asked = tokio::time::timeout(DEADLINE, async {
                while lock(&sent).subscribed.is_empty() {
                    tokio::task::yield_now().await;
                }
            })
            .await;
            assert!(asked.is_ok(), "the request sent no SUBSCRIBE");
            mqtt.shared.connection_ended();
            mqtt.shared.set_state(ConnectionState::Reconnecting, |_| {});
            let res = tokio::time::timeout(DEADLINE, waiting).await;
            assert!(matches!(res, Ok(Ok(Err(Error::NoReply { .. })))), "{res:?}");
            assert!(
                !given_back(&mqtt, "svc/replies"),
                "in doubt, and no handler's"
            );
            mqtt.shared
                .set_state(ConnectionState::Connected, |h| h.connects += 1);
            // What the driver does at each connect.
            assert!(mqtt.resubscribe(session_present).await);
            let unsubscribed = lock(&sent).unsubscribed.clone();
            if session_present {
                assert_eq!(unsubscribed, ["svc/replies"]);
            } else {
                assert!(unsubscribed.is_empty(), "{unsubscribed:?}");
            }
            // Unsubscribed (the fake answers at once) or forgotten: the handlers' again.
            assert!(
                until_given_back(&mqtt, "svc/replies").await,
                "session present: {session_present}"
            );
            assert_eq!(lock(&sent).subscribed, ["svc/replies"]);
        }
    }

    /// A reply topic the broker refuses at a reconnect is asked for once on that
    /// connection, not again and again (the connect's `on_connect` waits for the end of
    /// the resubscription), and the requests waiting on it end with the refusal.
    #[tokio::test]
    async fn a_reply_topic_refused_at_a_reconnect_is_asked_for_once_and_fails_its_requests() {
        let answer = Arc::new(Notify::new());
        let fake = Fake::default().subacks(Subacks::AnsweredOn(Arc::clone(&answer), 0x80));
        let sent = fake.sent();
        let mqtt = client(fake);
        mqtt.shared
            .set_state(ConnectionState::Connected, |h| h.connects += 1);
        let (_key, mut rx) = mqtt
            .shared
            .requests
            .register("svc/replies".to_owned(), true)
            .unwrap();
        // Answers every SUBSCRIBE sent, however many.
        let answering = {
            let answer = Arc::clone(&answer);
            tokio::spawn(async move {
                loop {
                    answer.notify_one();
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
        };
        let done =
            tokio::time::timeout(Duration::from_secs(2), mqtt.resubscribe_replies(&[])).await;
        answering.abort();
        let subscribes = lock(&sent).subscribed.len();
        assert!(
            done.is_ok() && subscribes == 1,
            "finished: {}, SUBSCRIBEs sent: {subscribes}",
            done.is_ok()
        );
        assert!(
            matches!(rx.try_recv(), Ok(Err(Error::SubscribeRejected { .. }))),
            "the waiting request was not told"
        );
    }

    /// A reply topic whose UNSUBSCRIBE is unanswered when its connection ends, and whose
    /// task learns that (the connection's end, or Paho's error failing it) only after
    /// the next connect looked for the topics in doubt: that connect unsubscribes it
    /// again, and the late news changes nothing. Before, the topic stayed releasing at
    /// that connect, then went in doubt, and waited for yet another connect (possibly
    /// never) with its subscription kept in the session.
    #[tokio::test]
    async fn an_unsubscribe_learnt_unanswered_after_the_next_connect_is_sent_again() {
        for paho_error in [false, true] {
            let fake = Fake::default().unsubacks(Unsubacks::Held);
            let (sent, held) = (fake.sent(), fake.unsubacks_held());
            let mqtt = client(fake);
            mqtt.shared
                .set_state(ConnectionState::Connected, |h| h.connects += 1);
            let res = mqtt
                .request("svc/ask", "?")
                .reply_to("svc/replies")
                .timeout(Duration::from_millis(50))
                .await;
            assert!(matches!(res, Err(Error::NoReply { .. })), "{res:?}");
            assert_eq!(lock(&sent).unsubscribed, ["svc/replies"]);
            mqtt.shared.connection_ended();
            mqtt.shared.set_state(ConnectionState::Reconnecting, |_| {});
            mqtt.shared
                .set_state(ConnectionState::Connected, |h| h.connects += 1);
            if paho_error {
                let first = lock(&held).remove(0);
                let _ = first.send(Err(paho_mqtt::Error::OperationIncomplete));
            }
            // What the driver does at each connect. On this current-thread runtime
            // nothing before it lets the first UNSUBSCRIBE's task run: it learns the
            // end afterwards.
            assert!(mqtt.resubscribe(true).await);
            assert_eq!(
                lock(&sent).unsubscribed,
                ["svc/replies", "svc/replies"],
                "paho error: {paho_error}"
            );
            let again = lock(&held).pop();
            let _ = again.map(|answer| answer.send(Ok(())));
            assert!(
                until_given_back(&mqtt, "svc/replies").await,
                "paho error: {paho_error}"
            );
        }
    }

    /// A reply topic subscribed at a broker taking more, whose last request ends once
    /// connected to one taking less than its UNSUBSCRIBE: not sent (that broker would
    /// close the connection), left in doubt for the next connect, which says so visibly.
    /// Before, the UNSUBSCRIBE was sent.
    #[tokio::test]
    async fn a_reply_topics_unsubscribe_too_large_for_the_broker_now_is_not_sent() {
        let fake = Fake::default();
        let sent = fake.sent();
        let huge = format!("svc/reply-too-large/{}", "r".repeat(1_500));
        let (mqtt, request) = connected_with_request(fake, Some(&huge), Duration::from_millis(100));
        crate::handle::tests::until("the reply topic's SUBSCRIBE", || {
            lock(&sent).subscribed == [huge.clone()]
        })
        .await;
        // Connected again, to a broker taking 1,000 bytes at most.
        mqtt.shared.connection_ended();
        mqtt.shared.set_state(ConnectionState::Reconnecting, |_| {});
        mqtt.shared
            .set_state(ConnectionState::Connected, |h| h.connects += 1);
        announcing(&mqtt, 1_000);
        let res = request.await.unwrap();
        assert!(matches!(res, Err(Error::NoReply { .. })), "{res:?}");
        let unsubscribed: Vec<usize> = lock(&sent).unsubscribed.iter().map(String::len).collect();
        assert!(
            unsubscribed.is_empty(),
            "UNSUBSCRIBE sent of a {unsubscribed:?}-byte topic"
        );
        // Left in doubt when the request ended: the next connect tries it.
        assert!(mqtt.resubscribe(true).await);
        let said = crate::visible::said::containing("UNSUBSCRIBE of `svc/reply-too-large/");
        assert_eq!(said.len(), 1, "the next connect did not try it: {said:?}");
        assert!(lock(&sent).unsubscribed.is_empty());
    }

    /// The connect unsubscribes the reply topics left in doubt also when subscribing
    /// the client's own filters again failed in Paho (its `on_connect` is not told, but
    /// the connection may well stay up): before, it did not, and they waited for
    /// another connect.
    #[tokio::test]
    async fn a_reply_topic_left_in_doubt_is_unsubscribed_also_when_resubscribing_fails() {
        let cut = Arc::new(Notify::new());
        // Paho fails the own filters' SUBSCRIBE at once.
        cut.notify_one();
        let fake = Fake::default().subacks(Subacks::CutShortBy(cut));
        let sent = fake.sent();
        let mqtt = client(fake);
        lock(&mqtt.shared.topics).insert("app/#".to_owned(), QoS::AtLeastOnce);
        mqtt.shared
            .set_state(ConnectionState::Connected, |h| h.connects += 1);
        // On connection 1, a request's SUBSCRIBE went unanswered, and it ended.
        let requests = &mqtt.shared.requests;
        let (key, _rx) = requests.register("svc/replies".to_owned(), true).unwrap();
        let Subscribing::Sent { id, .. } = requests.subscribe_once("svc/replies", 1, || ()) else {
            panic!("no SUBSCRIBE sent");
        };
        assert!(requests
            .settle("svc/replies", id, Suback::Unanswered, 1, |_| ())
            .is_none());
        assert!(requests.unregister(&key, 1, |_| ()).is_none());
        mqtt.shared.connection_ended();
        mqtt.shared.set_state(ConnectionState::Reconnecting, |_| {});
        mqtt.shared
            .set_state(ConnectionState::Connected, |h| h.connects += 1);
        assert!(!mqtt.resubscribe(true).await, "resubscribing did not fail");
        assert_eq!(lock(&sent).unsubscribed, ["svc/replies"]);
        assert!(until_given_back(&mqtt, "svc/replies").await);
    }
}
