//! [`WsProxy`]: MQTT over websockets in front of the harness's Mosquitto.
//!
//! # Why a proxy
//!
//! Debian 12's `mosquitto` 2.0.11 package is built without websockets
//! support: a `protocol websockets` listener makes it exit with "Unable to
//! start any listening sockets". The tests still need a real websocket
//! endpoint to prove that `MQTT_TRANSPORT=websockets` (`ws://`, `wss://`)
//! works end to end, so the harness puts a small websocket server in front
//! of the broker's plain TCP listener, the way `websockify` does: it accepts
//! the websocket handshake (subprotocol `mqtt`, on a configurable path,
//! optionally over TLS) and then only moves bytes. Every MQTT packet is
//! still parsed and answered by the real Mosquitto; the proxy never looks
//! inside a packet beyond its length.
//!
//! Broker to client, the proxy sends one websocket message per MQTT packet,
//! as Mosquitto's own websockets listener does; client to broker, it writes
//! the payload of every binary message as it comes (a websocket client may
//! split or merge packets across messages, TCP does not care).
//!
//! The proxy counts accepted websocket connections
//! ([`connections`](WsProxy::connections)), so a test can prove that its
//! traffic went through the websocket transport and not over plain TCP.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdTcpListener};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use openssl::ssl::{Ssl, SslAcceptor, SslFiletype, SslMethod};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::Message;

use crate::packet::packet_len;
use crate::tls::Pki;
use crate::Broker;

/// Websocket subprotocols the proxy accepts, best first: `mqtt` (MQTT 3.1.1
/// and 5, what Paho sends) and `mqttv3.1` (MQTT 3.1).
const SUBPROTOCOLS: [&str; 2] = ["mqtt", "mqttv3.1"];
/// How long dropping the proxy waits for its connections to be torn down.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);

/// Configures a [`WsProxy`]; see [`WsProxy::builder`].
#[derive(Debug, Clone)]
#[must_use = "a WsProxyBuilder does nothing until .start()"]
pub struct WsProxyBuilder {
    broker_port: u16,
    path: String,
    tls: Option<(PathBuf, PathBuf)>,
}

impl WsProxyBuilder {
    /// The HTTP path of the websocket endpoint (default `/mqtt`, the
    /// default of `MQTT_WEBSOCKET_PATH`). Handshakes on any other path are
    /// answered `404 Not Found`.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Serves secure websockets (`wss://`) with the server certificate and
    /// key of `pki` (the harness CA's; see [`Broker::pki`]).
    pub fn tls(mut self, pki: &Pki) -> Self {
        self.tls = Some((pki.server_cert.clone(), pki.server_key.clone()));
        self
    }

    /// Binds a free `127.0.0.1` port and starts serving on a thread of its
    /// own (with its own Tokio runtime), so tests need not be async. The
    /// port accepts connections as soon as this returns. Panics if the port
    /// cannot be bound or the certificate cannot be loaded.
    pub fn start(self) -> WsProxy {
        let acceptor = self.tls.as_ref().map(|(cert, key)| {
            tls_acceptor(cert, key).unwrap_or_else(|err| {
                panic!(
                    "WsProxy: loading {} / {}: {err}",
                    cert.display(),
                    key.display()
                )
            })
        });
        let listener = StdTcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .unwrap_or_else(|err| panic!("WsProxy: cannot bind 127.0.0.1:0: {err}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|err| panic!("WsProxy: local address: {err}"))
            .port();
        let stats = Arc::new(Stats::default());
        let setup = Arc::new(Setup {
            broker: SocketAddr::from((Ipv4Addr::LOCALHOST, self.broker_port)),
            path: self.path.clone(),
            acceptor,
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        let thread_stats = Arc::clone(&stats);
        let thread = std::thread::Builder::new()
            .name(format!("ws-proxy-{port}"))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(err) => {
                        log::error!("WsProxy: cannot build a Tokio runtime: {err}");
                        return;
                    }
                };
                rt.block_on(serve(listener, setup, thread_stats, stop_rx));
                rt.shutdown_timeout(SHUTDOWN_TIMEOUT);
            })
            .unwrap_or_else(|err| panic!("WsProxy: cannot spawn its thread: {err}"));
        WsProxy {
            port,
            path: self.path,
            secure: self.tls.is_some(),
            broker_port: self.broker_port,
            stats,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

/// A websocket server on a free `127.0.0.1` port that carries MQTT to a
/// [`Broker`]'s plain TCP listener, like `websockify`.
///
/// It exists because Debian 12's Mosquitto 2.0.11 is built without
/// websockets (a `protocol websockets` listener fails with "Unable to start
/// any listening sockets"): the real Mosquitto stays the broker, the proxy
/// is only the websocket transport. It answers the handshake on its path
/// (default `/mqtt`, else `404`) with subprotocol `mqtt` (a client that
/// offers neither `mqtt` nor `mqttv3.1` gets `400`), optionally over TLS
/// with the harness's server certificate, then moves bytes: one websocket
/// message per MQTT packet towards the client, binary message payloads as
/// they come towards the broker. [`connections`](Self::connections) counts
/// accepted handshakes, so a test can prove its traffic went through it.
///
/// # Example
///
/// ```no_run
/// use flask_mqtt_tests::{Broker, WsProxy};
///
/// let broker = Broker::builder().tls().start();
/// let ws = WsProxy::start(&broker); // ws://127.0.0.1:PORT/mqtt
/// let wss = WsProxy::builder(&broker).path("/secure").tls(broker.pki()).start();
/// assert!(wss.uri().starts_with("wss://127.0.0.1:"));
/// // ... connect clients to ws.uri() / wss.uri(), then:
/// assert!(ws.connections() >= 1);
/// ```
///
/// Dropping it stops the server and closes every connection it carries.
pub struct WsProxy {
    port: u16,
    path: String,
    secure: bool,
    broker_port: u16,
    stats: Arc<Stats>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl WsProxy {
    /// A plain websocket (`ws://`) proxy on path `/mqtt` to `broker`'s plain
    /// listener.
    pub fn start(broker: &Broker) -> WsProxy {
        WsProxy::builder(broker).start()
    }

    /// A builder for a proxy to `broker`'s plain listener ([`Broker::port`]).
    pub fn builder(broker: &Broker) -> WsProxyBuilder {
        WsProxyBuilder {
            broker_port: broker.port(),
            path: "/mqtt".to_owned(),
            tls: None,
        }
    }

    /// The port the proxy listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The websocket path (`/mqtt` unless set).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether it serves `wss://`.
    pub fn is_tls(&self) -> bool {
        self.secure
    }

    /// The URL to connect to: `ws://127.0.0.1:PORT/mqtt`, or `wss://...`
    /// with TLS. Usable as `MQTT_BROKER_URL` and as a paho server URI.
    pub fn uri(&self) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        format!("{scheme}://127.0.0.1:{}{}", self.port, self.path)
    }

    /// How many websocket handshakes succeeded so far (each one is a client
    /// connection carried to the broker; a client that reconnects counts
    /// again).
    pub fn connections(&self) -> usize {
        self.stats.connections.load(Ordering::SeqCst)
    }

    /// How many connections failed before or during the websocket
    /// handshake: TLS handshake failures (e.g. the client did not trust the
    /// certificate), wrong path, missing `mqtt` subprotocol.
    pub fn rejected(&self) -> usize {
        self.stats.rejected.load(Ordering::SeqCst)
    }

    /// Why the last rejected or failed connection failed, for assertions
    /// and failure messages.
    pub fn last_error(&self) -> Option<String> {
        self.stats
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl fmt::Debug for WsProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsProxy")
            .field("uri", &self.uri())
            .field("broker_port", &self.broker_port)
            .field("connections", &self.connections())
            .field("rejected", &self.rejected())
            .field("last_error", &self.last_error())
            .finish()
    }
}

impl Drop for WsProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What every connection task needs.
struct Setup {
    broker: SocketAddr,
    path: String,
    acceptor: Option<SslAcceptor>,
}

#[derive(Default)]
struct Stats {
    connections: AtomicUsize,
    rejected: AtomicUsize,
    last_error: Mutex<Option<String>>,
}

impl Stats {
    fn failed(&self, during_handshake: bool, error: String) {
        log::debug!("WsProxy: {error}");
        if during_handshake {
            self.rejected.fetch_add(1, Ordering::SeqCst);
        }
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(error);
    }
}

fn tls_acceptor(cert: &std::path::Path, key: &std::path::Path) -> Result<SslAcceptor, String> {
    let mut b =
        SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).map_err(|e| e.to_string())?;
    b.set_private_key_file(key, SslFiletype::PEM)
        .map_err(|e| format!("private key: {e}"))?;
    b.set_certificate_chain_file(cert)
        .map_err(|e| format!("certificate: {e}"))?;
    b.check_private_key()
        .map_err(|e| format!("key does not match the certificate: {e}"))?;
    Ok(b.build())
}

async fn serve(
    listener: StdTcpListener,
    setup: Arc<Setup>,
    stats: Arc<Stats>,
    mut stop: oneshot::Receiver<()>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(err) => {
            stats.failed(false, format!("cannot listen: {err}"));
            return;
        }
    };
    loop {
        tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let setup = Arc::clone(&setup);
                    let stats = Arc::clone(&stats);
                    tokio::spawn(async move {
                        if let Err((during_handshake, err)) = connection(tcp, &setup, &stats).await {
                            stats.failed(during_handshake, format!("connection from {peer}: {err}"));
                        }
                    });
                }
                Err(err) => {
                    stats.failed(false, format!("accept: {err}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
}

/// A connection error, and whether it happened before the websocket
/// handshake completed.
type ConnResult = Result<(), (bool, String)>;

async fn connection(tcp: TcpStream, setup: &Setup, stats: &Stats) -> ConnResult {
    let _ = tcp.set_nodelay(true);
    match &setup.acceptor {
        None => websocket(tcp, setup, stats).await,
        Some(acceptor) => {
            let ssl = Ssl::new(acceptor.context()).map_err(|e| (true, format!("TLS: {e}")))?;
            let mut tls =
                tokio_openssl::SslStream::new(ssl, tcp).map_err(|e| (true, format!("TLS: {e}")))?;
            Pin::new(&mut tls)
                .accept()
                .await
                .map_err(|e| (true, format!("TLS handshake: {e}")))?;
            websocket(tls, setup, stats).await
        }
    }
}

async fn websocket<S>(stream: S, setup: &Setup, stats: &Stats) -> ConnResult
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let path = setup.path.as_str();
    // Why the handshake callback refused (tungstenite's error only has the status).
    let refusal: Mutex<Option<String>> = Mutex::new(None);
    let refuse = |status: StatusCode, why: String| {
        *refusal.lock().unwrap_or_else(PoisonError::into_inner) = Some(why.clone());
        error_response(status, why)
    };
    // The signature is tungstenite's handshake callback's.
    #[allow(clippy::result_large_err)]
    let check = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        if req.uri().path() != path {
            return Err(refuse(
                StatusCode::NOT_FOUND,
                format!("no websocket endpoint at {}; try {path}", req.uri().path()),
            ));
        }
        let offered: Vec<String> = req
            .headers()
            .get_all("Sec-WebSocket-Protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|p| p.trim().to_owned())
            .collect();
        let Some(chosen) = SUBPROTOCOLS
            .iter()
            .find(|p| offered.iter().any(|o| o.eq_ignore_ascii_case(p)))
        else {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                format!("expected Sec-WebSocket-Protocol: mqtt, got {offered:?}"),
            ));
        };
        resp.headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static(chosen));
        Ok(resp)
    };
    let ws = match tokio_tungstenite::accept_hdr_async(stream, check).await {
        Ok(ws) => ws,
        Err(e) => {
            let why = refusal
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            return Err((
                true,
                match why {
                    Some(why) => format!("websocket handshake refused ({e}): {why}"),
                    None => format!("websocket handshake: {e}"),
                },
            ));
        }
    };
    stats.connections.fetch_add(1, Ordering::SeqCst);

    let broker = TcpStream::connect(setup.broker).await.map_err(|e| {
        (
            false,
            format!("connecting to the broker at {}: {e}", setup.broker),
        )
    })?;
    let _ = broker.set_nodelay(true);
    let (mut from_broker, mut to_broker) = broker.into_split();
    let (mut to_client, mut from_client) = ws.split();

    let upstream = async {
        while let Some(msg) = from_client.next().await {
            match msg.map_err(|e| format!("reading from the client: {e}"))? {
                Message::Binary(data) => to_broker
                    .write_all(&data)
                    .await
                    .map_err(|e| format!("writing to the broker: {e}"))?,
                Message::Text(_) => {
                    return Err(
                        "the client sent a text message; MQTT over websockets is binary only"
                            .to_owned(),
                    )
                }
                Message::Close(_) => break,
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
        let _ = to_broker.shutdown().await;
        Ok(())
    };
    let downstream = async {
        let mut framer = MqttFramer::default();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = from_broker
                .read(&mut buf)
                .await
                .map_err(|e| format!("reading from the broker: {e}"))?;
            if n == 0 {
                break;
            }
            for packet in framer.push(&buf[..n])? {
                to_client
                    .send(Message::Binary(packet.into()))
                    .await
                    .map_err(|e| format!("writing to the client: {e}"))?;
            }
        }
        // The broker closed the connection: say so to the client.
        let _ = to_client.send(Message::Close(None)).await;
        Ok(())
    };
    let outcome: Result<(), String> = tokio::select! {
        r = upstream => r,
        r = downstream => r,
    };
    outcome.map_err(|e| (false, e))
}

fn error_response(status: StatusCode, text: String) -> ErrorResponse {
    let mut resp = ErrorResponse::new(Some(text));
    *resp.status_mut() = status;
    resp
}

/// Cuts the broker's byte stream into whole MQTT packets.
#[derive(Default)]
struct MqttFramer {
    buf: Vec<u8>,
}

impl MqttFramer {
    /// Adds `data` and returns every packet that is now complete.
    fn push(&mut self, data: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        self.buf.extend_from_slice(data);
        let mut packets = Vec::new();
        while let Some(len) = packet_len(&self.buf)? {
            if self.buf.len() < len {
                break;
            }
            packets.push(self.buf.drain(..len).collect());
        }
        Ok(packets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framer_splits_and_joins() {
        let mut f = MqttFramer::default();
        // CONNACK and a SUBACK in one read, then a PUBLISH in two reads.
        let got = f
            .push(&[0x20, 0x02, 0, 0, 0x90, 0x03, 0, 1, 0, 0x30])
            .unwrap();
        assert_eq!(got, vec![vec![0x20, 0x02, 0, 0], vec![0x90, 0x03, 0, 1, 0]]);
        assert!(f.push(&[0x05, 0, 1, b't']).unwrap().is_empty());
        let got = f.push(b"xy").unwrap();
        assert_eq!(got, vec![vec![0x30, 0x05, 0, 1, b't', b'x', b'y']]);
        assert!(f.buf.is_empty());
    }
}
