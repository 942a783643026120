//! Topics: empty levels, unicode, 65535 bytes, `$SYS`; and `Mqtt::publish` with invalid
//! topics.

use futures::FutureExt;
use mqtt::{QoS, TopicNameError};

use super::*;

#[mqtt::on_message("+/lead/{run}")]
fn lead(c: mqtt::Mqtt, topic: mqtt::Topic, mqtt::Path(run): mqtt::Path<String>) {
    record(&c, "lead", &topic, run);
}

#[mqtt::on_message("bi/{run}/{middle}/end")]
fn middle(c: mqtt::Mqtt, topic: mqtt::Topic, mqtt::Path((_, m)): mqtt::Path<(String, String)>) {
    record(&c, "middle", &topic, format!("middle {m:?}"));
}

#[mqtt::on_message("bi/{run}/trail/{last}")]
fn trail(c: mqtt::Mqtt, topic: mqtt::Topic, mqtt::Path((_, l)): mqtt::Path<(String, String)>) {
    record(&c, "trail", &topic, format!("last {l:?}"));
}

#[mqtt::on_message("bi/+/trail")]
fn trail_exact(c: mqtt::Mqtt, topic: mqtt::Topic) {
    record(&c, "trail_exact", &topic, "");
}

#[mqtt::on_message("bi/{run}/\u{fc}n\u{ef}c\u{f6}d\u{e9}/{word}/{rest:#}")]
fn unicode(
    c: mqtt::Mqtt,
    topic: mqtt::Topic,
    mqtt::Path((_, word, rest)): mqtt::Path<(String, String, Vec<String>)>,
    text: mqtt::Text,
) {
    record(&c, "unicode", &topic, format!("{word} {rest:?} {text}"));
}

#[mqtt::on_message("bi/+/long/+")]
fn long(c: mqtt::Mqtt, topic: mqtt::Topic) {
    record(&c, "long", &topic, format!("{} bytes", topic.len()));
}

#[mqtt::on_message("$SYS/broker/version")]
fn sys_version(c: mqtt::Mqtt, topic: mqtt::Topic, text: mqtt::Text) {
    record(&c, "sys_version", &topic, text.into_string());
}

/// Subscribed as `+/broker/version`: a wildcard first level never matches `$SYS/...`,
/// even though the app also receives `$SYS/broker/version` for `sys_version`.
#[mqtt::on_message("+/broker/version")]
fn not_sys(c: mqtt::Mqtt, topic: mqtt::Topic) {
    record(&c, "not_sys", &topic, "");
}

#[mqtt::on_message("$SYS/bi/#")]
fn sys_bi(c: mqtt::Mqtt, topic: mqtt::Topic) {
    record(&c, "sys_bi", &topic, "");
}

#[tokio::test]
async fn odd_topics_reach_exactly_the_handlers_whose_filters_match() {
    let broker = Broker::start();
    let (_client, m) = start(&broker);
    let obs = Observer::connect(&broker);
    let run = unique("top");

    // Empty levels: a leading, a middle and a trailing one.
    let t = format!("/lead/{run}");
    obs.publish(&t, "x", 1);
    expect_outcome(&t, &[("lead", &run)], &[]);
    let t = format!("bi/{run}//end");
    obs.publish(&t, "x", 1);
    expect_outcome(&t, &[("middle", "middle \"\"")], &[]);
    let t = format!("bi/{run}/trail/");
    obs.publish(&t, "x", 1);
    expect_outcome(&t, &[("trail", "last \"\"")], &[]);
    // Not `bi/+/trail`: that is one level fewer.
    let t = format!("bi/{run}/trail");
    obs.publish(&t, "x", 1);
    expect_outcome(&t, &[("trail_exact", "")], &[]);

    // Unicode levels (2, 3 and 4-byte UTF-8) in the filter, the topic and the payload.
    let t = format!("bi/{run}/\u{fc}n\u{ef}c\u{f6}d\u{e9}/\u{65e5}\u{672c}/\u{1f321}/");
    obs.publish(&t, "\u{2603}", 1);
    let detail = "\u{65e5}\u{672c} [\"\u{1f321}\", \"\"] \u{2603}";
    expect_outcome(&t, &[("unicode", detail)], &[]);

    // The longest topic MQTT allows, from another client and from the app itself.
    let prefix = format!("bi/{run}/long/");
    let t = format!("{prefix}{}", "x".repeat(65535 - prefix.len()));
    assert_eq!(t.len(), 65535);
    obs.publish(&t, "from the observer", 1);
    assert!(
        wait_until(T, || handled(&t).len() == 1),
        "65535-byte topic from another client"
    );
    m.publish(t.as_str(), "from the app")
        .qos(QoS::AtLeastOnce)
        .await
        .unwrap();
    expect_outcome(&t, &[("long", "65535 bytes"), ("long", "65535 bytes")], &[]);
    still_serving(&obs, &run);
}

#[tokio::test]
async fn sys_topics_only_reach_handlers_that_name_them() {
    let broker = Broker::start();
    let (_client, m) = start(&broker);
    let obs = Observer::connect(&broker);
    let run = unique("sys");

    // Mosquitto publishes `$SYS/broker/version` (retained) to the app's subscription.
    let t = "$SYS/broker/version";
    assert!(
        EVENTS.wait_for(T, |evs| {
            evs.iter().any(|e| {
                matches!(e,
            Ev::Handled { client, handler: "sys_version", detail, .. }
                if client == m.client_id() && detail.starts_with("mosquitto version"))
            })
        }),
        "no $SYS/broker/version"
    );
    // `+/broker/version` has a wildcard first level: the message must not reach it. It
    // would have been queued for that handler before this later message.
    let marker = format!("{run}/broker/version");
    obs.publish(&marker, "marker", 1);
    expect_outcome(&marker, &[("not_sys", "")], &[]);
    let id = m.client_id().to_owned();
    assert_eq!(
        EVENTS.count(
            |e| matches!(e, Ev::Handled { client, handler: "not_sys", topic, .. }
            if *client == id && topic == t)
        ),
        0
    );

    // Clients may not publish to `$SYS`: Mosquitto denies it (and still acknowledges a
    // QoS 1 publish, MQTT 3.1.1 has no way to refuse one), so nothing arrives.
    let denied = format!("$SYS/bi/{run}");
    obs.publish(&denied, "from a client", 1);
    m.publish(denied.as_str(), "from the app")
        .qos(QoS::AtLeastOnce)
        .await
        .unwrap();
    assert!(
        broker.wait_for_log(&format!("'{denied}'"), 2, T),
        "{}",
        broker.log_tail(20)
    );
    assert_eq!(
        broker.count_in_log("Denied PUBLISH"),
        2,
        "{}",
        broker.log_tail(20)
    );
    still_serving(&obs, &run);
    assert_eq!(handled(&denied), []);
    assert!(m.is_connected());
}

// ---- publish with invalid topics ----

#[tokio::test]
async fn publish_rejects_invalid_topics_on_its_first_poll() {
    let broker = Broker::start();
    let (_client, m) = start(&broker);
    let wildcard = |level: usize, text: &str| TopicNameError::Wildcard {
        level,
        text: text.to_owned(),
    };
    let disallowed =
        |level: usize, character: char| TopicNameError::DisallowedCharacter { level, character };
    let cases: Vec<(String, TopicNameError)> = vec![
        ("a/+/b".into(), wildcard(2, "+")),
        ("+".into(), wildcard(1, "+")),
        ("#".into(), wildcard(1, "#")),
        ("a/#".into(), wildcard(2, "#")),
        ("sport/tennis+".into(), wildcard(2, "tennis+")),
        (String::new(), TopicNameError::Empty),
        ("a\0b".into(), TopicNameError::NulCharacter { level: 1 }),
        ("a/\0".into(), TopicNameError::NulCharacter { level: 2 }),
        ("x".repeat(65536), TopicNameError::TooLong { len: 65536 }),
        (
            "\u{e9}".repeat(32768),
            TopicNameError::TooLong { len: 65536 },
        ), // What MQTT says must not be sent, and Mosquitto answers by closing the
        // connection: one such topic from an HTTP request would cost the connection,
        // again after every reconnect at QoS 1.
        ("a/\tb".into(), disallowed(2, '\t')),
        ("line\nbreak".into(), disallowed(1, '\n')),
        ("esc/\u{1b}[31m".into(), disallowed(2, '\u{1b}')),
        ("a/\u{85}".into(), disallowed(2, '\u{85}')),
        ("a/\u{FFFF}".into(), disallowed(2, '\u{FFFF}')),
    ];
    let check = |connected: bool| {
        for (topic, source) in &cases {
            let first_poll = m.publish(topic.as_str(), "x").send().now_or_never();
            match first_poll {
                Some(Err(mqtt::Error::InvalidTopic { source: s, .. })) => {
                    assert_eq!(&s, source, "{}", short(topic));
                }
                other => panic!(
                    "publish({}) while connected={connected}: {other:?}",
                    short(topic)
                ),
            }
        }
        // An invalid response topic too.
        let first_poll = m
            .publish("fine", "x")
            .response_topic("reply/+")
            .send()
            .now_or_never();
        assert!(
            matches!(
                first_poll,
                Some(Err(mqtt::Error::InvalidTopic {
                    source: TopicNameError::Wildcard { .. },
                    ..
                }))
            ),
            "{first_poll:?}"
        );
    };
    check(true);
    assert!(
        m.is_connected(),
        "bad input must not disturb the connection"
    );
    // Such characters in a filter or an MQTT 5 string property are refused the same way.
    match m.subscribe("a/\t/#", QoS::AtLeastOnce).await {
        Err(mqtt::Error::InvalidFilter {
            filter,
            source:
                mqtt::TopicFilterError::DisallowedCharacter {
                    level: 2,
                    character: '\t',
                },
            ..
        }) => assert_eq!(filter, "a/\\u{9}/#", "quoted escaped"),
        other => panic!("subscribe with a tab: {other:?}"),
    }
    for publish in [
        m.publish("fine", "x").content_type("text/\nplain"),
        m.publish("fine", "x").user_property("k", "v\u{7f}"),
        m.publish("fine", "x").response_topic("reply/\r"),
    ] {
        let first_poll = publish.send().now_or_never();
        assert!(
            matches!(
                first_poll,
                Some(Err(
                    mqtt::Error::InvalidProperty { .. } | mqtt::Error::InvalidTopic { .. }
                ))
            ),
            "{first_poll:?}"
        );
    }
    // None of it reached the broker: the app is still on its first connection, and a
    // QoS 1 publish goes round.
    let id = m.client_id().to_owned();
    let t = "bi/after/long/bad";
    m.publish(t, "x").qos(QoS::AtLeastOnce).await.unwrap();
    expect_outcome(t, &[("long", "17 bytes")], &[]);
    assert_eq!(broker.connections_from(&id), 1, "{}", broker.log_tail(20));

    // With the broker gone, a valid publish waits (buffered), an invalid one still fails
    // at once.
    broker.stop();
    assert!(
        EVENTS.wait_for(T, |evs| evs.contains(&Ev::Disconnect {
            client: m.client_id().to_owned(),
            reason: DisconnectReason::ConnectionLost
        })),
        "no on_disconnect"
    );
    check(false);
    let valid = m.publish("bi/valid/text", "x").qos(QoS::AtLeastOnce).send();
    let mut valid = Box::pin(valid);
    assert!(
        (&mut valid).now_or_never().is_none(),
        "a valid publish waits for the broker"
    );
    broker.start_again();
    wait_connects(&m, true, 1);
    assert!(tokio::time::timeout(T, valid).await.unwrap().is_ok());
}
