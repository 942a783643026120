//! Request/reply with a persistent session whose connection ends while a reply topic's
//! SUBSCRIBE or UNSUBSCRIBE awaits its answer: the broker may have handled it, and a
//! session it keeps would hold the subscription for ever (one per such request, its
//! messages no reply to anything). A loopback server plays the MQTT 5 broker: it cuts
//! the first connection at that packet, and says the session is kept on the second.
//!
//! No handlers in this binary: the client subscribes nothing but its reply topics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{
    accept_v5, decode_subscribe_v5, decode_unsubscribe_v5, serve_v5, unique, wait_until,
    LoopbackSeen as Seen,
};
use mqtt::{Client, Config, Error, ProtocolVersion};

const T: Duration = Duration::from_secs(20);
/// How long the second connection is watched for the UNSUBSCRIBE.
const WATCH: Duration = Duration::from_secs(5);
const REPLY_TOPIC: &str = "svc/replies";

/// Which packet of the reply topic the first connection ends at, unanswered.
#[derive(Clone, Copy)]
enum CutAt {
    Subscribe,
    Unsubscribe,
}

/// The loopback broker: the first connection is closed when the reply topic's `cut`
/// packet arrives, unanswered; the second is accepted once `go` says so, with the
/// session kept, and watched until the client unsubscribes the reply topic (or for
/// [`WATCH`]). Returns its port; the thread returns what the second connection brought.
fn cutting_broker(cut: CutAt, go: mpsc::Receiver<()>) -> (u16, std::thread::JoinHandle<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let mut first = accept_v5(&listener, false, T);
        let cut_here = |packet: &[u8]| {
            let filters = match cut {
                CutAt::Subscribe => decode_subscribe_v5(packet),
                CutAt::Unsubscribe => decode_unsubscribe_v5(packet),
            };
            filters.is_some_and(|(_, f)| f.iter().any(|f| f == REPLY_TOPIC))
        };
        let cut_seen = serve_v5(
            &mut first,
            &mut Seen::default(),
            Instant::now() + T,
            cut_here,
        );
        assert!(
            cut_seen,
            "the first connection never brought the packet to cut at"
        );
        drop(first);
        go.recv_timeout(T).unwrap();
        let mut second = accept_v5(&listener, true, T);
        let mut seen = Seen::default();
        let unsubscribed = |packet: &[u8]| {
            decode_unsubscribe_v5(packet).is_some_and(|(_, f)| f.iter().any(|f| f == REPLY_TOPIC))
        };
        if serve_v5(&mut second, &mut seen, Instant::now() + WATCH, unsubscribed) {
            seen.unsubscribed.push(REPLY_TOPIC.to_owned());
        }
        seen
    });
    (port, server)
}

/// A client with a persistent session (MQTT 5: clean start off, an hour's expiry) on the
/// loopback broker at `port`; connected.
fn start(port: u16) -> Client {
    let client = Client::start(
        Config::builder()
            .broker_url("127.0.0.1")
            .port(port)
            .client_id(unique("reply-session"))
            .protocol_version(ProtocolVersion::V5)
            .clean_session(false)
            .session_expiry(Duration::from_secs(3600))
            .reconnect_delay(Duration::from_millis(100), Duration::from_millis(200))
            .build()
            .unwrap(),
    )
    .unwrap();
    let handle = client.handle();
    assert!(wait_until(T, || handle.is_connected()), "never connected");
    client
}

/// The request ends (its timeout) while its connection is gone; the broker is let take
/// the next connection then, and what it brings is returned.
async fn request_across_a_cut(cut: CutAt) -> Seen {
    let (go, gate) = mpsc::channel();
    let (port, server) = cutting_broker(cut, gate);
    let client = start(port);
    let res = client
        .handle()
        .request("svc/ask", "?")
        .reply_to(REPLY_TOPIC)
        .timeout(Duration::from_secs(1))
        .await;
    assert!(matches!(res, Err(Error::NoReply { .. })), "{res:?}");
    go.send(()).unwrap();
    let seen = tokio::task::spawn_blocking(move || server.join().unwrap())
        .await
        .unwrap();
    client.shutdown().await;
    seen
}

/// The broker took the reply topic's SUBSCRIBE and the connection ended before its
/// SUBACK; the request timed out meanwhile. The broker may have granted it: on the
/// next connection, whose session it kept, the client unsubscribes the topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_topic_subscribed_unanswered_is_unsubscribed_in_the_kept_session() {
    let seen = request_across_a_cut(CutAt::Subscribe).await;
    assert!(
        seen.unsubscribed.iter().any(|f| f == REPLY_TOPIC),
        "the reply topic the kept session may hold was not unsubscribed: {seen:?}"
    );
    assert!(
        !seen.subscribed.iter().any(|f| f == REPLY_TOPIC),
        "{seen:?}"
    );
}

/// The request timed out with its reply topic subscribed; the connection ended before
/// the broker answered the UNSUBSCRIBE: on the next connection, whose session the broker
/// kept, the client unsubscribes the topic again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_topic_unsubscribed_unanswered_is_unsubscribed_again_in_the_kept_session() {
    let seen = request_across_a_cut(CutAt::Unsubscribe).await;
    assert!(
        seen.unsubscribed.iter().any(|f| f == REPLY_TOPIC),
        "the reply topic the kept session may hold was not unsubscribed: {seen:?}"
    );
}
