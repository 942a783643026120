//! Consumer "6" of the end-to-end benchmark: a ruststream service on ruststream-rumqttc
//! (MQTT 5 over rumqttc), with the 100 filters of flask-mqtt's app (`filters.rs`), each a
//! `#[subscriber]` at QoS 1 that takes the payload as bytes (`#[derive(Deserialized)]`,
//! no codec) and counts in the app's state (`State<T>`), as ruststream's guides write
//! them. ruststream-rumqttc gives overlapping filters on one connection one delivery each
//! (MQTT 5 subscription identifiers), so a message reaches every subscriber it matches:
//! 10 calls per message. Settings from the environment, progress lines on stdout, exit
//! when stdin closes, like every consumer of the bench.

// The shared modules carry helpers only the main bench binary uses.
#![allow(dead_code)]

#[path = "../src/child.rs"]
mod child;
#[path = "../src/counters.rs"]
mod counters;
#[path = "../src/filters.rs"]
mod filters;
#[path = "../src/wire.rs"]
mod wire;

use std::convert::Infallible;
use std::process::ExitCode;
use std::sync::Arc;

use ruststream_rumqttc::prelude::*;

use crate::child::{Progress, Settings};
use crate::counters::Counters;
use crate::filters::with_filters;

/// The payload as the bytes it is.
#[derive(Deserialized)]
struct Raw<'a>(&'a [u8]);

/// The app's state: what the handlers share.
#[derive(Clone, FromRef)]
struct Shared {
    counters: Arc<Counters>,
}

/// Declares a subscriber per row of the filter table, and the app that mounts them all.
macro_rules! subscribers {
    ($($(#[$doc:meta])* $index:literal $name:ident $filter:literal;)*) => {
        $(
            $(#[$doc])*
            #[subscriber(MqttFilter::new($filter).qos(Qos::AtLeastOnce))]
            async fn $name(msg: &Raw<'_>, State(counters): State<Arc<Counters>>) -> HandlerOutcome {
                counters.hit($index, msg.0);
                HandlerOutcome::ack()
            }
        )*

        fn app(settings: &Settings, counters: Arc<Counters>) -> impl App {
            let url = format!("mqtt://{}:{}", settings.host, settings.port);
            RustStream::new(AppInfo::new("flask-mqtt-bench", "0.1.0"))
                .on_startup(async move |()| Ok::<_, Infallible>(Shared { counters }))
                .with_broker(MqttBroker::new(url, settings.client_id.as_str()), |b| {
                    // ruststream refuses a filter without a destination for retry
                    // copies; these handlers never ask for a retry.
                    $( b.include($name).out_retry(Publish::default()).to(concat!("bench-retry/", stringify!($name))); )*
                })
        }
    };
}

with_filters!(subscribers);

#[tokio::main]
async fn main() -> ExitCode {
    child::exit_code("ruststream-consumer", run().await)
}

async fn run() -> Result<(), String> {
    let settings = Settings::from_env()?;
    child::exit_when_stdin_closes();
    let progress = Arc::new(Progress::default());
    child::report_progress(Arc::clone(&progress));
    let counters = Arc::new(Counters::new(&settings, progress));
    app(&settings, counters)
        .run()
        .await
        .map_err(|e| e.to_string())
}
