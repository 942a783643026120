//! MQTT packets written and read by hand, for the publishers that speak to the broker over
//! a plain socket instead of through Paho ([`SessionPublisher`](crate::SessionPublisher)
//! and the benchmark's feeder, `bench/src/feeder.rs`), the loopback servers that play a
//! broker in tests (`tests/paho_malformed.rs`, `tests/config_failover.rs`), the websocket
//! proxy's framing and the streams a [`HoldProxy`](crate::HoldProxy) records. One encoder
//! and one decoder of the remaining length, so all send and cut the same bytes.

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

/// Appends an MQTT 5 CONNACK: session not present, `reason` (0: accepted), and
/// `properties` as given (identifier and value of each, without their length), e.g.
/// `[0x2A, 0]`: Shared Subscription Available = 0.
pub fn encode_connack_v5(buf: &mut Vec<u8>, reason: u8, properties: &[u8]) {
    encode_connack_session_v5(buf, false, reason, properties);
}

/// Appends an MQTT 5 CONNACK as [`encode_connack_v5`] does, saying whether the broker
/// kept the client's session (`session_present`).
pub fn encode_connack_session_v5(
    buf: &mut Vec<u8>,
    session_present: bool,
    reason: u8,
    properties: &[u8],
) {
    let mut body = vec![u8::from(session_present), reason];
    put_var_int(&mut body, properties.len());
    body.extend_from_slice(properties);
    put_header(buf, 0x20, body.len());
    buf.extend_from_slice(&body);
}

/// Appends an MQTT 5 DISCONNECT from the broker with `reason` (e.g. 0x8E: session taken
/// over) and no properties.
pub fn encode_disconnect_v5(buf: &mut Vec<u8>, reason: u8) {
    put_header(buf, 0xE0, 2);
    buf.extend_from_slice(&[reason, 0]);
}

/// Appends an MQTT 5 SUBACK for the SUBSCRIBE `id`: one reason code per filter, no
/// properties.
pub fn encode_suback_v5(buf: &mut Vec<u8>, id: u16, codes: &[u8]) {
    put_ack_v5(buf, 0x90, id, codes);
}

/// Appends an MQTT 5 UNSUBACK for the UNSUBSCRIBE `id`: one reason code per filter, no
/// properties.
pub fn encode_unsuback_v5(buf: &mut Vec<u8>, id: u16, codes: &[u8]) {
    put_ack_v5(buf, 0xB0, id, codes);
}

fn put_ack_v5(buf: &mut Vec<u8>, first: u8, id: u16, codes: &[u8]) {
    put_header(buf, first, 3 + codes.len());
    buf.extend_from_slice(&id.to_be_bytes());
    buf.push(0);
    buf.extend_from_slice(codes);
}

/// The packet identifier and the filters of an MQTT 5 SUBSCRIBE (a whole packet, as
/// [`read_packet`] returns it); `None` for another packet or a malformed one.
pub fn decode_subscribe_v5(packet: &[u8]) -> Option<(u16, Vec<String>)> {
    decode_filters_v5(packet, 0x82)
}

/// The packet identifier and the filters of an MQTT 5 UNSUBSCRIBE; `None` for another
/// packet or a malformed one.
pub fn decode_unsubscribe_v5(packet: &[u8]) -> Option<(u16, Vec<String>)> {
    decode_filters_v5(packet, 0xA2)
}

/// A SUBSCRIBE (`first` 0x82: each filter followed by its options byte) or an
/// UNSUBSCRIBE (0xA2).
fn decode_filters_v5(packet: &[u8], first: u8) -> Option<(u16, Vec<String>)> {
    if packet.first() != Some(&first) {
        return None;
    }
    let options = usize::from(first == 0x82);
    let (_, header) = var_int(packet.get(1..)?).ok()??;
    let body = packet.get(1 + header..)?;
    let id = u16::from_be_bytes([*body.first()?, *body.get(1)?]);
    let (props, props_len) = var_int(body.get(2..)?).ok()??;
    let mut rest = body.get(2 + props_len + props..)?;
    let mut filters = Vec::new();
    while !rest.is_empty() {
        let len = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
        let filter = rest.get(2..2 + len)?;
        filters.push(String::from_utf8(filter.to_vec()).ok()?);
        rest = rest.get(2 + len + options..)?;
    }
    Some((id, filters))
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

/// The whole MQTT packets in `bytes`, in order, read with [`read_packet`] (an incomplete
/// one at the end is left out): a recorded stream (`HoldProxy`) cut into packets.
pub fn split_packets(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    while let Ok(packet) = read_packet(&mut bytes) {
        packets.push(packet);
    }
    packets
}

/// The packet identifier of a whole `packet` that has one: a QoS 1 or 2 PUBLISH, a PUBACK,
/// PUBREC, PUBREL or PUBCOMP; `None` for any other.
pub fn packet_id(packet: &[u8]) -> Option<u16> {
    let first = *packet.first()?;
    let header = 2 + packet.get(1..)?.iter().position(|b| b & 0x80 == 0)?;
    let body = packet.get(header..)?;
    let at = match first >> 4 {
        3 if first & 0x06 != 0 => {
            2 + usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]))
        }
        4..=7 => 0,
        _ => return None,
    };
    Some(u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]))
}

/// The length of the MQTT packet at the start of `buf` (fixed header byte,
/// 1-4 bytes of remaining length, then that many bytes), or `None` while the
/// remaining length is incomplete.
pub(crate) fn packet_len(buf: &[u8]) -> Result<Option<usize>, String> {
    let Some(after_type) = buf.get(1..) else {
        return Ok(None);
    };
    Ok(var_int(after_type)?.map(|(remaining, len)| 1 + len + remaining))
}

/// The MQTT variable byte integer at the start of `buf` and how many bytes it takes, or
/// `None` while it is incomplete.
fn var_int(buf: &[u8]) -> Result<Option<(usize, usize)>, String> {
    let mut value = 0usize;
    for i in 0..4 {
        let Some(&byte) = buf.get(i) else {
            return Ok(None);
        };
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    Err("the broker sent an MQTT remaining length longer than 4 bytes".to_owned())
}

/// Fixed header: packet type and flags, then the remaining length.
pub(crate) fn put_header(buf: &mut Vec<u8>, first: u8, len: usize) {
    buf.push(first);
    put_var_int(buf, len);
}

/// An MQTT variable byte integer (a remaining length, a property length).
fn put_var_int(buf: &mut Vec<u8>, mut len: usize) {
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
pub(crate) fn put_str(buf: &mut Vec<u8>, s: &[u8]) {
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
    fn packets_split_and_their_ids() {
        let mut stream = Vec::new();
        encode_publish(&mut stream, "a/b", b"x", 1, 0x0102, false);
        encode_publish(&mut stream, "a", &[0u8; 300], 0, 0, false);
        stream.extend_from_slice(&[0x40, 0x02, 0x00, 0x07]); // PUBACK 7
        stream.extend_from_slice(&DISCONNECT);
        stream.extend_from_slice(&[0x40, 0x02, 0x00]); // cut short
        let packets = split_packets(&stream);
        let ids: Vec<Option<u16>> = packets.iter().map(|p| packet_id(p)).collect();
        assert_eq!(ids, [Some(0x0102), None, Some(7), None]);
        assert_eq!(packets[3], DISCONNECT);
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
    fn mqtt5_connack_suback_and_subscribe() {
        let mut buf = Vec::new();
        encode_connack_v5(&mut buf, 0, &[0x2A, 0]);
        assert_eq!(buf, [0x20, 5, 0, 0, 2, 0x2A, 0]);
        buf.clear();
        encode_suback_v5(&mut buf, 0x0102, &[1, 0x80]);
        assert_eq!(buf, [0x90, 5, 1, 2, 0, 1, 0x80]);
        // SUBSCRIBE id 7, a property (Subscription Identifier 1), `a/b` QoS 1, `c` QoS 0.
        let subscribe = [
            0x82, 15, 0, 7, 2, 0x0B, 1, 0, 3, b'a', b'/', b'b', 1, 0, 1, b'c', 0,
        ];
        assert_eq!(packet_len(&subscribe), Ok(Some(subscribe.len())));
        assert_eq!(
            decode_subscribe_v5(&subscribe),
            Some((7, vec!["a/b".to_owned(), "c".to_owned()]))
        );
        assert_eq!(decode_subscribe_v5(&subscribe[..16]), None, "cut short");
        assert_eq!(
            decode_unsubscribe_v5(&subscribe),
            None,
            "not an UNSUBSCRIBE"
        );
        let unsubscribe = [0xA2, 9, 0, 8, 0, 0, 1, b'c', 0, 1, b'd'];
        assert_eq!(
            decode_unsubscribe_v5(&unsubscribe),
            Some((8, vec!["c".to_owned(), "d".to_owned()]))
        );
        buf.clear();
        encode_unsuback_v5(&mut buf, 8, &[0, 0]);
        assert_eq!(buf, [0xB0, 5, 0, 8, 0, 0, 0]);
        assert_eq!(decode_subscribe_v5(&[0xC0, 0]), None, "a PINGREQ");
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
