//! Shared subscriptions (`$share/<group>/<filter>`) on the embedded broker
//! (`MQTT_BROKER_URL=embedded`, rumqttd): how the router hands a group's messages out
//! among its members. rumqttd 0.20.0 kept a member whose turn it was not, and that had not
//! read all of the log, scheduled without reading (its router loop spun while the
//! member whose turn it was could not take a message), gave handed-back messages (patch 11)
//! to a QoS 0 member as readily as to one that acknowledges, and sent a message twice when a
//! member's outgoing buffer filled up on it. Ours (vendor/rumqttd, PATCHED.md, 13 to 15)
//! parks the member until its turn and wakes it when its turn comes (a read moved the
//! turn, or the turn's member left: UNSUBSCRIBE, disconnection), prefers a QoS 1 or 2
//! member with room for a handed-back message, and moves the group on past a message it
//! gave before telling the member's link to drain. And (16) a connection whose inflight
//! window is full, as the members' here are, still gets its acks (UNSUBACK, PINGRESP, ...).
//!
//! A process of its own (this test binary): the embedded broker is one per process, so
//! its tests run one at a time (`SERIAL`): one of them measures the router's CPU time.

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use flask_mqtt_tests::{
    fill_window, first_publish_by, router_cpu_while_idle, unique, ShareGroup, SocketClient,
};

const T: Duration = Duration::from_secs(20);

/// Topics of this binary start with this.
const PREFIX: &str = "embedded-fairness";

/// One test at a time: they share the process's one embedded broker, whose router's CPU
/// time one of them measures.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Y (`group`'s first member: its turn first; also on the plain `<topic>/fill`), Z (its
/// second) and a publisher; and `fill`.
fn y_and_z(group: &ShareGroup) -> (SocketClient, SocketClient, SocketClient, String) {
    let fill = group.below("fill");
    let mut y = group.connect("", true, "Y");
    y.subscribe_all(&[&group.shared, &fill]);
    let z = group.member("z", "Z");
    (y, z, group.publisher(), fill)
}

/// Y and Z in one group (Y's turn first), Y also on a plain filter. Y's inflight window is
/// full (it acknowledges none of 100 messages of the plain filter) when its turn comes
/// again, and m2 and m3 come to the group: Y cannot take m2, and Z, whose turn it is not,
/// waits without the router spinning; once Y acknowledges one message it gets m2 and the
/// turn moves to Z, which gets m3 without another message to wake it. rumqttd answered
/// Z "skip, not caught up" at every router iteration without parking it: the router loop
/// spun at full CPU for as long as Y's window stayed full.
#[test]
fn a_member_waiting_for_its_turn_does_not_spin_the_router_and_gets_its_turn() {
    let _serial = serial();
    let group = ShareGroup::new(PREFIX, "spin");
    let (topic, shared) = (&group.topic, &group.shared);
    let (mut y, mut z, mut publisher, fill) = y_and_z(&group);

    // round robin Y, Z: both acknowledge theirs
    publisher.publish_qos1(topic, "m0", 1);
    let (_, payload, pkid) = y.next_publish("Y, the group's first turn");
    assert_eq!(payload, "m0");
    y.puback(pkid);
    publisher.publish_qos1(topic, "m1", 2);
    let (_, payload, pkid) = z.next_publish("Z, the group's second turn");
    assert_eq!(payload, "m1");
    z.puback(pkid);
    // Y's turn again; its window (100 in flight) full of `fill`'s messages
    let oldest = fill_window(&mut publisher, &mut y, &fill);
    publisher.publish_qos1(topic, "m2", 3);
    publisher.publish_qos1(topic, "m3", 4);

    let seconds = router_cpu_while_idle();
    assert!(
        seconds < 0.1,
        "Y's window full at its turn in `{shared}`, m2 and m3 waiting: the router used \
         {seconds:.2} s of CPU per second while no client did anything"
    );

    // rumqttd takes acknowledgements in order only
    y.puback(oldest);
    let (_, payload, _) = y.next_publish("Y, with room again");
    assert_eq!(payload, "m2", "Y's first message once it has room");
    let got = first_publish_by(&mut [&mut z], T).map(|(_, p)| p);
    assert_eq!(
        got.as_deref(),
        Some("m3"),
        "Z, whose turn came when Y took m2 (within {T:?})"
    );
}

/// X (QoS 1), Q (QoS 1) and P (QoS 0) in one group, joined in that order; X holds m1 and
/// unsubscribes: m1 is handed back, P's turn comes, and P and Q are woken in that order
/// (X's place in the log's waiters goes to the last one parked, P). P's turn comes because
/// of how `SharedGroup::remove_client` moves the turn (vendor/rumqttd's `shared_subs.rs`):
/// X's giving m1 moved the group's index to 1 (Q), and X's leaving keeps the index, taken
/// modulo the members left (`current_client_index %= len`): 1 of [Q, P], P. Q, which acknowledges
/// and has room, gets m1; P's first message is the next, m2. Patch 11 gave a handed-back
/// message to the first member that read with room, and a QoS 0 member has no inflight
/// window, so P took m1, at QoS 0: at most once.
#[test]
fn a_handed_back_message_goes_to_a_member_that_acknowledges_before_a_qos0_one() {
    let _serial = serial();
    let group = ShareGroup::new(PREFIX, "qos0");
    let (topic, shared) = (&group.topic, &group.shared);

    let mut x = group.member("", "X");
    let mut q = group.member("q", "Q");
    let mut p = group.connect("p", true, "P");
    p.subscribe_at(shared, 0);
    let mut publisher = group.publisher();

    publisher.publish_qos1(topic, "m1", 1);
    let (_, payload, _) = x.next_publish("X, the group's first turn");
    assert_eq!(payload, "m1");
    x.unsubscribe(shared);
    publisher.publish_qos1(topic, "m2", 2);

    let (_, q_first, _, _) = q.next_publish_any_qos("Q, a QoS 1 member with room");
    let (_, p_first, p_qos, _) = p.next_publish_any_qos("P, the QoS 0 member");
    assert_eq!(
        (q_first.as_str(), p_first.as_str(), p_qos),
        ("m1", "m2", 0),
        "(Q's first message, P's first message, its QoS) after X left `{shared}` holding m1, \
         then m2 came"
    );
}

/// Y alone in a group at QoS 0, reading nothing while 2000 messages of 4000 bytes come (its
/// socket's buffers fill up, then the 200 notifications its link's buffer takes): once Y
/// reads, it gets every message once. rumqttd returned "buffer full" before moving the
/// group's cursor past the message it had just given, so Y got that message again when its
/// link had drained the buffer (a QoS 2 message twice, a QoS 0 one twice).
///
/// The messages (8 MB) fit in what the embedded broker keeps of a filter's log (4
/// segments of 4 MiB), and are more than the kernel's socket buffers hold with Linux's
/// defaults plus twice the link's buffer: the broker's send buffer grows to `tcp_wmem`'s
/// maximum (4 MiB), and Y's receive buffer stays near `tcp_rmem`'s default (128 KiB)
/// whatever its maximum (6 MiB by default, more on some machines) because Y never reads
/// (Linux grows a receive buffer as the application reads from it).
#[test]
fn a_member_whose_buffer_fills_up_gets_each_message_once() {
    const COUNT: usize = 2000;
    let _serial = serial();
    let group = ShareGroup::new(PREFIX, "full");
    let (topic, shared) = (&group.topic, &group.shared);

    let mut y = group.connect("", true, "Y");
    y.subscribe_at(shared, 0);
    let mut publisher = group.publisher();
    let padding = "x".repeat(4000);
    for n in 0..COUNT {
        publisher.publish_qos0(topic, &format!("{n}:{padding}"));
    }
    publisher.publish_qos0(topic, "end");

    let mut times = vec![0u32; COUNT];
    loop {
        let (_, payload, _, _) = y.next_publish_any_qos("Y, alone in the group");
        if payload == "end" {
            break;
        }
        let (n, _) = payload.split_once(':').unwrap();
        times[n.parse::<usize>().unwrap()] += 1;
    }
    let twice: Vec<usize> = (0..COUNT).filter(|&n| times[n] > 1).collect();
    let missing: Vec<usize> = (0..COUNT).filter(|&n| times[n] == 0).collect();
    assert!(
        twice.is_empty() && missing.is_empty(),
        "Y, alone in `{shared}`, got messages {twice:?} more than once and missed {missing:?}"
    );
}

/// Y (its turn, its inflight window full of a plain filter's messages) and Z in one group;
/// m2 comes, which Y cannot take and Z must not (not its turn); then Y leaves the group
/// (`how`): the turn moves to Z, which must be woken, and gets m2. Without the wake at the
/// leave, Z stayed parked until the group's next message.
fn the_turns_member_with_a_full_window_leaves(how: &str) {
    let _serial = serial();
    let group = ShareGroup::new(PREFIX, &format!("leave-{how}"));
    let (topic, shared) = (&group.topic, &group.shared);
    let (mut y, mut z, mut publisher, fill) = y_and_z(&group);
    // Y's turn first; its window (100 in flight) full of `fill`'s messages
    fill_window(&mut publisher, &mut y, &fill);
    publisher.publish_qos1(topic, "m2", 3);
    assert_eq!(
        first_publish_by(&mut [&mut z], Duration::from_millis(500)),
        None,
        "Z, whose turn it is not, while Y's window is full with m2 waiting"
    );

    match how {
        "unsubscribe" => y.unsubscribe_nowait(shared),
        "vanish" => y.vanish(),
        "disconnect" => y.disconnect(),
        _ => unreachable!("{how}"),
    }
    let got = first_publish_by(&mut [&mut z], T).map(|(_, p)| p);
    assert_eq!(
        got.as_deref(),
        Some("m2"),
        "Z, whose turn came when Y left `{shared}` ({how}) with m2 waiting (within {T:?})"
    );
}

#[test]
fn the_turns_member_with_a_full_window_unsubscribes_and_the_next_member_is_woken() {
    the_turns_member_with_a_full_window_leaves("unsubscribe");
}

#[test]
fn the_turns_member_with_a_full_window_vanishes_and_the_next_member_is_woken() {
    the_turns_member_with_a_full_window_leaves("vanish");
}

#[test]
fn the_turns_member_with_a_full_window_disconnects_and_the_next_member_is_woken() {
    the_turns_member_with_a_full_window_leaves("disconnect");
}

/// Z (a kept session) parked until its turn, Y's window full at its turn with m2 and m3
/// waiting; Z vanishes and comes back (no new SUBSCRIBE: its session keeps the group) and
/// gets nothing; Y acknowledges one message and gets m2, and Z, back in the group, gets m3
/// at its turn.
#[test]
fn a_parked_member_with_a_kept_session_that_comes_back_gets_its_turn() {
    let _serial = serial();
    let group = ShareGroup::new(PREFIX, "kept");
    let (topic, shared) = (&group.topic, &group.shared);
    let fill = group.below("fill");
    // Z's id twice: its session is kept for its second connection.
    let z_id = unique(&format!("{}-z", group.id));

    let mut y = group.connect("", true, "Y");
    y.subscribe_all(&[shared, &fill]);
    let (mut z, _) = SocketClient::connect(group.addr, &z_id, false, "Z");
    z.subscribe(shared);
    let mut publisher = group.publisher();
    let oldest = fill_window(&mut publisher, &mut y, &fill);
    publisher.publish_qos1(topic, "m2", 3);
    publisher.publish_qos1(topic, "m3", 4);
    assert_eq!(
        first_publish_by(&mut [&mut z], Duration::from_millis(300)),
        None,
        "Z, whose turn it is not, while Y's window is full"
    );

    z.vanish();
    let (mut z, present) = SocketClient::connect(group.addr, &z_id, false, "Z again");
    assert!(present, "Z's session kept");
    assert_eq!(
        first_publish_by(&mut [&mut z], Duration::from_millis(300)),
        None,
        "Z, back, whose turn it still is not"
    );
    y.puback(oldest);
    let (_, payload, _) = y.next_publish("Y, with room again");
    assert_eq!(payload, "m2", "Y's first message once it has room");
    let got = first_publish_by(&mut [&mut z], T).map(|(_, p)| p);
    assert_eq!(
        got.as_deref(),
        Some("m3"),
        "Z, back in `{shared}`, whose turn came when Y took m2 (within {T:?})"
    );
}

/// A connection whose inflight window is full (100 unacknowledged messages of a plain
/// filter, and one more waiting) still gets the answers to what it sends without
/// acknowledging anything: the UNSUBACK, the PINGRESP, the PUBACK of its own QoS 1 publish
/// and the SUBACK. rumqttd scheduled a connection for its acks only when paused for having
/// read all of its logs, not when paused for a full window: the answers waited for the
/// client's next acknowledgement, for ever for a client that waits for them first (an app
/// whose handler publishes at QoS 1 and waits for the PUBACK before it returns, and so
/// before its message is acknowledged; a keep-alive ping).
#[test]
fn a_connection_with_a_full_window_gets_its_acks() {
    let _serial = serial();
    let group = ShareGroup::new(PREFIX, "acks");
    let fill = group.below("fill");
    let other = group.below("other");

    let mut y = group.connect("", true, "Y");
    y.subscribe_all(&[&fill, &other]);
    let mut publisher = group.publisher();
    fill_window(&mut publisher, &mut y, &fill);
    // one more, which Y's window has no room for: the router pauses Y for a full window
    // (with none waiting, Y would be paused for having read all, which acks did wake)
    publisher.publish_qos1(&fill, "f100", 110);
    // its PUBACK (after f0 to f99's) comes once the router has handled it
    loop {
        let p = publisher.try_next_non_publish(T);
        assert!(
            p.is_some(),
            "the PUBACK of f100 to the publisher (within {T:?})"
        );
        if p.as_deref() == Some(&[0x40, 2, 0, 110][..]) {
            break;
        }
    }
    assert_eq!(
        y.try_next_publish(Duration::from_millis(300)),
        None,
        "Y, whose window is full"
    );

    let within = Duration::from_secs(5);
    y.unsubscribe_nowait(&other);
    assert_eq!(
        y.try_next_non_publish(within),
        Some(vec![0xB0, 2, 0, 2]),
        "the UNSUBACK of `{other}` to Y, whose window is full (within {within:?})"
    );
    y.ping_nowait();
    assert_eq!(
        y.try_next_non_publish(within),
        Some(vec![0xD0, 0]),
        "the PINGRESP to Y, whose window is full (within {within:?})"
    );
    y.publish_qos1(&group.below("own"), "own", 7);
    assert_eq!(
        y.try_next_non_publish(within),
        Some(vec![0x40, 2, 0, 7]),
        "the PUBACK of Y's own publish, its window full (within {within:?})"
    );
    // Waits for the SUBACK.
    y.subscribe(&other);
    // The acks' wake sent acks only: nothing past Y's full window (a PUBLISH read while
    // waiting for them is kept by the harness and would show here).
    assert_eq!(
        y.try_next_publish(Duration::from_millis(500)).map(|p| p.1),
        None,
        "a PUBLISH past Y's full window after the acks"
    );
}
