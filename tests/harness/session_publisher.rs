//! [`SessionPublisher`]: numbered QoS 1 messages that survive broker crashes.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::packet::{encode_connect, encode_publish, DISCONNECT};
use crate::Broker;

/// Unacknowledged publishes at once.
const WINDOW: usize = 100;
/// How long one read waits before the loop looks at the window again.
const READ_TICK: Duration = Duration::from_millis(50);
/// Pause between two refused connection attempts (the broker is down).
const RETRY: Duration = Duration::from_millis(20);
/// Bound for a connection attempt and the CONNACK.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A publisher of `<prefix>/0` .. `<prefix>/<count - 1>` (payload: the number) at
/// QoS 1, with a persistent session, that keeps going through broker crashes.
///
/// It speaks MQTT 3.1.1 over a plain TCP socket itself instead of using Paho, so
/// that what it does is exactly what a test needs and nothing else: clean session
/// off, no keep-alive, at most 100 publishes unacknowledged, and when the connection
/// breaks it reconnects (every 20 ms while the broker is down; a CONNACK that refuses
/// the connection ends the run at once, with the return code in the report's error) and
/// sends every
/// unacknowledged message again with the DUP flag and the same packet identifier,
/// whether or not the broker kept the session. A number counts as acknowledged once
/// a PUBACK for it arrived; it is never sent again after that.
///
/// (Paho C 1.3 has a use-after-free when the write of a QoS 1 PUBLISH fails because
/// the broker died: it frees the message but keeps it in flight, and sends garbage
/// in its place after the reconnect. A test publisher must not have that bug.)
///
/// Runs on a thread of its own from [`start`](Self::start); the test watches
/// [`acked`](Self::acked) and [`is_connected`](Self::is_connected), kills and
/// restarts the broker, and collects the [`PublisherReport`] with
/// [`finish`](Self::finish). Dropping it stops the thread.
pub struct SessionPublisher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// What a [`SessionPublisher`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublisherReport {
    /// Distinct numbers acknowledged by the broker.
    pub acked: u64,
    /// Successful connections (the first one included).
    pub connections: u64,
    /// Connections on which the broker had kept the session (CONNACK session present).
    pub sessions_resumed: u64,
    /// Publishes sent again after a reconnect because they were unacknowledged.
    pub resent: u64,
    /// Why it stopped early, if it did.
    pub error: Option<String>,
    /// Whether every number was acknowledged.
    pub done: bool,
}

struct Shared {
    report: Mutex<PublisherReport>,
    connected: AtomicBool,
    stop: AtomicBool,
}

impl Shared {
    fn report(&self) -> MutexGuard<'_, PublisherReport> {
        self.report.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SessionPublisher {
    /// Starts publishing `count` messages to `broker` as `client_id`; gives up with an
    /// error in the report after `timeout`.
    pub fn start(
        broker: &Broker,
        client_id: &str,
        prefix: &str,
        count: u64,
        timeout: Duration,
    ) -> SessionPublisher {
        let shared = Arc::new(Shared {
            report: Mutex::new(PublisherReport::default()),
            connected: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let run = Run {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, broker.port())),
            client_id: client_id.to_owned(),
            prefix: prefix.to_owned(),
            count,
            deadline: Instant::now() + timeout,
            shared: Arc::clone(&shared),
        };
        let thread = std::thread::Builder::new()
            .name(format!("session-publisher-{client_id}"))
            .spawn(move || {
                let result = run.publish_all();
                run.shared.connected.store(false, Ordering::SeqCst);
                let mut report = run.shared.report();
                match result {
                    Ok(()) => report.done = true,
                    Err(e) => report.error = Some(e),
                }
            })
            .unwrap_or_else(|e| panic!("SessionPublisher: cannot spawn its thread: {e}"));
        SessionPublisher {
            shared,
            thread: Some(thread),
        }
    }

    /// Distinct numbers acknowledged so far.
    pub fn acked(&self) -> u64 {
        self.shared.report().acked
    }

    /// Whether it is connected right now.
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::SeqCst)
    }

    /// Whether it stopped: every number acknowledged, or given up.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().map_or(true, JoinHandle::is_finished)
    }

    /// Waits up to `timeout` for the thread to stop and returns the report (with
    /// `done == false` and an `error` if it did not finish in time).
    pub fn finish(mut self, timeout: Duration) -> PublisherReport {
        if crate::wait_until(timeout, || self.is_finished()) {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        } else {
            let mut report = self.shared.report();
            let acked = report.acked;
            report.error.get_or_insert_with(|| {
                format!("still running after {timeout:?} ({acked} acknowledged)")
            });
        }
        self.shared.report().clone()
    }
}

impl Drop for SessionPublisher {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The publishing thread's settings.
struct Run {
    addr: SocketAddr,
    client_id: String,
    prefix: String,
    count: u64,
    deadline: Instant,
    shared: Arc<Shared>,
}

/// Messages sent and not yet acknowledged: packet identifier -> number.
type InFlight = BTreeMap<u16, u64>;

/// Why a connection attempt failed.
enum ConnectFailure {
    /// No connection, or it broke before the CONNACK (the broker is down or restarting):
    /// worth another attempt.
    Io(std::io::Error),
    /// The broker answered, and not with an accepting CONNACK: another attempt would get
    /// the same answer.
    Refused(String),
}

impl From<std::io::Error> for ConnectFailure {
    fn from(e: std::io::Error) -> Self {
        ConnectFailure::Io(e)
    }
}

impl Run {
    fn publish_all(&self) -> Result<(), String> {
        let mut acked = vec![false; usize::try_from(self.count).unwrap_or(0)];
        let mut in_flight = InFlight::new();
        let mut next = 0u64;
        let mut next_id = 0u16;
        loop {
            let mut stream = self.connect()?;
            let mut buf = Vec::new();
            // Everything unacknowledged goes again, same identifiers, DUP set.
            for (&id, &n) in &in_flight {
                self.put_publish(&mut buf, id, n, true);
            }
            self.shared.report().resent += in_flight.len() as u64;
            loop {
                if self.shared.stop.load(Ordering::SeqCst) {
                    return Err("stopped".into());
                }
                if Instant::now() > self.deadline {
                    return Err(format!(
                        "{} of {} acknowledged when the time ran out",
                        self.shared.report().acked,
                        self.count
                    ));
                }
                while in_flight.len() < WINDOW && next < self.count {
                    next_id = free_id(&in_flight, next_id);
                    in_flight.insert(next_id, next);
                    self.put_publish(&mut buf, next_id, next, false);
                    next += 1;
                }
                if in_flight.is_empty() {
                    let _ = stream.write_all(&DISCONNECT);
                    return Ok(());
                }
                if !buf.is_empty() {
                    if stream.write_all(&buf).is_err() {
                        break;
                    }
                    buf.clear();
                }
                match read_pubacks(&mut stream) {
                    Ok(ids) => {
                        let mut report = self.shared.report();
                        for id in ids {
                            if let Some(n) = in_flight.remove(&id) {
                                if let Some(a) = acked.get_mut(usize::try_from(n).unwrap_or(0)) {
                                    if !std::mem::replace(a, true) {
                                        report.acked += 1;
                                    }
                                }
                            }
                        }
                    }
                    Err(()) => break,
                }
            }
            // The connection broke: reconnect and send the window again.
            self.shared.connected.store(false, Ordering::SeqCst);
        }
    }

    /// Connects and sends CONNECT with clean session off, retrying while the broker
    /// cannot be reached; fails at once when its CONNACK refuses the connection.
    fn connect(&self) -> Result<TcpStream, String> {
        let mut last_error = None;
        loop {
            if self.shared.stop.load(Ordering::SeqCst) {
                return Err("stopped".into());
            }
            if Instant::now() > self.deadline {
                return Err(match last_error {
                    Some(e) => format!(
                        "could not reconnect before the time ran out; the last attempt: {e}"
                    ),
                    None => "could not reconnect before the time ran out (no attempt)".into(),
                });
            }
            match self.try_connect() {
                Ok((stream, session_present)) => {
                    let mut report = self.shared.report();
                    report.connections += 1;
                    report.sessions_resumed += u64::from(session_present);
                    self.shared.connected.store(true, Ordering::SeqCst);
                    return Ok(stream);
                }
                Err(ConnectFailure::Refused(why)) => return Err(why),
                Err(ConnectFailure::Io(e)) => {
                    last_error = Some(e);
                    std::thread::sleep(RETRY);
                }
            }
        }
    }

    fn try_connect(&self) -> Result<(TcpStream, bool), ConnectFailure> {
        let mut stream = TcpStream::connect_timeout(&self.addr, CONNECT_TIMEOUT)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(CONNECT_TIMEOUT))?;
        let mut packet = Vec::new();
        encode_connect(&mut packet, &self.client_id, false); // persistent session
        stream.write_all(&packet)?;
        let mut connack = [0u8; 4];
        stream.read_exact(&mut connack)?;
        if connack[0] != 0x20 || connack[1] != 2 {
            return Err(ConnectFailure::Refused(format!(
                "the broker answered the CONNECT with {connack:02x?}, not a CONNACK"
            )));
        }
        if connack[3] != 0 {
            return Err(ConnectFailure::Refused(format!(
                "the broker refused the connection of {}: CONNACK return code {}",
                self.client_id, connack[3]
            )));
        }
        stream.set_read_timeout(Some(READ_TICK))?;
        Ok((stream, connack[2] & 1 == 1))
    }

    fn put_publish(&self, buf: &mut Vec<u8>, id: u16, n: u64, dup: bool) {
        let topic = format!("{}/{n}", self.prefix);
        encode_publish(buf, &topic, n.to_string().as_bytes(), 1, id, dup);
    }
}

/// The next packet identifier after `last` that is not in flight (1..=65535).
fn free_id(in_flight: &InFlight, mut last: u16) -> u16 {
    loop {
        last = last.checked_add(1).unwrap_or(1);
        if !in_flight.contains_key(&last) {
            return last;
        }
    }
}

/// Reads what arrived within one tick and returns the identifiers of the PUBACKs;
/// `Err` when the connection is gone. PUBACKs are 4 bytes and Mosquitto sends this
/// publisher nothing else, so a read that ends inside one is finished on the spot.
fn read_pubacks(stream: &mut TcpStream) -> Result<Vec<u16>, ()> {
    let mut chunk = [0u8; 4096];
    let got = match stream.read(&mut chunk) {
        Ok(0) => return Err(()),
        Ok(n) => n,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            return Ok(Vec::new())
        }
        Err(_) => return Err(()),
    };
    let mut data = chunk[..got].to_vec();
    while data.len() % 4 != 0 {
        let mut rest = vec![0u8; 4 - data.len() % 4];
        stream
            .set_read_timeout(Some(CONNECT_TIMEOUT))
            .map_err(|_| ())?;
        let read = stream.read_exact(&mut rest);
        stream.set_read_timeout(Some(READ_TICK)).map_err(|_| ())?;
        read.map_err(|_| ())?;
        data.extend_from_slice(&rest);
    }
    let mut ids = Vec::with_capacity(data.len() / 4);
    for packet in data.chunks_exact(4) {
        if packet[0] != 0x40 || packet[1] != 2 {
            return Err(()); // not a PUBACK: not something this publisher expects
        }
        ids.push(u16::from_be_bytes([packet[2], packet[3]]));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_skip_those_in_flight_and_wrap() {
        let mut in_flight = InFlight::new();
        in_flight.insert(2, 0);
        in_flight.insert(65535, 1);
        assert_eq!(free_id(&in_flight, 1), 3);
        assert_eq!(free_id(&in_flight, 65534), 1);
    }
}
