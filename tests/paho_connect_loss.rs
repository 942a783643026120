//! A connection the server drops while Paho waits for CONNACK fails that connect, and only
//! that one, always for the same reason (docs/paho-fork.md, patches 8 and 9), against
//! loopback servers that reset the connection (RST) once the CONNECT has begun to arrive.
//!
//! - Patch 8, "one reason for a connection lost before CONNACK": unpatched, Paho C said
//!   "TCP connect completion failure" when a read found the connection gone, but "socket
//!   error" (the Rust crate's `Error::SocketError`) when the unfinished write of a large
//!   CONNECT found it first. The first two tests make each way certain.
//! - Patch 9, "a closed socket's error is no other client's": unpatched, the failure of one
//!   client's connect could also fail another client's connect that had just been given
//!   the same socket number, with "socket error". Seen in `config_tls`, whose TLS tests run
//!   side by side in one process: a refused client certificate was sometimes reported as
//!   "Socket error" (once in the three CI runs of 2026-12-05). The third test races 800
//!   connects.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use flask_mqtt_tests::paho_mqtt as paho;
use flask_mqtt_tests::{reset_connection, set_receive_buffer, unique};

const T: Duration = Duration::from_secs(10);

/// A string of `n` ASCII letters (user name, password, will topic and payload).
fn filler(n: usize) -> String {
    "x".repeat(n)
}

/// A loopback server that accepts one connection, waits for the first bytes of the
/// client's CONNECT, reads what has arrived of it if `read`, and resets the connection.
/// Its receive buffer is small, so a large CONNECT cannot all be sent before the reset.
/// Returns the port and the thread, which yields the number of bytes it read.
fn resetting_server(read: bool) -> (u16, thread::JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    // Accepted sockets inherit it (the kernel doubles it and applies its minimum).
    set_receive_buffer(&listener, 2048).unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(T)).unwrap();
        let mut first = [0u8; 1];
        assert_eq!(stream.peek(&mut first).unwrap(), 1, "no CONNECT came");
        assert_eq!(first[0] >> 4, 1, "the first packet is a CONNECT");
        let mut got = 0;
        if read {
            stream.set_nonblocking(true).unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            // Until nothing more is waiting (`WouldBlock`) or the client closed.
            while let Ok(n @ 1..) = stream.read(&mut buf) {
                got += n;
            }
        }
        reset_connection(stream).unwrap();
        got
    });
    (port, server)
}

/// Connects to `port` with user name, password and will of `size` bytes each (so the
/// CONNECT is about four times `size`), and returns the connect's error.
fn connect_error(port: u16, size: usize) -> paho::Error {
    let cli = paho::CreateOptionsBuilder::new()
        .server_uri(format!("tcp://127.0.0.1:{port}"))
        .client_id(unique("connect-loss"))
        .persistence(paho::PersistenceType::None)
        .create_client()
        .unwrap();
    let options = paho::ConnectOptionsBuilder::new()
        .connect_timeout(T)
        .user_name(filler(size))
        .password(filler(size))
        .will_message(paho::Message::new(filler(size), filler(size), 0))
        .finalize();
    cli.connect(options)
        .wait_for(T * 2)
        .expect_err("a connection reset before CONNACK fails the connect")
}

#[test]
fn a_reset_found_by_the_unfinished_write_of_connect_is_a_connect_completion_failure() {
    // About 240 kB of CONNECT: more than the client's send buffer and the server's
    // window hold, so Paho is still writing it (a pending write) when the reset comes,
    // and its next write finds the connection gone before any read does.
    // Should the reset come while Paho's first write is still in the kernel (a thread
    // preempted there), that write fails at once: "TCP/TLS connect failure", another
    // path than this test's, so it tries again.
    for _ in 0..5 {
        let (port, server) = resetting_server(false);
        let err = connect_error(port, 60_000);
        assert_eq!(server.join().unwrap(), 0);
        if matches!(err, paho::Error::TcpTlsConnectFailure) {
            continue;
        }
        assert!(
            matches!(err, paho::Error::TcpConnectCompletionFailure),
            "expected TcpConnectCompletionFailure, got {err:?} ({err})"
        );
        return;
    }
    panic!("in 5 tries the reset never came after Paho's first write of the CONNECT");
}

#[test]
fn a_reset_found_by_a_read_after_connect_was_written_is_a_connect_completion_failure() {
    // A small CONNECT, read whole before the reset: Paho is waiting for CONNACK, and its
    // read finds the connection gone (the way unpatched Paho already reported so).
    let (port, server) = resetting_server(true);
    let err = connect_error(port, 10);
    assert!(server.join().unwrap() > 0);
    assert!(
        matches!(err, paho::Error::TcpConnectCompletionFailure),
        "expected TcpConnectCompletionFailure, got {err:?} ({err})"
    );
}

/// A loopback server that resets every connection once the first bytes of its CONNECT
/// came (one thread per connection). Returns its port.
fn resetting_every_connection() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            thread::spawn(move || {
                stream.set_read_timeout(Some(T)).unwrap();
                let mut buf = [0u8; 256];
                let _ = stream.read(&mut buf);
                let _ = reset_connection(stream);
            });
        }
    });
    port
}

#[test]
fn a_failed_connect_never_fails_another_clients_connect() {
    // Eight threads connect one client after another, 100 each, to a server that resets
    // every connection after its CONNECT: each connect fails on its own socket, as a
    // completion failure. Unpatched, Paho closed a failed attempt's socket and then,
    // with its lock let go for a moment, looked the socket's number up again: when
    // another client's new connection had just been given that number, Paho failed that
    // connection too, with "socket error" (about 10 of these 800 connects).
    let port = resetting_every_connection();
    let workers: Vec<_> = (0..8)
        .map(|_| {
            thread::spawn(move || {
                (0..100)
                    .map(|_| connect_error(port, 10))
                    .filter(|err| !matches!(err, paho::Error::TcpConnectCompletionFailure))
                    .map(|err| format!("{err:?} ({err})"))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let wrong: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of 800 connects failed for another reason than their own reset: {wrong:?}",
        wrong.len()
    );
}
