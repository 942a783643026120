//! UNSUBSCRIBE on the embedded broker (`MQTT_BROKER_URL=embedded`, rumqttd) with shared
//! subscriptions (`$share/<group>/<filter>`): it ends that one subscription, and nothing
//! else. rumqttd 0.20.0 took the client out of every shared group at any UNSUBSCRIBE, so
//! it silently stopped getting its turn in groups it had not left; and it left the
//! request of an unsubscribed shared filter waiting on the topic's log, so the client
//! went on receiving its messages (and a persistent session took the subscription back
//! with it when it came back). Ours (vendor/rumqttd, PATCHED.md, 8 to 10) ends only the
//! filter unsubscribed.
//!
//! A process of its own (this test binary): the embedded broker is one per process.

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use flask_mqtt_actix::EmbeddedBroker;
use flask_mqtt_tests::{after_a_message_to, first_publish_by, unique, SocketClient};

const T: Duration = Duration::from_secs(20);

/// Topics of this binary start with this.
const PREFIX: &str = "embedded-unsub";

/// Publishes `sent` to `topic` from `from` and returns who got each (the index in
/// `members`), waiting until all came; panics if they do not within [`T`].
fn deliveries(
    from: usize,
    members: &mut [&mut SocketClient],
    topic: &str,
    sent: &[&str],
) -> Vec<(usize, String)> {
    for (n, payload) in sent.iter().enumerate() {
        members[from].publish_qos1(topic, payload, 100 + u16::try_from(n).unwrap());
    }
    let mut got: Vec<(usize, String)> = Vec::new();
    while !sent.iter().all(|s| got.iter().any(|(_, p)| p == s)) {
        match first_publish_by(members, T) {
            Some(g) => got.push(g),
            None => panic!("the members got {got:?}, not all of {sent:?}, within {T:?}"),
        }
    }
    got
}

/// A client in two shared groups (`$share/g/a`, `$share/h/b`) that unsubscribes from one
/// is still a member of the other and gets its turn there. rumqttd took it out of every
/// group: the other member of `h` got all of `b`'s messages.
#[test]
fn unsubscribing_from_one_shared_filter_keeps_the_client_in_its_other_groups() {
    let broker = EmbeddedBroker::start(None).unwrap();
    let addr = broker.addr();
    let x_id = unique("embedded-unsub-two-groups");
    let a = format!("{PREFIX}/two-groups/{x_id}/a");
    let b = format!("{PREFIX}/two-groups/{x_id}/b");
    // Groups of this test's own: rumqttd keyed groups by name alone (before
    // PATCHED.md, 12).
    let (g, h) = (format!("{x_id}-g"), format!("{x_id}-h"));

    let (mut x, _) = SocketClient::connect(addr, &x_id, true, "member X");
    x.subscribe_all(&[&format!("$share/{g}/{a}"), &format!("$share/{h}/{b}")]);
    let y_id = unique("embedded-unsub-two-groups-y");
    let (mut y, _) = SocketClient::connect(addr, &y_id, true, "member Y");
    y.subscribe(&format!("$share/{h}/{b}"));

    x.unsubscribe(&format!("$share/{g}/{a}"));

    let got = deliveries(1, &mut [&mut x, &mut y], &b, &["b1", "b2", "b3", "b4"]);
    assert!(
        got.iter().any(|(member, _)| *member == 0),
        "X, which left group g only, got none of group h's messages (X is 0, Y is 1): {got:?}"
    );
}

/// A client subscribed to a filter and to its shared form (`t`, `$share/g/t`) that
/// unsubscribes from `t` keeps its shared subscription, and gets its turn in the group.
/// rumqttd took it out of the group: the other member got every message.
#[test]
fn unsubscribing_from_a_filter_keeps_the_client_in_the_group_of_its_shared_form() {
    let broker = EmbeddedBroker::start(None).unwrap();
    let addr = broker.addr();
    let x_id = unique("embedded-unsub-plain");
    let topic = format!("{PREFIX}/plain/{x_id}");
    let shared = format!("$share/{x_id}/{topic}");

    let (mut x, _) = SocketClient::connect(addr, &x_id, true, "member X");
    x.subscribe(&topic);
    x.subscribe(&shared);
    let y_id = unique("embedded-unsub-plain-y");
    let (mut y, _) = SocketClient::connect(addr, &y_id, true, "member Y");
    y.subscribe(&shared);

    x.unsubscribe(&topic);

    let got = deliveries(1, &mut [&mut x, &mut y], &topic, &["t1", "t2", "t3", "t4"]);
    assert!(
        got.iter().any(|(member, _)| *member == 0),
        "X, which unsubscribed from the plain filter only, got none of its group's \
         messages (X is 0, Y is 1): {got:?}"
    );
}

/// After UNSUBSCRIBE from `$share/g/t` (the group's only member), the client gets none of
/// `t`'s messages. rumqttd left the subscription's request waiting on `t`'s log
/// (`DataLog::remove_waiters_for_id` looked for a log named `$share/g/t`); the next
/// message woke it, and with its group gone it read as a plain subscription.
///
/// Whether X gets `t`'s message is seen without waiting for nothing: X also subscribes to
/// `c`, and a message to `c` is published after the one to `t` has reached another
/// subscriber of `t`; had X still a request on `t`, woken by that message before `c`'s
/// was published, it would read `t` first.
#[test]
fn no_message_comes_for_a_shared_filter_after_unsubscribing_from_it() {
    let broker = EmbeddedBroker::start(None).unwrap();
    let addr = broker.addr();
    let x_id = unique("embedded-unsub-waiter");
    let topic = format!("{PREFIX}/waiter/{x_id}");
    let control = format!("{PREFIX}/waiter/{x_id}/control");
    let shared = format!("$share/{x_id}/{topic}");

    let (mut x, _) = SocketClient::connect(addr, &x_id, true, "X");
    x.subscribe(&shared);
    x.unsubscribe(&shared);
    x.subscribe(&control);

    let got = after_a_message_to(addr, &topic, &control, &mut x, "X");
    assert_eq!(
        got,
        [(control.clone(), "control".to_owned())],
        "X got a message for `{shared}` after unsubscribing from it"
    );
}

/// A persistent session that unsubscribed from `$share/g/t` and went away does not get
/// the subscription back when it returns. rumqttd saved the request left waiting (see
/// above) with the session, and (with PATCHED.md's 7) put the returning session back in
/// the group, recreated for it.
#[test]
fn a_returning_session_does_not_get_back_a_shared_subscription_it_left() {
    let broker = EmbeddedBroker::start(None).unwrap();
    let addr = broker.addr();
    let x_id = unique("embedded-unsub-session");
    let topic = format!("{PREFIX}/session/{x_id}");
    let control = format!("{PREFIX}/session/{x_id}/control");
    let shared = format!("$share/{x_id}/{topic}");

    let (mut x, _) = SocketClient::connect(addr, &x_id, false, "X");
    x.subscribe(&shared);
    x.unsubscribe(&shared);
    x.subscribe(&control);
    x.disconnect();
    let (mut x, session_present) = SocketClient::connect(addr, &x_id, false, "X back");
    assert!(session_present, "X's persistent session was kept");

    let got = after_a_message_to(addr, &topic, &control, &mut x, "X back");
    assert_eq!(
        got,
        [(control.clone(), "control".to_owned())],
        "X's returning session got a message for `{shared}`, which it had left"
    );
}

/// A client that publishes to a topic it subscribes to and unsubscribes from it, in one
/// write, gets at most its own message, not the next ones. rumqttd read both at once:
/// the publish woke the subscription's waiting request, which UNSUBSCRIBE did not find
/// in the log's waiters, and put it back to read at the end of the batch.
#[test]
fn no_message_comes_after_an_unsubscribe_read_with_a_publish_to_the_filter() {
    let broker = EmbeddedBroker::start(None).unwrap();
    let addr = broker.addr();
    let x_id = unique("embedded-unsub-batch");
    let topic = format!("{PREFIX}/batch/{x_id}");
    let control = format!("{PREFIX}/batch/{x_id}/control");

    let (mut x, _) = SocketClient::connect(addr, &x_id, true, "X");
    x.subscribe(&control);
    x.subscribe(&topic);
    x.publish_and_unsubscribe(&topic, "its own", &topic);

    let got = after_a_message_to(addr, &topic, &control, &mut x, "X");
    assert!(
        !got.iter().any(|(_, payload)| payload == "to the topic"),
        "X got a message for `{topic}` after unsubscribing from it: {got:?}"
    );
}
