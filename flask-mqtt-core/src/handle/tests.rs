//! Subscriptions at the handle: what a connect subscribes and unsubscribes, what the
//! health lists as refused.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::Notify;

use super::health::ConnectionState;
use super::input::Input;
use super::outbound::fake::{
    client_and_input, client_with, kept_session, kept_session_client, Connection, Fake, Packet,
    Subacks, Unsubacks,
};
use super::replies::{Suback, Subscribing};
use super::Mqtt;
use crate::config::Config;
use crate::event::log::LogLevel;
use crate::qos::QoS;
use crate::sync::lock;

const T: Duration = Duration::from_secs(10);

/// Yields to the spawned tasks until `done` holds; panics after [`T`].
pub(super) async fn until(what: &str, done: impl Fn() -> bool) {
    let waited = tokio::time::timeout(T, async {
        while !done() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(waited.is_ok(), "still waiting for {what} after {T:?}");
}

/// `mqtt`'s next connection is up (counted).
fn connected(mqtt: &Mqtt) {
    mqtt.shared
        .set_state(ConnectionState::Connected, |h| h.connects += 1);
}

/// `mqtt`'s connection ended: it is reconnecting.
fn disconnected(mqtt: &Mqtt) {
    mqtt.shared.connection_ended();
    mqtt.shared.set_state(ConnectionState::Reconnecting, |_| {});
}

/// On connection 1, a request's SUBSCRIBE of `topic` went unanswered, and the request
/// ended: the topic is left in doubt (subscribed at the broker or not).
fn left_in_doubt(mqtt: &Mqtt, topic: &str) {
    let requests = &mqtt.shared.requests;
    let (key, _rx) = requests.register(topic.to_owned(), true).unwrap();
    let Subscribing::Sent { id, .. } = requests.subscribe_once(topic, 1, || ()) else {
        panic!("no SUBSCRIBE sent");
    };
    assert!(requests
        .settle(topic, id, Suback::Unanswered, 1, |_| ())
        .is_none());
    assert!(requests.unregister(&key, 1, |_| ()).is_none());
}

/// The lines of the client's log sent to the driver so far (what `on_log` handlers get)
/// that say how many filters a connect subscribed.
fn said(inputs: &mut UnboundedReceiver<Input>) -> Vec<String> {
    let mut said = Vec::new();
    while let Ok(input) = inputs.try_recv() {
        if let Input::Log(entry) = input {
            if entry.message().starts_with("subscribed to ") {
                said.push(entry.message().to_owned());
            }
        }
    }
    said
}

/// A resubscription of more than one SUBSCRIBE takes the filters as they are when each
/// is sent: a filter unsubscribed while the first SUBACK was awaited is not subscribed
/// again by the second, nor counted in the log line that says how many were.
#[tokio::test]
async fn a_resubscription_does_not_undo_what_changed_while_it_waited() {
    let answer = Arc::new(Notify::new());
    let fake = Fake::default().subacks(Subacks::AnsweredOn(Arc::clone(&answer), 0));
    let sent = fake.sent();
    let (mqtt, mut inputs) = client_and_input(fake, Config::default(), &[]);
    for i in 0..70 {
        lock(&mqtt.shared.topics).insert(format!("f/{i:02}"), QoS::AtMostOnce);
    }
    let m = mqtt.clone();
    let resubscribing = tokio::spawn(async move { m.resubscribe(true).await });
    until("the first SUBSCRIBE", || lock(&sent).subscribed.len() == 64).await;
    // Answered at once by the fake: the first SUBACK is still awaited.
    mqtt.unsubscribe("f/66").await.unwrap();
    answer.notify_one();
    until("the second SUBSCRIBE", || lock(&sent).subscribed.len() > 64).await;
    answer.notify_one();
    assert!(resubscribing.await.unwrap());
    let second = lock(&sent).subscribed[64..].to_vec();
    assert!(
        !second.iter().any(|f| f == "f/66"),
        "an unsubscribed filter was subscribed again: {second:?}"
    );
    assert_eq!(second.len(), 5, "{second:?}");
    assert!(!mqtt.topics().iter().any(|(f, _)| f == "f/66"));
    assert_eq!(said(&mut inputs), ["subscribed to 69 filter(s)"]);
}

/// The resubscription's line counts the refusals from the broker's answer: more filters
/// subscribed at run time refused in one SUBACK than the refused list keeps
/// ([`MAX_REFUSED_AT_RUN_TIME`](super::health::MAX_REFUSED_AT_RUN_TIME)) are all counted
/// refused. Before, the count was read from that list: "subscribed to 8 filter(s), 32
/// refused" for 40 refused.
#[tokio::test]
async fn every_refusal_of_a_resubscription_is_counted_refused() {
    let answer = Arc::new(Notify::new());
    let fake = Fake::default().subacks(Subacks::AnsweredOn(Arc::clone(&answer), 0x80));
    let (mqtt, mut inputs) = client_and_input(fake, Config::default(), &[]);
    let n = super::health::MAX_REFUSED_AT_RUN_TIME + 8;
    for i in 0..n {
        lock(&mqtt.shared.topics).insert(format!("acl/{i:02}"), QoS::AtLeastOnce);
    }
    answer.notify_one();
    assert!(mqtt.resubscribe(false).await);
    assert_eq!(
        said(&mut inputs),
        [format!("subscribed to 0 filter(s), {n} refused")]
    );
}

/// A stop while a connect's owed UNSUBSCRIBE or its SUBSCRIBE waits for the broker cuts
/// the connect short, and nothing is wrong: no error line (before, each chunk said at
/// error level that "on_connect handlers are not told of this connection").
#[tokio::test]
async fn a_stop_during_a_connects_unsubscribe_or_subscribe_says_no_error() {
    let levels = |inputs: &mut UnboundedReceiver<Input>| {
        let mut errors = Vec::new();
        while let Ok(input) = inputs.try_recv() {
            if let Input::Log(entry) = input {
                if entry.level() == LogLevel::Err {
                    errors.push(entry.message().to_owned());
                }
            }
        }
        errors
    };
    // The owed UNSUBSCRIBE.
    let fake = Fake::default().unsubacks(Unsubacks::Held);
    let held = fake.unsubacks_held();
    let (mqtt, mut inputs) = client_and_input(fake, kept_session(), &[]);
    mqtt.owe(&["gone/t".to_owned()]);
    let m = mqtt.clone();
    let resubscribing = tokio::spawn(async move { m.resubscribe(true).await });
    until("the owed UNSUBSCRIBE", || lock(&held).len() == 1).await;
    mqtt.shared.closed.store(true, Ordering::SeqCst);
    for answer in lock(&held).drain(..) {
        let _ = answer.send(Err(paho_mqtt::Error::Disconnected));
    }
    assert!(!resubscribing.await.unwrap());
    assert_eq!(levels(&mut inputs), Vec::<String>::new());
    // The resubscription's SUBSCRIBE.
    let cut = Arc::new(Notify::new());
    let fake = Fake::default().subacks(Subacks::CutShortBy(Arc::clone(&cut)));
    let sent = fake.sent();
    let (mqtt, mut inputs) = client_and_input(fake, Config::default(), &["declared/t"]);
    let m = mqtt.clone();
    let resubscribing = tokio::spawn(async move { m.resubscribe(false).await });
    until("the SUBSCRIBE", || lock(&sent).subscribed.len() == 1).await;
    mqtt.shared.closed.store(true, Ordering::SeqCst);
    cut.notify_one();
    assert!(!resubscribing.await.unwrap());
    assert_eq!(levels(&mut inputs), Vec::<String>::new());
}

/// Unsubscribing a refused filter, a handler's or one subscribed at run time, takes it
/// off [`Health::refused_subscriptions`](super::health::Health::refused_subscriptions):
/// nothing is expected on it any more.
#[tokio::test]
async fn unsubscribing_a_refused_filter_takes_it_off_the_refused_list() {
    let answer = Arc::new(Notify::new());
    let fake = Fake::default().subacks(Subacks::AnsweredOn(Arc::clone(&answer), 0x80));
    let (mqtt, mut inputs) = client_and_input(fake, Config::default(), &["declared/t"]);
    answer.notify_one();
    assert!(mqtt.resubscribe(false).await);
    assert_eq!(said(&mut inputs), ["subscribed to 0 filter(s), 1 refused"]);
    answer.notify_one();
    assert!(mqtt.subscribe("runtime/t", QoS::AtLeastOnce).await.is_err());
    assert_eq!(
        mqtt.health().refused_subscriptions(),
        ["declared/t", "runtime/t"]
    );
    mqtt.unsubscribe("declared/t").await.unwrap();
    mqtt.unsubscribe("runtime/t").await.unwrap();
    assert!(
        mqtt.health().refused_subscriptions().is_empty(),
        "still listed after unsubscribing: {:?}",
        mqtt.health().refused_subscriptions()
    );
    assert!(mqtt.topics().is_empty());
}

/// With a persistent session, an `unsubscribe` while disconnected returns `Ok`, and the
/// next connect that finds the session present sends its UNSUBSCRIBE, before the
/// SUBSCRIBE; a filter subscribed again meanwhile is not unsubscribed; a connect
/// without the session forgets them (the broker did).
#[tokio::test]
async fn an_unsubscribe_while_disconnected_is_sent_at_the_next_connect_to_the_session() {
    let up = Arc::new(AtomicBool::new(true));
    let fake = Fake::default().connection(Connection::Switched(Arc::clone(&up)));
    let (mqtt, sent) = kept_session_client(fake, &["declared/t"]);
    mqtt.subscribe("gone/t", QoS::AtLeastOnce).await.unwrap();
    mqtt.subscribe("back/t", QoS::AtLeastOnce).await.unwrap();
    up.store(false, Ordering::SeqCst);
    mqtt.unsubscribe("gone/t").await.unwrap();
    mqtt.unsubscribe("back/t").await.unwrap();
    mqtt.subscribe("back/t", QoS::AtLeastOnce).await.unwrap();
    // A connect whose connection is gone before it got to them keeps them.
    assert!(!mqtt.resubscribe(true).await);
    assert!(lock(&sent).unsubscribed.is_empty());
    up.store(true, Ordering::SeqCst);
    lock(&sent).subscribed.clear();
    lock(&sent).packets.clear();
    assert!(mqtt.resubscribe(true).await);
    assert_eq!(lock(&sent).unsubscribed, ["gone/t"]);
    assert_eq!(lock(&sent).subscribed, ["back/t", "declared/t"]);
    // The owed UNSUBSCRIBE first: the broker handles a connection's packets in order.
    assert_eq!(
        lock(&sent).packets,
        [
            Packet::unsub(&["gone/t"]),
            Packet::sub(&["back/t", "declared/t"])
        ]
    );
    // Done: not again at the connect after.
    assert!(mqtt.resubscribe(true).await);
    assert_eq!(lock(&sent).unsubscribed, ["gone/t"]);
    // Without the session, nothing to undo.
    up.store(false, Ordering::SeqCst);
    mqtt.unsubscribe("back/t").await.unwrap();
    up.store(true, Ordering::SeqCst);
    assert!(mqtt.resubscribe(false).await);
    assert_eq!(lock(&sent).unsubscribed, ["gone/t"]);
    assert!(lock(&mqtt.shared.owed).filters().is_empty());
}

/// With a persistent session, an UNSUBSCRIBE that Paho fails to send (the connection went
/// between the check and the send: `Disconnected`, no answer of the broker's) is kept for
/// the next connect, the user's as well as the one a connect sends for the session.
#[tokio::test]
async fn an_unsubscribe_paho_failed_to_send_is_kept_for_the_next_connect() {
    let fake = Fake::default().unsubacks(Unsubacks::Held);
    let held = fake.unsubacks_held();
    let (mqtt, sent) = kept_session_client(fake, &[]);
    mqtt.subscribe("cut/t", QoS::AtLeastOnce).await.unwrap();
    let m = mqtt.clone();
    let unsubscribing = tokio::spawn(async move { m.unsubscribe("cut/t").await });
    until("the UNSUBSCRIBE", || !lock(&held).is_empty()).await;
    let answer = lock(&held).remove(0);
    answer.send(Err(paho_mqtt::Error::Disconnected)).unwrap();
    assert!(unsubscribing.await.unwrap().is_err());
    assert_eq!(
        lock(&mqtt.shared.owed).filters(),
        ["cut/t"],
        "a user's UNSUBSCRIBE that Paho failed was forgotten"
    );
    // The connect's own UNSUBSCRIBE fails the same way: kept, and the connect not done.
    let m = mqtt.clone();
    let resubscribing = tokio::spawn(async move { m.resubscribe(true).await });
    until("the connect's UNSUBSCRIBE", || !lock(&held).is_empty()).await;
    let answer = lock(&held).remove(0);
    answer.send(Err(paho_mqtt::Error::Disconnected)).unwrap();
    assert!(!resubscribing.await.unwrap());
    assert_eq!(
        lock(&mqtt.shared.owed).filters(),
        ["cut/t"],
        "the session's UNSUBSCRIBE that Paho failed was forgotten"
    );
    // Answered at last: done with it.
    let m = mqtt.clone();
    let resubscribing = tokio::spawn(async move { m.resubscribe(true).await });
    until("the next UNSUBSCRIBE", || !lock(&held).is_empty()).await;
    let answer = lock(&held).remove(0);
    answer.send(Ok(())).unwrap();
    assert!(resubscribing.await.unwrap());
    assert!(lock(&mqtt.shared.owed).filters().is_empty());
    assert_eq!(lock(&sent).unsubscribed, ["cut/t", "cut/t", "cut/t"]);
}

/// A filter unsubscribed while disconnected that a request now waits on as its reply
/// topic is not unsubscribed at the next connect: the request's subscription would be
/// undone and its reply never come.
#[tokio::test]
async fn a_remembered_unsubscribe_does_not_undo_a_reply_topic_a_request_waits_on() {
    let up = Arc::new(AtomicBool::new(true));
    let fake = Fake::default()
        .connection(Connection::Switched(Arc::clone(&up)))
        .subacks(Subacks::Never);
    let (mqtt, sent) = kept_session_client(fake, &[]);
    up.store(false, Ordering::SeqCst);
    mqtt.owe(&["svc/replies".to_owned()]);
    up.store(true, Ordering::SeqCst);
    let m = mqtt.clone();
    let waiting = tokio::spawn(async move {
        m.request("svc/ask", "?")
            .reply_to("svc/replies")
            .timeout(T)
            .await
    });
    until("the reply topic's SUBSCRIBE", || {
        lock(&sent).subscribed.iter().any(|f| f == "svc/replies")
    })
    .await;
    let m = mqtt.clone();
    drop(tokio::spawn(async move { m.resubscribe(true).await }));
    until("the remembered UNSUBSCRIBE dropped", || {
        lock(&mqtt.shared.owed).filters().is_empty()
    })
    .await;
    assert!(
        lock(&sent).unsubscribed.is_empty(),
        "the reply topic a request waits on was unsubscribed: {:?}",
        lock(&sent).unsubscribed
    );
    waiting.abort();
}

/// A string both owed as a user's filter (unsubscribed while disconnected, with a
/// persistent session) and left in doubt as a reply topic (its SUBSCRIBE unanswered when
/// the connection ended, its request gone) is one subscription at the broker: the next
/// connect that finds the session present sends ONE UNSUBSCRIBE of it, and the topic
/// goes back to the handlers once it is answered. Before, each table had its own pass
/// and each sent its own.
#[tokio::test]
async fn a_string_owed_as_a_filter_and_in_doubt_as_a_reply_topic_is_unsubscribed_once() {
    let up = Arc::new(AtomicBool::new(true));
    let fake = Fake::default().connection(Connection::Switched(Arc::clone(&up)));
    let (mqtt, sent) = kept_session_client(fake, &[]);
    connected(&mqtt);
    left_in_doubt(&mqtt, "svc/r");
    // The user had subscribed `svc/r` too, and unsubscribes it while disconnected.
    lock(&mqtt.shared.topics).insert("svc/r".to_owned(), QoS::AtLeastOnce);
    disconnected(&mqtt);
    up.store(false, Ordering::SeqCst);
    mqtt.unsubscribe("svc/r").await.unwrap();
    up.store(true, Ordering::SeqCst);
    connected(&mqtt);
    assert!(mqtt.resubscribe(true).await);
    until("the reply topic given back", || {
        mqtt.shared
            .requests
            .route(
                paho_mqtt::MessageBuilder::new().topic("svc/r").finalize(),
                |_| false,
            )
            .is_some()
    })
    .await;
    assert_eq!(
        lock(&sent).unsubscribed,
        ["svc/r"],
        "one subscription at the broker, one UNSUBSCRIBE"
    );
    assert_eq!(lock(&sent).packets, [Packet::unsub(&["svc/r"])]);
    // Paid: nothing owed at the connect after.
    assert!(mqtt.resubscribe(true).await);
    assert_eq!(lock(&sent).unsubscribed, ["svc/r"]);
}

/// On a multi-thread runtime a user's `subscribe` of a filter can land while a connect
/// sends the UNSUBSCRIBE the kept session is owed for it (between reading the owed table
/// and sending; here, parked inside the send by the fake's hook): its own SUBSCRIBE then
/// goes before that UNSUBSCRIBE, which undoes it. The connect subscribes it again after
/// its UNSUBSCRIBE. Before, the filter was recorded as subscribed (`topics()`) while
/// unsubscribed at the broker until the next connect.
#[tokio::test]
async fn a_subscribe_landing_while_its_owed_unsubscribe_is_sent_is_not_undone() {
    let up = Arc::new(AtomicBool::new(true));
    let user: Arc<Mutex<Option<Mqtt>>> = Arc::default();
    let fake = Fake::default()
        .connection(Connection::Switched(Arc::clone(&up)))
        .on_unsubscribe({
            let user = Arc::clone(&user);
            move || {
                // Once: the user's subscribe, complete (the fake grants at once).
                if let Some(mqtt) = lock(&user).take() {
                    let done = mqtt.subscribe("svc/f", QoS::AtLeastOnce).now_or_never();
                    assert!(matches!(done, Some(Ok(()))), "{done:?}");
                }
            }
        });
    let (mqtt, sent) = kept_session_client(fake, &[]);
    mqtt.subscribe("svc/f", QoS::AtLeastOnce).await.unwrap();
    up.store(false, Ordering::SeqCst);
    mqtt.unsubscribe("svc/f").await.unwrap();
    up.store(true, Ordering::SeqCst);
    lock(&sent).subscribed.clear();
    lock(&sent).packets.clear();
    *lock(&user) = Some(mqtt.clone());
    assert!(mqtt.resubscribe(true).await);
    assert!(lock(&user).is_none(), "the hook did not run");
    assert_eq!(lock(&sent).unsubscribed, ["svc/f"]);
    assert_eq!(
        lock(&sent).subscribed,
        ["svc/f", "svc/f"],
        "recorded as subscribed ({:?}), but unsubscribed at the broker",
        mqtt.topics()
    );
    // The user's SUBSCRIBE, undone by the owed UNSUBSCRIBE, then the connect's.
    assert_eq!(
        lock(&sent).packets,
        [
            Packet::sub(&["svc/f"]),
            Packet::unsub(&["svc/f"]),
            Packet::sub(&["svc/f"])
        ]
    );
}

/// 150 owed filters (`f/000`..`f/149`, in the order they go) with a persistent session.
fn owing_150(fake: Fake) -> (Mqtt, Vec<String>) {
    let mqtt = client_with(fake, kept_session(), &["declared/t"]);
    let owed: Vec<String> = (0..150).map(|i| format!("f/{i:03}")).collect();
    mqtt.owe(&owed);
    (mqtt, owed)
}

/// What a connect owes a kept session goes in UNSUBSCRIBEs of at most
/// [`SUBSCRIBE_CHUNK`](super::shared::SUBSCRIBE_CHUNK) filters, as the resubscription's
/// SUBSCRIBEs do, all before them: one packet of every owed string could exceed the
/// broker's Maximum Packet Size. Before, 150 owed filters went in one UNSUBSCRIBE.
#[tokio::test]
async fn the_owed_unsubscribe_goes_in_chunks_before_the_subscribes() {
    let fake = Fake::default();
    let sent = fake.sent();
    let (mqtt, owed) = owing_150(fake);
    assert!(mqtt.resubscribe(true).await);
    let packets = lock(&sent).packets.clone();
    let refs: Vec<&str> = owed.iter().map(String::as_str).collect();
    assert_eq!(
        packets,
        [
            Packet::unsub(&refs[..64]),
            Packet::unsub(&refs[64..128]),
            Packet::unsub(&refs[128..]),
            Packet::sub(&["declared/t"]),
        ],
        "{} packet(s)",
        packets.len()
    );
    assert!(lock(&mqtt.shared.owed).filters().is_empty());
}

/// Each chunk of the owed UNSUBSCRIBE is paid by its own answer: one that Paho fails
/// keeps exactly its strings owed for the next connect (which is not done: on_connect
/// is not told), the others are paid.
#[tokio::test]
async fn a_failed_chunk_of_the_owed_unsubscribe_keeps_exactly_its_filters() {
    let fake = Fake::default().unsubacks(Unsubacks::Held);
    let held = fake.unsubacks_held();
    let (mqtt, owed) = owing_150(fake);
    let m = mqtt.clone();
    let resubscribing = tokio::spawn(async move { m.resubscribe(true).await });
    until("three UNSUBSCRIBEs", || lock(&held).len() == 3).await;
    let answers: Vec<_> = lock(&held).drain(..).collect();
    for (i, answer) in answers.into_iter().enumerate() {
        let outcome = if i == 1 {
            Err(paho_mqtt::Error::Disconnected)
        } else {
            Ok(())
        };
        answer.send(outcome).unwrap();
    }
    assert!(!resubscribing.await.unwrap());
    let refs: Vec<&str> = owed.iter().map(String::as_str).collect();
    assert_eq!(lock(&mqtt.shared.owed).filters(), refs[64..128]);
}

/// A request whose reply topic `svc/r` is in the owed UNSUBSCRIBE a connect is sending
/// (owed as a user's filter, or left in doubt as a reply topic): the request is started
/// from inside the send (the fake's hook), so its registration comes while that
/// UNSUBSCRIBE is in flight, before its answer is handled. The UNSUBSCRIBE is sent under
/// the requests' lock (the hook sees it held: a registration on another thread waits
/// for the send to return): the request's SUBSCRIBE goes after it, nothing pays or
/// releases the topic from under the request, and its reply arrives.
#[tokio::test]
async fn a_request_registering_its_reply_topic_while_the_owed_unsubscribe_is_sent_gets_its_reply() {
    type Waiting = tokio::task::JoinHandle<crate::error::Result<crate::message::Message>>;
    for in_doubt in [false, true] {
        let user: Arc<Mutex<Option<Mqtt>>> = Arc::default();
        let waiting: Arc<Mutex<Option<Waiting>>> = Arc::default();
        let locked = Arc::new(AtomicBool::new(false));
        let fake = Fake::default().on_unsubscribe({
            let (user, waiting) = (Arc::clone(&user), Arc::clone(&waiting));
            let locked = Arc::clone(&locked);
            move || {
                // Once: the request, started while the UNSUBSCRIBE is being sent.
                if let Some(mqtt) = lock(&user).take() {
                    locked.store(mqtt.shared.requests.is_locked(), Ordering::SeqCst);
                    let request = mqtt.request("svc/ask", "?").reply_to("svc/r").timeout(T);
                    *lock(&waiting) =
                        Some(tokio::spawn(std::future::IntoFuture::into_future(request)));
                }
            }
        });
        let (mqtt, sent) = kept_session_client(fake, &[]);
        connected(&mqtt);
        if in_doubt {
            left_in_doubt(&mqtt, "svc/r");
        } else {
            mqtt.owe(&["svc/r".to_owned()]);
        }
        disconnected(&mqtt);
        connected(&mqtt);
        *lock(&user) = Some(mqtt.clone());
        assert!(mqtt.resubscribe(true).await);
        assert!(lock(&user).is_none(), "the hook did not run");
        assert!(
            locked.load(Ordering::SeqCst),
            "the owed UNSUBSCRIBE was sent outside the requests' lock"
        );
        until("the request", || !lock(&sent).published.is_empty()).await;
        assert_eq!(
            lock(&sent).packets,
            [
                Packet::unsub(&["svc/r"]),
                Packet::sub(&["svc/r"]),
                Packet::Publish("svc/ask".to_owned())
            ],
            "in doubt: {in_doubt}"
        );
        let correlation = lock(&sent).published[0]
            .properties()
            .get_binary(paho_mqtt::PropertyCode::CorrelationData)
            .unwrap();
        let mut props = paho_mqtt::Properties::new();
        props
            .push_binary(paho_mqtt::PropertyCode::CorrelationData, correlation)
            .unwrap();
        let reply = paho_mqtt::MessageBuilder::new()
            .topic("svc/r")
            .payload("answer")
            .properties(props)
            .finalize();
        // The answer to the UNSUBSCRIBE was handled by now (the connect awaited it, or
        // `until` yielded to its task).
        assert!(mqtt.shared.requests.route(reply, |_| false).is_none());
        let waiting = lock(&waiting).take().unwrap();
        let res = tokio::time::timeout(T, waiting).await;
        assert!(
            matches!(&res, Ok(Ok(Ok(m))) if m.payload() == b"answer"),
            "in doubt: {in_doubt}: {res:?}"
        );
        assert!(lock(&mqtt.shared.owed).filters().is_empty());
    }
}
