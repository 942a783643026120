//! Paho C's trace lines with the client they concern (docs/paho-fork.md, "trace lines with
//! their client"; issue 13 item 7, the C side): two clients on one broker, each connecting,
//! subscribing, publishing at QoS 1 and 2 to itself and disconnecting; every protocol line
//! that names a client ID (`<socket> <client id> -> PUBLISH ...`) must come with that
//! client's `TraceKey` and ID, and no line given to one client may name the other.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use flask_mqtt_tests::paho_mqtt as paho;
use flask_mqtt_tests::{connected_consumer, paho_client, unique, Broker};
use paho::{ffi_trace_level, TraceKey};

const T: Duration = Duration::from_secs(10);

/// A line as the callback saw it.
#[derive(Debug, Clone)]
struct Seen {
    client: Option<TraceKey>,
    client_id: Option<String>,
    message: String,
}

/// The client ID a protocol line names
/// (`<date> <time> <socket> <client id> -> <packet> ...`, or `<-`).
fn named_client(message: &str) -> Option<&str> {
    let words: Vec<&str> = message.split_whitespace().collect();
    words.windows(3).find_map(|w| {
        let is_socket = w[0].parse::<i64>().is_ok();
        (is_socket && matches!(w[2], "->" | "<-")).then_some(w[1])
    })
}

fn exercise(cli: &paho::AsyncClient, id: &str) {
    let (rx, topic) = connected_consumer(cli, id, T);
    for qos in [1, 2] {
        cli.publish(paho::Message::new(&topic, format!("{id} {qos}"), qos))
            .wait_for(T)
            .expect("publish");
        let m = rx.recv_timeout(T).expect("own message").expect("connected");
        assert_eq!(m.payload_str(), format!("{id} {qos}"));
    }
    cli.disconnect(None).wait_for(T).expect("disconnect");
}

#[test]
fn every_protocol_line_naming_a_client_is_attributed_to_it_and_only_to_it() {
    let broker = Broker::start();
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let sink = Arc::clone(&seen);
    paho::set_client_trace_callback(ffi_trace_level::PROTOCOL, move |line| {
        sink.lock().unwrap().push(Seen {
            client: line.client(),
            client_id: line.client_id().map(str::to_owned),
            message: line.message().to_owned(),
        });
    });
    let (id_a, id_b) = (unique("trace-a"), unique("trace-b"));
    let uri = broker.uri();
    let (a, b) = (paho_client(&uri, &id_a), paho_client(&uri, &id_b));
    let (key_a, key_b) = (a.trace_key(), b.trace_key());
    assert_ne!(key_a, key_b);
    // Both at once, so that Paho's threads interleave their work.
    std::thread::scope(|s| {
        s.spawn(|| exercise(&a, &id_a));
        s.spawn(|| exercise(&b, &id_b));
    });
    paho::clear_client_trace_callback();

    let seen = seen.lock().unwrap().clone();
    let key_of = |id: &str| {
        if id == id_a {
            key_a
        } else {
            key_b
        }
    };
    let mut named = [0usize; 2];
    for line in &seen {
        match named_client(&line.message) {
            Some(id) if id == id_a || id == id_b => {
                named[usize::from(id == id_b)] += 1;
                assert_eq!(
                    line.client,
                    Some(key_of(id)),
                    "line naming {id} not attributed to it: {line:?}"
                );
                assert_eq!(line.client_id.as_deref(), Some(id), "{line:?}");
            }
            _ => {}
        }
        // A line given to one client never names the other.
        if line.client == Some(key_a) {
            assert!(!line.message.contains(&id_b), "{line:?}");
        }
        if line.client == Some(key_b) {
            assert!(!line.message.contains(&id_a), "{line:?}");
        }
    }
    // CONNECT, CONNACK, SUBSCRIBE, SUBACK, PUBLISH x2 each way, PUBACK, PUBREC, PUBREL,
    // PUBCOMP (each way for QoS 2), DISCONNECT: well over ten per client.
    for (i, id) in [&id_a, &id_b].into_iter().enumerate() {
        assert!(
            named[i] >= 10,
            "{id}: only {} protocol lines name it: {seen:#?}",
            named[i]
        );
    }
}
