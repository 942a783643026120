//! A broker that sends a PUBLISH whose topic name is not well-formed UTF-8, or holds
//! U+0000, costs the client that connection and nothing else (docs/paho-fork.md, patch
//! 10): MQTT requires the client to close the connection [MQTT-1.5.3-1]. Unpatched, Paho C
//! handed the topic on, and the Rust client's message callback panicked on it
//! (`str::from_utf8(..).unwrap()`, `CString::new(..).unwrap()`) inside an `extern "C"`
//! function: the process aborted. Mosquitto never forwards such a topic
//! (`tests/bad_input.rs`), so the broker here is a loopback server written for the test,
//! as a broker that does not check, or anyone on the path of a plain TCP connection,
//! would send it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use flask_mqtt_tests::paho_mqtt as paho;
use flask_mqtt_tests::{encode_publish, unique};

const T: Duration = Duration::from_secs(10);

/// CONNACK: session not present, accepted.
const CONNACK: [u8; 4] = [0x20, 0x02, 0x00, 0x00];

/// Reads one whole MQTT packet (the client's CONNECT) from `stream`.
fn read_packet(stream: &mut TcpStream) -> Vec<u8> {
    let mut first = [0u8; 1];
    stream.read_exact(&mut first).unwrap();
    let (mut len, mut shift) = (0usize, 0);
    loop {
        let mut b = [0u8; 1];
        stream.read_exact(&mut b).unwrap();
        len |= usize::from(b[0] & 0x7F) << shift;
        shift += 7;
        if b[0] & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).unwrap();
    [&first[..], &body].concat()
}

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

/// A loopback "broker" for two connections. The first: CONNACK, a PUBLISH to a good topic
/// with a character outside ASCII, then one to `bad`; it reports whether the client then
/// closed the connection. The second (the client connects again): CONNACK and a PUBLISH
/// to `after`.
fn sending_server(bad: &'static [u8]) -> (u16, thread::JoinHandle<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(T)).unwrap();
        assert_eq!(read_packet(&mut stream)[0] >> 4, 1, "a CONNECT first");
        let mut out = CONNACK.to_vec();
        encode_publish(&mut out, "häuser/1", b"good", 0, 0, false);
        encode_publish(&mut out, bad, b"bad", 0, 0, false);
        stream.write_all(&out).unwrap();
        let closed = closed_by_client(&mut stream);

        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(T)).unwrap();
        assert_eq!(read_packet(&mut stream)[0] >> 4, 1, "a CONNECT first");
        let mut out = CONNACK.to_vec();
        encode_publish(&mut out, "after", b"again", 0, 0, false);
        stream.write_all(&out).unwrap();
        // Until the client disconnects.
        closed_by_client(&mut stream);
        closed
    });
    (port, server)
}

/// What the client saw: a message's topic, or the connection lost.
#[derive(Debug, PartialEq)]
enum Seen {
    Message(String),
    Lost,
}

/// The topic names a client must refuse: invalid UTF-8 (a stray byte, an overlong
/// encoding of `/`, a UTF-16 surrogate) and U+0000.
const BAD: [&[u8]; 4] = [b"a\xffb", b"a\xc0\xafb", b"a/\xed\xa0\x80", b"a\0b"];

#[test]
fn a_topic_name_that_is_not_utf8_closes_the_connection_and_the_client_goes_on() {
    for bad in BAD {
        let (port, server) = sending_server(bad);
        let cli = paho::CreateOptionsBuilder::new()
            .server_uri(format!("tcp://127.0.0.1:{port}"))
            .client_id(unique("bad-topic"))
            .persistence(paho::PersistenceType::None)
            .create_client()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let lost = tx.clone();
        cli.set_connection_lost_callback(move |_| lost.send(Seen::Lost).unwrap());
        cli.set_message_callback(move |_, msg| {
            if let Some(msg) = msg {
                tx.send(Seen::Message(msg.topic().to_owned())).unwrap();
            }
        });
        let options = paho::ConnectOptionsBuilder::new()
            .connect_timeout(T)
            .keep_alive_interval(Duration::from_secs(60))
            .finalize();
        cli.connect(options.clone()).wait_for(T).unwrap();
        let topic = String::from_utf8_lossy(bad);
        let next = || rx.recv_timeout(T).unwrap();
        assert_eq!(next(), Seen::Message("häuser/1".into()), "{topic:?}");
        assert_eq!(next(), Seen::Lost, "{topic:?}: the connection closed");

        cli.connect(options).wait_for(T).unwrap();
        assert_eq!(next(), Seen::Message("after".into()), "{topic:?}");
        cli.disconnect(None).wait_for(T).unwrap();
        assert!(
            server.join().unwrap(),
            "{topic:?}: the client closed the first connection"
        );
        assert!(rx.try_recv().is_err(), "{topic:?}: nothing else");
    }
}
