//! Self-test of the integration-test harness against a real Mosquitto.

use std::sync::Arc;
use std::time::{Duration, Instant};

use flask_mqtt_tests::paho_mqtt as mqtt;
use flask_mqtt_tests::{unique, wait_until, Broker, Observer, Recorder, SessionPublisher};

const T: Duration = Duration::from_secs(10);

#[test]
fn broker_listens_on_loopback_and_writes_its_log() {
    let broker = Broker::start();
    assert_eq!(broker.host(), "127.0.0.1");
    assert_eq!(broker.uri(), format!("tcp://127.0.0.1:{}", broker.port()));
    assert!(broker.is_running());
    assert!(broker.dir().join("mosquitto.conf").is_file());
    let config = std::fs::read_to_string(broker.config_path()).unwrap();
    assert!(config.contains(&format!("listener {} 127.0.0.1", broker.port())));
    assert!(config.contains("sys_interval 1"));
    assert!(!config.contains("max_queued_messages"));
    assert!(broker.log().contains("running"), "log:\n{}", broker.log());
}

#[test]
fn observer_round_trip() {
    let broker = Broker::start();
    let a = Observer::connect(&broker);
    let b = Observer::connect(&broker);
    assert_ne!(a.client_id(), b.client_id());
    assert!(a.client_id().starts_with("observer-"));

    let base = unique("roundtrip");
    a.subscribe(&format!("{base}/#"), 1);
    b.publish(&format!("{base}/other"), "first", 0);
    b.publish(&format!("{base}/x"), "hello", 1);
    b.publish(&format!("{base}/y"), vec![0u8, 1, 2], 2);

    // Skips `other`, but keeps it for later.
    let msg = a.expect_message(&format!("{base}/x"), T);
    assert_eq!(msg.payload_str(), "hello");
    let msg = a.expect_message(&format!("{base}/+"), T);
    assert_eq!(msg.topic(), format!("{base}/other"));
    let msg = a.recv_timeout(T).expect("the QoS 2 message");
    assert_eq!(msg.topic(), format!("{base}/y"));
    assert_eq!(msg.payload(), &[0u8, 1, 2]);
    assert!(a.recv_timeout(Duration::from_millis(200)).is_none());

    // Retained messages reach late subscribers.
    b.publish_retained(&format!("{base}/retained"), "kept", 1);
    let c = Observer::connect(&broker);
    c.subscribe(&format!("{base}/retained"), 1);
    let msg = c.expect_message(&format!("{base}/retained"), T);
    assert!(msg.retained());

    assert!(broker.connections_from("observer-") >= 3);
    assert!(broker
        .connected_client_ids()
        .contains(&a.client_id().to_owned()));
}

#[test]
fn expect_message_timeout_panics_with_broker_log() {
    let broker = Broker::start();
    let observer = Observer::connect(&broker);
    let topic = unique("never");
    observer.subscribe(&topic, 0);
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        observer.expect_message(&topic, Duration::from_millis(200))
    }))
    .expect_err("expect_message must panic on timeout");
    let text = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(text.contains(&topic), "{text}");
    assert!(text.contains("broker log"), "{text}");
    assert!(text.contains("New client connected"), "{text}");
}

#[test]
fn password_broker_accepts_right_and_refuses_wrong_password() {
    let broker = Broker::builder().password("alice", "s3cret").build();
    let config = std::fs::read_to_string(broker.config_path()).unwrap();
    assert!(config.contains("allow_anonymous false"), "{config}");

    let ok = Observer::connect_with(&broker, "alice", "s3cret");
    assert!(ok.is_connected());

    // Mosquitto 2.0 refuses a wrong password with CONNACK code 5
    // ("not authorised"), not 4; paho 0.14 reports it as ConnectReturn.
    let err = Observer::try_connect(&broker, Some(("alice", "wrong"))).unwrap_err();
    assert!(
        matches!(
            err,
            mqtt::Error::ConnectReturn(mqtt::ConnectReturnCode::NotAuthorized)
        ),
        "unexpected error {err:?}"
    );
    let err = Observer::try_connect(&broker, None).unwrap_err();
    assert!(
        matches!(
            err,
            mqtt::Error::ConnectReturn(mqtt::ConnectReturnCode::NotAuthorized)
        ),
        "unexpected error {err:?}"
    );
    assert_eq!(broker.connections_from("observer-"), 1);
    // Mosquitto logs the refusal after sending the CONNACK: wait for it.
    assert!(
        broker.wait_for_log("disconnected, not authorised", 2, T),
        "{}",
        broker.log()
    );
}

#[test]
fn session_publisher_stops_at_a_refused_connack_and_says_why() {
    // Anonymous: Mosquitto answers the CONNECT with return code 5 (not authorised).
    let broker = Broker::builder().password("alice", "s3cret").build();
    let id = unique("sp-refused");
    // A deadline far beyond the wait below: only stopping at the refusal ends it in time.
    let publisher = SessionPublisher::start(&broker, &id, "sp", 10, Duration::from_secs(600));
    let report = publisher.finish(T);
    assert!(!report.done, "{report:?}");
    assert_eq!(report.connections, 0, "{report:?}");
    assert_eq!(
        report.error.as_deref(),
        Some(format!("the broker refused the connection of {id}: CONNACK return code 5").as_str()),
        "{report:?}"
    );
}

#[test]
fn session_publisher_out_of_time_names_its_last_connect_error() {
    let broker = Broker::start();
    broker.stop();
    let publisher = SessionPublisher::start(
        &broker,
        &unique("sp-down"),
        "sp",
        10,
        Duration::from_millis(300),
    );
    let report = publisher.finish(T);
    let error = report.error.clone().unwrap_or_default();
    assert!(
        error.starts_with("could not reconnect before the time ran out; the last attempt: ")
            && error.contains("refused"),
        "{report:?}"
    );
}

/// Regression test: dropping a paho client right after its connect failed
/// used to deadlock paho's global mutex (see `retire` in harness/client.rs).
#[test]
fn failed_connects_do_not_deadlock_paho() {
    let broker = Broker::builder().password("u", "p").build();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let uri = broker.uri();
    let broker = Arc::new(broker);
    for _ in 0..4 {
        let broker = Arc::clone(&broker);
        let done_tx = done_tx.clone();
        std::thread::spawn(move || {
            for _ in 0..25 {
                assert!(Observer::try_connect(&broker, Some(("u", "bad"))).is_err());
                drop(Observer::connect_with(&broker, "u", "p"));
            }
            let _ = done_tx.send(());
        });
    }
    for i in 0..4 {
        assert!(
            done_rx.recv_timeout(Duration::from_secs(60)).is_ok(),
            "connect loop {i} against {uri} did not finish: paho deadlock?"
        );
    }
}

#[test]
fn kill_and_start_again_on_the_same_port() {
    let broker = Broker::builder().persistence(true).build();
    let port = broker.port();
    let observer = Observer::connect(&broker);
    let topic = unique("persist");
    observer.publish_retained(&topic, "survives", 1);

    broker.stop(); // graceful: the retained message is saved
    assert!(!broker.is_running());
    assert!(wait_until(T, || !observer.is_connected()));

    broker.start_again();
    assert!(broker.is_running());
    assert_eq!(broker.port(), port);
    let again = Observer::connect(&broker);
    again.subscribe(&topic, 1);
    assert_eq!(again.expect_message(&topic, T).payload_str(), "survives");

    // A hard kill while clients are connected, then restart.
    let pid = broker.pid();
    broker.restart();
    assert_ne!(broker.pid(), pid);
    assert_eq!(broker.port(), port);
    let third = Observer::connect(&broker);
    third.subscribe("a/b", 0);
    third.publish("a/b", "after restart", 0);
    assert_eq!(
        third.expect_message("a/b", T).payload_str(),
        "after restart"
    );
    let starts = broker
        .log()
        .lines()
        .filter(|l| l.contains("mosquitto version") && l.ends_with(" starting"))
        .count();
    assert_eq!(starts, 3, "{}", broker.log());
    broker.kill();
    broker.kill(); // idempotent
    assert!(!broker.is_running());
}

#[test]
fn start_again_waits_while_the_port_is_taken() {
    let broker = Broker::start();
    let port = broker.port();
    broker.kill();
    let squatter = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let refusals = broker.count_in_log("Address already in use");
    let (refused, dropped, restarted) = std::thread::scope(|s| {
        let b = &broker;
        // Frees the port once the broker has found it taken twice: start_again retried.
        let release = s.spawn(move || {
            let refused = b.wait_for_log("Address already in use", refusals + 2, T);
            let dropped = Instant::now();
            drop(squatter);
            (refused, dropped)
        });
        broker.start_again();
        let restarted = Instant::now();
        let (refused, dropped) = release.join().unwrap();
        (refused, dropped, restarted)
    });
    assert!(
        refused,
        "start_again did not retry while the port was taken: {}",
        broker.log()
    );
    assert!(
        restarted > dropped,
        "start_again returned before the port was free"
    );
    assert!(broker.is_running());
    assert_eq!(broker.port(), port);
    let observer = Observer::connect(&broker);
    assert!(observer.is_connected());
}

#[test]
fn start_again_refuses_a_running_broker() {
    let broker = Broker::start();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| broker.start_again()));
    assert!(result.is_err());
    assert!(broker.is_running());
}

#[test]
fn log_counting_and_waiting() {
    let broker = Broker::builder()
        .unlimited_queue()
        .extra("max_inflight_messages 10")
        .build();
    let config = std::fs::read_to_string(broker.config_path()).unwrap();
    assert!(config.contains("max_queued_messages 0"));
    assert!(config.ends_with("max_inflight_messages 10\n"));

    let before = broker.connections_from("observer-");
    let observers: Vec<Observer> = (0..3).map(|_| Observer::connect(&broker)).collect();
    assert_eq!(broker.connections_from("observer-"), before + 3);
    assert_eq!(broker.connections_from("nobody"), 0);
    let ids = broker.connected_client_ids();
    for o in &observers {
        assert!(ids.iter().any(|id| id == o.client_id()), "{ids:?}");
    }

    let topic = unique("logged");
    observers[0].publish(&topic, "x", 0);
    assert!(broker.wait_for_log(&topic, 1, T));
    assert!(!broker.wait_for_log(&topic, 2, Duration::from_millis(100)));
    assert_eq!(broker.count_in_log(&topic), 1);
    assert_eq!(broker.count_in_log(""), 0);

    drop(observers);
    assert!(broker.wait_for_log("disconnected.", 3, T));
    assert!(broker.log_tail(3).lines().count() <= 3);
}

#[test]
fn recorder_wait_works_across_threads() {
    static EVENTS: Recorder<u32> = Recorder::new();
    let producer = std::thread::spawn(|| {
        for i in 0..5 {
            std::thread::sleep(Duration::from_millis(20));
            EVENTS.push(i);
        }
    });
    assert!(EVENTS.wait_for(T, |ev| ev.len() == 5));
    producer.join().unwrap();
    assert_eq!(EVENTS.snapshot(), vec![0, 1, 2, 3, 4]);
    assert_eq!(EVENTS.count(|e| e % 2 == 0), 3);
    assert!(!EVENTS.wait_for(Duration::from_millis(50), |ev| ev.len() > 5));

    let local: Arc<Recorder<String>> = Arc::new(Recorder::new());
    let pusher = Arc::clone(&local);
    std::thread::spawn(move || pusher.push("late".into()));
    assert!(local.wait_for_len(T, 1));
    local.clear();
    assert!(local.is_empty());
}

#[test]
fn observer_works_inside_a_tokio_runtime() {
    let broker = Broker::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let observer = Observer::connect(&broker);
        let topic = unique("async");
        observer.subscribe(&topic, 1);
        observer.publish(&topic, "sync-in-async", 1);
        let msg = observer.expect_message_async(&topic, T).await;
        assert_eq!(msg.payload_str(), "sync-in-async");
        assert!(observer
            .recv_timeout_async(Duration::from_millis(100))
            .await
            .is_none());

        let rec: Recorder<u8> = Recorder::new();
        let fut = rec.wait_for_async(T, |ev| ev.contains(&7));
        let push = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            rec.push(7);
        };
        let (seen, ()) = tokio::join!(fut, push);
        assert!(seen);
    });
}

#[test]
fn unique_names_differ() {
    let a = unique("p");
    let b = unique("p");
    assert_ne!(a, b);
    assert!(a.starts_with(&format!("p-{}-", std::process::id())));
}
