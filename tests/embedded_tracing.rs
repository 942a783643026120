//! The embedded broker never installs a global `tracing` subscriber: a program that
//! installs its own after the broker started (`tracing_subscriber::fmt().init()` does
//! that, and panics when one is set) succeeds, and its events and spans, as well as
//! rumqttd's from then on, go to it.
//!
//! One test, alone in its binary: it sets the process's global subscriber.

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::IntoFuture;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{unique, wait_until, LogLines};
use mqtt::{Client, Config, EmbeddedBroker, QoS};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

const T: Duration = Duration::from_secs(20);

/// The program's own subscriber: counts what it is given, by target.
struct Program;

static USER_EVENTS: AtomicUsize = AtomicUsize::new(0);
static USER_SPANS: AtomicUsize = AtomicUsize::new(0);
static RUMQTTD: AtomicUsize = AtomicUsize::new(0);
static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

fn count(meta: &Metadata<'_>, user: &AtomicUsize) {
    if meta.target().starts_with("rumqttd") {
        RUMQTTD.fetch_add(1, Ordering::Relaxed);
    } else if meta.target() == "embedded_tracing" {
        user.fetch_add(1, Ordering::Relaxed);
    }
}

impl Subscriber for Program {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        count(span.metadata(), &USER_SPANS);
        Id::from_u64(NEXT_ID.fetch_add(1, Ordering::Relaxed) as u64)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        count(event.metadata(), &USER_EVENTS);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// `log` lines at ERROR, which rumqttd's per-message spans would be without a subscriber.
const ERRORS: LogLines = LogLines::new("", log::Level::Error);

fn publish_some(client: &Client, topic: &str) {
    let handle = client.handle();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for i in 0..10 {
            handle
                .publish(format!("{topic}/{i}"), "x")
                .qos(QoS::AtLeastOnce)
                .into_future()
                .await
                .unwrap();
        }
    });
}

#[test]
fn a_program_sets_its_global_subscriber_after_the_broker_started() {
    LogLines::new("", log::Level::Debug).install();

    let client = Client::start(
        Config::builder()
            .broker_url("embedded")
            .client_id(unique("embedded-tracing"))
            .build()
            .unwrap(),
    )
    .unwrap();
    assert!(EmbeddedBroker::running().is_some());
    let handle = client.handle();
    assert!(wait_until(T, || handle.is_connected()), "never connected");
    publish_some(&client, "embedded/tracing/before");
    // rumqttd's per-message ERROR spans did not reach `log`.
    assert!(ERRORS.records().is_empty(), "{:#?}", ERRORS.records());

    // What `tracing_subscriber::fmt().init()` does: fails (and `init` panics) when the
    // embedded broker took the global slot.
    tracing::subscriber::set_global_default(Program)
        .expect("the embedded broker installed a global tracing subscriber");
    tracing::info!("the program's event");
    tracing::info_span!("the program's span").in_scope(|| {});
    assert_eq!(USER_EVENTS.load(Ordering::Relaxed), 1);
    assert_eq!(USER_SPANS.load(Ordering::Relaxed), 1);

    // rumqttd's router thread, which has no subscriber of its own, now reports to the
    // program's.
    publish_some(&client, "embedded/tracing/after");
    assert!(
        wait_until(T, || RUMQTTD.load(Ordering::Relaxed) > 0),
        "no rumqttd event or span reached the program's subscriber"
    );
    drop(client);
}
