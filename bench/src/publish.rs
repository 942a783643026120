//! Publish throughput: raw paho-mqtt against the framework's `Mqtt::publish`.

use std::future::{Future, IntoFuture};
use std::time::{Duration, Instant};

use flask_mqtt_actix as mqtt;
use futures::{StreamExt, TryStreamExt};

use crate::child::{self, Settings};
use crate::wire;

/// Publishes awaited at once: enough to keep the connection busy, far below Paho's
/// in-flight limit (65535) and its command queue's appetite for memory.
pub(crate) const WINDOW: usize = 1000;

/// A raw paho-mqtt client that publishes the benchmark's messages.
pub(crate) struct RawPublisher {
    client: paho_mqtt::AsyncClient,
}

impl RawPublisher {
    pub(crate) fn connect(uri: &str, client_id: &str) -> Result<RawPublisher, String> {
        let create = paho_mqtt::CreateOptionsBuilder::new()
            .server_uri(uri)
            .client_id(client_id)
            .persistence(None)
            // Paho counts queued publishes against this even while connected (default
            // 100); the framework's default, MQTT_MAX_BUFFERED_MESSAGES, is 10000.
            .max_buffered_messages(10_000)
            .finalize();
        let client = paho_mqtt::AsyncClient::new(create).map_err(|e| e.to_string())?;
        let opts = paho_mqtt::ConnectOptionsBuilder::new()
            .clean_session(true)
            .finalize();
        client
            .connect(opts)
            .wait_for(Duration::from_secs(10))
            .map_err(|e| format!("publisher connect: {e}"))?;
        Ok(RawPublisher { client })
    }

    fn message(seq: u64, qos: i32) -> paho_mqtt::Message {
        paho_mqtt::Message::new(wire::topic(seq), wire::payload(seq), qos)
    }

    /// Publishes `n` messages as fast as it can, `window` unacknowledged at most, and
    /// returns how long it took until the last one was written (QoS 0) or acknowledged
    /// (QoS 1).
    pub(crate) fn burst(&self, n: u64, qos: i32, window: usize) -> Result<Duration, String> {
        windowed(n, window, |seq| {
            self.client.publish(Self::message(seq, qos))
        })
    }
}

impl Drop for RawPublisher {
    fn drop(&mut self) {
        let _ = self
            .client
            .disconnect(None)
            .wait_for(Duration::from_secs(5));
    }
}

/// The framework's publishing client, connected to `host`:`port`: a `Client` whose
/// prefix no handler uses (no subscription), default settings but the broker and the
/// client id, and its handle.
pub(crate) fn framework_publisher(
    host: &str,
    port: u16,
    client_id: &str,
) -> Result<(mqtt::Client, mqtt::Mqtt), String> {
    let config = mqtt::ConfigBuilder::with_prefix("BENCHPUB")
        .broker_url(host)
        .port(port)
        .client_id(client_id)
        .build()
        .map_err(|e| e.to_string())?;
    let client = mqtt::Client::start(config).map_err(|e| e.to_string())?;
    let handle = client.handle();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !handle.is_connected() {
        if Instant::now() > deadline {
            return Err("the framework's publishing client did not connect".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok((client, handle))
}

/// `child-publish`: one publisher, `BENCH_PUBLISHER` `paho` (raw paho, as the publish
/// table's first row) or `framework` (`Mqtt::publish`), publishes `BENCH_MESSAGES`
/// messages at QoS `BENCH_QOS` (default 0), `BENCH_WINDOW` awaited at once (default 1),
/// to the broker of `MQTT_BROKER_URL` / `MQTT_BROKER_PORT`, with the same code as the
/// table; then prints `done N MICROSECONDS` and exits. For running one side alone under
/// a profiler (callgrind: BENCHMARKS.md item 41).
pub(crate) fn child_run() -> Result<(), String> {
    let settings = Settings::from_env()?;
    let var = |key: &str, default: u64| -> Result<u64, String> {
        std::env::var(key).map_or(Ok(default), |v| {
            v.parse().map_err(|e| format!("{key}: {e}"))
        })
    };
    let qos = var("BENCH_QOS", 0)?;
    if qos > 2 {
        return Err(format!("BENCH_QOS: expected 0, 1 or 2, got {qos}"));
    }
    let window = usize::try_from(var("BENCH_WINDOW", 1)?).unwrap_or(1);
    let n = settings.messages;
    let took = match std::env::var("BENCH_PUBLISHER").as_deref() {
        Ok("paho") => {
            let uri = format!("tcp://{}:{}", settings.host, settings.port);
            let publisher = RawPublisher::connect(&uri, &settings.client_id)?;
            let qos = i32::try_from(qos).map_err(|e| e.to_string())?;
            publisher.burst(n, qos, window)?
        }
        Ok("framework") => {
            let (client, handle) =
                framework_publisher(&settings.host, settings.port, &settings.client_id)?;
            let q = match qos {
                0 => mqtt::QoS::AtMostOnce,
                1 => mqtt::QoS::AtLeastOnce,
                _ => mqtt::QoS::ExactlyOnce,
            };
            let took = framework_burst(&handle, n, q, window)?;
            drop(client);
            took
        }
        other => {
            return Err(format!(
                "BENCH_PUBLISHER: expected paho or framework, got {other:?}"
            ))
        }
    };
    child::say(&format!("done {n} {}", took.as_micros()));
    Ok(())
}

/// `n` publishes through the framework's `Mqtt::publish`, `window` awaited at once.
pub(crate) fn framework_burst(
    client: &mqtt::Mqtt,
    n: u64,
    qos: mqtt::QoS,
    window: usize,
) -> Result<Duration, String> {
    windowed(n, window, |seq| {
        client
            .publish(wire::topic(seq), wire::payload(seq))
            .qos(qos)
            .into_future()
    })
}

/// Runs `publish(0..n)` with at most `window` futures pending; `window = 1` awaits
/// each publish before the next, as a handler or HTTP route does.
fn windowed<F, E>(n: u64, window: usize, publish: impl FnMut(u64) -> F) -> Result<Duration, String>
where
    F: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let start = Instant::now();
    futures::executor::block_on(
        futures::stream::iter(0..n)
            .map(publish)
            .buffer_unordered(window.max(1))
            .try_for_each(|()| futures::future::ready(Ok(()))),
    )
    .map_err(|e| e.to_string())?;
    Ok(start.elapsed())
}
