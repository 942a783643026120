//! Starts rumqttd: its router thread, and its MQTT 3.1.1 listener on a thread of ours.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::task::Poll;
use std::time::Duration;

use super::trace;
use rumqttd::alerts::AlertsLink;
use rumqttd::protocol::v4::V4;
use rumqttd::{ConnectionSettings, LinkType, Router, RouterConfig, Server, ServerSettings};

/// Log target of the embedded broker.
pub(super) const TARGET: &str = "flask_mqtt::embedded";
/// The largest remaining length (variable header and payload: for a PUBLISH, 2 + the
/// topic, 2 for a packet identifier, and the payload) of a packet the embedded broker
/// accepts: rumqttd closes the connection of a client that sends a longer one (it checks
/// its `max_payload_size` against the remaining length).
const MAX_REMAINING: u32 = 4 << 20;
/// rumqttd's `max_payload_size`, and its segment size.
const MAX_PAYLOAD: usize = MAX_REMAINING as usize;
/// The largest packet the embedded broker accepts, as MQTT counts a packet's size (the
/// whole packet, MQTT 5.0 §3.1.2.11.4): a type byte, the remaining length in 4 bytes (it
/// is over 2 MiB), and [`MAX_REMAINING`]. It speaks MQTT 3.1.1, so it cannot announce it:
/// the client is told (`embedded::max_packet_size`) and refuses a larger PUBLISH itself.
pub(super) const MAX_PACKET_SIZE: u32 = 1 + 4 + MAX_REMAINING;

/// How long `spawn` waits for the listener thread to say it listens.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Free ports tried when none was asked for, in case another process takes one first.
const PORT_ATTEMPTS: usize = 16;

/// Why the broker did not start.
#[derive(Debug)]
pub(super) enum StartError {
    /// The port asked for could not be bound.
    Bind(SocketAddr, std::io::Error),
    /// Anything else: no thread, no runtime, no free port.
    Io(std::io::Error),
}

/// A started broker: where it listens, and whether it still does.
pub(super) struct Listening {
    pub(super) addr: SocketAddr,
    /// Set to `false` once the broker stopped listening (its router died), before that
    /// is reported.
    pub(super) alive: Arc<AtomicBool>,
}

/// Starts the router and a listener on `127.0.0.1:port` (a free port when `None`);
/// returns once the listener is bound. Both run until the process exits (rumqttd has no
/// way to stop its router), unless the router thread dies: a panic in rumqttd, its only
/// way to end. Then the listener stops listening, clears `Listening::alive` and reports
/// it (`visible::report`).
pub(super) fn spawn(port: Option<u16>) -> Result<Listening, StartError> {
    let (report, started) = mpsc::channel();
    let alive = Arc::new(AtomicBool::new(true));
    let alive_in_thread = Arc::clone(&alive);
    std::thread::Builder::new()
        .name("flask-mqtt-broker".into())
        .spawn(move || {
            // rumqttd's `tracing` events of this thread (listener, connections) go to
            // `log`, for the thread's life; see trace.rs.
            let _tracing = trace::scoped();
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = report.send(Err(StartError::Io(e)));
                    return;
                }
            };
            // rumqttd panics if it cannot spawn its router thread: that panic ends this
            // thread, not the caller's, and `spawn` reports it.
            let router_tx = Router::new(0, router_config()).spawn();
            // The router keeps the sending end of an alerts link until it ends: the end
            // of the receiving one says it did.
            let router_end = match AlertsLink::new(router_tx.clone()) {
                Ok(link) => link,
                Err(e) => {
                    let _ = report.send(Err(StartError::Io(std::io::Error::other(format!(
                        "rumqttd's router did not answer: {e}"
                    )))));
                    return;
                }
            };
            let server = |addr| Server::new(server_settings(addr), router_tx.clone(), V4);
            rt.block_on(listen(server, port, &router_end, &alive_in_thread, report));
        })
        .map_err(StartError::Io)?;
    match started.recv_timeout(START_TIMEOUT) {
        Ok(result) => result.map(|addr| Listening { addr, alive }),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(StartError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("the broker did not listen within {START_TIMEOUT:?}"),
        ))),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(StartError::Io(std::io::Error::other(
            "the broker thread ended before listening (see the log)",
        ))),
    }
}

async fn listen(
    server: impl Fn(SocketAddr) -> Server<V4>,
    port: Option<u16>,
    router_end: &AlertsLink,
    alive: &AtomicBool,
    report: mpsc::Sender<Result<SocketAddr, StartError>>,
) {
    for _ in 0..PORT_ATTEMPTS {
        let addr = match port {
            Some(p) => SocketAddr::from((Ipv4Addr::LOCALHOST, p)),
            None => match free_port() {
                Ok(addr) => addr,
                Err(e) => {
                    let _ = report.send(Err(StartError::Io(e)));
                    return;
                }
            },
        };
        let mut server = server(addr);
        // Boxed, to be dropped (closing the listener) before the end is reported.
        let mut serving = Box::pin(server.start(LinkType::Remote));
        // The first poll binds the listener (the address needs no lookup), then waits for
        // the first connection: pending means listening.
        match poll_once(serving.as_mut()).await {
            Poll::Pending => {
                let _ = report.send(Ok(addr));
                // Either way every client of the app loses its broker: seen with or
                // without a logger.
                let why = tokio::select! {
                    served = serving.as_mut() => served.err().map(|e| e.to_string()),
                    () = ended(router_end) => Some(
                        "its router thread ended (a panic in rumqttd, printed on stderr as \
                         \"thread 'router-0' panicked\"); no client can connect to it any \
                         more and it no longer listens: restart the process, or start a new \
                         one (`EmbeddedBroker::start`, or a client configured with `embedded`)"
                            .to_owned(),
                    ),
                };
                // Dropping the listener first: a client is refused at once rather than
                // accepted by a broker that cannot serve it, and a new broker can take
                // the port once `alive` says this one is gone.
                drop(serving);
                alive.store(false, Ordering::SeqCst);
                if let Some(why) = why {
                    crate::visible::report(
                        TARGET,
                        log::Level::Error,
                        &format_args!("the embedded MQTT broker on {addr} stopped: {why}"),
                    );
                }
                return;
            }
            Poll::Ready(Ok(())) => {
                let _ = report.send(Err(StartError::Io(std::io::Error::other(
                    "the listener returned at once",
                ))));
                return;
            }
            Poll::Ready(Err(e)) => {
                let io = io_error(&e);
                if port.is_none() && io.kind() == std::io::ErrorKind::AddrInUse {
                    continue; // taken since `free_port` looked: try another
                }
                let _ = report.send(Err(StartError::Bind(addr, io)));
                return;
            }
        }
    }
    let _ = report.send(Err(StartError::Io(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        format!("no free port on 127.0.0.1 after {PORT_ATTEMPTS} attempts"),
    ))));
}

/// Returns once rumqttd's router has ended, which drops the sending end of `link`.
async fn ended(link: &AlertsLink) {
    // The router sends alerts only when asked to, and nothing here asks: skip any.
    while link.next().await.is_ok() {}
}

/// Polls `fut` once.
async fn poll_once<F: Future + Unpin>(mut fut: F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(std::pin::Pin::new(&mut fut).poll(cx))).await
}

/// The `io::Error` inside rumqttd's server error (its type is not public).
fn io_error(e: &(dyn std::error::Error + 'static)) -> std::io::Error {
    match e.source().and_then(|s| s.downcast_ref::<std::io::Error>()) {
        Some(io) => std::io::Error::new(io.kind(), io.to_string()),
        None => std::io::Error::other(e.to_string()),
    }
}

fn free_port() -> std::io::Result<SocketAddr> {
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()
}

fn router_config() -> RouterConfig {
    RouterConfig {
        max_connections: 1024,
        max_outgoing_packet_count: 200,
        // Per subscription filter: at most 4 segments of 4 MiB are kept in memory for
        // subscribers that lag behind.
        max_segment_size: MAX_PAYLOAD,
        max_segment_count: 4,
        ..RouterConfig::default()
    }
}

fn server_settings(listen: SocketAddr) -> ServerSettings {
    ServerSettings {
        name: "flask-mqtt-embedded".into(),
        listen,
        tls: None,
        next_connection_delay_ms: 0,
        connections: ConnectionSettings {
            connection_timeout_ms: 10_000,
            max_payload_size: MAX_PAYLOAD,
            max_inflight_count: 1024,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    }
}
