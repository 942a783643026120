//! The double free our Paho C fixes (docs/paho-fork.md, patch 1), as a user's build meets
//! it: the app publishes 10,000 QoS 1 messages back to back, 1,000 pending at once, from
//! a persistent session, and a real Mosquitto (persistent, saving after every change) is
//! killed with SIGKILL four times while the client is writing. The stock Paho C 1.3.16
//! frees a PUBLISH whose write failed although it will resend it: the process aborts
//! (`free(): double free detected`, SIGSEGV), or the broker disconnects the client for a
//! malformed packet at every reconnect and publishes fail with `General failure`.
//! Here every publish must resolve `Ok`, the broker must have acknowledged every number,
//! and it must never have seen a malformed packet.

use std::future::IntoFuture;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{unique, wait_until, Broker, DeliveryTrace};
use futures::StreamExt;
use mqtt::{Client, Config, ProtocolVersion, QoS};

const TOTAL: u64 = 10_000;
const PENDING: usize = 1_000;
/// Completed publishes at which the broker is killed.
const KILL_AT: [u64; 4] = [2_000, 4_000, 6_000, 8_000];
/// Bound for one step (a connect, an outage noticed).
const STEP: Duration = Duration::from_secs(20);
/// How long the publishes may make no progress before the test fails.
const IDLE: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
struct Stats {
    done: AtomicU64,
    ok: AtomicU64,
    errors: Mutex<Vec<(u64, String)>>,
}

#[test]
fn qos1_publishes_in_flight_at_four_broker_kills_all_complete() {
    let mut builder = Broker::builder().autosave_on_changes(1).unlimited_queue();
    if std::path::Path::new("/dev/shm").is_dir() {
        builder = builder.dir_in("/dev/shm"); // Mosquitto fsyncs every save
    }
    let broker = builder.build();
    let app_id = unique("downstream-app");
    let client = Client::start(
        Config::builder()
            .host("127.0.0.1")
            .port(broker.port())
            .client_id(&app_id)
            .clean_session(false)
            .protocol_version(ProtocolVersion::V311)
            .max_buffered_messages(10_000)
            .reconnect_delay(Duration::from_millis(100), Duration::from_millis(500))
            .build()
            .expect("config"),
    )
    .expect("the app's client");
    let app = client.handle();
    assert!(
        wait_until(STEP, || app.is_connected()),
        "the app did not connect"
    );
    println!("the app runs on Paho C {}", mqtt::paho_version());

    let topic = format!("downstream/{}", unique("n"));
    let stats = Arc::new(Stats::default());
    let publisher = {
        let (app, topic, stats) = (app.clone(), topic.clone(), Arc::clone(&stats));
        std::thread::spawn(move || {
            let publish = |n: u64| {
                let publish = app
                    .publish(format!("{topic}/{n}"), n.to_string())
                    .qos(QoS::AtLeastOnce)
                    .into_future();
                let stats = Arc::clone(&stats);
                async move {
                    match publish.await {
                        Ok(()) => {
                            stats.ok.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => stats
                            .errors
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push((n, e.to_string())),
                    }
                    stats.done.fetch_add(1, Ordering::SeqCst);
                }
            };
            futures::executor::block_on(
                futures::stream::iter(0..TOTAL)
                    .map(publish)
                    .buffer_unordered(PENDING)
                    .for_each(|()| futures::future::ready(())),
            );
        })
    };

    let began = Instant::now();
    let mut outages = Vec::new();
    for at in KILL_AT {
        assert!(
            progress_to(&stats.done, at),
            "publishes stopped completing before {at}: {stats:?}; {}",
            broker.log_tail(30)
        );
        let down = Instant::now();
        broker.kill();
        assert!(
            wait_until(STEP, || !app.is_connected()),
            "the app did not notice the broker's death"
        );
        broker.start_again();
        outages.push(down.elapsed());
    }
    assert!(
        progress_to(&stats.done, TOTAL),
        "publishes stopped completing: {stats:?}; {}",
        broker.log_tail(30)
    );
    publisher.join().expect("the publishing thread");
    let took = began.elapsed();

    let errors = std::mem::take(&mut *stats.errors.lock().unwrap_or_else(PoisonError::into_inner));
    let malformed = broker.count_in_log(&format!(
        "Client {app_id} disconnected due to malformed packet"
    ));
    // Only the publisher's side of the broker log matters here (no subscriber: "-").
    let trace = DeliveryTrace::read(&broker.log(), &app_id, "-", &format!("{topic}/"));
    let unacknowledged: Vec<u64> = (0..TOTAL).filter(|&n| !trace.was_acknowledged(n)).collect();
    println!(
        "downstream broker_crash: {TOTAL} QoS 1 publishes ({PENDING} pending at once) through \
         {} SIGKILLs (outages {outages:?}) in {took:.2?}: {} Ok, {} Err; the broker \
         acknowledged all but {} numbers and saw {malformed} malformed packets",
        outages.len(),
        stats.ok.load(Ordering::SeqCst),
        errors.len(),
        unacknowledged.len(),
    );
    assert!(
        errors.is_empty(),
        "{} publishes failed, e.g. {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert_eq!(
        malformed, 0,
        "the broker saw malformed packets from the app (Paho C resent freed memory)"
    );
    assert!(
        unacknowledged.is_empty(),
        "the broker never acknowledged {} numbers, e.g. {:?}",
        unacknowledged.len(),
        &unacknowledged[..unacknowledged.len().min(10)]
    );
    drop(client);
}

/// Waits until `counter` reaches `target`; false when it stops moving for [`IDLE`].
fn progress_to(counter: &AtomicU64, target: u64) -> bool {
    let mut last = (counter.load(Ordering::SeqCst), Instant::now());
    loop {
        let now = counter.load(Ordering::SeqCst);
        if now >= target {
            return true;
        }
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > IDLE {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
