//! What Mosquitto refuses: topics with invalid UTF-8, NUL, a wildcard, or more than 200
//! `/`; from another client (sent by hand, Paho would not), and the app, which does not
//! send them.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;

use super::*;

/// A hand-written MQTT 3.1.1 client, for packets Paho would not send.
struct Raw {
    stream: TcpStream,
}

impl Raw {
    fn packet(header: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![header];
        let mut len = body.len();
        loop {
            let mut byte = (len % 128) as u8;
            len /= 128;
            if len > 0 {
                byte |= 0x80;
            }
            out.push(byte);
            if len == 0 {
                break;
            }
        }
        out.extend_from_slice(body);
        out
    }

    fn connect(broker: &Broker, client_id: &str) -> Raw {
        let mut stream = TcpStream::connect(("127.0.0.1", broker.port())).unwrap();
        stream.set_read_timeout(Some(T)).unwrap();
        // Protocol name, level 4, clean session, keep-alive 60 s, client id.
        let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60];
        body.extend_from_slice(&u16::try_from(client_id.len()).unwrap().to_be_bytes());
        body.extend_from_slice(client_id.as_bytes());
        stream.write_all(&Raw::packet(0x10, &body)).unwrap();
        let mut connack = [0u8; 4];
        stream.read_exact(&mut connack).unwrap();
        assert_eq!(connack, [0x20, 2, 0, 0], "CONNACK");
        Raw { stream }
    }

    /// A QoS 0 PUBLISH with any bytes as the topic.
    fn publish(&mut self, topic: &[u8], payload: &[u8]) {
        let mut body = u16::try_from(topic.len()).unwrap().to_be_bytes().to_vec();
        body.extend_from_slice(topic);
        body.extend_from_slice(payload);
        self.stream.write_all(&Raw::packet(0x30, &body)).unwrap();
    }

    /// Whether the broker closes the connection (within the read timeout).
    fn closed_by_broker(mut self) -> bool {
        let mut buf = [0u8; 16];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

#[tokio::test]
async fn publishes_mosquitto_refuses_cost_the_publisher_its_connection_and_never_reach_the_app() {
    let broker = Broker::start();
    let (_client, m) = start(&broker);
    let obs = Observer::connect(&broker);
    let run = unique("raw");

    // Topics of this run under `bi/`; all but the last would match `bi/+/text`.
    let topic = |middle: &[u8]| {
        let mut t = format!("bi/{run}-").into_bytes();
        t.extend_from_slice(middle);
        t.extend_from_slice(b"/text");
        t
    };
    let cases = [
        // A lone continuation byte.
        ("invalid UTF-8", topic(b"\x80")),
        ("NUL", topic(b"\0")),
        ("wildcard", topic(b"+")),
        ("more than 200 `/`", topic("/".repeat(200).as_bytes())),
    ];
    for (i, (what, topic)) in cases.into_iter().enumerate() {
        let id = format!("{run}-raw{i}");
        let mut raw = Raw::connect(&broker, &id);
        raw.publish(&topic, b"refused");
        assert!(
            raw.closed_by_broker(),
            "{what}: Mosquitto kept the connection"
        );
        assert!(
            broker.wait_for_log(&format!("Client {id} disconnected due to"), 1, T),
            "{what}: {}",
            broker.log_tail(10)
        );
    }
    // Mosquitto passes a topic of exactly 200 `/` (201 levels).
    let ok_id = format!("{run}-raw-ok");
    let mut raw = Raw::connect(&broker, &ok_id);
    let at_limit = format!("bi/{run}-limit/text{}", "/x".repeat(198));
    assert_eq!(at_limit.matches('/').count(), 200);
    raw.publish(at_limit.as_bytes(), b"fine");
    assert!(
        broker.wait_for_log(&format!("Received PUBLISH from {ok_id}"), 1, T),
        "{}",
        broker.log_tail(10)
    );
    still_serving(&obs, &run);
    assert_eq!(
        broker.count_in_log(&format!("Client {ok_id} disconnected")),
        0,
        "{}",
        broker.log_tail(10)
    );
    // Nothing refused reached a handler (each would have been a `text`/`raw_str` call on
    // a topic of this run, before `still_serving`'s message).
    let id = m.client_id().to_owned();
    let prefix = format!("bi/{run}-");
    let reached: Vec<String> = EVENTS.with(|evs| {
        evs.iter()
            .filter_map(|e| match e {
                Ev::Handled { client, topic, .. }
                    if *client == id
                        && topic.starts_with(&prefix)
                        && !topic.contains("-after/") =>
                {
                    Some(short(topic))
                }
                _ => None,
            })
            .collect()
    });
    assert_eq!(reached, Vec::<String>::new());
    assert!(m.is_connected());
    drop(raw);
}

#[tokio::test]
async fn a_topic_mosquitto_refuses_is_not_sent_by_the_app_which_stays_connected() {
    let broker = Broker::start();
    let (_client, m) = start(&broker);
    let obs = Observer::connect(&broker);
    let run = unique("deep");
    let id = m.client_id().to_owned();

    // 201 `/`: a valid MQTT topic name, which Mosquitto treats as a protocol error (see
    // above; sent, it dropped the app's connection): refused before it is sent.
    let deep = format!("bi/{run}/text{}", "/x".repeat(199));
    let result = m.publish(deep.as_str(), "too deep").await;
    assert!(
        matches!(
            result,
            Err(mqtt::Error::InvalidTopic {
                source: mqtt::TopicNameError::TooManyLevels { levels: 202 },
                ..
            })
        ),
        "{result:?}"
    );
    still_serving(&obs, &run);
    assert!(m.is_connected());
    assert_eq!(
        broker.count_in_log(&format!("Client {id} disconnected")),
        0,
        "{}",
        broker.log_tail(10)
    );
    assert_eq!(handled(&deep), []);
}
