//! A connect's SUBSCRIBEs and UNSUBSCRIBEs within the broker's Maximum Packet Size.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::health::MAX_REFUSED_AT_RUN_TIME;
use super::outbound::fake::{
    announcing, client_with, connected_with_request, kept_session_client, subscribed_client,
    Connection, Fake, HeldUnsubacks, Packet, Sent, Unsubacks,
};
use super::tests::until;
use super::Mqtt;
use crate::config::Config;
use crate::error::Error;
use crate::qos::QoS;
use crate::sync::lock;
use crate::visible::said;

/// A connect to a broker that announced a Maximum Packet Size of `max` bytes, finding
/// the session present: done.
async fn connect_announcing(mqtt: &Mqtt, max: i32) {
    announcing(mqtt, max);
    assert!(mqtt.resubscribe(true).await);
}

/// `sent`'s packets are `count`, each within `max` bytes.
fn assert_packets_fit(sent: &Mutex<Sent>, count: usize, max: usize) {
    let packets = lock(sent).packets.clone();
    let sizes: Vec<usize> = packets.iter().map(packet_size).collect();
    assert!(sizes.iter().all(|&s| s <= max), "packet sizes {sizes:?}");
    assert_eq!(packets.len(), count, "packet sizes {sizes:?}");
}

/// `err` is the typed refusal of a SUBSCRIBE too large for the broker.
fn assert_subscribe_over_the_limit(err: &Error) {
    assert!(
        matches!(
            err,
            Error::FilterLimit {
                request: "SUBSCRIBE",
                ..
            }
        ),
        "{err:?}"
    );
}

/// Ten 300-byte filters `{tag}0xxx..`..`{tag}9xxx..`.
fn long_filters(tag: &str) -> Vec<String> {
    (0..10)
        .map(|i| format!("{tag}{i}{}", "x".repeat(299 - tag.len())))
        .collect()
}

/// An `unsubscribe_all` under way whose UNSUBSCRIBEs wait for the test's answer.
struct Unsubscribing {
    held: HeldUnsubacks,
    task: tokio::task::JoinHandle<crate::error::Result<()>>,
}

impl Unsubscribing {
    /// Answers each UNSUBSCRIBE as it comes (granted) until `unsubscribe_all` returns;
    /// what it returned.
    async fn answered(self) -> crate::error::Result<()> {
        let Unsubscribing { held, task } = self;
        until("every UNSUBSCRIBE answered", || {
            if let Some(answer) = lock(&held).pop() {
                assert!(answer.send(Ok(())).is_ok(), "an UNSUBSCRIBE not awaited");
            }
            task.is_finished()
        })
        .await;
        task.await.unwrap()
    }
}

/// A client with `filters` subscribed, whose broker takes 1,000 bytes at most and holds
/// its UNSUBACKs, once its `unsubscribe_all` has sent the first UNSUBSCRIBE; what the
/// client sends.
async fn unsubscribing_all(filters: &[String]) -> (Mqtt, Arc<Mutex<Sent>>, Unsubscribing) {
    let fake = Fake::default().unsubacks(Unsubacks::Held);
    let held = fake.unsubacks_held();
    let (mqtt, sent) = subscribed_client(fake, filters, 1_000);
    let m = mqtt.clone();
    let task = tokio::spawn(async move { m.unsubscribe_all().await });
    until("the first UNSUBSCRIBE", || lock(&held).len() == 1).await;
    (mqtt, sent, Unsubscribing { held, task })
}

/// The filters of each packet, as a size a broker would count (MQTT 3.1.1: no
/// properties): SUBSCRIBE 2 + 1 bytes a filter besides it, UNSUBSCRIBE 2.
fn packet_size(packet: &Packet) -> usize {
    let (filters, per) = match packet {
        Packet::Subscribe(f) => (f, 3),
        Packet::Unsubscribe(f) => (f, 2),
        Packet::Publish(_) => unreachable!("no PUBLISH here"),
    };
    let remaining: usize = 2 + filters.iter().map(|f| f.len() + per).sum::<usize>();
    remaining + 1 + if remaining < 128 { 1 } else { 2 }
}

/// A broker max of 1,000 bytes and 10 filters of 300 bytes, owed and subscribed: the
/// connect's UNSUBSCRIBEs and SUBSCRIBEs each fit (three filters a packet). Before, all
/// ten went in one packet of 3,000 bytes and more: the broker closed the connection, and
/// every reconnect sent it again.
#[tokio::test]
async fn a_connects_packets_fit_the_brokers_maximum_packet_size() {
    let (mqtt, sent) = kept_session_client(Fake::default(), &[]);
    let owed = long_filters("o");
    mqtt.owe(&owed);
    let subscribed = long_filters("s");
    for f in &subscribed {
        lock(&mqtt.shared.topics).insert(f.clone(), QoS::AtLeastOnce);
    }
    connect_announcing(&mqtt, 1_000).await;
    assert_packets_fit(&sent, 8, 1_000);
    assert_eq!(lock(&sent).unsubscribed, owed);
    assert_eq!(lock(&sent).subscribed, subscribed);
    assert!(lock(&mqtt.shared.owed).filters().is_empty());
}

/// A filter too large for any packet the broker takes is not sent at a connect (the
/// broker would close the connection, at every reconnect), and that is said visibly; the
/// others go. `subscribe` of it fails, typed, and sends nothing.
#[tokio::test]
async fn a_filter_too_large_for_the_broker_is_said_and_not_sent() {
    let (mqtt, sent) = kept_session_client(Fake::default(), &[]);
    let huge = format!("huge/{}", "h".repeat(2_000));
    mqtt.owe(&[
        format!("owed/{}", "o".repeat(2_000)),
        "owed/small".to_owned(),
    ]);
    for f in [huge.as_str(), "a/b"] {
        lock(&mqtt.shared.topics).insert(f.to_owned(), QoS::AtLeastOnce);
    }
    connect_announcing(&mqtt, 1_000).await;
    assert_eq!(
        lock(&sent).packets,
        [Packet::unsub(&["owed/small"]), Packet::sub(&["a/b"])]
    );
    assert_eq!(said::containing("SUBSCRIBE of `huge/hhh").len(), 1);
    assert_eq!(said::containing("UNSUBSCRIBE of `owed/ooo").len(), 1);
    assert!(mqtt.health().refused_subscriptions.contains(&huge));
    lock(&sent).packets.clear();
    let err = mqtt.subscribe(&huge, QoS::AtMostOnce).await.unwrap_err();
    assert_subscribe_over_the_limit(&err);
    assert!(lock(&sent).packets.is_empty());
}

/// A broker max of 1,000 bytes and 10 requests waiting on 300-byte reply topics: the
/// connect's SUBSCRIBEs of them each fit (three topics a packet). Before, they went by 64
/// topics: one packet of 3,000 bytes and more, the connection closed, at every reconnect.
/// A reply topic too large for any packet (its request accepted by a broker taking more)
/// is not sent, and that is said visibly.
#[tokio::test]
async fn a_connects_reply_topic_subscribes_fit_the_brokers_maximum_packet_size() {
    let fake = Fake::default();
    let sent = fake.sent();
    let mqtt = client_with(fake, Config::default(), &[]);
    let topics = long_filters("r");
    let huge = format!("replies/{}", "h".repeat(2_000));
    let _waiting: Vec<_> = topics
        .iter()
        .chain([&huge])
        .map(|t| mqtt.shared.requests.register(t.clone(), false).unwrap())
        .collect();
    connect_announcing(&mqtt, 1_000).await;
    assert_eq!(said::containing("SUBSCRIBE of `replies/hhh").len(), 1);
    assert_packets_fit(&sent, 4, 1_000);
    assert_eq!(lock(&sent).subscribed, topics);
}

/// A request whose reply topic alone makes a SUBSCRIBE larger than the broker takes fails
/// at once with [`Error::FilterLimit`], and sends nothing (neither the SUBSCRIBE, which
/// would close the connection, nor the request).
#[tokio::test]
async fn a_request_whose_reply_topic_is_too_large_for_the_broker_fails_typed() {
    let fake = Fake::default();
    let sent = fake.sent();
    let huge = format!("svc/{}", "r".repeat(2_000));
    let (mqtt, request) = connected_with_request(fake, Some(&huge), Duration::from_secs(5));
    announcing(&mqtt, 1_000);
    let err = request.await.unwrap().unwrap_err();
    assert_subscribe_over_the_limit(&err);
    assert!(lock(&sent).packets.is_empty(), "{:?}", lock(&sent).packets);
}

/// Filters subscribed at run time (at a broker taking more) that a connect finds too
/// large to send are listed refused within the cap a broker's refusals are
/// ([`MAX_REFUSED_AT_RUN_TIME`]); a handler's filter always stays listed. Before, each
/// was pushed past the cap: 41 listed for 40 such filters and one declared.
#[tokio::test]
async fn filters_too_large_at_a_connect_are_listed_refused_within_the_cap() {
    let declared = format!("declared/{}", "d".repeat(2_000));
    let mqtt = client_with(Fake::default(), Config::default(), &[declared.as_str()]);
    let n = MAX_REFUSED_AT_RUN_TIME + 8;
    for i in 0..n {
        lock(&mqtt.shared.topics).insert(
            format!("user/{i:02}/{}", "u".repeat(2_000)),
            QoS::AtLeastOnce,
        );
    }
    announcing(&mqtt, 1_000);
    assert!(mqtt.resubscribe(false).await);
    let listed = mqtt.health().refused_subscriptions;
    assert_eq!(
        listed.len(),
        MAX_REFUSED_AT_RUN_TIME + 1,
        "{} listed",
        listed.len()
    );
    assert!(listed.contains(&declared));
    assert!(listed
        .iter()
        .any(|f| f.starts_with(&format!("user/{:02}/", n - 1))));
}

/// A broker max of 1,000 bytes and 10 filters of 300 bytes: `unsubscribe_all` sends
/// them in UNSUBSCRIBEs that each fit (three filters a packet), as a connect does; a
/// filter subscribed again while an earlier one awaited its answer stays subscribed.
/// Before, all ten went in one UNSUBSCRIBE of 3,000 bytes and more, which the broker
/// answers by closing the connection.
#[tokio::test]
async fn unsubscribe_all_fits_the_brokers_maximum_packet_size() {
    let filters = long_filters("u");
    let (mqtt, sent, unsubscribing) = unsubscribing_all(&filters).await;
    let back = filters[9].clone();
    mqtt.subscribe(&back, QoS::AtMostOnce).await.unwrap();
    unsubscribing.answered().await.unwrap();
    let packets: Vec<Packet> = lock(&sent)
        .packets
        .iter()
        .filter(|p| matches!(p, Packet::Unsubscribe(_)))
        .cloned()
        .collect();
    let sizes: Vec<usize> = packets.iter().map(packet_size).collect();
    assert!(sizes.iter().all(|&s| s <= 1_000), "packet sizes {sizes:?}");
    assert_eq!(packets.len(), 3, "packet sizes {sizes:?}");
    assert_eq!(lock(&sent).unsubscribed, filters[..9]);
    assert_eq!(mqtt.topics(), [(back, QoS::AtMostOnce)]);
}

/// `unsubscribe` of a filter whose UNSUBSCRIBE alone is larger than the broker takes
/// (subscribed at a broker taking more, or a handler's) fails with
/// [`Error::FilterLimit`] and sends nothing, as `subscribe` does; the filter is no
/// longer recorded, and is owed to a persistent session. `unsubscribe_all` sends the
/// others and fails so too. Before, the UNSUBSCRIBE was sent and `Ok` returned: the
/// broker closes the connection at it.
#[tokio::test]
async fn unsubscribe_of_a_filter_too_large_for_the_broker_fails_typed() {
    let fake = Fake::default();
    let sent = fake.sent();
    let config = Config {
        clean_session: false,
        ..Config::default()
    };
    let huge = format!("huge/{}", "h".repeat(2_000));
    let mqtt = client_with(fake, config, &[huge.as_str()]);
    announcing(&mqtt, 1_000);
    let too_large = |result: crate::error::Result<()>| {
        let err = result.unwrap_err();
        assert!(
            matches!(
                &err,
                Error::FilterLimit {
                    request: "UNSUBSCRIBE",
                    ..
                }
            ),
            "{err:?}"
        );
    };
    too_large(mqtt.unsubscribe(&huge).await);
    assert!(lock(&sent).packets.is_empty(), "{:?}", lock(&sent).packets);
    assert!(mqtt.topics().is_empty());
    assert_eq!(lock(&mqtt.shared.owed).filters(), [huge.as_str()]);
    // Not recorded any more: nothing to send, nothing wrong.
    mqtt.unsubscribe(&huge).await.unwrap();

    for f in [huge.as_str(), "a/b"] {
        lock(&mqtt.shared.topics).insert(f.to_owned(), QoS::AtLeastOnce);
    }
    too_large(mqtt.unsubscribe_all().await);
    assert_eq!(lock(&sent).packets, [Packet::unsub(&["a/b"])]);
    assert!(mqtt.topics().is_empty());
}

/// With a clean session, a handler's filter too large for the broker was never
/// subscribed on this connection (its SUBSCRIBE is larger still than its UNSUBSCRIBE),
/// and nothing is owed: `unsubscribe` and `unsubscribe_all` succeed. Before, every
/// `unsubscribe_all` of such an app failed with `Error::FilterLimit`.
#[tokio::test]
async fn a_clean_session_unsubscribes_a_never_subscribed_filter_too_large_without_error() {
    let fake = Fake::default();
    let sent = fake.sent();
    let huge = format!("never/{}", "n".repeat(2_000));
    let mqtt = client_with(fake, Config::default(), &[huge.as_str()]);
    announcing(&mqtt, 1_000);
    assert!(mqtt.resubscribe(false).await);
    assert!(
        lock(&sent).subscribed.is_empty(),
        "{:?}",
        lock(&sent).subscribed.len()
    );
    mqtt.subscribe("a/b", QoS::AtLeastOnce).await.unwrap();
    let r = mqtt.unsubscribe_all().await;
    assert!(lock(&mqtt.shared.owed).filters().is_empty());
    assert!(mqtt.topics().is_empty());
    assert!(
        r.is_ok(),
        "everything the broker held was unsubscribed, yet: {r:?}"
    );
    assert_eq!(
        lock(&sent).packets,
        [Packet::sub(&["a/b"]), Packet::unsub(&["a/b"])]
    );

    lock(&mqtt.shared.topics).insert(huge.clone(), QoS::AtLeastOnce);
    mqtt.unsubscribe(&huge).await.unwrap();
    assert_eq!(lock(&sent).packets.len(), 2, "{:?}", lock(&sent).packets);
}

/// While disconnected, `unsubscribe` of a filter too large for the broker last
/// connected to returns `Ok` at once, as its doc says, and owes it to a persistent
/// session: the next broker may take it. Before, `Error::FilterLimit`.
#[tokio::test]
async fn unsubscribe_while_disconnected_owes_a_filter_too_large_without_error() {
    let fake = Fake::default().connection(Connection::Down);
    let sent = fake.sent();
    let config = Config {
        clean_session: false,
        ..Config::default()
    };
    let huge = format!("away/{}", "a".repeat(2_000));
    let mqtt = client_with(fake, config, &[huge.as_str()]);
    announcing(&mqtt, 1_000);
    mqtt.unsubscribe(&huge).await.unwrap();
    assert!(lock(&sent).packets.is_empty(), "{:?}", lock(&sent).packets);
    assert_eq!(lock(&mqtt.shared.owed).filters(), [huge.as_str()]);
}

/// `unsubscribe_all` reads the broker's Maximum Packet Size at each packet's turn: a
/// reconnect to a broker taking less (1,000 bytes, then 700) while the first UNSUBSCRIBE
/// awaits its answer cuts the rest to fit it. Before, the rest went as cut for the
/// first broker (three filters, 917 bytes), which closes the connection at them.
#[tokio::test]
async fn unsubscribe_all_reads_the_brokers_limit_at_each_packet() {
    let filters = long_filters("r");
    let (mqtt, sent, unsubscribing) = unsubscribing_all(&filters).await;
    announcing(&mqtt, 700);
    unsubscribing.answered().await.unwrap();
    let packets = lock(&sent).packets.clone();
    let sizes: Vec<usize> = packets.iter().map(packet_size).collect();
    assert!(sizes[0] <= 1_000, "packet sizes {sizes:?}");
    assert!(
        sizes[1..].iter().all(|&s| s <= 700),
        "packet sizes {sizes:?}"
    );
    assert_eq!(lock(&sent).unsubscribed, filters);
}
