//! MQTT packets written and read by hand, for the publishers that speak to the broker over
//! a plain socket instead of through Paho ([`SessionPublisher`](crate::SessionPublisher)
//! and the benchmark's feeder, `bench/src/feeder.rs`), the loopback servers that play a
//! broker in tests (`tests/paho_malformed.rs`) and the websocket proxy's framing. One
//! encoder and one decoder of the remaining length, so all send and cut the same bytes.

use std::io::{self, Read};

/// DISCONNECT.
pub const DISCONNECT: [u8; 2] = [0xE0, 0x00];

/// Appends a CONNECT for MQTT 3.1.1 with no keep-alive, no will and no credentials.
pub fn encode_connect(buf: &mut Vec<u8>, client_id: &str, clean_session: bool) {
    let mut body = Vec::with_capacity(12 + client_id.len());
    put_str(&mut body, b"MQTT");
    // Protocol level 4 (3.1.1), flags, keep-alive 0: the connections idle between runs.
    body.extend_from_slice(&[4, if clean_session { 0x02 } else { 0x00 }, 0, 0]);
    put_str(&mut body, client_id.as_bytes());
    put_header(buf, 0x10, body.len());
    buf.extend_from_slice(&body);
}

/// Appends a PUBLISH of `payload` to `topic` at `qos` (0, 1 or 2; not retained). A QoS 1
/// or 2 message carries the packet identifier `id`; `dup` marks a message sent again.
/// The topic is bytes, so that a test can send one a broker must refuse (invalid UTF-8).
pub fn encode_publish(
    buf: &mut Vec<u8>,
    topic: impl AsRef<[u8]>,
    payload: &[u8],
    qos: u8,
    id: u16,
    dup: bool,
) {
    let topic = topic.as_ref();
    let qos = qos.min(2);
    let id_len = if qos > 0 { 2 } else { 0 };
    let first = 0x30 | (qos << 1) | if dup { 0x08 } else { 0 };
    put_header(buf, first, 2 + topic.len() + id_len + payload.len());
    put_str(buf, topic);
    if qos > 0 {
        buf.extend_from_slice(&id.to_be_bytes());
    }
    buf.extend_from_slice(payload);
}

/// Appends a QoS 0 MQTT 5 PUBLISH to `topic` whose variable header ends with `rest`: the
/// properties (their length first) and then the payload, as given, so that a test can
/// send properties that are not well-formed.
pub fn encode_publish_v5(buf: &mut Vec<u8>, topic: &str, rest: &[u8]) {
    put_header(buf, 0x30, 2 + topic.len() + rest.len());
    put_str(buf, topic.as_bytes());
    buf.extend_from_slice(rest);
}

/// Reads one whole MQTT packet (fixed header included) from `stream`.
pub fn read_packet(stream: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut packet = Vec::with_capacity(64);
    let len = loop {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte)?;
        packet.push(byte[0]);
        if let Some(len) = packet_len(&packet).map_err(io::Error::other)? {
            break len;
        }
    };
    let header = packet.len();
    packet.resize(len, 0);
    stream.read_exact(&mut packet[header..])?;
    Ok(packet)
}

/// The length of the MQTT packet at the start of `buf` (fixed header byte,
/// 1-4 bytes of remaining length, then that many bytes), or `None` while the
/// remaining length is incomplete.
pub(crate) fn packet_len(buf: &[u8]) -> Result<Option<usize>, String> {
    let mut remaining = 0usize;
    for i in 1..=4 {
        let Some(&byte) = buf.get(i) else {
            return Ok(None);
        };
        remaining |= usize::from(byte & 0x7f) << (7 * (i - 1));
        if byte & 0x80 == 0 {
            return Ok(Some(1 + i + remaining));
        }
    }
    Err("the broker sent an MQTT remaining length longer than 4 bytes".to_owned())
}

/// Fixed header: packet type and flags, then the remaining length.
fn put_header(buf: &mut Vec<u8>, first: u8, mut len: usize) {
    buf.push(first);
    loop {
        let mut byte = u8::try_from(len % 128).unwrap_or(0);
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        buf.push(byte);
        if len == 0 {
            break;
        }
    }
}

/// A string (bytes, not checked for UTF-8) with its 16-bit length.
fn put_str(buf: &mut Vec<u8>, s: &[u8]) {
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&s[..usize::from(len)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_lengths() {
        assert_eq!(packet_len(&[]), Ok(None));
        assert_eq!(packet_len(&[0x20]), Ok(None));
        assert_eq!(packet_len(&[0x20, 0x02, 0, 0]), Ok(Some(4))); // CONNACK
        assert_eq!(packet_len(&[0xd0, 0x00]), Ok(Some(2))); // PINGRESP
        assert_eq!(packet_len(&[0x30, 0x80]), Ok(None));
        assert_eq!(packet_len(&[0x30, 0x80, 0x01]), Ok(Some(3 + 128)));
        assert_eq!(
            packet_len(&[0x30, 0xff, 0xff, 0xff, 0x7f]),
            Ok(Some(5 + 268_435_455))
        );
        assert!(packet_len(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01]).is_err());
    }

    #[test]
    fn packets_read_whole() {
        let mut buf = Vec::new();
        encode_publish_v5(&mut buf, "t", &[0x00, b'x']);
        assert_eq!(buf, [0x30, 0x05, 0, 1, b't', 0x00, b'x']);
        let mut long = Vec::new();
        encode_publish(&mut long, "a", &[7u8; 200], 0, 0, false);
        let mut stream = [buf.clone(), long.clone()].concat();
        let mut r = stream.as_slice();
        assert_eq!(read_packet(&mut r).unwrap(), buf);
        assert_eq!(read_packet(&mut r).unwrap(), long);
        assert!(read_packet(&mut r).is_err(), "nothing left");
        stream.truncate(3);
        assert!(read_packet(&mut stream.as_slice()).is_err(), "cut short");
    }

    #[test]
    fn remaining_length_encoding() {
        let mut buf = Vec::new();
        put_header(&mut buf, 0x32, 321);
        assert_eq!(buf, vec![0x32, 0xC1, 0x02]);
    }

    #[test]
    fn publish_packets() {
        let mut buf = Vec::new();
        encode_publish(&mut buf, "a/b", b"hi", 0, 7, false);
        assert_eq!(buf, [0x30, 7, 0, 3, b'a', b'/', b'b', b'h', b'i']);
        buf.clear();
        encode_publish(&mut buf, "a", b"x", 1, 0x0102, true);
        assert_eq!(buf, [0x3A, 6, 0, 1, b'a', 1, 2, b'x']);
    }

    #[test]
    fn connect_packet() {
        let mut buf = Vec::new();
        encode_connect(&mut buf, "id", false);
        assert_eq!(
            buf,
            [0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 4, 0, 0, 0, 0, 2, b'i', b'd']
        );
    }
}
