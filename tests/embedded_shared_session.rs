//! The embedded broker (`MQTT_BROKER_URL=embedded`, rumqttd) survives a client that
//! used to kill it: a persistent session (clean session off) subscribed to a shared
//! subscription (`$share/g/...`) that goes away while holding a QoS 1 message it has
//! not acknowledged. rumqttd 0.20.0's router panicked on that disconnect ("group must
//! exists", src/router/routing.rs): its thread died, no client could connect any more and
//! the app's client reconnected for ever. Our rumqttd (vendor/rumqttd, PATCHED.md) saves
//! the session instead; the same client gets its message again when it comes back
//! (whether or not it subscribes again), and the app's client connects, subscribes and
//! receives. And when another client recreated the group while the session was away,
//! rumqttd lost that message (the returning session read at the new group's cursor, past
//! it); ours sends it again to a member (PATCHED.md, 4), and only then: a member that
//! comes back holding nothing does not replay to the group what the others had.
//!
//! A process of its own (this test binary): the embedded broker is one per process.

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{first_publish_by, first_publish_of, unique, Recorder, SocketClient};
use mqtt::{Client, Config, EmbeddedBroker, QoS};

const T: Duration = Duration::from_secs(20);

/// Topics of this binary start with this.
const PREFIX: &str = "embedded-share";

static GOT: Recorder<(String, String)> = Recorder::new();

#[mqtt::on_message("embedded-share/after/#", qos = 1)]
fn on_after(m: mqtt::Message) {
    GOT.push((
        m.topic().to_owned(),
        String::from_utf8_lossy(m.payload()).into_owned(),
    ));
}

static CONNECTED: Recorder<String> = Recorder::new();

#[mqtt::on_connect]
fn connected(c: mqtt::Mqtt) {
    CONNECTED.push(c.client_id().to_owned());
}

// ---- the test --------------------------------------------------------------------

#[test]
fn a_persistent_shared_subscriber_leaving_with_an_unacknowledged_message_does_not_kill_the_broker()
{
    let broker = EmbeddedBroker::start(None).unwrap();
    let addr = broker.addr();
    let id = unique("embedded-share-session");
    let topic = format!("{PREFIX}/share/{id}");

    // A persistent session, the only member of the shared subscription's group, receives
    // a QoS 1 message and goes away without acknowledging it.
    let (mut first, _) = SocketClient::connect(addr, &id, false, "the shared subscriber");
    first.subscribe(&format!("$share/g/{topic}"));
    first.publish_qos1(&topic, "unacknowledged", 7);
    let (got_topic, payload, _) = first.next_publish("the shared subscriber");
    assert_eq!(
        (got_topic.as_str(), payload.as_str()),
        (topic.as_str(), "unacknowledged")
    );
    first.vanish();

    // The same client comes back: the router has handled the disconnect (rumqttd
    // 0.20.0's died there, and this CONNACK never came), the session is there, and the
    // message it did not acknowledge comes again.
    let (mut again, session_present) =
        SocketClient::connect(addr, &id, false, "the shared subscriber reconnecting");
    assert!(session_present, "the persistent session was kept");
    let (got_topic, payload, pkid) = again.next_publish("the shared subscriber reconnecting");
    assert_eq!(
        (got_topic.as_str(), payload.as_str()),
        (topic.as_str(), "unacknowledged")
    );
    again.puback(pkid);
    again.disconnect();

    // And the app's client connects, subscribes and receives.
    let app_id = unique("embedded-share-app");
    let client = Client::start(
        Config::builder()
            .broker_url("embedded")
            .client_id(&app_id)
            .build()
            .unwrap(),
    )
    .unwrap();
    assert!(
        CONNECTED.wait_for(T, |c| c.iter().any(|x| x == &app_id)),
        "the app's client never connected to the embedded broker"
    );
    let after = format!("{PREFIX}/after/{id}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        client
            .handle()
            .publish(after.clone(), "still here")
            .qos(QoS::AtLeastOnce)
            .await
            .unwrap();
    });
    assert!(
        GOT.wait_for(T, |all| all
            .iter()
            .any(|(t, p)| t == &after && p == "still here")),
        "the app's handler got nothing"
    );
    rt.block_on(client.shutdown());
}

/// The same client, coming back, subscribes again, as `mosquitto_sub -c` and our own
/// client do at every connect: that SUBSCRIBE recreates the group (dropped when its last
/// member left) at the end of the log, but rumqttd sends the unacknowledged message with
/// the CONNACK, before the SUBSCRIBE reaches its router (it arrives before the SUBACK),
/// so it does come again. This passed before PATCHED.md's change 4 too; it keeps that
/// order checked.
#[test]
fn a_persistent_shared_subscriber_that_subscribes_again_gets_its_unacknowledged_message() {
    let broker = EmbeddedBroker::start(None).unwrap();
    let addr = broker.addr();
    let id = unique("embedded-share-resubscribe");
    let topic = format!("{PREFIX}/resubscribe/{id}");
    // A group of this test's own: rumqttd keyed groups by name alone (before
    // PATCHED.md, 12).
    let filter = format!("$share/{id}/{topic}");

    let (mut first, _) = SocketClient::connect(addr, &id, false, "the shared subscriber");
    first.subscribe(&filter);
    first.publish_qos1(&topic, "unacknowledged", 7);
    let (_, payload, _) = first.next_publish("the shared subscriber");
    assert_eq!(payload, "unacknowledged");
    first.vanish();

    let what = "the shared subscriber reconnecting and subscribing again";
    let (mut again, session_present) = SocketClient::connect(addr, &id, false, what);
    assert!(session_present, "the persistent session was kept");
    again.subscribe(&filter);
    let (got_topic, payload, pkid) = again.next_publish(what);
    assert_eq!(
        (got_topic.as_str(), payload.as_str()),
        (topic.as_str(), "unacknowledged")
    );
    again.puback(pkid);

    // Once acknowledged, it does not come a third time, and the next message does come.
    again.publish_qos1(&topic, "next", 8);
    let (_, payload, pkid) = again.next_publish(what);
    assert_eq!(
        payload, "next",
        "after the redelivered message, the next one"
    );
    again.puback(pkid);
    again.disconnect();
}

/// The message comes again when another client recreated the group while the session
/// was away: rumqttd moved the returning session's request to that group's cursor, at
/// the end of the log, so nobody got the message again (two app instances sharing a
/// subscription, one killed holding a message while the other restarts). Our rumqttd
/// moves such a group back to the returning session's unacknowledged message and wakes
/// its members (PATCHED.md): a member gets it again.
#[test]
fn a_message_held_by_a_returning_session_comes_again_when_another_client_recreated_the_group() {
    let broker = EmbeddedBroker::start(None).unwrap();
    let addr = broker.addr();
    let id = unique("embedded-share-held");
    let topic = format!("{PREFIX}/held/{id}");
    let filter = format!("$share/{id}/{topic}");

    // A persistent session, alone in the group, goes away holding a QoS 1 message: the
    // group, left empty, is dropped.
    let (mut first, _) = SocketClient::connect(addr, &id, false, "the first member");
    first.subscribe(&filter);
    first.publish_qos1(&topic, "held", 7);
    let (_, payload, _) = first.next_publish("the first member");
    assert_eq!(payload, "held");
    first.vanish();

    // Another client joins the group, recreating it, and takes what is published next.
    let other_id = unique("embedded-share-other");
    let (mut other, _) = SocketClient::connect(addr, &other_id, true, "the other member");
    other.subscribe(&filter);

    // The first comes back and subscribes again: one of the two gets the message again.
    let (mut again, session_present) =
        SocketClient::connect(addr, &id, false, "the first member back");
    assert!(session_present, "the persistent session was kept");
    again.subscribe(&filter);
    let got = first_publish_of(&mut [&mut again, &mut other], T);
    assert_eq!(
        got.as_deref(),
        Some("held"),
        "the message the returning session held was not delivered again within {T:?}"
    );
}

/// A member that left cleanly (nothing unacknowledged) and comes back does not move its
/// group back to where it stopped reading: the messages the other member had meanwhile are
/// not sent to the group again (a rolling restart would replay the downtime's traffic at
/// every reconnect, and duplicate QoS 0 messages). PATCHED.md, 4: only a session that
/// held an unacknowledged QoS 1 or 2 message, and whose group was recreated while it was
/// away, moves its group back.
#[test]
fn a_member_returning_without_a_held_message_does_not_replay_what_the_group_had() {
    let broker = EmbeddedBroker::start(None).unwrap();
    let addr = broker.addr();
    let id = unique("embedded-share-clean");
    let b_id = unique("embedded-share-clean-b");
    let topic = format!("{PREFIX}/clean/{id}");
    let filter = format!("$share/{id}/{topic}");

    // A and B, persistent sessions, share the subscription; A leaves cleanly, holding
    // nothing, and B (the group stays) takes what is published while A is away.
    let (mut a, _) = SocketClient::connect(addr, &id, false, "member A");
    a.subscribe(&filter);
    let (mut b, _) = SocketClient::connect(addr, &b_id, false, "member B");
    b.subscribe(&filter);
    a.disconnect();
    for n in 1..=3u16 {
        b.publish_qos1(&topic, &format!("while A was away {n}"), 10 + n);
        let (_, payload, pkid) = b.next_publish("member B, A away");
        assert_eq!(payload, format!("while A was away {n}"));
        b.puback(pkid);
    }

    // A comes back (and subscribes again, as apps do): what either member gets next is
    // what is published next, not what B already had.
    let (mut a, session_present) = SocketClient::connect(addr, &id, false, "member A back");
    assert!(session_present, "A's persistent session was kept");
    a.subscribe(&filter);
    b.publish_qos1(&topic, "after 1", 20);
    b.publish_qos1(&topic, "after 2", 21);
    let mut got = Vec::new();
    while !(got.iter().any(|p| p == "after 1") && got.iter().any(|p| p == "after 2")) {
        match first_publish_of(&mut [&mut a, &mut b], T) {
            Some(p) => got.push(p),
            None => panic!("the members got {got:?}, not both messages, within {T:?}"),
        }
    }
    got.sort();
    assert_eq!(
        got,
        ["after 1", "after 2"],
        "a member returning without a held message replayed its group's messages"
    );
}

/// One SUBSCRIBE with a filter and its shared form (`t` and `$share/g/t`) makes two
/// subscriptions, and the client gets each message once for each: once for `t`, once
/// through the group (MQTT 5.0, 4.8.2: a shared subscription is a subscription of its
/// own; the client is the group's only member). rumqttd 0.20.0 took the two for one
/// subscription twice, because they read the same topic log: in builds with debug
/// assertions (`cargo run`, `cargo test`) its router panicked (`debug_assert!` in
/// `Router::prepare_filter`), and the broker was dead for every client. Ours
/// (vendor/rumqttd, PATCHED.md) delivers both, and keeps serving.
#[test]
fn a_filter_and_its_shared_form_in_one_subscribe_both_deliver() {
    let broker = EmbeddedBroker::start(None).unwrap();
    let addr = broker.addr();
    let id = unique("embedded-share-both");
    let topic = format!("{PREFIX}/both/{id}");
    let shared = format!("$share/{id}/{topic}");

    let what = "a subscriber to a filter and its shared form";
    let (mut both, _) = SocketClient::connect(addr, &id, true, what);
    both.subscribe_all(&[&topic, &shared]);
    for (n, payload) in ["one", "two"].into_iter().enumerate() {
        both.publish_qos1(&topic, payload, 10 + u16::try_from(n).unwrap());
        for copy in 1..=2 {
            let (got_topic, got, pkid) = both.next_publish(what);
            assert_eq!(
                (got_topic.as_str(), got.as_str()),
                (topic.as_str(), payload),
                "copy {copy} of {payload:?}, one per subscription"
            );
            both.puback(pkid);
        }
    }

    // The broker still serves: another client connects, subscribes and receives.
    let (mut other, _) = SocketClient::connect(
        addr,
        &unique("embedded-share-both-other"),
        true,
        "another client",
    );
    other.subscribe(&topic);
    both.publish_qos1(&topic, "three", 12);
    let (_, got, pkid) = other.next_publish("another client");
    assert_eq!(got, "three");
    other.puback(pkid);
}

/// A persistent session's subscriptions are part of its state (MQTT 3.1.1, 3.1.2.4;
/// MQTT 5.0, 4.8.2: shared ones too): a member of a shared subscription's group that
/// comes back without subscribing again is still a member, and gets its turn. rumqttd
/// restored the session's subscription but not its place in the group: when the group
/// was dropped while it was away (left empty) and recreated by another client, the
/// returning session was skipped for good, the other member got everything. Ours
/// (vendor/rumqttd, PATCHED.md) puts it back in its groups when it comes back.
#[test]
fn a_returning_session_that_does_not_subscribe_again_is_still_a_member_of_its_group() {
    let broker = EmbeddedBroker::start(None).unwrap();
    let addr = broker.addr();
    let id = unique("embedded-share-member");
    let topic = format!("{PREFIX}/member/{id}");
    let filter = format!("$share/{id}/{topic}");

    // A, a persistent session alone in the group, leaves cleanly: the group is dropped.
    let (mut a, _) = SocketClient::connect(addr, &id, false, "member A");
    a.subscribe(&filter);
    a.disconnect();
    // B joins the group, recreating it.
    let (mut b, _) =
        SocketClient::connect(addr, &unique("embedded-share-member-b"), true, "member B");
    b.subscribe(&filter);
    // A comes back and does not subscribe again: its session holds the subscription.
    let (mut a, session_present) = SocketClient::connect(addr, &id, false, "member A back");
    assert!(session_present, "A's persistent session was kept");

    let sent = ["m1", "m2", "m3", "m4"];
    for (n, payload) in sent.iter().enumerate() {
        b.publish_qos1(&topic, payload, 20 + u16::try_from(n).unwrap());
    }
    let mut got: Vec<(usize, String)> = Vec::new();
    while !sent.iter().all(|s| got.iter().any(|(_, p)| p == s)) {
        match first_publish_by(&mut [&mut a, &mut b], T) {
            Some(g) => got.push(g),
            None => panic!("the members got {got:?}, not all of {sent:?}, within {T:?}"),
        }
    }
    assert!(
        got.iter().any(|(member, _)| *member == 0),
        "the returning member A got none of its group's messages (A is 0, B is 1): {got:?}"
    );
}
