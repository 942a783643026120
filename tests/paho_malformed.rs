//! A broker that sends a malformed PUBLISH costs the client that connection and nothing
//! else: MQTT requires the client to close it [MQTT-1.5.3-1], [MQTT-4.13.1-1]. The broker
//! here is a loopback server written for each test, as a broker that does not check, or
//! anyone on the path of a plain TCP connection, would send such packets (Mosquitto never
//! forwards them: `tests/bad_input.rs`).
//!
//! - Patch 10 (docs/paho-fork.md), a topic name that is not UTF-8 or holds U+0000:
//!   unpatched, Paho C handed the topic on, and the Rust client's message callback
//!   panicked on it (`str::from_utf8(..).unwrap()`, `CString::new(..).unwrap()`) inside an
//!   `extern "C"` function: the process aborted.
//! - Patch 11, MQTT 5 properties that run past their packet: unpatched, Paho C read them
//!   beyond the end of the packet's buffer (eclipse-paho/paho.mqtt.c#1703, #1679); a byte
//!   property cut off at the end made a message whose payload length was -1, and the Rust
//!   client's copy of it aborted the process.
//! - Patch 14, MQTT 5 string properties that are not UTF-8 or hold U+0000: unpatched,
//!   Paho C handed them on, and the Rust client took such a property for an absent one;
//!   a bad User Property ended the list there, so the ones after it (a `traceparent`,
//!   say) were dropped without a word.
//! - Patch 19, an MQTT 3.1.1 SUBACK with no return codes: unpatched, Paho C freed a
//!   pointer it had never set (the properties of a SUBACK, which MQTT 3.1.1 does not
//!   have), and glibc aborted the process (eclipse-paho/paho.mqtt.c#1692).
//!
//! The tests run side by side, their clients in one process, each destroy often the last
//! client: unpatched, a stop of Paho's threads could then free Paho's state under them
//! (patch 21, `tests/paho_clients_side_by_side.rs`), and this binary crashed with SIGSEGV
//! in about one run in ten.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use std::{env, thread};

use flask_mqtt_tests::paho_mqtt as paho;
use flask_mqtt_tests::{encode_publish, encode_publish_v5, read_packet, unique};

const T: Duration = Duration::from_secs(10);

/// Whether the client closed `stream` within `T` (it sends nothing more: no keep-alive is
/// due within it).
fn closed_by_client(stream: &mut TcpStream) -> bool {
    stream.set_read_timeout(Some(T)).unwrap();
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// A QoS 0 MQTT 5 PUBLISH to `topic` ending with `rest` (properties, payload).
fn publish_v5(topic: &str, rest: &[u8]) -> Vec<u8> {
    let mut buf = Vec::new();
    encode_publish_v5(&mut buf, topic, rest);
    buf
}

/// A loopback "broker" for two connections. The first: `connack`, `good`, then `bad`;
/// it reports whether the client then closed the connection. The second (the client
/// connects again): `connack` and `after`.
fn sending_server(
    connack: &'static [u8],
    good: Vec<u8>,
    bad: Vec<u8>,
    after: Vec<u8>,
) -> (u16, thread::JoinHandle<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(T)).unwrap();
        assert_eq!(
            read_packet(&mut stream).unwrap()[0] >> 4,
            1,
            "a CONNECT first"
        );
        stream.write_all(&[connack, &good, &bad].concat()).unwrap();
        let closed = closed_by_client(&mut stream);

        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(T)).unwrap();
        assert_eq!(
            read_packet(&mut stream).unwrap()[0] >> 4,
            1,
            "a CONNECT first"
        );
        stream.write_all(&[connack, &after].concat()).unwrap();
        // Until the client disconnects.
        closed_by_client(&mut stream);
        closed
    });
    (port, server)
}

/// What the client saw: a message (its topic, payload and payload format indicator), or
/// the connection lost.
#[derive(Debug, PartialEq)]
enum Seen {
    Message(String, String, Option<i32>),
    Lost,
}

fn message(topic: &str, payload: &str, format: Option<i32>) -> Seen {
    Seen::Message(topic.into(), payload.into(), format)
}

/// Connects a Paho client (MQTT `version`) to a server sending `good`, `bad`, and after
/// the reconnect `after`; checks that it delivered `good` as `want_good`, lost the
/// connection, connected again and delivered `after` as `want_after`, and that the
/// client, not the server, closed the first connection.
fn bad_packet_costs_the_connection(
    what: &str,
    version: u32,
    (good, want_good): (Vec<u8>, Seen),
    bad: Vec<u8>,
    (after, want_after): (Vec<u8>, Seen),
) {
    // CONNACK: session not present, accepted (and for MQTT 5, no properties).
    let connack: &'static [u8] = if version == paho::MQTT_VERSION_5 {
        &[0x20, 0x03, 0x00, 0x00, 0x00]
    } else {
        &[0x20, 0x02, 0x00, 0x00]
    };
    let (port, server) = sending_server(connack, good, bad, after);
    let cli = paho::CreateOptionsBuilder::new()
        .server_uri(format!("tcp://127.0.0.1:{port}"))
        .client_id(unique("malformed"))
        .mqtt_version(version)
        .persistence(paho::PersistenceType::None)
        .create_client()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let lost = tx.clone();
    cli.set_connection_lost_callback(move |_| lost.send(Seen::Lost).unwrap());
    cli.set_message_callback(move |_, msg| {
        if let Some(msg) = msg {
            let format = msg
                .properties()
                .get_int(paho::PropertyCode::PayloadFormatIndicator);
            let seen = message(msg.topic(), &msg.payload_str(), format);
            tx.send(seen).unwrap();
        }
    });
    let options = if version == paho::MQTT_VERSION_5 {
        paho::ConnectOptionsBuilder::new_v5()
    } else {
        paho::ConnectOptionsBuilder::new()
    }
    .connect_timeout(T)
    .keep_alive_interval(Duration::from_secs(60))
    .finalize();
    cli.connect(options.clone()).wait_for(T).unwrap();
    let next = |step: &str| {
        rx.recv_timeout(T)
            .unwrap_or_else(|e| panic!("{what}: waiting for {step}: {e}"))
    };
    assert_eq!(next("the good message"), want_good, "{what}");
    assert_eq!(next("the connection lost"), Seen::Lost, "{what}");

    cli.connect(options).wait_for(T).unwrap();
    assert_eq!(next("the message after"), want_after, "{what}");
    cli.disconnect(None).wait_for(T).unwrap();
    assert!(
        server.join().unwrap(),
        "{what}: the client closed the first connection"
    );
    assert!(rx.try_recv().is_err(), "{what}: nothing else");
}

/// The topic names a client must refuse: invalid UTF-8 (a stray byte, an overlong
/// encoding of `/`, a UTF-16 surrogate) and U+0000. A topic with a character outside
/// ASCII comes first, and is delivered.
#[test]
fn a_topic_name_that_is_not_utf8_closes_the_connection_and_the_client_goes_on() {
    let bad_topics: [&[u8]; 4] = [b"a\xffb", b"a\xc0\xafb", b"a/\xed\xa0\x80", b"a\0b"];
    for bad in bad_topics {
        let packet = |topic: &[u8], payload: &[u8]| {
            let mut buf = Vec::new();
            encode_publish(&mut buf, topic, payload, 0, 0, false);
            buf
        };
        bad_packet_costs_the_connection(
            &format!("{:?}", String::from_utf8_lossy(bad)),
            paho::MQTT_VERSION_3_1_1,
            (
                packet("häuser/1".as_bytes(), b"good"),
                message("häuser/1", "good", None),
            ),
            packet(bad, b"bad"),
            (packet(b"after", b"again"), message("after", "again", None)),
        );
    }
}

/// MQTT 5 PUBLISHes whose properties do not fit in the packet. A well-formed one with
/// properties comes first (Payload Format Indicator 1, Message Expiry Interval 60), and is
/// delivered with them.
#[test]
fn mqtt5_properties_that_run_past_the_packet_close_the_connection_and_the_client_goes_on() {
    let cases: [(&str, &[u8]); 6] = [
        // Properties Length 2: the Payload Format Indicator's identifier, and the
        // packet ends before its value byte.
        ("a byte property cut off", &[0x02, 0x01]),
        // The Properties Length itself cut off (a continuation bit on the last byte).
        ("the properties length cut off", &[0x80]),
        // Properties Length 127, three bytes follow.
        ("properties longer than the packet", &[0x7F, 0x01, 0x01]),
        // Properties Length 2, but the Message Expiry Interval in them takes 5 (the
        // packet goes on: the payload).
        (
            "a property longer than the properties",
            &[0x02, 0x02, 0x00, 0x00, 0x00, 0x3C, b'x'],
        ),
        // A Two Byte Integer (Topic Alias) with one byte left.
        ("a two-byte property cut off", &[0x02, 0x23, 0x00]),
        // A Variable Byte Integer (Subscription Identifier) whose last byte says more
        // follows.
        (
            "a variable byte integer property cut off",
            &[0x02, 0x0B, 0x80],
        ),
    ];
    for (what, rest) in cases {
        let good = [0x07, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x3C, b'o', b'k'];
        bad_packet_costs_the_connection(
            what,
            paho::MQTT_VERSION_5,
            (
                publish_v5("good/v5", &good),
                message("good/v5", "ok", Some(1)),
            ),
            publish_v5("bad/v5", rest),
            (
                publish_v5("after", &[0x00, b'a']),
                message("after", "a", None),
            ),
        );
    }
}

/// A String property `code` with `value`, or a User Property (`0x26`) `name` = `value`.
fn string_property(code: u8, value: &[u8]) -> Vec<u8> {
    let len = u16::try_from(value.len()).unwrap().to_be_bytes();
    [&[code][..], &len, value].concat()
}

fn user_property(name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut p = string_property(0x26, name);
    p.extend_from_slice(&string_property(0x26, value)[1..]);
    p
}

/// `properties` (under 128 bytes) with their length, then `payload`.
fn with_properties(properties: &[Vec<u8>], payload: &[u8]) -> Vec<u8> {
    let props = properties.concat();
    let len = u8::try_from(props.len()).unwrap();
    assert!(len < 128);
    [&[len][..], &props, payload].concat()
}

/// MQTT 5 PUBLISHes with a string property that is not UTF-8 or holds U+0000 (a User
/// Property's name or value, Content Type, Response Topic). A message whose properties
/// are outside ASCII but well-formed comes first, and is delivered.
#[test]
fn mqtt5_string_properties_that_are_not_utf8_close_the_connection_and_the_client_goes_on() {
    let cases: [(&str, Vec<u8>); 5] = [
        ("a user property's name", user_property(b"caf\xe9", b"x")),
        ("a user property's value", user_property(b"k", b"\xff")),
        (
            "U+0000 in a user property's value",
            user_property(b"k", b"a\0b"),
        ),
        (
            "a surrogate in the content type",
            string_property(0x03, b"text/\xed\xa0\x80"),
        ),
        (
            "U+0000 in the response topic",
            string_property(0x08, b"r/\0"),
        ),
    ];
    for (what, bad) in cases {
        let good = with_properties(
            &[
                vec![0x01, 0x01],
                user_property("häuser".as_bytes(), "grün".as_bytes()),
                string_property(0x03, "text/plain; ü".as_bytes()),
            ],
            b"ok",
        );
        let bad = with_properties(&[user_property(b"first", b"fine"), bad], b"bad");
        bad_packet_costs_the_connection(
            what,
            paho::MQTT_VERSION_5,
            (
                publish_v5("good/v5", &good),
                message("good/v5", "ok", Some(1)),
            ),
            publish_v5("bad/v5", &bad),
            (
                publish_v5("after", &[0x00, b'a']),
                message("after", "a", None),
            ),
        );
    }
}

/// Set in the child process of `a_suback_without_return_codes_...`: run the client there.
const SUBACK_CHILD: &str = "PAHO_MALFORMED_SUBACK_CHILD";

/// The packet identifier of the SUBSCRIBE `packet` (after its remaining length).
fn subscribe_id(packet: &[u8]) -> [u8; 2] {
    assert_eq!(packet[0], 0x82, "a SUBSCRIBE: {packet:?}");
    let header = 2 + packet[1..].iter().position(|b| b & 0x80 == 0).unwrap();
    [packet[header], packet[header + 1]]
}

/// A loopback "broker" for two connections. The first: a CONNACK, then to the SUBSCRIBE
/// a SUBACK with `suback_rest` after the packet identifier; it reports whether the
/// client then closed the connection. The second: a CONNACK and a SUBACK granting QoS 1.
fn suback_server(connack: &'static [u8], suback_rest: Vec<u8>) -> (u16, thread::JoinHandle<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let serve = |rest: &[u8]| {
            let (mut stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(T)).unwrap();
            assert_eq!(
                read_packet(&mut stream).unwrap()[0] >> 4,
                1,
                "a CONNECT first"
            );
            stream.write_all(connack).unwrap();
            let id = subscribe_id(&read_packet(&mut stream).unwrap());
            let len = u8::try_from(2 + rest.len()).unwrap();
            stream
                .write_all(&[&[0x90, len][..], &id, rest].concat())
                .unwrap();
            closed_by_client(&mut stream)
        };
        let closed = serve(&suback_rest);
        // Granted QoS 1 (MQTT 5: no properties, then the reason code).
        let granted: &[u8] = if connack.len() == 5 {
            &[0x00, 0x01]
        } else {
            &[0x01]
        };
        serve(granted);
        closed
    });
    (port, server)
}

/// In the child: a Paho client (MQTT `version`) subscribes, gets a SUBACK with no return
/// codes (`suback_rest`: what follows the packet identifier); the subscribe must fail, the
/// connection be lost, and the next connect's subscribe succeed.
fn subscribe_gets_an_empty_suback(version: u32, suback_rest: Vec<u8>) {
    let connack: &'static [u8] = if version == paho::MQTT_VERSION_5 {
        &[0x20, 0x03, 0x00, 0x00, 0x00]
    } else {
        &[0x20, 0x02, 0x00, 0x00]
    };
    let (port, server) = suback_server(connack, suback_rest);
    let cli = paho::CreateOptionsBuilder::new()
        .server_uri(format!("tcp://127.0.0.1:{port}"))
        .client_id(unique("empty-suback"))
        .mqtt_version(version)
        .persistence(paho::PersistenceType::None)
        .create_client()
        .unwrap();
    let (lost_tx, lost) = mpsc::channel();
    cli.set_connection_lost_callback(move |_| lost_tx.send(()).unwrap());
    let options = if version == paho::MQTT_VERSION_5 {
        paho::ConnectOptionsBuilder::new_v5()
    } else {
        paho::ConnectOptionsBuilder::new()
    }
    .connect_timeout(T)
    .keep_alive_interval(Duration::from_secs(60))
    .finalize();
    cli.connect(options.clone()).wait_for(T).unwrap();
    let refused = cli.subscribe("empty/suback", 1).wait_for(T);
    assert!(refused.is_err(), "the subscribe fails: {refused:?}");
    lost.recv_timeout(T).expect("the connection lost");

    cli.connect(options).wait_for(T).unwrap();
    let granted = cli.subscribe("empty/suback", 1).wait_for(T).unwrap();
    assert_eq!(granted.subscribe_response(), Some(1), "{granted:?}");
    cli.disconnect(None).wait_for(T).unwrap();
    assert!(
        server.join().unwrap(),
        "the client closed the first connection"
    );
}

/// A SUBACK with no return codes, which MQTT forbids (one per topic filter,
/// [MQTT-3.8.4-5]), closes the connection and the client goes on. In a child process
/// (this test binary again) with glibc filling what `malloc` returns (`MALLOC_PERTURB_`,
/// no thread cache so every allocation gets it), so a field Paho never set is not NULL
/// by chance; on MQTT 5 too (no properties and no reason codes).
#[test]
fn a_suback_without_return_codes_closes_the_connection_and_the_client_goes_on() {
    if env::var(SUBACK_CHILD).is_ok() {
        subscribe_gets_an_empty_suback(paho::MQTT_VERSION_3_1_1, Vec::new());
        subscribe_gets_an_empty_suback(paho::MQTT_VERSION_5, vec![0x00]);
        return;
    }
    let out = Command::new(env::current_exe().unwrap())
        .args([
            "a_suback_without_return_codes_closes_the_connection_and_the_client_goes_on",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SUBACK_CHILD, "1")
        .env("MALLOC_PERTURB_", "165")
        .env("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the child process failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
