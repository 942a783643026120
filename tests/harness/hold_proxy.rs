//! [`HoldProxy`]: a proxy between a client and the broker that can stop reading what the
//! client sends, and records every byte both ways.
//!
//! A client connects to it over a Unix-domain socket (a `unix://` URI, which Paho C
//! supports); for each connection the proxy opens one to the broker's plain TCP listener.
//! Broker to client, bytes pass as they come. Client to broker, the proxy can *hold*: stop
//! reading, so that the client's writes fill its socket's send buffer and the next write
//! is refused or written in part (Paho then keeps it as a pending write and queues its
//! acknowledgements behind it), *release* exactly the bytes waiting at that moment, and
//! *resume*. It can also cut the current connection (both sides closed), as a network
//! that fails would.
//!
//! Why a Unix-domain socket: there every write the client makes is a buffer of its own in
//! the kernel, charged in full (several hundred bytes for a 4-byte PUBACK) to the client's
//! send buffer (`net.core.wmem_default`, 208 KiB) until the proxy reads it, so a few
//! hundred acknowledgements fill it, the same number every time, and what a held client
//! wrote can be counted (`FIONREAD`). Over TCP, small writes are merged into the same
//! buffers and the send buffer grows to megabytes: filling it with acknowledgements would
//! take hundreds of thousands of them.
//!
//! Each connection's two byte streams ([`client_bytes`](HoldProxy::client_bytes),
//! [`broker_bytes`](HoldProxy::broker_bytes)) are what a test parses with
//! [`split_packets`](crate::split_packets).

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::sys;

/// How long a reader blocks before it looks at the gate again.
const POLL: Duration = Duration::from_millis(20);
/// Upper bound for [`HoldProxy::hold`] and [`HoldProxy::release_held`].
const GATE_TIMEOUT: Duration = Duration::from_secs(10);

/// A proxy from a Unix-domain socket to a broker on loopback that can hold the client's
/// bytes; stops (closing every connection) when dropped.
pub struct HoldProxy {
    _dir: TempDir,
    path: PathBuf,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

struct Shared {
    gate: Mutex<Gate>,
    gate_changed: Condvar,
    conns: Mutex<Vec<Arc<Conn>>>,
    stop: AtomicBool,
}

/// What the client-to-broker readers may read.
#[derive(Default)]
struct Gate {
    /// `None`: as much as comes; `Some(n)`: `n` more bytes, then nothing (held).
    allowance: Option<usize>,
    /// Readers between their look at the gate and the end of their read.
    reading: usize,
}

/// One client's connection.
struct Conn {
    client: UnixStream,
    broker: TcpStream,
    cut: AtomicBool,
    from_client: Tape,
    from_broker: Tape,
}

/// The bytes of one direction of a connection, which a test can wait on.
#[derive(Default)]
struct Tape {
    bytes: Mutex<Vec<u8>>,
    changed: Condvar,
}

impl Tape {
    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        self.bytes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, bytes: &[u8]) {
        self.lock().extend_from_slice(bytes);
        self.changed.notify_all();
    }

    fn wait_for(&self, timeout: Duration, pred: impl Fn(&[u8]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut bytes = self.lock();
        loop {
            if pred(&bytes) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            bytes = self
                .changed
                .wait_timeout(bytes, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Shared {
    fn gate(&self) -> MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until `done` holds for the gate; panics with `what` after [`GATE_TIMEOUT`].
    fn wait_gate(&self, what: &str, done: impl Fn(&Gate) -> bool) {
        let deadline = Instant::now() + GATE_TIMEOUT;
        let mut gate = self.gate();
        while !done(&gate) {
            let now = Instant::now();
            assert!(now < deadline, "HoldProxy: {what} within {GATE_TIMEOUT:?}");
            gate = self
                .gate_changed
                .wait_timeout(gate, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl HoldProxy {
    /// Starts a proxy to `127.0.0.1:broker_port`, reading the client's bytes as they come.
    pub fn start(broker_port: u16) -> HoldProxy {
        let dir = tempfile::Builder::new()
            .prefix("hold-proxy-")
            .tempdir()
            .expect("a directory for the proxy's socket");
        let path = dir.path().join("mqtt.sock");
        let listener = UnixListener::bind(&path).expect("bind the proxy's socket");
        let shared = Arc::new(Shared {
            gate: Mutex::default(),
            gate_changed: Condvar::new(),
            conns: Mutex::default(),
            stop: AtomicBool::new(false),
        });
        let accept = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if shared.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let Ok(broker) = TcpStream::connect((Ipv4Addr::LOCALHOST, broker_port)) else {
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    };
                    let _ = broker.set_nodelay(true);
                    if relay(&shared, client, broker).is_err() {
                        continue;
                    }
                }
            })
        };
        HoldProxy {
            _dir: dir,
            path,
            shared,
            accept: Some(accept),
        }
    }

    /// The URI clients connect to (`unix:///...`).
    pub fn uri(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// Stops reading the client's bytes. Returns once nothing more is read: what a client
    /// writes after that waits in its socket until [`release_held`](Self::release_held) or
    /// [`resume`](Self::resume). Applies to every connection, also later ones.
    pub fn hold(&self) {
        self.shared.gate().allowance = Some(0);
        self.shared.gate_changed.notify_all();
        self.shared
            .wait_gate("the readers did not stop", |g| g.reading == 0);
    }

    /// Reads the bytes the client of the latest connection has written and the proxy held
    /// back, exactly those waiting now, and holds again; returns how many there were.
    pub fn release_held(&self) -> usize {
        let n = self.held_bytes();
        self.shared.gate().allowance = Some(n);
        self.shared.gate_changed.notify_all();
        self.shared.wait_gate("the held bytes were not read", |g| {
            g.allowance == Some(0) && g.reading == 0
        });
        n
    }

    /// Reads the client's bytes as they come again.
    pub fn resume(&self) {
        self.shared.gate().allowance = None;
        self.shared.gate_changed.notify_all();
    }

    /// How many bytes the client of the latest connection has written that the proxy has
    /// not read (0 without a connection).
    pub fn held_bytes(&self) -> usize {
        self.latest().map_or(0, |c| {
            sys::unread_bytes(c.client.as_raw_fd()).expect("FIONREAD on the client's socket")
        })
    }

    /// Closes the latest connection on both sides: the client reads the end of its
    /// stream (its writes fail), the broker sees the connection closed without a
    /// DISCONNECT.
    pub fn cut(&self) {
        if let Some(c) = self.latest() {
            c.cut.store(true, Ordering::SeqCst);
            let _ = c.client.shutdown(Shutdown::Both);
            let _ = c.broker.shutdown(Shutdown::Both);
            self.shared.gate_changed.notify_all();
        }
    }

    /// Makes the writes of the latest connection's client fail from now on, as a network
    /// that breaks under them does, and returns how many held bytes it threw away: the
    /// proxy shuts down its reading side of the client's socket (each write the client
    /// makes gets `EPIPE`) and throws away what the client wrote that it held, so the
    /// client's socket has room again and a write it has pending goes on, and fails. The
    /// client reads no end of its stream (a [`cut`](Self::cut) would give it one, and
    /// Paho would close the socket on reading it, before the pending write goes on), and
    /// the broker's side stays open until a `cut` or [`resume`](Self::resume).
    pub fn fail_client_writes(&self) -> usize {
        let Some(c) = self.latest() else { return 0 };
        let _ = c.client.shutdown(Shutdown::Read);
        // After the shutdown a read still returns what was queued, then the end (0).
        let mut buf = vec![0; 64 * 1024];
        let mut discarded = 0;
        loop {
            match (&c.client).read(&mut buf) {
                Ok(0) => break,
                Ok(n) => discarded += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        discarded
    }

    /// How many connections clients have made.
    pub fn connections(&self) -> usize {
        self.conns().len()
    }

    /// Everything the proxy has read from the client on connection `conn` (0 is the first).
    pub fn client_bytes(&self, conn: usize) -> Vec<u8> {
        self.conn(conn).from_client.lock().clone()
    }

    /// Everything the broker has sent to the client on connection `conn`.
    pub fn broker_bytes(&self, conn: usize) -> Vec<u8> {
        self.conn(conn).from_broker.lock().clone()
    }

    /// Waits until `pred` holds for what the proxy has read from the client on connection
    /// `conn` (woken by every read); returns whether it did within `timeout`.
    pub fn wait_client_bytes(
        &self,
        conn: usize,
        timeout: Duration,
        pred: impl Fn(&[u8]) -> bool,
    ) -> bool {
        self.conn(conn).from_client.wait_for(timeout, pred)
    }

    fn conns(&self) -> MutexGuard<'_, Vec<Arc<Conn>>> {
        self.shared
            .conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn latest(&self) -> Option<Arc<Conn>> {
        self.conns().last().cloned()
    }

    fn conn(&self, conn: usize) -> Arc<Conn> {
        let conns = self.conns();
        match conns.get(conn) {
            Some(c) => Arc::clone(c),
            None => panic!(
                "HoldProxy: no connection {conn}, clients made {}",
                conns.len()
            ),
        }
    }
}

/// Records the connection and moves its bytes on two threads of their own.
fn relay(shared: &Arc<Shared>, client: UnixStream, broker: TcpStream) -> io::Result<()> {
    let (client_in, broker_out) = (client.try_clone()?, broker.try_clone()?);
    let (mut client_out, mut broker_in) = (client.try_clone()?, broker.try_clone()?);
    client_in.set_read_timeout(Some(POLL))?;
    let conn = Arc::new(Conn {
        client,
        broker,
        cut: AtomicBool::new(false),
        from_client: Tape::default(),
        from_broker: Tape::default(),
    });
    shared
        .conns
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Arc::clone(&conn));
    {
        let (shared, conn) = (Arc::clone(shared), Arc::clone(&conn));
        std::thread::spawn(move || client_to_broker(&shared, &conn, client_in, broker_out));
    }
    std::thread::spawn(move || {
        let mut buf = vec![0; 64 * 1024];
        loop {
            match broker_in.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    conn.from_broker.push(&buf[..n]);
                    if client_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = client_out.shutdown(Shutdown::Write);
    });
    Ok(())
}

/// Client to broker, as far as the gate allows.
fn client_to_broker(
    shared: &Shared,
    conn: &Conn,
    mut client_in: UnixStream,
    mut broker_out: TcpStream,
) {
    let mut buf = vec![0; 64 * 1024];
    let gone = || shared.stop.load(Ordering::SeqCst) || conn.cut.load(Ordering::SeqCst);
    loop {
        let limit = {
            let mut gate = shared.gate();
            while gate.allowance == Some(0) && !gone() {
                gate = shared
                    .gate_changed
                    .wait_timeout(gate, POLL)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            if gone() {
                break;
            }
            gate.reading += 1;
            gate.allowance.unwrap_or(usize::MAX).min(buf.len())
        };
        let (n, end) = match client_in.read(&mut buf[..limit]) {
            Ok(0) => (0, true),
            Ok(n) => (n, false),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                (0, false)
            }
            Err(_) => (0, true),
        };
        // Recorded before the gate says the bytes were read.
        if n > 0 {
            conn.from_client.push(&buf[..n]);
        }
        {
            let mut gate = shared.gate();
            gate.reading -= 1;
            if let Some(left) = gate.allowance.as_mut() {
                *left -= n.min(*left);
            }
        }
        shared.gate_changed.notify_all();
        if end || broker_out.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = broker_out.shutdown(Shutdown::Write);
}

impl Drop for HoldProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.gate_changed.notify_all();
        // Wakes the accept loop, which then sees `stop`.
        let _ = UnixStream::connect(&self.path);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        for c in self.conns().drain(..) {
            let _ = c.client.shutdown(Shutdown::Both);
            let _ = c.broker.shutdown(Shutdown::Both);
        }
    }
}
