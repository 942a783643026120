//! The working core against a real Mosquitto: connect, credentials, subscriptions and
//! their bookkeeping, dispatch (filters, catch-all, several handlers per filter),
//! on_publish/on_subscribe/on_unsubscribe/on_disconnect, reconnect after a broker
//! restart, panicking handlers, ordering.
//!
//! Every test starts its own broker and client; the handlers below are shared by all
//! tests in this binary and record events tagged with the client id, which each test
//! filters on.

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::IntoFuture;
use std::task::Poll;
use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{unique, wait_until, Broker, LatencyProxy, Observer, Recorder};
use mqtt::{Client, QoS};

const T: Duration = Duration::from_secs(15);

#[derive(Clone, Debug, PartialEq)]
enum Ev {
    Connect {
        client: String,
        reconnect: bool,
    },
    Disconnect {
        client: String,
        reason: mqtt::DisconnectReason,
    },
    Msg {
        client: String,
        handler: &'static str,
        topic: String,
        payload: String,
    },
    Sub {
        client: String,
        filter: String,
        qos: QoS,
    },
    Unsub {
        client: String,
        filter: String,
    },
    Pub {
        client: String,
        topic: String,
        qos: QoS,
    },
    Log {
        client: String,
        level: mqtt::LogLevel,
        text: String,
    },
}

static EVENTS: Recorder<Ev> = Recorder::new();

fn msg(c: &mqtt::Mqtt, handler: &'static str, m: &mqtt::Message) {
    EVENTS.push(Ev::Msg {
        client: c.client_id().to_owned(),
        handler,
        topic: m.topic().to_owned(),
        payload: String::from_utf8_lossy(m.payload()).into_owned(),
    });
}

#[mqtt::on_connect]
fn connected(c: mqtt::Mqtt, info: mqtt::Connected) {
    EVENTS.push(Ev::Connect {
        client: c.client_id().to_owned(),
        reconnect: info.is_reconnect(),
    });
}

#[mqtt::on_disconnect]
async fn disconnected(c: mqtt::Mqtt, info: mqtt::Disconnected) {
    EVENTS.push(Ev::Disconnect {
        client: c.client_id().to_owned(),
        reason: info.reason().clone(),
    });
}

#[mqtt::on_message("decl/+/temp", qos = 1)]
fn temp_a(m: mqtt::Message, c: mqtt::Mqtt) {
    msg(&c, "temp_a", &m);
}

#[mqtt::on_message("decl/+/temp")]
async fn temp_b(m: mqtt::Message, c: mqtt::Mqtt) {
    msg(&c, "temp_b", &m);
}

#[mqtt::on_message]
fn catch_all(m: mqtt::Message, c: mqtt::Mqtt) {
    msg(&c, "catch_all", &m);
}

#[mqtt::on_message("panic/#")]
fn panicky(m: mqtt::Message, c: mqtt::Mqtt) {
    if m.payload() == b"boom" {
        panic!("boom, as the test asked");
    }
    msg(&c, "panicky", &m);
}

#[mqtt::on_message("order/#", qos = 1)]
async fn ordered(m: mqtt::Message, c: mqtt::Mqtt) -> Result<(), String> {
    if m.payload() == b"fail" {
        return Err("asked to fail".into());
    }
    msg(&c, "ordered", &m);
    Ok(())
}

/// Flask-style "stop on command": disconnecting from inside a handler must not deadlock.
#[mqtt::on_message("stop/#")]
async fn stop(m: mqtt::Message, c: mqtt::Mqtt) {
    c.disconnect().await;
    msg(&c, "stop returned", &m);
}

#[mqtt::on_subscribe]
fn subscribed(c: mqtt::Mqtt, s: mqtt::Subscribed) {
    EVENTS.push(Ev::Sub {
        client: c.client_id().to_owned(),
        filter: s.filter().to_owned(),
        qos: s.granted_qos(),
    });
}

#[mqtt::on_unsubscribe]
fn unsubscribed(c: mqtt::Mqtt, u: mqtt::Unsubscribed) {
    EVENTS.push(Ev::Unsub {
        client: c.client_id().to_owned(),
        filter: u.filter().to_owned(),
    });
}

#[mqtt::on_publish]
fn published(c: mqtt::Mqtt, p: mqtt::Published) {
    EVENTS.push(Ev::Pub {
        client: c.client_id().to_owned(),
        topic: p.topic().to_owned(),
        qos: p.qos(),
    });
}

#[mqtt::on_log]
fn logged(c: mqtt::Mqtt, e: mqtt::LogEntry) {
    EVENTS.push(Ev::Log {
        client: c.client_id().to_owned(),
        level: e.level(),
        text: e.message().to_owned(),
    });
}

fn config(broker: &Broker) -> mqtt::ConfigBuilder {
    broker
        .config(unique("core"))
        .reconnect_delay(Duration::from_millis(100), Duration::from_millis(500))
}

fn start(broker: &Broker) -> (Client, mqtt::Mqtt) {
    let client = Client::start(config(broker).build().unwrap()).unwrap();
    let m = client.handle();
    wait_connected(&m, false);
    (client, m)
}

fn wait_connected(m: &mqtt::Mqtt, reconnect: bool) {
    let id = m.client_id().to_owned();
    assert!(
        EVENTS.wait_for(T, |evs| evs.contains(&Ev::Connect {
            client: id.clone(),
            reconnect
        })),
        "on_connect (reconnect: {reconnect}) did not run for {id}; last connect error: {:?}",
        m.last_connect_error()
    );
}

/// Waits until `pred` holds for some event of client `m`.
fn wait_event(m: &mqtt::Mqtt, what: &str, pred: impl Fn(&Ev) -> bool) {
    assert!(
        EVENTS.wait_for(T, |evs| evs.iter().any(&pred)),
        "no event for {} within {T:?}: {what}",
        m.client_id()
    );
}

fn got(m: &mqtt::Mqtt, handler: &'static str, topic: &str, payload: &str) -> impl Fn(&Ev) -> bool {
    let want = Ev::Msg {
        client: m.client_id().to_owned(),
        handler,
        topic: topic.to_owned(),
        payload: payload.to_owned(),
    };
    move |e| *e == want
}

fn count_msgs(m: &mqtt::Mqtt, handler: &'static str, topic: &str) -> usize {
    let id = m.client_id().to_owned();
    EVENTS.count(|e| matches!(e, Ev::Msg { client, handler: h, topic: t, .. } if *client == id && *h == handler && t == topic))
}

#[tokio::test]
async fn connects_runs_on_connect_and_records_declared_filters() {
    let broker = Broker::start();
    let (_client, m) = start(&broker);
    assert!(m.is_connected());
    assert_eq!(m.last_connect_error(), None);
    let topics = m.topics();
    // Two handlers on `decl/+/temp` (qos 1 and 0): one entry, highest qos.
    assert!(
        topics.contains(&("decl/+/temp".to_owned(), QoS::AtLeastOnce)),
        "{topics:?}"
    );
    assert!(
        topics.contains(&("panic/#".to_owned(), QoS::AtMostOnce)),
        "{topics:?}"
    );
    assert!(
        topics.contains(&("order/#".to_owned(), QoS::AtLeastOnce)),
        "{topics:?}"
    );
    assert!(
        topics.contains(&("stop/#".to_owned(), QoS::AtMostOnce)),
        "{topics:?}"
    );
    assert_eq!(topics.len(), 4, "{topics:?}");
    // The declared filters were subscribed before on_connect ran: SUBACKs reached on_subscribe.
    let id = m.client_id().to_owned();
    wait_event(&m, "on_subscribe for decl/+/temp", |e| {
        *e == Ev::Sub {
            client: id.clone(),
            filter: "decl/+/temp".into(),
            qos: QoS::AtLeastOnce,
        }
    });
    assert_eq!(broker.connections_from(&id), 1);
    // on_log gets the client's own lines and Paho C's protocol trace.
    wait_event(
        &m,
        "on_log: client's own connect line",
        |e| matches!(e, Ev::Log { client, level: mqtt::LogLevel::Info, text } if *client == id && text.starts_with("connected to")),
    );
    wait_event(
        &m,
        "on_log: Paho's trace of the CONNECT packet",
        |e| matches!(e, Ev::Log { client, level: mqtt::LogLevel::Debug, text } if *client == id && text.contains("-> CONNECT") && text.contains(&id)),
    );
}

#[tokio::test]
async fn password_listener_accepts_right_credentials_and_explains_the_refusal() {
    let broker = Broker::builder().password("alice", "s3cret-pw").start();

    let good = Client::start(
        config(&broker)
            .credentials("alice", "s3cret-pw")
            .build()
            .unwrap(),
    )
    .unwrap();
    wait_connected(&good.handle(), false);

    let bad = Client::start(
        config(&broker)
            .credentials("alice", "wrong-pw")
            .build()
            .unwrap(),
    )
    .unwrap();
    let m = bad.handle();
    assert!(
        wait_until(T, || m.last_connect_error().is_some()),
        "a refused connect must be reported"
    );
    // Mosquitto answers a wrong password on MQTT 3.1.1 with return code 5 (not
    // authorised), not 4: it reserves 4 for malformed credentials (handle_connect.c).
    let err = m.last_connect_error().unwrap();
    assert_eq!(
        err,
        mqtt::ConnectError::Refused(mqtt::ConnectReturnCode::NotAuthorized.into())
    );
    match &err {
        mqtt::ConnectError::Refused(code) => assert_eq!(code.code(), 5),
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("check MQTT_USERNAME and MQTT_PASSWORD"),
        "{err}"
    );
    assert!(!m.is_connected());
    // The refusal also reaches on_log handlers, at Err level, with the code and its meaning.
    let id = m.client_id().to_owned();
    wait_event(&m, "on_log entry for the refusal", |e| {
        matches!(e, Ev::Log { client, level: mqtt::LogLevel::Err, text }
            if *client == id && text.contains("not authorised") && text.contains("return code 5"))
    });
    // on_disconnect handlers get every failed attempt with its typed reason (Flask-MQTT's
    // on_connect with rc != 0).
    wait_event(&m, "on_disconnect with the refusal", |e| {
        *e == Ev::Disconnect {
            client: id.clone(),
            reason: mqtt::DisconnectReason::ConnectFailed(mqtt::ConnectError::Refused(
                mqtt::ConnectReturnCode::NotAuthorized.into(),
            )),
        }
    });
    // The password never shows up in logs handed to handlers.
    assert_eq!(EVENTS.count(|e| matches!(e, Ev::Log { text, .. } if text.contains("wrong-pw") || text.contains("s3cret-pw"))), 0);
}

#[tokio::test]
async fn subscribe_unsubscribe_fire_handlers_and_keep_bookkeeping() {
    let broker = Broker::start();
    let (_client, m) = start(&broker);
    let id = m.client_id().to_owned();

    m.subscribe("rt/a", QoS::AtLeastOnce).await.unwrap();
    wait_event(&m, "on_subscribe rt/a", |e| {
        *e == Ev::Sub {
            client: id.clone(),
            filter: "rt/a".into(),
            qos: QoS::AtLeastOnce,
        }
    });

    // Same filter again: one entry, latest qos.
    m.subscribe("rt/a", QoS::ExactlyOnce).await.unwrap();
    let entries: Vec<_> = m
        .topics()
        .into_iter()
        .filter(|(f, _)| f == "rt/a")
        .collect();
    assert_eq!(entries, vec![("rt/a".to_owned(), QoS::ExactlyOnce)]);

    // Unknown filter: nothing changes.
    let before = m.topics();
    m.unsubscribe("not/subscribed").await.unwrap();
    assert_eq!(m.topics(), before);

    // Invalid filters: typed error, no bookkeeping change.
    for bad in ["a/#/b", "te+mp", "", "$share//x"] {
        match m.subscribe(bad, QoS::AtMostOnce).await {
            Err(mqtt::Error::InvalidFilter { filter, .. }) => assert_eq!(filter, bad),
            other => panic!("subscribe({bad:?}) gave {other:?}"),
        }
        assert!(matches!(
            m.unsubscribe(bad).await,
            Err(mqtt::Error::InvalidFilter { .. })
        ));
        assert_eq!(m.topics(), before);
    }

    m.unsubscribe("rt/a").await.unwrap();
    wait_event(&m, "on_unsubscribe rt/a", |e| {
        *e == Ev::Unsub {
            client: id.clone(),
            filter: "rt/a".into(),
        }
    });
    assert!(!m.topics().iter().any(|(f, _)| f == "rt/a"));

    m.unsubscribe_all().await.unwrap();
    assert_eq!(m.topics(), vec![]);
    for f in ["decl/+/temp", "panic/#", "order/#", "stop/#"] {
        wait_event(&m, "on_unsubscribe of declared filters", |e| {
            *e == Ev::Unsub {
                client: id.clone(),
                filter: f.into(),
            }
        });
    }
}

#[tokio::test]
async fn loopback_reaches_filter_handlers_and_on_publish_not_the_catch_all() {
    let broker = Broker::start();
    let (_client, m) = start(&broker);
    let id = m.client_id().to_owned();
    m.subscribe("other/#", QoS::AtLeastOnce).await.unwrap();

    m.publish("decl/kitchen/temp", "21.5")
        .qos(QoS::AtLeastOnce)
        .await
        .unwrap();
    // Both handlers on the filter run.
    wait_event(&m, "temp_a", got(&m, "temp_a", "decl/kitchen/temp", "21.5"));
    wait_event(&m, "temp_b", got(&m, "temp_b", "decl/kitchen/temp", "21.5"));
    wait_event(&m, "on_publish", |e| {
        *e == Ev::Pub {
            client: id.clone(),
            topic: "decl/kitchen/temp".into(),
            qos: QoS::AtLeastOnce,
        }
    });

    // A message no filter handler matches goes to the catch-all. It was published after
    // the first one, and each handler sees messages in arrival order, so once it is
    // there the catch-all would already have had the first one if it were wrongly routed.
    m.publish("other/x", "y")
        .qos(QoS::AtLeastOnce)
        .await
        .unwrap();
    wait_event(&m, "catch_all", got(&m, "catch_all", "other/x", "y"));
    assert_eq!(count_msgs(&m, "catch_all", "decl/kitchen/temp"), 0);
    assert_eq!(count_msgs(&m, "temp_a", "decl/kitchen/temp"), 1);
    assert_eq!(count_msgs(&m, "temp_b", "decl/kitchen/temp"), 1);

    // Retained + qos 2 through the builder; a second subscriber sees the retained flag.
    m.publish("other/retained", "keep")
        .qos(QoS::ExactlyOnce)
        .retain(true)
        .await
        .unwrap();
    let obs = Observer::connect(&broker);
    obs.subscribe("other/retained", 1);
    let r = obs.expect_message("other/retained", T);
    assert!(r.retained());
    assert_eq!(r.payload(), b"keep");
}

#[tokio::test]
async fn a_publish_the_caller_stops_awaiting_still_goes_out_and_reaches_on_publish() {
    let broker = Broker::start();
    // The app's connection goes through a proxy that holds the broker's packets for
    // 200 ms: the publish below cannot complete within its first poll, however the
    // threads are scheduled (on loopback alone a preempted poll once saw it complete).
    let proxy = LatencyProxy::start(broker.port(), Duration::from_millis(200));
    let client = Client::start(config(&broker).port(proxy.port()).build().unwrap()).unwrap();
    let m = client.handle();
    wait_connected(&m, false);
    let id = m.client_id().to_owned();
    let obs = Observer::connect(&broker);
    obs.subscribe("other/abandoned", 1);

    // Polled once (Paho takes the message), then dropped: a QoS 2 publish needs three
    // packets from the broker, so it cannot complete within that first poll.
    let mut publish = m
        .publish("other/abandoned", "sent")
        .qos(QoS::ExactlyOnce)
        .into_future();
    let first_poll = std::future::poll_fn(|cx| Poll::Ready(publish.as_mut().poll(cx))).await;
    assert!(
        first_poll.is_pending(),
        "a QoS 2 publish completed at its first poll: {first_poll:?}"
    );
    drop(publish);

    let r = obs.expect_message("other/abandoned", T);
    assert_eq!(r.payload(), b"sent");
    wait_event(&m, "on_publish of the abandoned publish", |e| {
        *e == Ev::Pub {
            client: id.clone(),
            topic: "other/abandoned".into(),
            qos: QoS::ExactlyOnce,
        }
    });
}

#[tokio::test]
async fn invalid_topic_names_are_typed_errors() {
    let broker = Broker::start();
    let (_client, m) = start(&broker);
    for bad in ["a/+/b", "a/#", "", "nul\0byte"] {
        match m.publish(bad, "x").await {
            Err(mqtt::Error::InvalidTopic { .. }) => {}
            other => panic!("publish({bad:?}) gave {other:?}"),
        }
    }
    assert!(
        m.is_connected(),
        "bad input must not disturb the connection"
    );
}

#[tokio::test]
async fn explicit_disconnect_fires_on_disconnect_and_closes() {
    let broker = Broker::start();
    let (client, m) = start(&broker);
    let id = m.client_id().to_owned();
    m.disconnect().await;
    wait_event(&m, "on_disconnect", |e| {
        *e == Ev::Disconnect {
            client: id.clone(),
            reason: mqtt::DisconnectReason::Requested,
        }
    });
    assert!(!m.is_connected());
    // A clean DISCONNECT, not a dropped socket.
    assert!(
        broker.wait_for_log(&format!("Client {id} disconnected"), 1, T),
        "{}",
        broker.log()
    );
    assert!(matches!(
        m.publish("a", "b").await,
        Err(mqtt::Error::Closed)
    ));
    assert!(matches!(
        m.subscribe("a", QoS::AtMostOnce).await,
        Err(mqtt::Error::Closed)
    ));
    m.disconnect().await; // twice is harmless
    drop(client);
}

#[tokio::test]
async fn dropping_the_client_disconnects_cleanly() {
    let broker = Broker::start();
    let (client, m) = start(&broker);
    let id = m.client_id().to_owned();
    drop(client);
    assert!(
        broker.wait_for_log(&format!("Client {id} disconnected"), 1, T),
        "{}",
        broker.log()
    );
    wait_event(&m, "on_disconnect", |e| {
        *e == Ev::Disconnect {
            client: id.clone(),
            reason: mqtt::DisconnectReason::Requested,
        }
    });
}

#[tokio::test]
async fn reconnects_after_broker_restart_and_resubscribes() {
    let broker = Broker::start();
    let (_client, m) = start(&broker);
    let id = m.client_id().to_owned();
    m.subscribe("rt/after", QoS::AtLeastOnce).await.unwrap();

    broker.restart();
    wait_event(&m, "on_disconnect (lost)", |e| {
        *e == Ev::Disconnect {
            client: id.clone(),
            reason: mqtt::DisconnectReason::ConnectionLost,
        }
    });
    wait_connected(&m, true);
    assert!(m.is_connected());
    // The log spans both broker runs: one connection to each.
    assert_eq!(broker.connections_from(&id), 2, "{}", broker.log());
    assert!(m
        .topics()
        .contains(&("rt/after".to_owned(), QoS::AtLeastOnce)));

    // Declared and runtime subscriptions both deliver again.
    let obs = Observer::connect(&broker);
    obs.publish("decl/garage/temp", "5", 1);
    obs.publish("rt/after", "back", 1);
    wait_event(
        &m,
        "declared filter after restart",
        got(&m, "temp_a", "decl/garage/temp", "5"),
    );
    wait_event(
        &m,
        "runtime subscription after restart",
        got(&m, "catch_all", "rt/after", "back"),
    );
}

#[tokio::test]
async fn a_panicking_or_failing_handler_does_not_stop_dispatch() {
    let broker = Broker::start();
    let (_client, m) = start(&broker);
    let obs = Observer::connect(&broker);
    obs.publish("panic/1", "boom", 1);
    obs.publish("order/1", "fail", 1);
    obs.publish("panic/2", "after", 1);
    obs.publish("decl/x/temp", "other handler", 1);
    obs.publish("order/2", "after failure", 1);
    wait_event(
        &m,
        "same handler after its panic",
        got(&m, "panicky", "panic/2", "after"),
    );
    wait_event(
        &m,
        "other handler",
        got(&m, "temp_a", "decl/x/temp", "other handler"),
    );
    wait_event(
        &m,
        "same handler after its error",
        got(&m, "ordered", "order/2", "after failure"),
    );
    assert!(m.is_connected());
}

#[tokio::test]
async fn a_thousand_messages_arrive_in_order() {
    let broker = Broker::start();
    let (_client, m) = start(&broker);
    let topic = format!("order/{}", unique("seq"));
    for i in 0..1000 {
        m.publish(topic.as_str(), i.to_string())
            .qos(QoS::AtLeastOnce)
            .await
            .unwrap();
    }
    let id = m.client_id().to_owned();
    let t = topic.clone();
    assert!(EVENTS.wait_for(T, |evs| evs
        .iter()
        .filter(|e| matches!(e, Ev::Msg { client, handler: "ordered", topic, .. } if *client == id && *topic == t))
        .count()
        == 1000));
    let got: Vec<u32> = EVENTS
        .snapshot()
        .into_iter()
        .filter_map(|e| match e {
            Ev::Msg {
                client,
                handler: "ordered",
                topic,
                payload,
            } if client == id && topic == t => payload.parse().ok(),
            _ => None,
        })
        .collect();
    assert_eq!(got, (0..1000).collect::<Vec<u32>>());
}

#[tokio::test]
async fn disconnect_from_inside_a_handler_returns_and_the_handler_finishes() {
    let broker = Broker::start();
    let (client, m) = start(&broker);
    let id = m.client_id().to_owned();
    Observer::connect(&broker).publish("stop/now", "please", 1);
    wait_event(&m, "on_disconnect", |e| {
        *e == Ev::Disconnect {
            client: id.clone(),
            reason: mqtt::DisconnectReason::Requested,
        }
    });
    // Dropping the client waits for running handlers; the one that called disconnect()
    // must have been able to finish by then (no wait on itself).
    drop(client);
    assert_eq!(count_msgs(&m, "stop returned", "stop/now"), 1);
    assert!(broker.wait_for_log(&format!("Client {id} disconnected"), 1, T));
}

/// Publishes still buffered when the client stops while disconnected are lost: the
/// client says how many, as a warning (to `on_log` and the log; on stderr when no logger
/// shows it), whether it stops gracefully (`Client::shutdown`, which waits for them while
/// connected) or at once (`Mqtt::disconnect`).
#[tokio::test]
async fn stopping_while_disconnected_says_how_many_publishes_are_lost() {
    let broker = Broker::start();
    for graceful in [true, false] {
        let config = config(&broker)
            .publish_timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        let client = Client::start(config).unwrap();
        let m = client.handle();
        wait_connected(&m, false);
        let id = m.client_id().to_owned();
        broker.stop();
        wait_event(&m, "on_disconnect (lost)", |e| {
            *e == Ev::Disconnect {
                client: id.clone(),
                reason: mqtt::DisconnectReason::ConnectionLost,
            }
        });
        for _ in 0..3 {
            let sent = m.publish("lost/x", "p").qos(QoS::AtLeastOnce).await;
            assert!(
                matches!(sent, Err(mqtt::Error::PublishTimeout { .. })),
                "{sent:?}"
            );
        }
        let said = if graceful {
            client.shutdown().await;
            ": 3 publishes were never sent"
        } else {
            m.disconnect().await;
            drop(client);
            " with 3 publishes not yet sent or acknowledged: they may be lost"
        };
        wait_event(&m, "the warning of the publishes lost", |e| {
            matches!(e, Ev::Log { client, level: mqtt::LogLevel::Warning, text }
                if *client == id && text.contains(said))
        });
        broker.start_again();
    }
}
