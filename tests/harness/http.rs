//! A minimal blocking HTTP/1.1 client for talking to the apps under test.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a request may take before the test fails.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Sends one request (`Connection: close`, JSON content type when there is a body) and
/// returns the status code and the body. Panics if the server cannot be reached or does
/// not answer within 15 s. Blocking: from an async test, run it with `spawn_blocking`.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr)
        .unwrap_or_else(|e| panic!("cannot connect to the app at {addr}: {e}"));
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let content_type = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/json\r\n"
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: test\r\n{content_type}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out)
        .unwrap_or_else(|e| panic!("{method} {path}: no answer from {addr}: {e}"));
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}
