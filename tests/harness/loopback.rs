//! A loopback server playing an MQTT 5 broker, one connection at a time: it accepts a
//! CONNECT ([`accept_v5`]) and answers what the client sends ([`serve_v5`]), so that a
//! test can make the broker do what a real one does rarely or not on demand (end a
//! connection at a given packet, keep a session, take a session over).

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::packet::{
    decode_subscribe_v5, decode_unsubscribe_v5, encode_connack_session_v5, encode_suback_v5,
    encode_unsuback_v5, read_packet,
};

/// What a connection brought: the filters subscribed and unsubscribed, in order.
#[derive(Debug, Default)]
pub struct LoopbackSeen {
    /// The filters of its SUBSCRIBEs.
    pub subscribed: Vec<String>,
    /// The filters of its UNSUBSCRIBEs.
    pub unsubscribed: Vec<String>,
}

/// Accepts a connection and answers its CONNECT with a CONNACK that accepts it, saying
/// whether the session was kept. A connection that brings no CONNECT within `timeout` (an
/// attempt the client gave up on while it waited in the backlog) is skipped for the next.
pub fn accept_v5(listener: &TcpListener, session_present: bool, timeout: Duration) -> TcpStream {
    loop {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(timeout)).unwrap();
        let Ok(connect) = read_packet(&mut stream) else {
            continue;
        };
        assert_eq!(connect[0] >> 4, 1, "a CONNECT first: {connect:?}");
        let mut out = Vec::new();
        encode_connack_session_v5(&mut out, session_present, 0, &[]);
        if stream.write_all(&out).is_ok() {
            return stream;
        }
    }
}

/// Answers the packets of `stream` (SUBACK granting QoS 1, UNSUBACK, PINGRESP) until
/// `stop` says so of a packet (not answered then: returns true), or the connection ends
/// or stays quiet until `until` (false). Records SUBSCRIBEs and UNSUBSCRIBEs in `seen`.
pub fn serve_v5(
    stream: &mut TcpStream,
    seen: &mut LoopbackSeen,
    until: Instant,
    stop: impl Fn(&[u8]) -> bool,
) -> bool {
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        let Ok(packet) = read_packet(stream) else {
            return false;
        };
        if stop(&packet) {
            return true;
        }
        let mut out = Vec::new();
        if let Some((id, filters)) = decode_subscribe_v5(&packet) {
            encode_suback_v5(&mut out, id, &vec![1; filters.len()]);
            seen.subscribed.extend(filters);
        } else if let Some((id, filters)) = decode_unsubscribe_v5(&packet) {
            encode_unsuback_v5(&mut out, id, &vec![0; filters.len()]);
            seen.unsubscribed.extend(filters);
        } else if packet.first() == Some(&0xC0) {
            out.extend_from_slice(&[0xD0, 0]); // PINGRESP
        }
        if stream.write_all(&out).is_err() {
            return false;
        }
    }
}
