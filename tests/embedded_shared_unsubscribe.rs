//! UNSUBSCRIBE on the embedded broker (`MQTT_BROKER_URL=embedded`, rumqttd) with shared
//! subscriptions (`$share/<group>/<filter>`): it ends that one subscription, and nothing
//! else. rumqttd 0.20.0 took the client out of every shared group at any UNSUBSCRIBE, so
//! it silently stopped getting its turn in groups it had not left. Ours (vendor/rumqttd,
//! PATCHED.md, 8) ends only the filter unsubscribed.
//!
//! A process of its own (this test binary): the embedded broker is one per process.

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use flask_mqtt_actix::EmbeddedBroker;
use flask_mqtt_tests::{first_publish_by, unique, SocketClient};

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
    // Groups of this test's own: rumqttd keys groups by name alone.
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
