//! Testing handlers without a broker: build the program's handler set, inject messages
//! (with QoS, retain and MQTT 5 properties) and other events, wait until every handler
//! they reach has finished, then look at each call's outcome and at what handlers
//! published.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use flask_mqtt_core::{self as mqtt, testing};
//!
//! #[derive(Default)]
//! struct Readings {
//!     seen: Mutex<Vec<(u32, f64)>>,
//! }
//!
//! #[derive(serde::Deserialize)]
//! struct Reading {
//!     celsius: f64,
//! }
//!
//! #[mqtt::on_message("sensors/{sensor_id}/temperature")]
//! async fn temperature(
//!     mqtt::Path(sensor_id): mqtt::Path<u32>,
//!     mqtt::Json(reading): mqtt::Json<Reading>,
//!     readings: mqtt::State<Readings>,
//!     client: mqtt::Mqtt,
//! ) -> mqtt::Result<()> {
//!     readings.seen.lock().unwrap().push((sensor_id, reading.celsius));
//!     client.publish(format!("sensors/{sensor_id}/seen"), "yes").await
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> mqtt::Result<()> {
//! let readings = Arc::new(Readings::default());
//! let app = testing::TestClient::new()?.state(Arc::clone(&readings));
//!
//! let calls = app.inject(testing::message("sensors/7/temperature", r#"{"celsius": 21.5}"#)).await;
//! assert!(calls.handler("temperature").is_some_and(|c| c.is_ok()));
//! assert_eq!(*readings.seen.lock().unwrap(), [(7, 21.5)]);
//! assert_eq!(app.published()[0].topic(), "sensors/7/seen");
//!
//! // A payload that is not a `Reading`: the handler is not called.
//! let calls = app.inject(testing::message("sensors/7/temperature", "hot")).await;
//! let call = calls.handler("temperature").unwrap();
//! assert!(call.is_rejected());
//! assert!(call.error().unwrap().to_string().contains("not valid JSON"));
//! # Ok(()) }
//! ```

mod calls;
mod message;
mod recorder;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

pub(crate) use self::calls::Watch;
pub use self::calls::{Calls, HandlerCall};
pub use self::message::{message, TestMessage};
use self::recorder::Recorder;
use crate::ack::policy::AckPolicy;
use crate::config::{Config, ConfigBuilder};
use crate::dispatch::Dispatcher;
use crate::error::{Error, Result};
use crate::event::payloads::Connected;
use crate::event::Event;
use crate::handle::health::ConnectionState;
use crate::handle::shared::Shared;
use crate::handle::Mqtt;
use crate::message::Message;
use crate::registry;
use crate::sync::lock;

/// The program's handlers for one client, driven by hand: no broker, no network.
///
/// The client handle handlers receive ([`Mqtt`]) reports itself connected and records
/// publishes instead of sending them ([`published`](TestClient::published)). Handlers
/// run exactly as in a real client: same extractors, queues, concurrency and reports.
/// Create it inside a Tokio runtime (`#[tokio::test]` is fine).
pub struct TestClient {
    mqtt: Mqtt,
    dispatcher: Dispatcher,
    recorder: Arc<Recorder>,
    watch: Arc<Watch>,
    calls: Mutex<Vec<HandlerCall>>,
    /// Held while an event is dispatched: [`Dispatcher::dispatch`] takes one caller at a
    /// time (in a client, its driver), and `inject` may be called from several tasks.
    dispatching: Mutex<()>,
}

impl fmt::Debug for TestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestClient")
            .field("client", &self.mqtt)
            .finish_non_exhaustive()
    }
}

impl TestClient {
    /// The handlers of the default client (no `broker = "..."`), with default settings.
    ///
    /// # Errors
    ///
    /// [`Error::Runtime`] outside a Tokio runtime.
    pub fn new() -> Result<TestClient> {
        TestClient::with_config(Config::default())
    }

    /// The handlers of the client named `prefix` (`broker = "MQTT2"`).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a prefix that is not a configuration prefix;
    /// [`Error::Runtime`] outside a Tokio runtime.
    pub fn for_broker(prefix: &str) -> Result<TestClient> {
        TestClient::with_config(ConfigBuilder::with_prefix(prefix).build()?)
    }

    /// The handlers of the client `config` configures (its prefix picks them), with
    /// `config` visible to handlers through their [`Mqtt`] handle.
    ///
    /// # Errors
    ///
    /// [`Error::Runtime`] outside a Tokio runtime.
    pub fn with_config(config: Config) -> Result<TestClient> {
        let rt = tokio::runtime::Handle::try_current().map_err(|e| {
            Error::Runtime(std::io::Error::other(format!(
                "a TestClient needs a Tokio runtime: {e}"
            )))
        })?;
        let handlers = registry::collect_for(config.prefix());
        let recorder = Arc::new(Recorder::default());
        // Nobody drives a test client: events its handle emits (`on_publish`,
        // `on_subscribe`, ...) are not dispatched.
        let (input, _) = mpsc::unbounded_channel();
        let shared = Shared::new(
            config,
            "detached".to_owned(),
            Box::new(Arc::clone(&recorder)),
            BTreeMap::new(),
            input,
            rt,
            false,
        );
        shared.set_state(ConnectionState::Connected, |_| {});
        let watch = Arc::new(Watch::default());
        // Handler calls are recorded in the client's metrics as in a running client
        // (`MetricsCollector` shows them), unless the config says `metrics(false)`.
        let dispatcher = Dispatcher::start_acking(
            handlers,
            Some(Arc::clone(&watch) as _),
            AckPolicy::After,
            shared.config.prefix(),
            shared.metrics.as_deref(),
        );
        Ok(TestClient {
            mqtt: Mqtt {
                shared: Arc::new(shared),
            },
            dispatcher,
            recorder,
            watch,
            calls: Mutex::new(Vec::new()),
            dispatching: Mutex::new(()),
        })
    }

    /// Registers shared state for `State<T>` (and `web::Data<T>`) arguments; see
    /// [`Mqtt::insert_state`].
    pub fn state<T: Send + Sync + 'static>(self, value: Arc<T>) -> Self {
        self.mqtt.insert_state(value);
        self
    }

    /// The client handle the handlers receive.
    pub fn client(&self) -> &Mqtt {
        &self.mqtt
    }

    /// Delivers `message` as if the broker had sent it, right away (before the returned
    /// future is polled: several `inject` calls deliver in call order, like messages
    /// arriving back to back). Await the future to wait until every handler the message
    /// reaches has finished (rejected, returned, panicked, replied); it resolves to those
    /// calls, which [`calls`](TestClient::calls) keeps too.
    ///
    /// The message counts as received in `mqtt_messages_received_total`, as one from the
    /// broker would.
    pub fn inject(&self, message: impl Into<Message>) -> impl Future<Output = Calls> + Send + '_ {
        let message = message.into();
        if let Some(metrics) = &self.mqtt.shared.metrics {
            metrics.received(message.qos());
        }
        self.inject_event(Event::Message(message))
    }

    /// Runs the `#[on_connect]` handlers as for a first connect; await to wait for them.
    pub fn connect(&self) -> impl Future<Output = Calls> + Send + '_ {
        self.inject_event(Event::Connected(Connected {
            server_uri: self.mqtt.server_uri().to_owned(),
            reconnect: false,
        }))
    }

    /// Delivers any event right away; await to wait for the handlers it reaches.
    pub fn inject_event(&self, event: Event) -> impl Future<Output = Calls> + Send + '_ {
        let seq = {
            let _one_at_a_time = lock(&self.dispatching);
            self.dispatcher.dispatch(&self.mqtt, event)
        };
        let ended = self.watch.ended(seq);
        async move {
            let calls = ended.await;
            lock(&self.calls).extend(calls.iter().cloned());
            calls
        }
    }

    /// Everything handlers published so far, oldest first (replies included).
    pub fn published(&self) -> Vec<Message> {
        self.recorder.published()
    }

    /// Every handler call so far, in the order the injections were awaited.
    pub fn calls(&self) -> Vec<HandlerCall> {
        lock(&self.calls).clone()
    }
}
