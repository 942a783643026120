//! The embedded broker (`MQTT_BROKER_URL=embedded`, rumqttd) survives a client that
//! used to kill it: a persistent session (clean session off) subscribed to a shared
//! subscription (`$share/g/...`) that goes away while holding a QoS 1 message it has
//! not acknowledged. rumqttd 0.20.0's router panicked on that disconnect ("group must
//! exists", src/router/routing.rs): its thread died, no client could connect any more and
//! the app's client reconnected for ever. Our rumqttd (vendor/rumqttd, PATCHED.md) saves
//! the session instead; the same client gets its message again when it comes back
//! (without subscribing again: a new SUBSCRIBE recreates the group at the end of the
//! log, see PATCHED.md), and the app's client connects, subscribes and receives.
//!
//! A process of its own (this test binary): the embedded broker is one per process.

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{encode_publish, read_packet, unique, Recorder};
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

// ---- a client speaking MQTT 3.1.1 over a plain socket ------------------------------

/// A connection that acknowledges nothing unless told to.
struct Raw {
    stream: TcpStream,
}

impl Raw {
    /// Connects as `client_id` (keep-alive 60 s: rumqttd refuses 0) and returns the
    /// connection and the CONNACK's session-present flag; panics, saying `what`, if the
    /// broker does not accept it within [`T`].
    fn connect(addr: SocketAddr, client_id: &str, clean_session: bool, what: &str) -> (Raw, bool) {
        let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{what}: {e}"));
        stream.set_read_timeout(Some(T)).unwrap();
        let mut body = Vec::new();
        put_str(&mut body, b"MQTT");
        body.extend_from_slice(&[4, if clean_session { 0x02 } else { 0x00 }, 0, 60]);
        put_str(&mut body, client_id.as_bytes());
        let mut packet = vec![0x10, u8::try_from(body.len()).unwrap()];
        packet.extend_from_slice(&body);
        stream.write_all(&packet).unwrap();
        let connack = read_packet(&mut stream)
            .unwrap_or_else(|e| panic!("{what}: no CONNACK from the embedded broker: {e}"));
        assert_eq!(connack.len(), 4, "{what}: {connack:?}");
        assert_eq!(
            (connack[0], connack[3]),
            (0x20, 0),
            "{what}: refused: {connack:?}"
        );
        (Raw { stream }, connack[2] & 1 == 1)
    }

    /// Subscribes to `filter` at QoS 1 and waits for the SUBACK granting it.
    fn subscribe(&mut self, filter: &str) {
        let mut body = vec![0, 1]; // packet identifier 1
        put_str(&mut body, filter.as_bytes());
        body.push(1);
        let mut packet = vec![0x82, u8::try_from(body.len()).unwrap()];
        packet.extend_from_slice(&body);
        self.stream.write_all(&packet).unwrap();
        let suback = read_packet(&mut self.stream).expect("SUBACK");
        assert_eq!(suback, vec![0x90, 3, 0, 1, 1], "granted QoS 1");
    }

    fn publish_qos1(&mut self, topic: &str, payload: &str, id: u16) {
        let mut packet = Vec::new();
        encode_publish(&mut packet, topic, payload.as_bytes(), 1, id, false);
        self.stream.write_all(&packet).unwrap();
    }

    /// The next PUBLISH this connection receives, as (topic, payload, packet identifier);
    /// other packets (the PUBACK of its own publish) are skipped.
    fn next_publish(&mut self, what: &str) -> (String, String, u16) {
        loop {
            let p = read_packet(&mut self.stream)
                .unwrap_or_else(|e| panic!("{what}: no PUBLISH from the embedded broker: {e}"));
            if p[0] >> 4 != 3 {
                continue;
            }
            assert_eq!(p[0] & 0x06, 0x02, "{what}: a QoS 1 PUBLISH: {p:?}");
            let header = 2 + p[1..].iter().position(|b| b & 0x80 == 0).unwrap();
            let body = &p[header..];
            let len = usize::from(u16::from_be_bytes([body[0], body[1]]));
            let topic = String::from_utf8(body[2..2 + len].to_vec()).unwrap();
            let id = u16::from_be_bytes([body[2 + len], body[3 + len]]);
            let payload = String::from_utf8(body[4 + len..].to_vec()).unwrap();
            return (topic, payload, id);
        }
    }

    fn puback(&mut self, id: u16) {
        let [hi, lo] = id.to_be_bytes();
        self.stream.write_all(&[0x40, 2, hi, lo]).unwrap();
    }

    /// Goes away without a DISCONNECT, as a killed process does.
    fn vanish(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Sends DISCONNECT and waits for the broker to close the socket.
    fn disconnect(mut self) {
        self.stream.write_all(&[0xE0, 0]).unwrap();
        let mut rest = Vec::new();
        let _ = self.stream.read_to_end(&mut rest);
    }
}

fn put_str(buf: &mut Vec<u8>, s: &[u8]) {
    buf.extend_from_slice(&u16::try_from(s.len()).unwrap().to_be_bytes());
    buf.extend_from_slice(s);
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
    let (mut first, _) = Raw::connect(addr, &id, false, "the shared subscriber");
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
        Raw::connect(addr, &id, false, "the shared subscriber reconnecting");
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
