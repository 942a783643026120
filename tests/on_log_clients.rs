//! `on_log` gets the Paho trace lines of its own client: from the first (its CONNECT), in
//! every start, and none of another client's (issue 13 item 7). Paho C's trace is one
//! stream for the process; our fork names each line's client (docs/paho-fork.md, patch
//! 7) and the core routes it by that name.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{unique, Broker, Observer, Recorder};
use mqtt::{Client, Config};

const T: Duration = Duration::from_secs(20);
const STARTS: usize = 20;

/// (client id, line) of every `on_log` entry.
static LOG: Recorder<(String, String)> = Recorder::new();

#[mqtt::on_log]
fn log_line(client: mqtt::Mqtt, entry: mqtt::LogEntry) {
    LOG.push((client.client_id().to_owned(), entry.message().to_owned()));
}

#[mqtt::on_message("logclients/#", qos = 1)]
fn data(_msg: mqtt::Message) {}

/// The packets each client's `on_log` must show, in this order, for one message received.
const PACKETS: [&str; 6] = [
    "-> CONNECT",
    "<- CONNACK",
    "-> SUBSCRIBE",
    "<- SUBACK",
    "<- PUBLISH",
    "-> PUBACK",
];

/// The Paho packet lines `id`'s handler got, in order.
fn packet_lines(log: &[(String, String)], id: &str) -> Vec<String> {
    log.iter()
        .filter(|(client, line)| client == id && (line.contains("-> ") || line.contains("<- ")))
        .map(|(_, line)| line.clone())
        .collect()
}

/// Whether `lines` show every packet of `PACKETS`, in order, the first line being the
/// CONNECT.
fn complete(lines: &[String]) -> bool {
    if !lines.first().is_some_and(|l| l.contains(PACKETS[0])) {
        return false;
    }
    let mut rest = lines.iter();
    PACKETS
        .iter()
        .all(|p| rest.by_ref().any(|line| line.contains(p)))
}

fn config(broker: &Broker, id: &str) -> Config {
    broker.config(id).build().unwrap()
}

#[test]
fn each_client_gets_its_own_paho_lines_from_the_first_in_every_start() {
    let broker = Broker::start();
    let observer = Observer::connect(&broker);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Ids end in `x` so that no id is a part of another (`a-1x` is not in `a-11x`).
    let mut all_ids = Vec::new();
    for start in 0..STARTS {
        let ids = [
            format!("{}x", unique("log-a")),
            format!("{}x", unique("log-b")),
        ];
        all_ids.extend(ids.iter().cloned());
        let clients: Vec<Client> = ids
            .iter()
            .map(|id| Client::start(config(&broker, id)).unwrap())
            .collect();
        for id in &ids {
            assert!(
                broker.wait_for_log(&format!("{id} 1 logclients/#"), 1, T),
                "start {start}: {id} did not subscribe: {}",
                broker.log_tail(20)
            );
        }
        observer.publish("logclients/one", "x", 1);
        for id in &ids {
            assert!(
                LOG.wait_for(T, |log| complete(&packet_lines(log, id))),
                "start {start}: {id}'s on_log did not get its own packets {PACKETS:?} from its CONNECT on: {:#?}",
                LOG.with(|log| packet_lines(log, id))
            );
        }
        for client in clients {
            rt.block_on(client.shutdown());
        }
        eprintln!("start {start}: both clients saw their own packets");
    }

    // No line of one client reached another's handler.
    let crossed: Vec<(String, String)> = LOG.with(|log| {
        log.iter()
            .filter(|(client, line)| {
                all_ids
                    .iter()
                    .any(|other| other != client && line.contains(other.as_str()))
            })
            .cloned()
            .collect()
    });
    assert!(crossed.is_empty(), "lines of another client: {crossed:#?}");
    let lines = LOG.count(|(_, l)| l.contains("-> ") || l.contains("<- "));
    println!("{STARTS} starts of 2 clients: {lines} Paho packet lines, each to its own client");
}
