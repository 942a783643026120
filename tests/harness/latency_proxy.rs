//! [`LatencyProxy`]: a TCP proxy in front of the broker that delays what the broker sends,
//! as a broker across a network would.
//!
//! A broker on loopback answers within a fraction of a millisecond, which hides whatever
//! in a client assumes that it does. The proxy listens on a free loopback port, opens a
//! connection to the broker for every client that connects, forwards the client's bytes
//! at once and the broker's bytes after the delay it was started with, in order. The
//! round trip a client sees is then the delay plus the broker's own time. It never looks
//! inside the bytes.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A delaying TCP proxy to a broker on loopback; stops (closing every connection) when
/// dropped.
pub struct LatencyProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
    accept: Option<JoinHandle<()>>,
}

impl LatencyProxy {
    /// Starts a proxy to `127.0.0.1:broker_port` that holds every chunk the broker sends
    /// for `delay` before passing it on.
    pub fn start(broker_port: u16, delay: Duration) -> LatencyProxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let accept = {
            let (stop, streams) = (Arc::clone(&stop), Arc::clone(&streams));
            std::thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let Ok(broker) = TcpStream::connect((Ipv4Addr::LOCALHOST, broker_port)) else {
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = broker.set_nodelay(true);
                    relay(client, broker, delay, &streams);
                }
            })
        };
        LatencyProxy {
            port,
            stop,
            streams,
            accept: Some(accept),
        }
    }

    /// The port clients connect to (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// Moves bytes both ways between `client` and `broker` on threads of their own: client to
/// broker at once, broker to client after `delay`.
fn relay(client: TcpStream, broker: TcpStream, delay: Duration, all: &Mutex<Vec<TcpStream>>) {
    let clones = (
        client.try_clone(),
        broker.try_clone(),
        client.try_clone(),
        broker.try_clone(),
    );
    let (Ok(mut client_in), Ok(mut broker_out), Ok(mut client_out), Ok(mut broker_in)) = clones
    else {
        let _ = client.shutdown(Shutdown::Both);
        let _ = broker.shutdown(Shutdown::Both);
        return;
    };
    {
        let mut all = all.lock().unwrap_or_else(PoisonError::into_inner);
        all.push(client);
        all.push(broker);
    }
    // Client to broker: as it comes.
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_in, &mut broker_out);
        let _ = broker_out.shutdown(Shutdown::Write);
    });
    // Broker to client: each chunk stamped when read, written once `delay` has passed.
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buf = vec![0; 64 * 1024];
        loop {
            match broker_in.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx
                        .send((Instant::now() + delay, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    });
    std::thread::spawn(move || {
        for (due, chunk) in rx {
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if client_out.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = client_out.shutdown(Shutdown::Write);
    });
}

impl Drop for LatencyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees `stop`.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        for s in self
            .streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}
