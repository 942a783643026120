//! `Mqtt::request` against a real Mosquitto: replies from our own `Reply` handlers and
//! from a third-party responder (a raw Paho client, MQTT 5 and 3.1.1), concurrent
//! requests matched by Correlation Data, replies never reaching ordinary handlers,
//! timeouts, late replies, dropped request futures, and the typed errors.
//!
//! Each test starts its own broker and client; the handlers below belong to every client
//! of the binary. Waits are on events (replies, recorders) with deadlines.

// Test code: a failed expectation panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::IntoFuture;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::paho_mqtt as paho;
use flask_mqtt_tests::{unique, Broker, LogLines, Observer, Recorder};
use mqtt::{Client, Config, Error, ProtocolVersion, QoS};

const T: Duration = Duration::from_secs(20);

/// Every message an ordinary handler saw on a reply topic: must stay empty.
static REPLIES_SEEN: Recorder<String> = Recorder::new();
static CONNECTED: Recorder<String> = Recorder::new();

mqtt::publisher! {
    /// What the echo handler answered, for whoever listens.
    static ECHOED: u32 = "rq/echoed/{n}", qos = 1;
}

#[mqtt::on_connect]
fn connected(client: mqtt::Mqtt) {
    CONNECTED.push(client.client_id().to_owned());
}

/// Answers `echo <n>: <text>`; later requests sooner, so replies come back out of order.
/// Also publishes `n` through a declared publisher, from inside an MQTT handler.
#[mqtt::on_message("rq/echo/{n}", qos = 1, concurrency = 16, ack = "first")]
async fn echo(mqtt::Path(n): mqtt::Path<u32>, text: mqtt::Text, client: mqtt::Mqtt) -> mqtt::Reply {
    tokio::time::sleep(Duration::from_millis(u64::from(20 - n % 20) * 5)).await;
    ECHOED.publish(&client, [&n], &n).await.ok();
    mqtt::Reply::new(format!("echo {n}: {}", text.as_str())).qos(QoS::AtLeastOnce)
}

/// Subscribed to every client's reply topic: replies must not reach it.
#[mqtt::on_message("flask-mqtt/replies/#")]
fn reply_topic_handler(msg: mqtt::Message) {
    REPLIES_SEEN.push(msg.topic().to_owned());
}

/// Sees what no filter handler matched: replies on other topics must not reach it.
#[mqtt::on_message]
fn catch_all(msg: mqtt::Message) {
    if msg.topic().contains("replies") {
        REPLIES_SEEN.push(msg.topic().to_owned());
    }
}

fn start(broker: &Broker, version: ProtocolVersion) -> (Client, mqtt::Mqtt) {
    let id = unique("requester");
    let config = broker
        .config(&id)
        .protocol_version(version)
        .build()
        .unwrap();
    let client = Client::start(config).unwrap();
    assert!(
        CONNECTED.wait_for(T, |c| c.contains(&id)),
        "never connected: {}",
        broker.log()
    );
    let handle = client.handle();
    (client, handle)
}

/// A third-party responder: a raw Paho client that answers requests on `filter` with
/// `answer(request)` once `ready()` returns (it may wait: a delay, or a gate the test
/// opens), to the request's Response Topic with its Correlation
/// Data (MQTT 5), or to the topic named in the payload after `reply:` (MQTT 3.1.1).
struct Responder {
    client: paho::AsyncClient,
    thread: Option<JoinHandle<()>>,
    answered: Arc<AtomicUsize>,
}

impl Responder {
    fn start(
        broker: &Broker,
        v5: bool,
        filter: &str,
        mut ready: impl FnMut() + Send + 'static,
        answer: impl Fn(&paho::Message) -> String + Send + 'static,
    ) -> Responder {
        let client = paho::CreateOptionsBuilder::new()
            .server_uri(broker.uri())
            .client_id(unique("responder"))
            .mqtt_version(if v5 {
                paho::MQTT_VERSION_5
            } else {
                paho::MQTT_VERSION_3_1_1
            })
            .persistence(paho::PersistenceType::None)
            .create_client()
            .unwrap();
        let stream = client.start_consuming();
        let opts = if v5 {
            paho::ConnectOptionsBuilder::new_v5()
                .clean_start(true)
                .finalize()
        } else {
            paho::ConnectOptionsBuilder::new()
                .clean_session(true)
                .finalize()
        };
        client.connect(opts).wait_for(T).unwrap();
        client.subscribe(filter, 1).wait_for(T).unwrap();
        let answered = Arc::new(AtomicUsize::new(0));
        let (c, count) = (client.clone(), Arc::clone(&answered));
        let thread = std::thread::spawn(move || {
            while let Ok(Some(request)) = stream.recv() {
                ready();
                let props = request.properties();
                let mut builder = paho::MessageBuilder::new().payload(answer(&request)).qos(1);
                if v5 {
                    let Some(topic) = props.get_string(paho::PropertyCode::ResponseTopic) else {
                        continue;
                    };
                    let mut out = paho::Properties::new();
                    if let Some(data) = props.get_binary(paho::PropertyCode::CorrelationData) {
                        out.push_binary(paho::PropertyCode::CorrelationData, data)
                            .unwrap();
                    }
                    builder = builder.topic(topic).properties(out);
                } else {
                    let text = request.payload_str();
                    let Some((_, topic)) = text.split_once("reply:") else {
                        continue;
                    };
                    builder = builder.topic(topic.trim());
                }
                if c.publish(builder.finalize()).wait_for(T).is_ok() {
                    count.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        Responder {
            client,
            thread: Some(thread),
            answered,
        }
    }

    fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.client.stop_consuming();
        let _ = self.client.disconnect(None).wait_for(T);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn shutdown(client: Client) {
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_to_our_own_reply_handler_get_their_own_replies() {
    let broker = Broker::start();
    let (client, mqtt) = start(&broker, ProtocolVersion::V5);
    let observer = Observer::connect(&broker);
    observer.subscribe("rq/echoed/+", 1);

    let requests = (0..20u32).map(|n| {
        let mqtt = mqtt.clone();
        async move {
            let reply = mqtt
                .request(format!("rq/echo/{n}"), format!("hello {n}"))
                .qos(QoS::AtLeastOnce)
                .timeout(T)
                .await;
            (n, reply)
        }
    });
    for (n, reply) in futures::future::join_all(requests).await {
        let reply = reply.unwrap_or_else(|e| panic!("request {n}: {e}"));
        assert_eq!(reply.payload_str().unwrap(), format!("echo {n}: hello {n}"));
        assert_eq!(
            reply.topic(),
            format!("flask-mqtt/replies/{}", mqtt.client_id())
        );
        assert_eq!(reply.qos(), QoS::AtLeastOnce);
        let correlation = reply
            .as_paho()
            .properties()
            .get_binary(paho::PropertyCode::CorrelationData);
        assert_eq!(correlation.map(|c| c.len()), Some(24));
    }
    assert_eq!(mqtt.pending_requests(), 0);
    // The handler published through the declared publisher for each request.
    for n in 0..20u32 {
        let msg = observer.expect_message(&format!("rq/echoed/{n}"), T);
        assert_eq!(msg.payload_str(), n.to_string());
    }
    // A round trip after all of them: any reply that had leaked to a handler would have
    // been dispatched before it.
    mqtt.request("rq/echo/99", "last").timeout(T).await.unwrap();
    assert!(REPLIES_SEEN.is_empty(), "{:?}", REPLIES_SEEN.snapshot());
    shutdown(client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_third_party_responder_answers_on_the_response_topic() {
    let broker = Broker::start();
    let (client, mqtt) = start(&broker, ProtocolVersion::V5);
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    let responder = Responder::start(
        &broker,
        true,
        "tp/+/req",
        || {},
        move |req| {
            let rt = req
                .properties()
                .get_string(paho::PropertyCode::ResponseTopic)
                .unwrap_or_default();
            s.lock().unwrap().push(rt);
            format!("third party: {}", req.payload_str())
        },
    );

    let reply = mqtt.request("tp/a/req", "ping").timeout(T).await.unwrap();
    assert_eq!(reply.payload_str().unwrap(), "third party: ping");
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [format!("flask-mqtt/replies/{}", mqtt.client_id())]
    );
    // A reply topic of the caller's choosing (e.g. for a broker's access rules).
    let custom = unique("tp/custom/replies");
    let reply = mqtt
        .request("tp/b/req", "pong")
        .reply_to(&custom)
        .timeout(T)
        .await
        .unwrap();
    assert_eq!(reply.topic(), custom);
    assert_eq!(reply.payload_str().unwrap(), "third party: pong");
    assert!(flask_mqtt_tests::wait_until(T, || responder.answered() == 2));
    assert!(REPLIES_SEEN.is_empty(), "{:?}", REPLIES_SEEN.snapshot());
    drop(responder);
    shutdown(client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_replies_and_dropped_requests_leak_nothing_and_reach_no_handler() {
    let broker = Broker::start();
    let (client, mqtt) = start(&broker, ProtocolVersion::V5);
    let responder = Responder::start(
        &broker,
        true,
        "slow/req",
        || std::thread::sleep(Duration::from_millis(600)),
        |req| format!("late: {}", req.payload_str()),
    );

    // No reply within the timeout: a typed error, and the request is forgotten.
    let err = mqtt
        .request("slow/req", "one")
        .timeout(Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NoReply { ref topic, timeout, .. } if topic == "slow/req" && timeout == Duration::from_millis(100)),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "no reply to the request on `slow/req` within 100ms"
    );
    assert_eq!(mqtt.pending_requests(), 0);

    // A request future dropped while it waits: forgotten at once.
    let dropped = tokio::time::timeout(
        Duration::from_millis(100),
        mqtt.request("slow/req", "two").timeout(T).into_future(),
    )
    .await;
    assert!(
        dropped.is_err(),
        "the request should still have been waiting"
    );
    assert_eq!(mqtt.pending_requests(), 0);

    // Both late replies arrive (the responder answers in order), then this one: by the
    // time it is back, the two before it were routed, and dropped.
    let reply = mqtt.request("slow/req", "three").timeout(T).await.unwrap();
    assert_eq!(reply.payload_str().unwrap(), "late: three");
    assert!(flask_mqtt_tests::wait_until(T, || responder.answered() == 3));
    assert_eq!(mqtt.pending_requests(), 0);
    assert!(REPLIES_SEEN.is_empty(), "{:?}", REPLIES_SEEN.snapshot());
    drop(responder);
    shutdown(client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_311_needs_a_reply_topic_and_one_request_per_reply_topic() {
    let broker = Broker::start();
    let (client, mqtt) = start(&broker, ProtocolVersion::V311);
    // The responder answers a request only when the test lets it: one message on `gate`
    // per answer.
    let (gate, opened) = std::sync::mpsc::channel::<()>();
    let responder = Responder::start(
        &broker,
        false,
        "v3/req",
        move || {
            let _ = opened.recv_timeout(T);
        },
        |req| format!("v3 answer to {}", req.payload_str()),
    );

    let err = mqtt.request("v3/req", "no reply topic").await.unwrap_err();
    assert!(
        matches!(err, Error::ReplyTopicRequired { ref topic, .. } if topic == "v3/req"),
        "{err:?}"
    );

    let reply_topic = unique("v3/replies");
    let first = {
        let mqtt = mqtt.clone();
        let reply_topic = reply_topic.clone();
        tokio::spawn(async move {
            mqtt.request("v3/req", format!("first reply:{reply_topic}"))
                .reply_to(reply_topic)
                .timeout(T)
                .await
        })
    };
    // The first waits (the responder holds its answer): a second on the same reply topic
    // could not be told apart from it.
    assert!(flask_mqtt_tests::wait_until(T, || mqtt.pending_requests() == 1));
    let err = mqtt
        .request("v3/req", format!("second reply:{reply_topic}"))
        .reply_to(&reply_topic)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::ReplyTopicBusy { reply_topic: ref t, .. } if *t == reply_topic),
        "{err:?}"
    );

    gate.send(()).unwrap();
    let reply = first.await.unwrap().unwrap();
    assert_eq!(reply.topic(), reply_topic);
    assert!(
        reply
            .payload_str()
            .unwrap()
            .starts_with("v3 answer to first reply:"),
        "{reply:?}"
    );
    // The topic is free again.
    gate.send(()).unwrap();
    let again = mqtt
        .request("v3/req", format!("again reply:{reply_topic}"))
        .reply_to(&reply_topic)
        .timeout(T)
        .await
        .unwrap();
    assert!(again
        .payload_str()
        .unwrap()
        .starts_with("v3 answer to again"));
    assert_eq!(mqtt.pending_requests(), 0);
    assert!(REPLIES_SEEN.is_empty(), "{:?}", REPLIES_SEEN.snapshot());
    drop(responder);
    shutdown(client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_connected_and_closed_are_typed_errors() {
    // Nothing listens on this port: the client never connects.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = Config::builder()
        .broker_url("127.0.0.1")
        .port(port)
        .client_id(unique("offline"))
        .protocol_version(ProtocolVersion::V5)
        .build()
        .unwrap();
    let offline = Client::start(config).unwrap();
    let err = offline.handle().request("x/y", "z").await.unwrap_err();
    assert!(matches!(err, Error::NotConnected), "{err:?}");
    shutdown(offline).await;

    let broker = Broker::start();
    let (client, mqtt) = start(&broker, ProtocolVersion::V5);
    // Stopped while a request waits (nobody answers `nobody/home`): it ends with Closed.
    let waiting = {
        let mqtt = mqtt.clone();
        tokio::spawn(async move { mqtt.request("nobody/home", "?").timeout(T * 3).await })
    };
    assert!(flask_mqtt_tests::wait_until(T, || mqtt.pending_requests() == 1));
    mqtt.disconnect().await;
    let err = tokio::time::timeout(T, waiting)
        .await
        .expect("the waiting request did not end when the client stopped")
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::Closed), "{err:?}");
    assert_eq!(mqtt.pending_requests(), 0);
    // And after: at once.
    let err = mqtt.request("x/y", "z").await.unwrap_err();
    assert!(matches!(err, Error::Closed), "{err:?}");
    shutdown(client).await;
}

/// What the `ask` handler's request ended with.
static ASKED: Recorder<Result<String, String>> = Recorder::new();

/// Asks `stop/svc` and records the answer: a call that the stop of its client waits for.
/// The only handler of its client (prefix `STOPPING`): the default client's handlers
/// subscribe `flask-mqtt/replies/#` at QoS 0, which would bring a second copy of the
/// reply, one the stop never held back.
#[mqtt::on_message("stop/ask", qos = 1, broker = "STOPPING")]
async fn ask(client: mqtt::Mqtt) {
    let answer = client.request("stop/svc", "?").timeout(T * 2).await;
    ASKED.push(
        answer
            .map(|m| String::from_utf8_lossy(m.payload()).into_owned())
            .map_err(|e| e.to_string()),
    );
}

/// `flask_mqtt::client` info lines, to see a stop begin.
const CLIENT_LOG: LogLines = LogLines::new("flask_mqtt::client", log::Level::Info);

/// A graceful stop of a persistent session leaves new messages to the broker, but not
/// the reply a running handler call awaits: the call gets it and the stop ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_awaited_by_a_call_still_arrives_while_the_client_stops() {
    CLIENT_LOG.install();
    let broker = Broker::start();
    let id = unique("stopping");
    let config = broker
        .config_with_prefix("STOPPING", id.as_str())
        .protocol_version(ProtocolVersion::V5)
        .clean_session(false)
        .build()
        .unwrap();
    let client = Client::start(config).unwrap();
    let mqtt = client.handle();
    assert!(
        broker.wait_for_log(&format!("{id} 1 stop/ask"), 1, T),
        "{}",
        broker.log_tail(20)
    );
    // The responder answers when the test lets it: once the stop has begun.
    let (gate, opened) = std::sync::mpsc::channel::<()>();
    let _responder = Responder::start(
        &broker,
        true,
        "stop/svc",
        move || {
            let _ = opened.recv_timeout(T);
        },
        |_| "answer".to_owned(),
    );
    Observer::connect(&broker).publish("stop/ask", "x", 1);
    assert!(flask_mqtt_tests::wait_until(T, || mqtt.pending_requests() == 1));

    let stopping = tokio::spawn(client.shutdown());
    assert!(
        CLIENT_LOG.wait_for_line(T, |s| s.starts_with("stopping:")),
        "{:?}",
        CLIENT_LOG.snapshot()
    );
    gate.send(()).unwrap();
    tokio::time::timeout(T, stopping).await.unwrap().unwrap();
    assert_eq!(ASKED.snapshot(), [Ok("answer".to_owned())]);
}
