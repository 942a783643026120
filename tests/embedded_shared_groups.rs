//! Shared subscriptions (`$share/<group>/<filter>`) on the embedded broker
//! (`MQTT_BROKER_URL=embedded`, rumqttd): what a group owes at least once, and what a group
//! is. rumqttd 0.20.0 lost the unacknowledged QoS 1 message of a member that unsubscribed
//! or whose session ended (MQTT 5.0, 4.8.2: the server should send it to another member),
//! and keyed groups by name alone, so one group name on two filters shared one member list
//! and one cursor over two logs (MQTT 5.0, 4.8.2: a shared subscription is its group and
//! its filter). Ours (vendor/rumqttd, PATCHED.md, 11 and 12) hands the message to the
//! group's other members and keys groups by (group, filter).
//!
//! A process of its own (this test binary): the embedded broker is one per process.

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use flask_mqtt_tests::{
    after_a_message_to, fill_window, first_publish_by, router_cpu_while_idle, ShareGroup,
    SocketClient,
};

const T: Duration = Duration::from_secs(20);

/// Topics of this binary start with this.
const PREFIX: &str = "embedded-groups";

/// The payloads `member` receives (acknowledged) until it has all of `wanted`; panics with
/// what it got if they do not all come within [`T`].
fn receive_all(member: &mut SocketClient, wanted: &[&str], what: &str) -> Vec<String> {
    let mut got: Vec<String> = Vec::new();
    while !wanted.iter().all(|w| got.iter().any(|p| p == w)) {
        match first_publish_by(&mut [&mut *member], T) {
            Some((_, payload)) => got.push(payload),
            None => panic!("{what} got {got:?}, not all of {wanted:?}, within {T:?}"),
        }
    }
    got
}

/// Two members X and Y (clean sessions) of `$share/<group>/<topic>`, X first (the round
/// robin's first turn), and a publisher; X has received "held" and not acknowledged it.
fn x_holding_a_message(name: &str) -> (ShareGroup, SocketClient, SocketClient, SocketClient) {
    let group = ShareGroup::new(PREFIX, name);
    let mut x = group.member("", "member X");
    let y = group.member("y", "member Y");
    let mut publisher = group.publisher();
    publisher.publish_qos1(&group.topic, "held", 1);
    let (_, payload, _) = x.next_publish("X, the group's first turn");
    assert_eq!(payload, "held", "X's first message");
    (group, x, y, publisher)
}

/// A member that unsubscribes holding an unacknowledged QoS 1 message of its group: the
/// group's other member gets it. rumqttd left the group's cursor past it: Y got the next
/// message only.
#[test]
fn a_message_held_by_a_member_that_unsubscribes_goes_to_another_member() {
    let (group, mut x, mut y, mut publisher) = x_holding_a_message("unsub");
    let shared = &group.shared;

    x.unsubscribe(shared);
    publisher.publish_qos1(&group.topic, "after", 2);

    let mut got = Vec::new();
    while !got.iter().any(|p| p == "after") {
        let (_, payload, pkid) = y.next_publish("member Y");
        y.puback(pkid);
        got.push(payload);
    }
    assert!(
        got.iter().any(|p| p == "held"),
        "Y got {got:?}: not the message X held when it unsubscribed from `{shared}`"
    );
}

/// A member whose session ends (clean session, gone without a DISCONNECT) holding an
/// unacknowledged QoS 1 message of its group: the group's other member gets it. rumqttd
/// moved the group back to the message for a persistent session only: Y got the next
/// message only.
#[test]
fn a_message_held_by_a_member_whose_session_ends_goes_to_another_member() {
    let (group, x, mut y, mut publisher) = x_holding_a_message("ends");

    x.vanish();
    publisher.publish_qos1(&group.topic, "after", 2);

    receive_all(
        &mut y,
        &["held", "after"],
        "Y (the message X held when its session ended is \"held\")",
    );
}

/// What `member` receives (acknowledged) until `last`, `last` included: the payloads in
/// order; panics with what it got if `last` does not come within [`T`].
fn receive_until(member: &mut SocketClient, last: &str, what: &str) -> Vec<String> {
    let mut got: Vec<String> = Vec::new();
    while !got.iter().any(|p| p == last) {
        match first_publish_by(&mut [&mut *member], T) {
            Some((_, payload)) => got.push(payload),
            None => panic!("{what} got {got:?}, not {last:?}, within {T:?}"),
        }
    }
    got
}

/// X and Y in one group; X holds every other message unacknowledged, Y acknowledges the
/// others; X unsubscribes: Y gets X's messages, and none of its own again. Patch 11 as
/// first merged moved the group's one cursor back to X's oldest message: Y got every
/// message from there again (m2, m4, m6: duplicates of acknowledged messages, without
/// bound, and a QoS 2 message twice).
#[test]
fn a_leaving_member_hands_back_only_the_messages_it_holds() {
    hands_back_only_the_messages_it_holds("only-unsub", |mut x, shared| x.unsubscribe(shared));
}

/// [`a_leaving_member_hands_back_only_the_messages_it_holds`], X's session ending (clean
/// session, gone without a DISCONNECT) instead.
#[test]
fn a_member_whose_session_ends_hands_back_only_the_messages_it_holds() {
    hands_back_only_the_messages_it_holds("only-ends", |x, _| x.vanish());
}

/// X and Y in one group, X holding every other message; `leave(x, shared)`; Y gets X's
/// messages only.
fn hands_back_only_the_messages_it_holds(name: &str, leave: fn(SocketClient, &str)) {
    let group = ShareGroup::new(PREFIX, name);
    let (topic, shared) = (&group.topic, &group.shared);
    let mut x = group.member("", "member X");
    let mut y = group.member("y", "member Y");
    let mut publisher = group.publisher();
    let sent = ["m1", "m2", "m3", "m4", "m5", "m6"];
    for (n, payload) in sent.iter().enumerate() {
        publisher.publish_qos1(topic, payload, 1 + u16::try_from(n).unwrap());
    }
    // round robin: three each; X acknowledges none, Y all of its own
    let mut held: Vec<String> = (0..3)
        .map(|_| x.next_publish("X, holding its turns' messages").1)
        .collect();
    let mut acked: Vec<String> = (0..3)
        .map(|_| {
            let (_, payload, pkid) = y.next_publish("Y, acknowledging its turns' messages");
            y.puback(pkid);
            payload
        })
        .collect();
    held.sort();
    acked.sort();
    let mut all: Vec<String> = held.iter().chain(&acked).cloned().collect();
    all.sort();
    assert_eq!(all, sent, "X held {held:?}, Y acknowledged {acked:?}");

    leave(x, shared);
    publisher.publish_qos1(topic, "after", 7);
    let mut got = receive_until(&mut y, "after", "Y, after X left");
    publisher.publish_qos1(topic, "end", 8);
    got.extend(receive_until(&mut y, "end", "Y, after X left"));

    let mut wanted: Vec<String> = held.clone();
    wanted.extend(["after".to_owned(), "end".to_owned()]);
    let mut sorted = got.clone();
    sorted.sort();
    wanted.sort();
    assert_eq!(
        sorted, wanted,
        "Y, after X left `{shared}` holding {held:?}, got {got:?} (it had acknowledged \
         {acked:?})"
    );
}

/// A on plain `t` at QoS 1 (holding its message unacknowledged) and on `$share/g/t` at
/// QoS 0, B in g; A leaves g: g owes nothing (A held no message of g's). Patch 11 as first
/// merged took A's unacknowledged message of the log, its plain `t`'s, for g's and moved g
/// back to it: B got m1 a second time.
#[test]
fn a_member_holding_a_plain_subscriptions_message_hands_nothing_back() {
    let group = ShareGroup::new(PREFIX, "plain");
    let (topic, shared) = (&group.topic, &group.shared);
    let mut a = group.connect("", true, "A");
    a.subscribe(topic);
    a.subscribe_at(shared, 0);
    let mut b = group.member("b", "B");
    let mut publisher = group.publisher();
    publisher.publish_qos1(topic, "m1", 1);
    // A's QoS 1 copy (plain `t`) comes; its QoS 0 one (g, A's turn) or B's may come too
    let (_, payload, _) = a.next_publish("A, on plain `t`");
    assert_eq!(payload, "m1", "A's message on plain `{topic}`");
    let mut got = Vec::new();
    publisher.publish_qos1(topic, "m2", 2);
    got.extend(receive_until(&mut b, "m2", "B, before A left"));

    a.unsubscribe(shared);
    publisher.publish_qos1(topic, "m3", 3);
    got.extend(receive_until(&mut b, "m3", "B, after A left"));
    publisher.publish_qos1(topic, "end", 4);
    got.extend(receive_until(&mut b, "end", "B, after A left"));

    for payload in ["m1", "m2", "m3", "end"] {
        assert!(
            got.iter().filter(|p| *p == payload).count() <= 1,
            "B got {payload:?} twice ({got:?}) after A, holding m1 unacknowledged on plain \
             `{topic}` only, left `{shared}`"
        );
    }
}

/// One client in `$share/g/a` and `$share/g/b`: two shared subscriptions, each with its own
/// place in its own log. rumqttd kept one cursor for the group name, moved by `a`'s log,
/// and read `b`'s log from there: `b`'s first messages were skipped.
#[test]
fn one_group_name_on_two_filters_skips_none_of_either_filters_messages() {
    let group = ShareGroup::new(PREFIX, "cursor");
    let (a, b, control) = (group.below("a"), group.below("b"), group.below("control"));

    let mut x = group.connect("", true, "X");
    x.subscribe_all(&[&group.shared_on(&a), &group.shared_on(&b), &control]);
    for (n, payload) in ["a1", "a2", "a3"].into_iter().enumerate() {
        x.publish_qos1(&a, payload, 10 + u16::try_from(n).unwrap());
        let (_, got, pkid) = x.next_publish("X, on `a`");
        assert_eq!(got, payload);
        x.puback(pkid);
    }

    let got = after_a_message_to(group.addr, &b, &control, &mut x, "X");
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
    let group = ShareGroup::new(PREFIX, "members");
    let (a, b, control) = (group.below("a"), group.below("b"), group.below("control"));
    let shared_a = group.shared_on(&a);

    let mut x = group.connect("", true, "X");
    x.subscribe_all(&[&shared_a, &control]);
    let mut y = group.connect("y", true, "Y");
    y.subscribe(&group.shared_on(&b));

    for turn in 1..=2 {
        let got = after_a_message_to(group.addr, &a, &control, &mut x, "X");
        assert!(
            got.contains(&(a.clone(), "to the topic".to_owned())),
            "X, alone in `{shared_a}`, did not get message {turn} to `{a}`: {got:?}"
        );
    }
}

/// Y, Z and X in one group (that order: Y's turn first); Y's inflight window is full (it
/// acknowledges none of 100 messages of a plain subscription) when it is its turn again,
/// and X leaves holding m1: m1 goes to Z, which has room, and the router goes idle. Patch
/// 11 as first merged gave a handed-back message only to the member whose turn it is, Y,
/// and answered Z "skip, not caught up" without parking it: the router loop spun at full
/// CPU until Y acknowledged, and m1 waited for that.
#[test]
fn a_handed_back_message_goes_to_a_member_with_room_and_the_router_goes_idle() {
    let group = ShareGroup::new(PREFIX, "room");
    let (topic, shared) = (&group.topic, &group.shared);
    let fill = group.below("fill");

    let mut y = group.connect("y", true, "Y");
    y.subscribe_all(&[shared, &fill]);
    let mut x = group.member("", "X");
    let mut z = group.member("z", "Z");
    let mut publisher = group.publisher();

    // round robin Y, X, Z: Y and Z acknowledge theirs, X holds m1
    publisher.publish_qos1(topic, "m0", 1);
    let (_, payload, pkid) = y.next_publish("Y, the group's first turn");
    assert_eq!(payload, "m0");
    y.puback(pkid);
    publisher.publish_qos1(topic, "m1", 2);
    let (_, payload, _) = x.next_publish("X, the group's second turn");
    assert_eq!(payload, "m1");
    publisher.publish_qos1(topic, "m2", 3);
    let (_, payload, pkid) = z.next_publish("Z, the group's third turn");
    assert_eq!(payload, "m2");
    z.puback(pkid);
    // Y's turn again; its window (100 in flight) full of `fill`'s messages
    fill_window(&mut publisher, &mut y, &fill);

    x.unsubscribe(shared);
    let got = first_publish_by(&mut [&mut z], Duration::from_secs(5)).map(|(_, p)| p);
    let seconds = router_cpu_while_idle();
    assert!(
        got.as_deref() == Some("m1") && seconds < 0.3,
        "after X left `{shared}` holding m1, Y's window full: Z got {got:?} (not m1 within \
         5 s), and the router used {seconds:.2} s of CPU per second while idle"
    );
}

/// A (kept session) on plain `t` and in `$share/g/t` with B, at QoS 1: m1 comes to A
/// twice (plain, and its turn in g), m2 on plain only (B's turn in g); A acknowledges the
/// m1s and holds m2. B leaves g, then A (g is dropped), C recreates g and gets m3 and m4,
/// and A comes back: g must not read again from m2 (A held nothing of g's). Patch 11's
/// rework took "A held a message of g's" from A's oldest unacknowledged message of the
/// log, its plain `t`'s m2, and moved the recreated g back to it: C got m3 or m4 again.
#[test]
fn a_kept_session_holding_only_a_plain_message_does_not_rewind_a_recreated_group() {
    let group = ShareGroup::new(PREFIX, "rewind");
    let (topic, shared) = (&group.topic, &group.shared);

    let mut a = group.connect("", false, "A");
    a.subscribe_all(&[topic, shared]);
    let mut b = group.member("b", "B");
    let mut publisher = group.publisher();

    publisher.publish_qos1(topic, "m1", 1);
    for _ in 0..2 {
        let (_, payload, pkid) = a.next_publish("A, m1 on plain `t` and through g");
        assert_eq!(payload, "m1");
        a.puback(pkid);
    }
    publisher.publish_qos1(topic, "m2", 2);
    let (_, payload, pkid) = b.next_publish("B, m2 through g");
    assert_eq!(payload, "m2");
    b.puback(pkid);
    let (_, payload, _) = a.next_publish("A, m2 on plain `t`, held");
    assert_eq!(payload, "m2");

    b.unsubscribe(shared);
    // the router has A's disconnection before the socket closes, so before C's connection
    a.disconnect();
    let mut c = group.member("c", "C");
    let mut got = Vec::new();
    for (n, payload) in ["m3", "m4"].into_iter().enumerate() {
        publisher.publish_qos1(topic, payload, 3 + u16::try_from(n).unwrap());
        let (_, p, pkid) = c.next_publish("C, alone in the recreated g");
        c.puback(pkid);
        got.push(p);
    }
    assert_eq!(got, ["m3", "m4"], "C, alone in the recreated `{shared}`");

    let _a = group.connect("", false, "A, back");
    publisher.publish_qos1(topic, "end1", 5);
    publisher.publish_qos1(topic, "end2", 6);
    let mut after = Vec::new();
    while !after.iter().any(|p| p == "end1" || p == "end2") {
        match first_publish_by(&mut [&mut c], T) {
            Some((_, payload)) => after.push(payload),
            None => panic!("C got {after:?}, neither end1 nor end2, within {T:?}"),
        }
    }
    assert!(
        !after.iter().any(|p| p == "m2" || p == "m3" || p == "m4"),
        "C got {after:?} after A came back to `{shared}` (recreated meanwhile), holding \
         only m2 of plain `{topic}`: g read again from m2"
    );
}
