//! The publisher of the consumer runs: MQTT 3.1.1 written straight to a TCP socket (the
//! test harness's packet encoder), many PUBLISH packets per `write`, PUBACKs counted by a
//! reader thread.
//!
//! Paho C sends one packet per system call and tops out near 25,000 QoS 1 publishes/s
//! on the benchmark machine, below what the consumers take; this feeder does several
//! times that with less CPU, which on two shared cores is left to the broker and the
//! consumer. It is measured alone ("publisher alone" row), and each run reports how fast
//! it published, so a consumer that merely kept up with it shows.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use flask_mqtt_tests::{encode_connect, encode_publish, DISCONNECT};

use crate::wire;

/// Bytes gathered before a `write` in bursts.
const BATCH: usize = 32 * 1024;

/// PUBACKs received, and whether the connection is gone.
#[derive(Default)]
struct Acks {
    count: Mutex<(u64, bool)>,
    changed: Condvar,
}

impl Acks {
    fn get(&self) -> (u64, bool) {
        *self.count.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until at least `n` PUBACKs arrived in total.
    fn wait_for(&self, n: u64) -> Result<(), String> {
        let mut guard = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            match *guard {
                (count, _) if count >= n => return Ok(()),
                (_, true) => return Err("the broker closed the publisher's connection".into()),
                _ => {
                    guard = self
                        .changed
                        .wait_timeout(guard, Duration::from_secs(30))
                        .map(|(g, _)| g)
                        .unwrap_or_else(|p| p.into_inner().0);
                }
            }
        }
    }
}

/// A connected publisher.
pub(crate) struct Feeder {
    stream: TcpStream,
    acks: Arc<Acks>,
    next_id: u16,
    buf: Vec<u8>,
}

impl Feeder {
    /// Connects (clean session, no keep-alive: the connection idles between runs).
    pub(crate) fn connect(port: u16, client_id: &str) -> Result<Feeder, String> {
        let err = |e: std::io::Error| format!("publisher: {e}");
        let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(err)?;
        stream.set_nodelay(true).map_err(err)?;
        let mut packet = Vec::new();
        encode_connect(&mut packet, client_id, true);
        stream.write_all(&packet).map_err(err)?;
        let mut connack = [0u8; 4];
        stream.read_exact(&mut connack).map_err(err)?;
        if connack[0] != 0x20 || connack[3] != 0 {
            return Err(format!("publisher: connection refused ({connack:?})"));
        }
        let acks = Arc::new(Acks::default());
        let reader = stream.try_clone().map_err(err)?;
        let counted = Arc::clone(&acks);
        std::thread::Builder::new()
            .name("bench-feeder-acks".into())
            .spawn(move || count_pubacks(reader, &counted))
            .map_err(err)?;
        Ok(Feeder {
            stream,
            acks,
            next_id: 0,
            buf: Vec::with_capacity(BATCH + 256),
        })
    }

    /// Publishes `n` messages as fast as the broker takes them, `window` QoS 1 messages
    /// unacknowledged at most; returns the time until the last one was written (QoS 0)
    /// or acknowledged (QoS 1).
    pub(crate) fn burst(&mut self, n: u64, qos: i32, window: usize) -> Result<Duration, String> {
        let start = Instant::now();
        let base = self.acks.get().0;
        for seq in 0..n {
            if qos > 0 && seq >= window as u64 {
                let need = base + seq + 1 - window as u64;
                if self.acks.get().0 < need {
                    self.flush()?;
                    self.acks.wait_for(need)?;
                }
            }
            self.push(seq, qos);
            if self.buf.len() >= BATCH {
                self.flush()?;
            }
        }
        self.flush()?;
        if qos > 0 {
            self.acks.wait_for(base + n)?;
        }
        Ok(start.elapsed())
    }

    /// Publishes `n` messages at `rate` per second, each written when it is due.
    pub(crate) fn paced(&mut self, n: u64, qos: i32, rate: u64) -> Result<Duration, String> {
        let start = Instant::now();
        let base = self.acks.get().0;
        for seq in 0..n {
            let due = start + Duration::from_nanos(seq * 1_000_000_000 / rate.max(1));
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            self.push(seq, qos);
            self.flush()?;
        }
        if qos > 0 {
            self.acks.wait_for(base + n)?;
        }
        Ok(start.elapsed())
    }

    /// Appends the PUBLISH packet of message `seq`, stamped now.
    fn push(&mut self, seq: u64, qos: i32) {
        if qos > 0 {
            // Packet identifiers are 1..=65535; at most `window` are in use.
            self.next_id = self.next_id.checked_add(1).unwrap_or(1);
        }
        let qos = u8::try_from(qos).unwrap_or(1);
        let (topic, payload) = (wire::topic(seq), wire::payload(seq));
        encode_publish(&mut self.buf, &topic, &payload, qos, self.next_id, false);
    }

    fn flush(&mut self) -> Result<(), String> {
        if !self.buf.is_empty() {
            self.stream
                .write_all(&self.buf)
                .map_err(|e| format!("publisher: {e}"))?;
            self.buf.clear();
        }
        Ok(())
    }
}

impl Drop for Feeder {
    fn drop(&mut self) {
        let _ = self.stream.write_all(&DISCONNECT);
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// Reads what the broker sends and counts PUBACKs until the connection closes.
fn count_pubacks(stream: TcpStream, acks: &Acks) {
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut body = Vec::new();
    let closed = loop {
        let mut first = [0u8; 1];
        if reader.read_exact(&mut first).is_err() {
            break true;
        }
        let mut len = 0usize;
        let mut shift = 0;
        loop {
            let mut b = [0u8; 1];
            if reader.read_exact(&mut b).is_err() {
                break;
            }
            len |= usize::from(b[0] & 0x7f) << shift;
            shift += 7;
            if b[0] & 0x80 == 0 || shift > 21 {
                break;
            }
        }
        body.resize(len, 0);
        if reader.read_exact(&mut body).is_err() {
            break true;
        }
        if first[0] >> 4 == 4 {
            let mut guard = acks.count.lock().unwrap_or_else(PoisonError::into_inner);
            guard.0 += 1;
            drop(guard);
            // Wake the writer once per batch read, not once per PUBACK.
            if reader.buffer().is_empty() {
                acks.changed.notify_all();
            }
        }
    };
    let mut guard = acks.count.lock().unwrap_or_else(PoisonError::into_inner);
    guard.1 = closed;
    drop(guard);
    acks.changed.notify_all();
}
