//! Shared subscriptions (`$share/<group>/<filter>`) on the embedded broker
//! (`MQTT_BROKER_URL=embedded`, rumqttd): what a group is. rumqttd 0.20.0 keyed groups by
//! name alone, so one group name on two filters shared one member list and one cursor over
//! two logs (MQTT 5.0, 4.8.2: a shared subscription is its group and its filter). Ours
//! (vendor/rumqttd, PATCHED.md, 12) keys groups by (group, filter).
//!
//! A process of its own (this test binary): the embedded broker is one per process.

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use flask_mqtt_actix::EmbeddedBroker;
use flask_mqtt_tests::{after_a_message_to, unique, SocketClient};

/// Topics of this binary start with this.
const PREFIX: &str = "embedded-groups";

/// One client in `$share/g/a` and `$share/g/b`: two shared subscriptions, each with its own
/// place in its own log. rumqttd kept one cursor for the group name, moved by `a`'s log,
/// and read `b`'s log from there: `b`'s first messages were skipped.
#[test]
fn one_group_name_on_two_filters_skips_none_of_either_filters_messages() {
    let broker = EmbeddedBroker::start(None).unwrap();
    let addr = broker.addr();
    let x_id = unique(&format!("{PREFIX}-cursor"));
    let a = format!("{PREFIX}/cursor/{x_id}/a");
    let b = format!("{PREFIX}/cursor/{x_id}/b");
    let control = format!("{PREFIX}/cursor/{x_id}/control");

    let (mut x, _) = SocketClient::connect(addr, &x_id, true, "X");
    x.subscribe_all(&[
        &format!("$share/{x_id}/{a}"),
        &format!("$share/{x_id}/{b}"),
        &control,
    ]);
    for (n, payload) in ["a1", "a2", "a3"].into_iter().enumerate() {
        x.publish_qos1(&a, payload, 10 + u16::try_from(n).unwrap());
        let (_, got, pkid) = x.next_publish("X, on `a`");
        assert_eq!(got, payload);
        x.puback(pkid);
    }

    let got = after_a_message_to(addr, &b, &control, &mut x, "X");
    assert!(
        got.contains(&(b.clone(), "to the topic".to_owned())),
        "X did not get the first message to `{b}` after three to `{a}` (same group name): \
         {got:?}"
    );
}

/// X in `$share/g/a`, Y in `$share/g/b`: each alone in its shared subscription, so X gets
/// every message to `a`. rumqttd made them one group taking turns: after X's first message
/// it was Y's turn, which has no subscription to `a`, and `a`'s messages waited.
#[test]
fn one_group_name_on_two_filters_does_not_share_members() {
    let broker = EmbeddedBroker::start(None).unwrap();
    let addr = broker.addr();
    let x_id = unique(&format!("{PREFIX}-members"));
    let a = format!("{PREFIX}/members/{x_id}/a");
    let b = format!("{PREFIX}/members/{x_id}/b");
    let control = format!("{PREFIX}/members/{x_id}/control");

    let (mut x, _) = SocketClient::connect(addr, &x_id, true, "X");
    x.subscribe_all(&[&format!("$share/{x_id}/{a}"), &control]);
    let (mut y, _) = SocketClient::connect(addr, &unique(&format!("{x_id}-y")), true, "Y");
    y.subscribe(&format!("$share/{x_id}/{b}"));

    for turn in 1..=2 {
        let got = after_a_message_to(addr, &a, &control, &mut x, "X");
        assert!(
            got.contains(&(a.clone(), "to the topic".to_owned())),
            "X, alone in `$share/{x_id}/{a}`, did not get message {turn} to `{a}`: {got:?}"
        );
    }
}
