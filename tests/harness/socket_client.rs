//! [`SocketClient`]: an MQTT 3.1.1 client written by hand over a plain socket, that
//! acknowledges nothing unless told to: for the embedded broker's tests
//! (`tests/embedded_shared_*.rs`), which need a session to hold a message unacknowledged,
//! to vanish without a DISCONNECT, or to see exactly which PUBLISH comes first.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::naming::unique;
use crate::packet::{encode_publish, put_header, put_str, read_packet};

/// How long a [`SocketClient`] waits for the broker's answer (CONNACK, SUBACK, UNSUBACK,
/// a PUBLISH) before its step panics.
pub const SOCKET_CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

/// A connection that acknowledges nothing unless told to.
pub struct SocketClient {
    stream: TcpStream,
    /// PUBLISHes read while waiting for another packet (a SUBACK), in order.
    early: VecDeque<Vec<u8>>,
}

impl SocketClient {
    /// Connects as `client_id` (keep-alive 60 s: rumqttd refuses 0) and returns the
    /// connection and the CONNACK's session-present flag; panics, saying `what`, if the
    /// broker does not accept it within [`SOCKET_CLIENT_TIMEOUT`].
    pub fn connect(
        addr: SocketAddr,
        client_id: &str,
        clean_session: bool,
        what: &str,
    ) -> (SocketClient, bool) {
        let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{what}: {e}"));
        stream
            .set_read_timeout(Some(SOCKET_CLIENT_TIMEOUT))
            .unwrap();
        let mut body = Vec::new();
        put_str(&mut body, b"MQTT");
        body.extend_from_slice(&[4, if clean_session { 0x02 } else { 0x00 }, 0, 60]);
        put_str(&mut body, client_id.as_bytes());
        let mut packet = Vec::new();
        put_header(&mut packet, 0x10, body.len());
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
        (
            SocketClient {
                stream,
                early: VecDeque::new(),
            },
            connack[2] & 1 == 1,
        )
    }

    /// Subscribes to `filter` at QoS 1 and waits for the SUBACK granting it; PUBLISHes
    /// that come first are kept for [`SocketClient::next_publish`].
    pub fn subscribe(&mut self, filter: &str) {
        self.subscribe_all(&[filter]);
    }

    /// Subscribes to `filters` at QoS 1 in one SUBSCRIBE and waits for the SUBACK
    /// granting them all; PUBLISHes that come first are kept for
    /// [`SocketClient::next_publish`].
    pub fn subscribe_all(&mut self, filters: &[&str]) {
        self.subscribe_all_at(filters, 1);
    }

    /// Subscribes to `filter` at `qos` and waits for the SUBACK granting it; PUBLISHes
    /// that come first are kept for [`SocketClient::next_publish`] (which takes QoS 1
    /// ones only: a QoS 0 subscription's messages are for a connection that reads none).
    pub fn subscribe_at(&mut self, filter: &str, qos: u8) {
        self.subscribe_all_at(&[filter], qos);
    }

    fn subscribe_all_at(&mut self, filters: &[&str], qos: u8) {
        let mut body = vec![0, 1]; // packet identifier 1
        for filter in filters {
            put_str(&mut body, filter.as_bytes());
            body.push(qos);
        }
        let mut packet = Vec::new();
        put_header(&mut packet, 0x82, body.len());
        packet.extend_from_slice(&body);
        self.stream.write_all(&packet).unwrap();
        let mut suback = vec![0x90, u8::try_from(2 + filters.len()).unwrap(), 0, 1];
        suback.extend(filters.iter().map(|_| qos));
        let p = self.next_non_publish("SUBACK");
        assert_eq!(p, suback, "granted QoS {qos} for {filters:?}");
    }

    /// Unsubscribes from `filter` and waits for the UNSUBACK; PUBLISHes that come first
    /// are kept for [`SocketClient::next_publish`].
    pub fn unsubscribe(&mut self, filter: &str) {
        self.unsubscribe_nowait(filter);
        let p = self.next_non_publish("UNSUBACK");
        assert_eq!(p, [0xB0, 2, 0, 2], "the UNSUBACK of {filter:?}");
    }

    /// Unsubscribes from `filter` (packet identifier 2) without waiting for the UNSUBACK
    /// (see [`SocketClient::try_next_non_publish`]).
    pub fn unsubscribe_nowait(&mut self, filter: &str) {
        let mut body = vec![0, 2]; // packet identifier 2
        put_str(&mut body, filter.as_bytes());
        let mut packet = Vec::new();
        put_header(&mut packet, 0xA2, body.len());
        packet.extend_from_slice(&body);
        self.stream.write_all(&packet).unwrap();
    }

    /// Sends PINGREQ without waiting for the PINGRESP.
    pub fn ping_nowait(&mut self) {
        self.stream.write_all(&[0xC0, 0]).unwrap();
    }

    /// The next packet within `within` that is not a PUBLISH (those are kept for
    /// [`SocketClient::next_publish`]), a PUBACK of the client's own publishes included;
    /// `None` if none came. The read timeout is [`SOCKET_CLIENT_TIMEOUT`] again after.
    pub fn try_next_non_publish(&mut self, within: Duration) -> Option<Vec<u8>> {
        self.try_next_where(within, |p| p[0] >> 4 != 3)
    }

    /// Publishes `payload` to `topic` at QoS 1 (packet identifier 3) and unsubscribes from
    /// `filter` in one write, so that the broker reads both at once, then waits for the
    /// UNSUBACK.
    pub fn publish_and_unsubscribe(&mut self, topic: &str, payload: &str, filter: &str) {
        let mut packets = Vec::new();
        encode_publish(&mut packets, topic, payload.as_bytes(), 1, 3, false);
        let mut body = vec![0, 2]; // packet identifier 2
        put_str(&mut body, filter.as_bytes());
        put_header(&mut packets, 0xA2, body.len());
        packets.extend_from_slice(&body);
        self.stream.write_all(&packets).unwrap();
        let p = self.next_non_publish("UNSUBACK");
        assert_eq!(p, [0xB0, 2, 0, 2], "the UNSUBACK of {filter:?}");
    }

    /// The next packet that is not a PUBLISH (those are kept for
    /// [`SocketClient::next_publish`]), nor a PUBACK of the client's own publishes.
    fn next_non_publish(&mut self, what: &str) -> Vec<u8> {
        loop {
            let p = read_packet(&mut self.stream).unwrap_or_else(|e| panic!("no {what}: {e}"));
            match p[0] >> 4 {
                3 => self.early.push_back(p),
                4 => {}
                _ => return p,
            }
        }
    }

    /// Publishes `payload` to `topic` at QoS 1, packet identifier `id`.
    pub fn publish_qos1(&mut self, topic: &str, payload: &str, id: u16) {
        let mut packet = Vec::new();
        encode_publish(&mut packet, topic, payload.as_bytes(), 1, id, false);
        self.stream.write_all(&packet).unwrap();
    }

    /// The next PUBLISH this connection receives, as (topic, payload, packet identifier),
    /// not acknowledged; other packets (the PUBACK of its own publish) are skipped.
    pub fn next_publish(&mut self, what: &str) -> (String, String, u16) {
        let p = self.next_publish_packet(what);
        assert_eq!(p[0] & 0x06, 0x02, "{what}: a QoS 1 PUBLISH: {p:?}");
        parse_publish(&p)
    }

    /// Publishes `payload` to `topic` at QoS 0.
    pub fn publish_qos0(&mut self, topic: &str, payload: &str) {
        let mut packet = Vec::new();
        encode_publish(&mut packet, topic, payload.as_bytes(), 0, 0, false);
        self.stream.write_all(&packet).unwrap();
    }

    /// The next PUBLISH this connection receives, of any QoS, as (topic, payload, QoS,
    /// packet identifier if it has one), not acknowledged; other packets are skipped.
    pub fn next_publish_any_qos(&mut self, what: &str) -> (String, String, u8, Option<u16>) {
        parse_publish_any_qos(&self.next_publish_packet(what))
    }

    /// The next PUBLISH packet this connection receives, those kept earlier first; other
    /// packets are skipped. Panics, saying `what`, if none comes within
    /// [`SOCKET_CLIENT_TIMEOUT`].
    fn next_publish_packet(&mut self, what: &str) -> Vec<u8> {
        loop {
            let p = match self.early.pop_front() {
                Some(p) => p,
                None => read_packet(&mut self.stream).unwrap_or_else(|e| {
                    panic!(
                        "{what}: no PUBLISH from the embedded broker within \
                         {SOCKET_CLIENT_TIMEOUT:?}: {e}"
                    )
                }),
            };
            if p[0] >> 4 == 3 {
                return p;
            }
        }
    }

    /// Acknowledges the QoS 1 PUBLISH `id`.
    pub fn puback(&mut self, id: u16) {
        let [hi, lo] = id.to_be_bytes();
        self.stream.write_all(&[0x40, 2, hi, lo]).unwrap();
    }

    /// The next QoS 1 PUBLISH within `within`, as (topic, payload, packet identifier),
    /// not acknowledged; other packets are skipped; `None` if none came. The read timeout
    /// is [`SOCKET_CLIENT_TIMEOUT`] again after.
    pub fn try_next_publish(&mut self, within: Duration) -> Option<(String, String, u16)> {
        self.try_next_where(within, |p| p[0] >> 4 == 3)
            .map(|p| parse_publish(&p))
    }

    /// The next packet within `within` that `wanted` takes, the PUBLISHes kept earlier
    /// first; `None` if none came. A PUBLISH it does not take is kept (for
    /// [`SocketClient::next_publish`]), any other packet skipped. The read timeout is
    /// [`SOCKET_CLIENT_TIMEOUT`] again after.
    fn try_next_where(
        &mut self,
        within: Duration,
        wanted: impl Fn(&[u8]) -> bool,
    ) -> Option<Vec<u8>> {
        if let Some(at) = self.early.iter().position(|p| wanted(p)) {
            return self.early.remove(at);
        }
        let deadline = Instant::now() + within;
        let got = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break None;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            match read_packet(&mut self.stream) {
                Ok(p) if wanted(&p) => break Some(p),
                Ok(p) if p[0] >> 4 == 3 => self.early.push_back(p),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("the connection failed: {e}"),
            }
        };
        self.stream
            .set_read_timeout(Some(SOCKET_CLIENT_TIMEOUT))
            .unwrap();
        got
    }

    /// Goes away with a TCP reset, as a process SIGKILLed with unread bytes in its
    /// socket does (the kernel answers them with RST).
    pub fn reset(self) {
        crate::sys::reset_connection(self.stream).unwrap();
    }

    /// Goes away without a DISCONNECT, as a killed process does.
    pub fn vanish(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Sends DISCONNECT and waits for the broker to close the socket.
    pub fn disconnect(mut self) {
        self.stream.write_all(&[0xE0, 0]).unwrap();
        let mut rest = Vec::new();
        let _ = self.stream.read_to_end(&mut rest);
    }
}

/// The payload of the first PUBLISH any of `conns` receives within `within` (each read
/// waits a little, in turn), acknowledged; `None` if none came.
pub fn first_publish_of(conns: &mut [&mut SocketClient], within: Duration) -> Option<String> {
    first_publish_by(conns, within).map(|(_, payload)| payload)
}

/// [`first_publish_of`], with the index in `conns` of the connection that received it.
/// Each connection's read timeout is [`SOCKET_CLIENT_TIMEOUT`] again after.
pub fn first_publish_by(
    conns: &mut [&mut SocketClient],
    within: Duration,
) -> Option<(usize, String)> {
    let first = poll_for_publish(conns, within);
    for c in conns.iter_mut() {
        c.stream
            .set_read_timeout(Some(SOCKET_CLIENT_TIMEOUT))
            .unwrap();
    }
    first
}

/// [`first_publish_by`], leaving each connection's read timeout at 100 ms.
fn poll_for_publish(conns: &mut [&mut SocketClient], within: Duration) -> Option<(usize, String)> {
    let deadline = Instant::now() + within;
    for (i, c) in conns.iter_mut().enumerate() {
        if let Some(p) = c.early.pop_front() {
            let (_, payload, pkid) = parse_publish(&p);
            c.puback(pkid);
            return Some((i, payload));
        }
        c.stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
    }
    while Instant::now() < deadline {
        for (i, c) in conns.iter_mut().enumerate() {
            match read_packet(&mut c.stream) {
                Ok(p) if p[0] >> 4 == 3 => {
                    let (_, payload, pkid) = parse_publish(&p);
                    c.puback(pkid);
                    return Some((i, payload));
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("a member's connection failed: {e}"),
            }
        }
    }
    None
}

/// A QoS 1 PUBLISH's (topic, payload, packet identifier).
fn parse_publish(p: &[u8]) -> (String, String, u16) {
    let header = 2 + p[1..].iter().position(|b| b & 0x80 == 0).unwrap();
    let body = &p[header..];
    let len = usize::from(u16::from_be_bytes([body[0], body[1]]));
    let topic = String::from_utf8(body[2..2 + len].to_vec()).unwrap();
    let id = u16::from_be_bytes([body[2 + len], body[3 + len]]);
    let payload = String::from_utf8(body[4 + len..].to_vec()).unwrap();
    (topic, payload, id)
}

/// A PUBLISH's (topic, payload, QoS, packet identifier if QoS 1 or 2).
fn parse_publish_any_qos(p: &[u8]) -> (String, String, u8, Option<u16>) {
    let qos = (p[0] >> 1) & 0x03;
    let header = 2 + p[1..].iter().position(|b| b & 0x80 == 0).unwrap();
    let body = &p[header..];
    let len = usize::from(u16::from_be_bytes([body[0], body[1]]));
    let topic = String::from_utf8(body[2..2 + len].to_vec()).unwrap();
    let (id, rest) = if qos > 0 {
        let id = u16::from_be_bytes([body[2 + len], body[3 + len]]);
        (Some(id), &body[4 + len..])
    } else {
        (None, &body[2 + len..])
    };
    let payload = String::from_utf8(rest.to_vec()).unwrap();
    (topic, payload, qos, id)
}

/// A witness subscribes to `topic`, publishes a message to it and waits for it (the router
/// has woken every request waiting on `topic`), then publishes "control" to `control`;
/// returns the (topic, payload) of the messages `x` receives until that one, included.
pub fn after_a_message_to(
    addr: SocketAddr,
    topic: &str,
    control: &str,
    x: &mut SocketClient,
    what: &str,
) -> Vec<(String, String)> {
    let (mut witness, _) =
        SocketClient::connect(addr, &unique("embedded-witness"), true, "witness");
    witness.subscribe(topic);
    witness.publish_qos1(topic, "to the topic", 1);
    let (_, payload, pkid) = witness.next_publish("the witness");
    assert_eq!(payload, "to the topic");
    witness.puback(pkid);
    witness.publish_qos1(control, "control", 2);
    let mut got = Vec::new();
    loop {
        let (got_topic, payload, pkid) = x.next_publish(what);
        x.puback(pkid);
        let end = got_topic == control;
        got.push((got_topic, payload));
        if end {
            return got;
        }
    }
}
