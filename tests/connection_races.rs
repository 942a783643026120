//! A connection that ends at an awkward moment: right after the broker accepted it, while
//! a SUBSCRIBE or UNSUBSCRIBE waits for its answer, while the client is being stopped
//! during a connect attempt. Nothing may hang or stay "connected" for ever, and a
//! graceful stop must never make the broker publish the last will. An `unsubscribe` the
//! broker did not answer (or that came while disconnected) is not undone by a persistent
//! session; two processes with one client id do not take the connection from each other
//! twice a second, and say so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{
    dynsec_plugin, expect_no_will, read_packet, spawn_will_client, unique, wait_until, AppProcess,
    Broker, LatencyProxy, Observer, Recorder,
};
use mqtt::{Client, Config, ProtocolVersion, QoS};

const T: Duration = Duration::from_secs(20);

/// The client id of every on_connect call.
static CONNECTED: Recorder<String> = Recorder::new();

/// (client id, topic) of every message `races` handled.
static RACES: Recorder<(String, String)> = Recorder::new();

/// Declared for every client of this binary: each connect subscribes it.
#[mqtt::on_message("races/#")]
fn races(client: mqtt::Mqtt, msg: mqtt::Message) {
    RACES.push((client.client_id().to_owned(), msg.topic().to_owned()));
}

/// (client id, topic) of every message no filter handler matched.
static OTHERS: Recorder<(String, String)> = Recorder::new();

#[mqtt::on_message]
fn others(client: mqtt::Mqtt, msg: mqtt::Message) {
    OTHERS.push((client.client_id().to_owned(), msg.topic().to_owned()));
}

#[mqtt::on_connect]
fn connected(client: mqtt::Mqtt) {
    CONNECTED.push(client.client_id().to_owned());
}

/// The client id of an MQTT 3.1.1 CONNECT (fixed header included).
fn client_id(connect: &[u8]) -> String {
    // The remaining length: one to four bytes after the first.
    let mut at = 1;
    while connect[at] & 0x80 != 0 {
        at += 1;
    }
    // Protocol name (2 + 4), level, flags, keep-alive.
    let id = at + 1 + 6 + 1 + 1 + 2;
    let len = usize::from(u16::from_be_bytes([connect[id], connect[id + 1]]));
    String::from_utf8(connect[id + 2..id + 2 + len].to_vec()).unwrap()
}

/// The packet id and number of filters of an MQTT 3.1.1 SUBSCRIBE.
fn subscribe_3(packet: &[u8]) -> (u16, usize) {
    let mut at = 1;
    while packet[at] & 0x80 != 0 {
        at += 1;
    }
    at += 1;
    let id = u16::from_be_bytes([packet[at], packet[at + 1]]);
    let mut rest = &packet[at + 2..];
    let mut n = 0;
    while rest.len() >= 3 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        rest = &rest[2 + len + 1..];
        n += 1;
    }
    (id, n)
}

/// A loopback MQTT 3.1.1 "broker" that accepts the first [`CLOSED`] connections of every
/// client id and closes each at once (CONNACK and the end of the stream in one go), and
/// serves the later ones (CONNACK, SUBACK granting QoS 0, PINGRESP) until the client goes. Returns
/// its port and the CONNECTs it received per client id.
fn broker_closing_first_connections() -> (u16, Arc<Mutex<HashMap<String, usize>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connects: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let seen = Arc::clone(&connects);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let seen = Arc::clone(&seen);
            thread::spawn(move || {
                let Ok(connect) = read_packet(&mut stream) else {
                    return;
                };
                assert_eq!(connect[0] >> 4, 1, "a CONNECT first: {connect:?}");
                let id = client_id(&connect);
                let nth = {
                    let mut seen = seen.lock().unwrap();
                    let n = seen.entry(id).or_default();
                    *n += 1;
                    *n
                };
                let _ = stream.write_all(&[0x20, 2, 0, 0]);
                if nth <= CLOSED {
                    let _ = stream.shutdown(Shutdown::Both);
                    return;
                }
                while let Ok(packet) = read_packet(&mut stream) {
                    let out = match packet[0] {
                        0x82 => {
                            let (id, n) = subscribe_3(&packet);
                            let mut out = vec![0x90, u8::try_from(2 + n).unwrap()];
                            out.extend_from_slice(&id.to_be_bytes());
                            out.extend(std::iter::repeat(0).take(n));
                            out
                        }
                        0xC0 => vec![0xD0, 0],
                        0xE0 => break,
                        _ => continue,
                    };
                    if stream.write_all(&out).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, connects)
}

/// Connections of each client closed right after their CONNACK: each is a chance for the
/// race below (about one in 40 lost it before the fix).
const CLOSED: usize = 5;

/// Finding: a connection lost right after its CONNACK left the client "connected" for
/// ever (no reconnect, ready, publishes hanging) when Paho's connection-lost callback
/// came before the driver learnt of the connect; and on_connect ran for a connection
/// already gone. 40 clients, each of whose first [`CLOSED`] connections the broker closes
/// right after accepting them: each must connect again until it has one that stays, and
/// on_connect runs once, for that one.
#[test]
fn a_connection_lost_right_after_its_connack_is_made_again() {
    const CLIENTS: usize = 40;
    let (port, connects) = broker_closing_first_connections();
    let ids: Vec<String> = (0..CLIENTS).map(|_| unique("connack-close")).collect();
    let clients: Vec<Client> = ids
        .iter()
        .map(|id| {
            Client::start(
                Config::builder()
                    .broker_url("127.0.0.1")
                    .port(port)
                    .client_id(id)
                    .reconnect_delay(Duration::from_millis(100), Duration::from_millis(200))
                    .build()
                    .unwrap(),
            )
            .unwrap()
        })
        .collect();
    let again = |id: &String| connects.lock().unwrap().get(id).copied().unwrap_or(0) > CLOSED;
    let all_again = wait_until(T, || ids.iter().all(again));
    let stuck: Vec<String> = ids
        .iter()
        .zip(&clients)
        .filter(|(id, _)| !again(id))
        .map(|(id, c)| {
            let h = c.handle();
            format!(
                "{id}: state {:?}, ready {}, connected {}",
                h.health().state(),
                h.health().is_ready(),
                h.is_connected()
            )
        })
        .collect();
    assert!(
        all_again,
        "{} of {CLIENTS} clients stopped connecting after a connection closed right after its CONNACK: {stuck:?}",
        stuck.len()
    );
    // Each client's connection that stays: ready, and its on_connect ran.
    assert!(wait_until(T, || clients
        .iter()
        .all(|c| c.handle().health().is_ready())));
    assert!(CONNECTED.wait_for(T, |c| ids.iter().all(|id| c.contains(id))));
    // Stopping hands every event already emitted to its handlers.
    drop(clients);
    let twice: Vec<(String, usize)> = ids
        .iter()
        .map(|id| (id.clone(), CONNECTED.count(|c| c == id)))
        .filter(|(_, n)| *n != 1)
        .collect();
    assert!(
        twice.is_empty(),
        "on_connect ran for a connection that was already lost: {twice:?}"
    );
}

/// A TCP proxy to a broker that can swallow what the client sends (read and dropped, so
/// the broker never answers it) and cut the connection.
struct SwallowProxy {
    port: u16,
    swallow: Arc<AtomicBool>,
    swallowed: Arc<AtomicUsize>,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl SwallowProxy {
    fn start(broker_port: u16) -> SwallowProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let swallow = Arc::new(AtomicBool::new(false));
        let swallowed = Arc::new(AtomicUsize::new(0));
        let streams: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (s, n, all) = (
            Arc::clone(&swallow),
            Arc::clone(&swallowed),
            Arc::clone(&streams),
        );
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(broker) = TcpStream::connect(("127.0.0.1", broker_port)) else {
                    continue;
                };
                all.lock().unwrap().push(client.try_clone().unwrap());
                all.lock().unwrap().push(broker.try_clone().unwrap());
                let (mut from_client, mut to_broker) = (client.try_clone().unwrap(), broker);
                let (mut from_broker, mut to_client) = (to_broker.try_clone().unwrap(), client);
                let (s, n) = (Arc::clone(&s), Arc::clone(&n));
                thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(got @ 1..) = from_client.read(&mut buf) {
                        if s.load(Ordering::SeqCst) {
                            n.fetch_add(got, Ordering::SeqCst);
                        } else if to_broker.write_all(&buf[..got]).is_err() {
                            break;
                        }
                    }
                    let _ = to_broker.shutdown(Shutdown::Both);
                });
                thread::spawn(move || {
                    let _ = std::io::copy(&mut from_broker, &mut to_client);
                    let _ = to_client.shutdown(Shutdown::Both);
                });
            }
        });
        SwallowProxy {
            port,
            swallow,
            swallowed,
            streams,
        }
    }

    /// Ends every connection (both sides) and passes the client's bytes on again.
    fn cut(&self) {
        self.swallow.store(false, Ordering::SeqCst);
        self.end_all();
    }

    /// Ends every connection (both sides).
    fn end_all(&self) {
        for s in self.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Subscribe,
    Unsubscribe,
}

/// How the wait for an answer ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// The connection is cut under the client.
    Cut,
    /// The app stops the client (`Mqtt::disconnect`).
    Stop,
}

/// A persistent session through a [`SwallowProxy`]: `op` is sent, swallowed, then the
/// connection is cut. Paho C keeps waiting for the answer of a persistent session's
/// SUBSCRIBE/UNSUBSCRIBE after the connection is gone (it fails them only when it cleans
/// the session), so the call hung for ever; it must end with `Error::Unanswered`.
fn cut_while_waiting(version: ProtocolVersion, op: Op) {
    end_while_waiting(version, op, End::Cut);
}

/// [`cut_while_waiting`], or the app stopping the client instead of the cut: the error
/// says which ended the wait.
fn end_while_waiting(version: ProtocolVersion, op: Op, end: End) {
    let s = Swallowing::start("unanswered", version);
    let h = s.client.handle();
    if let Op::Unsubscribe = op {
        s.rt.block_on(h.subscribe(&s.filter, QoS::AtLeastOnce))
            .unwrap();
    }
    s.proxy.swallow.store(true, Ordering::SeqCst);
    let (tx, rx) = std::sync::mpsc::channel();
    let h2 = h.clone();
    let f = s.filter.clone();
    thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let result = match op {
            Op::Subscribe => rt.block_on(h2.subscribe(&f, QoS::AtLeastOnce)),
            Op::Unsubscribe => rt.block_on(h2.unsubscribe(&f)),
        };
        let _ = tx.send(result);
    });
    // The request is on its way, swallowed: then the connection goes.
    assert!(wait_until(T, || s.proxy.swallowed.load(Ordering::SeqCst) > 0));
    match end {
        End::Cut => s.proxy.cut(),
        End::Stop => s.rt.block_on(h.disconnect()),
    }
    let result = rx.recv_timeout(T).unwrap_or_else(|_| {
        panic!("{op:?} still waiting {T:?} after its connection was cut ({version:?})")
    });
    let request = match op {
        Op::Subscribe => "SUBSCRIBE",
        Op::Unsubscribe => "UNSUBSCRIBE",
    };
    match result {
        Err(
            ref e @ mqtt::Error::Unanswered {
                request: r,
                filter: ref f,
                ..
            },
        ) => {
            assert_eq!((r, f.as_str()), (request, s.filter.as_str()));
            let why = match end {
                End::Cut => "the connection to the broker ended before it answered",
                End::Stop => "the MQTT client was stopped before the broker answered",
            };
            assert!(e.to_string().starts_with(why), "{end:?}: {e}");
        }
        other => panic!("{op:?} after {end:?} ({version:?}): {other:?}"),
    }
    if end == End::Stop {
        return;
    }
    // The client connects again, and a subscription asked for then is answered.
    assert!(wait_until(T, || h.health().is_ready()));
    s.rt.block_on(h.subscribe(&format!("{}/after", s.id), QoS::AtLeastOnce))
        .unwrap();
    match op {
        Op::Subscribe => assert!(
            h.topics().iter().any(|(f, _)| *f == s.filter),
            "{:?}",
            h.topics()
        ),
        // The session kept the subscription the swallowed UNSUBSCRIBE was to end.
        Op::Unsubscribe => nothing_arrives_on(&s.broker, &s.id, &s.filter, version),
    }
}

/// A persistent client ([`persistent_client`], id made from a prefix) connected to a new
/// broker through a [`SwallowProxy`], ready, with a runtime to call it from and a filter
/// (`{id}/t`) for the test's SUBSCRIBE or UNSUBSCRIBE.
///
/// The fields drop in their order: the runtime, then the client (its graceful stop still
/// reaches the broker), the proxy and last the broker.
struct Swallowing {
    rt: tokio::runtime::Runtime,
    client: Client,
    proxy: SwallowProxy,
    broker: Broker,
    id: String,
    filter: String,
}

impl Swallowing {
    fn start(id_prefix: &str, version: ProtocolVersion) -> Swallowing {
        let broker = Broker::start();
        let proxy = SwallowProxy::start(broker.port());
        let id = unique(id_prefix);
        let client = persistent_client(proxy.port, &id, version);
        let h = client.handle();
        assert!(wait_until(T, || h.health().is_ready()));
        let filter = format!("{id}/t");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        Swallowing {
            rt,
            client,
            proxy,
            broker,
            id,
            filter,
        }
    }
}

/// A client with a persistent session (kept 600 s on MQTT 5) through `port`, retrying
/// every 100-200 ms.
fn persistent_client(port: u16, id: &str, version: ProtocolVersion) -> Client {
    let config = Config::builder()
        .broker_url("127.0.0.1")
        .port(port)
        .client_id(id)
        .protocol_version(version)
        .clean_session(false)
        .reconnect_delay(Duration::from_millis(100), Duration::from_millis(200));
    let config = match version {
        ProtocolVersion::V5 => config.session_expiry(Duration::from_secs(600)),
        _ => config,
    };
    Client::start(config.build().unwrap()).unwrap()
}

/// Client `id`, reconnected to its session (on_connect ran twice: the connect did all it
/// does first) and subscribed to `{id}/after`, receives nothing on `filter`, which it
/// unsubscribed: a message published on `filter`, then one on `{id}/after`, and only the
/// second arrives.
fn nothing_arrives_on(broker: &Broker, id: &str, filter: &str, version: ProtocolVersion) {
    assert!(
        CONNECTED.wait_for(T, |c| c.iter().filter(|c| *c == id).count() >= 2),
        "not reconnected ({version:?})"
    );
    let after = format!("{id}/after");
    let publisher = Observer::connect(broker);
    publisher.publish(filter, "unsubscribed", 1);
    publisher.publish(&after, "after", 1);
    assert!(
        OTHERS.wait_for(T, |m| m.iter().any(|(c, t)| c == id && *t == after)),
        "nothing arrived on {after} ({version:?})"
    );
    assert_eq!(
        OTHERS.count(|(c, t)| c == id && t == filter),
        0,
        "a message arrived on `{filter}`, unsubscribed before the reconnect: the session kept the subscription ({version:?})"
    );
}

/// Finding: with a persistent session, an `unsubscribe` while disconnected returned `Ok`
/// and sent nothing, and the session the next connect found still had the subscription:
/// its messages kept coming, although `topics()` no longer listed the filter.
fn unsubscribe_while_reconnecting(version: ProtocolVersion) {
    let s = Swallowing::start("unsub-down", version);
    let h = s.client.handle();
    s.rt.block_on(h.subscribe(&s.filter, QoS::AtLeastOnce))
        .unwrap();
    // Down, and the attempts to reconnect held (their CONNECT swallowed).
    s.proxy.swallow.store(true, Ordering::SeqCst);
    s.proxy.end_all();
    assert!(wait_until(T, || !h.is_connected()));
    s.rt.block_on(h.unsubscribe(&s.filter)).unwrap();
    assert!(!h.topics().iter().any(|(f, _)| *f == s.filter));
    s.proxy.cut();
    assert!(wait_until(T, || h.health().is_ready()));
    s.rt.block_on(h.subscribe(&format!("{}/after", s.id), QoS::AtLeastOnce))
        .unwrap();
    nothing_arrives_on(&s.broker, &s.id, &s.filter, version);
}

#[test]
fn an_unsubscribe_while_reconnecting_ends_the_sessions_subscription_v311() {
    unsubscribe_while_reconnecting(ProtocolVersion::V311);
}

#[test]
fn an_unsubscribe_while_reconnecting_ends_the_sessions_subscription_v5() {
    unsubscribe_while_reconnecting(ProtocolVersion::V5);
}

/// Finding: two processes with one fixed client id took the connection from each other
/// every half second for ever (each connect brought the retry delay back to its
/// minimum), and without a logger nothing said why. Here `tests/bin/config_app.rs`
/// (no logger; its default client) and a client of this process share an id on MQTT 5:
/// the connects stay
/// few, and the app's stderr names `MQTT_CLIENT_ID`.
#[test]
fn two_processes_with_one_client_id_back_off_and_say_so() {
    let broker = Broker::start();
    let id = unique("same-id");
    let mut command = Command::new(env!("CARGO_BIN_EXE_config_app"));
    for (k, v) in [
        ("MQTT_BROKER_URL", "127.0.0.1".to_owned()),
        ("MQTT_BROKER_PORT", broker.port().to_string()),
        ("MQTT_CLIENT_ID", id.clone()),
        ("MQTT_PROTOCOL_VERSION", "5".to_owned()),
        ("MQTT_RECONNECT_MIN_DELAY", "0.1".to_owned()),
        ("MQTT_RECONNECT_MAX_DELAY", "30".to_owned()),
        // The app's second client, on its own id.
        ("MQTT2_BROKER_URL", "127.0.0.1".to_owned()),
        ("MQTT2_BROKER_PORT", broker.port().to_string()),
        ("MQTT2_CLIENT_ID", unique("same-id-2")),
    ] {
        command.env(k, v);
    }
    let stderr = tempfile::NamedTempFile::new().unwrap();
    command.stderr(stderr.reopen().unwrap());
    let app = AppProcess::spawn("config_app", command);
    app.expect_line(T, |l| l.starts_with("listening "));
    let config = Config::builder()
        .broker_url("127.0.0.1")
        .port(broker.port())
        .client_id(&id)
        .protocol_version(ProtocolVersion::V5)
        .reconnect_delay(Duration::from_millis(100), Duration::from_secs(30));
    let client = Client::start(config.build().unwrap()).unwrap();
    let h = client.handle();
    let said = || {
        std::fs::read_to_string(stderr.path())
            .unwrap()
            .lines()
            .filter(|l| l.contains("MQTT_CLIENT_ID") && l.contains(&id))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert!(
        wait_until(T, || !said().is_empty()),
        "the app never said why its connection keeps being taken; stderr: {}",
        std::fs::read_to_string(stderr.path()).unwrap()
    );
    // Before: about 4 connects a second, each.
    let many = 10;
    assert!(
        !wait_until(Duration::from_secs(5), || h.health().connects() > many),
        "{} connects: the two clients kept taking the connection from each other",
        h.health().connects()
    );
    assert_eq!(said().len(), 1, "said more than once: {:?}", said());
    drop(app);
    drop(client);
}

#[test]
fn a_subscribe_waiting_for_its_suback_ends_when_the_connection_is_cut_v311() {
    cut_while_waiting(ProtocolVersion::V311, Op::Subscribe);
}

#[test]
fn a_subscribe_waiting_for_its_suback_ends_when_the_connection_is_cut_v5() {
    cut_while_waiting(ProtocolVersion::V5, Op::Subscribe);
}

#[test]
fn an_unsubscribe_waiting_for_its_unsuback_ends_when_the_connection_is_cut_v311() {
    cut_while_waiting(ProtocolVersion::V311, Op::Unsubscribe);
}

#[test]
fn an_unsubscribe_waiting_for_its_unsuback_ends_when_the_connection_is_cut_v5() {
    cut_while_waiting(ProtocolVersion::V5, Op::Unsubscribe);
}

/// The app stops the client while a SUBSCRIBE or UNSUBSCRIBE waits for its answer: the
/// error says so, not that the connection ended.
#[test]
fn a_request_waiting_for_its_answer_when_the_app_stops_the_client_says_so() {
    end_while_waiting(ProtocolVersion::V311, Op::Subscribe, End::Stop);
    end_while_waiting(ProtocolVersion::V5, Op::Unsubscribe, End::Stop);
}

/// Finding: a graceful stop while the connect attempt was under way sent no DISCONNECT;
/// the connection completed afterwards and, when the process exited, the broker
/// published the last will. The broker's replies come 1 s late; the app (`will_client
/// early`) drops its client 300 ms after starting it.
#[test]
fn a_stop_during_a_connect_attempt_never_makes_the_broker_publish_the_will() {
    stop_during_connect_attempt("early");
}

/// The same with `Mqtt::disconnect()`.
#[test]
fn a_disconnect_during_a_connect_attempt_never_makes_the_broker_publish_the_will() {
    stop_during_connect_attempt("early-disconnect");
}

fn stop_during_connect_attempt(mode: &str) {
    let broker = Broker::start();
    let proxy = LatencyProxy::start(broker.port(), Duration::from_secs(1));
    let watcher = Observer::connect(&broker);
    let topic = format!("status/{}", unique("will-early"));
    watcher.subscribe(&topic, 1);
    let id = unique("willearly");
    let (mut child, _out) = spawn_will_client(
        env!("CARGO_BIN_EXE_will_client"),
        proxy.port(),
        &id,
        &topic,
        mode,
        "dropped",
    );
    assert!(child.wait().unwrap().success());
    // The broker learnt of the client (its CONNECT came at once) and saw it go.
    assert!(
        wait_until(T, || {
            let log = broker.log();
            log.contains(&format!("Client {id} disconnected"))
                || log.contains(&format!("Client {id} closed its connection"))
        }),
        "{}",
        broker.log_tail(20)
    );
    expect_no_will(
        &watcher,
        &topic,
        T,
        &format!(
            "the broker published the last will after a graceful stop during the connect attempt: {}",
            broker.log_tail(20)
        ),
    );
}

/// Anonymous clients may do anything, and subscribe to `races/#` if `allowed`.
fn dynsec(allowed: bool) -> String {
    format!(
        r#"{{
  "defaultACLAccess": {{"publishClientSend": true, "publishClientReceive": true,
                       "subscribe": true, "unsubscribe": true}},
  "clients": [],
  "groups": [{{"groupname": "anonymous", "roles": [{{"rolename": "races"}}]}}],
  "roles": [{{"rolename": "races", "acls": [
    {{"acltype": "subscribePattern", "topic": "races/#", "priority": 0, "allow": {allowed}}}]}}],
  "anonymousGroup": "anonymous"
}}"#
    )
}

/// Finding: a handler's filter the broker refused was dropped from the filters subscribed
/// at each connect, so after the ACL changed (or on a failover broker that allows it) the
/// handler stayed deaf until a restart. It is asked for again at every connect.
#[test]
fn a_handler_filter_refused_once_is_asked_for_again_at_the_next_connect() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dynamic-security.json");
    std::fs::write(&file, dynsec(false)).unwrap();
    let broker = Broker::builder()
        .extra(format!("plugin {}", dynsec_plugin().display()))
        .extra(format!("plugin_opt_config_file {}", file.display()))
        .start();
    let id = unique("refused-again");
    let client = Client::start(
        broker
            .config(&id)
            .reconnect_delay(Duration::from_millis(100), Duration::from_millis(200))
            .build()
            .unwrap(),
    )
    .unwrap();
    let h = client.handle();
    assert!(
        wait_until(T, || h.health().refused_subscriptions() == ["races/#"]),
        "the refusal was not reported: {:?}",
        h.health()
    );
    // The ACL now allows it: after the broker restarts, the handler receives.
    std::fs::write(&file, dynsec(true)).unwrap();
    broker.restart();
    assert!(
        wait_until(T, || h.health().connects() == 2
            && h.health().refused_subscriptions().is_empty()),
        "the handler's filter was not subscribed at the next connect: {:?}, {}",
        h.health(),
        broker.log_tail(20)
    );
    Observer::connect(&broker).publish("races/after", "x", 1);
    assert!(
        RACES.wait_for(T, |g| g.iter().any(|(i, t)| *i == id && t == "races/after")),
        "the handler of a filter refused once never received: {}",
        broker.log_tail(20)
    );
}
