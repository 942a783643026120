//! The runtime of flask-mqtt: the handler registry, one Paho MQTT client per process,
//! dispatch of events to handlers, and the extractors handlers take as arguments.
//!
//! Most users depend on `flask-mqtt-actix`, which re-exports everything here and wires
//! the client into an actix-web server. This crate works without actix too:
//!
//! ```no_run
//! use flask_mqtt_core::{self as mqtt, Client, Config};
//!
//! #[mqtt::on_message("home/+/temperature", qos = 1)]
//! async fn temperature(msg: mqtt::Message) {
//!     println!("{} = {}", msg.topic(), msg.payload_str().unwrap_or("<binary>"));
//! }
//!
//! # async fn run() -> mqtt::Result<()> {
//! let client = Client::start(Config::from_env()?)?;   // connects in the background
//! client.handle().publish("home/kitchen/temperature", "21.5").await?;
//! client.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Guarantees
//! - Paho's callbacks only push into an unbounded queue: no message is dropped between
//!   Paho and the handlers, and no Paho operation ever runs on a Paho callback thread.
//! - Every handler has its own bounded queue (`queue = N`, default 1024) and worker: it
//!   sees events in arrival order, up to `concurrency = N` at once (default 1: one call
//!   at a time; with more, calls start in arrival order, each begun only once the one before
//!   it has reached its handler, and their statements may interleave from there on, the
//!   first ones too); a slow or panicking handler does not stop the
//!   others until its queue is full. Then dispatch
//!   waits for room in arrival order, and new events wait in memory (logged, never
//!   dropped). Paho's receive thread is never held (that would deadlock handlers that
//!   await a QoS 1/2 publish and stop keep-alive): the bound is the broker's.
//! - A QoS 1/2 message is acknowledged (PUBACK / PUBREC) when its handlers are done with
//!   it, as their [`AckPolicy`](crate::ack::AckPolicy) says (`after` by default: once
//!   every call it was routed to has ended, whatever the outcome; `first`: at dispatch;
//!   `manual`: at [`Ack::ack`]; an `Ack` dropped without it releases the message, not
//!   acknowledged, for the broker to send again with the next session), in arrival
//!   order, so a process that dies loses no message it acknowledged, and the broker
//!   sends no more than its in-flight window (MQTT 5: `MQTT_RECEIVE_MAXIMUM`) ahead of
//!   the handlers.
//!   An `Err`, a panic or a rejected argument is acknowledged and logged unless the
//!   handler says `nack_on_error`. A message no handler takes, and a reply consumed by
//!   [`Mqtt::request`] (or dropped as late), are acknowledged at once. [`Mqtt::unacknowledged_messages`]
//!   counts what is owed. See the README's "Guarantees".
//! - Nothing is handled before the app is ready ([`Client::start_paused`],
//!   [`Mqtt::ready`]; `flask-mqtt-actix`'s `configure` waits for the first app to be
//!   built).
//! - Handlers run on the client's own Tokio runtime (two threads), not on HTTP workers;
//!   plain `fn` handlers may block (they run under `block_in_place`).
//! - On every connect, every declared filter and every runtime subscription in
//!   [`Mqtt::topics`] is subscribed before `on_connect` handlers run.
//!
//! # Layout
//! One concept per file; each layer imports only from the layers below it, and from the
//! file that defines a name (never through the re-exports below, which are for users).
//! `tests/layering.rs` checks both, and the size of each file.
//!
//! ```text
//!  testing/            TestClient: the handlers driven by hand (recorder, observer)
//!  asyncapi/           the AsyncAPI document of the registry and the publishers
//!                      (feature `asyncapi`: channels, servers)
//!  client/             the running client: start and stop (mod, shutdown), the driver
//!     |                task (driver, session, supervise), Paho glue (paho: the Paho
//!     |                client, callbacks, connect options; trace; reaper)
//!  dispatch/           events -> handler queues -> workers (routes, router, queue,
//!     |                worker, reply); calls made inline (inline, trust: when; hold:
//!     |                a message's acknowledgement held by its calls; clock; watchdog:
//!     |                a poll that holds dispatch; owed: acknowledgements that stop
//!     |                going out); observe: what it reports per call
//!     |                and event; measure: the reports of a call, its handler's
//!     |                metrics recorded directly, then the observer
//!  registry, handler   the descriptors the macros submit; what handlers return;
//!  handler_future      an async call's future, in blocks each thread recycles;
//!  publisher describe  declared publishers; payload descriptions (autoref probe)
//!     |
//!  extract/            handler arguments: FromEvent, OptionalFromEvent, EventContext
//!     |
//!  handle/             Mqtt and Publish: what handlers and HTTP routes hold (shared,
//!     |                state, publish; limits: what the broker takes in a PUBLISH;
//!     |                outbound: the side Paho or the recorder
//!     |                implements; input:
//!     |                what the driver receives; health; request: Mqtt::request,
//!     |                replies: the waiting requests the driver routes replies to;
//!     |                metrics: MetricsCollector, a scrape of some clients)
//!  metrics/            what a client records for Prometheus (recorder), the families
//!     |                (families), writing them (exposition), the text formats (format)
//!  spans/              the `tracing` spans of handler calls and publishes; W3C trace
//!     |                context in MQTT 5 user properties (w3c, feature `opentelemetry`)
//!  event/              Event, HandlerKind, payloads, LogEntry; completion of an event
//!  ack/watermark       the acknowledgements a client owes, settled by completion
//!  config/ embedded/   settings (and the in-process broker they can ask for);
//!  ack/policy          when a message is acknowledged (AckPolicy, a value settings name)
//!  message/ qos        MQTT values; the MQTT 5 properties we build, checked
//!  error  sync         Error (and the one translation of Paho's errors); lock();
//!  visible             what a user must see even without a logger (stderr then)
//! ```
//!
//! Why this way: the layers follow what changes together. A new handler argument touches
//! `extract/` only; acknowledging a message once its handlers have finished builds on
//! `event::completion` and `dispatch::observe`, and metrics and tracing observe the same
//! reports, without touching the client. `handle/` sits below dispatch so that
//! handlers can publish (a reply is a publish) without the handle knowing who runs them,
//! and the running client (`client/`) is the only place that knows Paho's session.
//!
//! # Logging
//! Through the [`log`](https://docs.rs/log) facade: target `flask_mqtt::client` (connects,
//! losses, subscribes; errors for lost connections and failed connects),
//! `flask_mqtt::dispatch` (handler errors and panics, as warnings naming topic and
//! handler; per-message lines at debug), `flask_mqtt::config` (unknown keys, settings
//! without effect such as a Receive Maximum on MQTT 3.1.1), `paho_mqtt_c` (Paho C's own
//! trace; packet lines at trace). What a user must see (a configuration error, an unknown
//! key, a client's first failed connect, a handler's filter the broker refuses, publishes
//! never sent at shutdown, a client that stopped for good) goes to stderr, once, when no
//! logger would show it. The password is never logged.
//!
//! A handler is named `module::function` in log lines, in its `mqtt.handler` span's
//! `handler` field and in the metrics' `handler` label alike; handlers that share one
//! (one function under two attributes, functions of one name in two blocks of a module)
//! are `module::function`, `module::function#2`, ... in the order of their filters, then
//! of their attributes' places in the source, numbered once over every handler linked
//! in (`registry::numbered`).
//!
//! # Unsafe code
//! Denied by the workspace, allowed in four modules, each block with a `SAFETY`
//! comment: `handler_future` (async handler futures in blocks each thread recycles, and
//! its `unsafe impl Send`), `handle::state` (a state value turned back into the `Arc<T>`
//! it was made from without `downcast`'s check), and two calls into Paho C,
//! `paho_version` (reading its version table) and `client::trace` (removing paho-mqtt's
//! trace callback).
#![forbid(unsafe_op_in_unsafe_fn)]

extern crate self as flask_mqtt_core;

pub mod ack;
#[cfg(feature = "actix")]
mod actix;
/// Support for `flask-mqtt-actix`. Not public API.
#[cfg(feature = "actix")]
#[doc(hidden)]
pub mod __actix {
    /// The longest dropping a client blocks (the exit hook waits at least this long).
    pub const CLIENT_STOP_BOUND: std::time::Duration = crate::client::STOP_BOUND;
    pub use crate::handle::share_state;
    pub use crate::registry::declared_brokers;
    pub use crate::visible::report;

    /// `config` with connect mode `background`: `configure` cannot fail startup, so it
    /// never waits for a first connect (only `init` honours `required`).
    pub fn in_background(mut config: crate::Config) -> crate::Config {
        config.connect_mode = crate::ConnectMode::Background;
        config
    }
}
#[cfg(feature = "asyncapi")]
mod asyncapi;
mod client;
mod config;
mod describe;
mod dispatch;
mod embedded;
mod error;
mod event;
mod extract;
mod handle;
mod handler;
mod handler_future;
mod message;
mod metrics;
mod paho_version;
mod publisher;
mod qos;
mod registry;
mod spans;
mod sync;
pub mod testing;
mod visible;

#[cfg(feature = "actix")]
pub use crate::actix::MqttUnavailable;
#[cfg(feature = "asyncapi")]
pub use crate::asyncapi::{AsyncApi, ASYNCAPI_VERSION};
pub use crate::client::Client;
pub use crate::config::{
    BrokerSection, Config, ConfigBuilder, ConfigFile, ConnectMode, LastWill, ProtocolVersion,
    Scalar, Secret, TlsConfig, TlsVersion, Transport, DEFAULT_PREFIX,
};
#[cfg(feature = "embedded-broker")]
pub use crate::embedded::EmbeddedBroker;
pub use crate::error::{
    ConfigError, ConnectError, ConnectRefusal, ConnectReturnCode, Error, PublishLimit, Result,
};
pub use crate::event::log::{LogEntry, LogLevel};
pub use crate::event::payloads::{
    Connected, DisconnectReason, Disconnected, Published, Subscribed, Unsubscribed,
};
pub use crate::event::{Event, HandlerKind, HandlerKinds};
pub use crate::extract::ack::Ack;
pub use crate::extract::context::{EventContext, WrongEvent};
pub use crate::extract::message::{
    Json, JsonRejection, Payload, Retain, Text, TextRejection, Topic,
};
pub use crate::extract::path::{Path, PathRejection};
pub use crate::extract::properties::{
    ContentType, CorrelationData, PropertyRejection, ResponseTopic, UserProperties,
};
pub use crate::extract::state::{MissingState, State};
pub use crate::extract::{FromEvent, OptionalFromEvent};
pub use crate::handle::health::{ConnectionState, Health};
pub use crate::handle::metrics::MetricsCollector;
pub use crate::handle::publish::Publish;
pub use crate::handle::request::{Request, DEFAULT_REQUEST_TIMEOUT};
pub use crate::handle::Mqtt;
pub use crate::handler::{HandlerError, IntoOutcome, Reply};
pub use crate::message::Message;
pub use crate::metrics::MetricsFormat;
pub use crate::paho_version::paho_version;
pub use crate::publisher::Publisher;
pub use crate::qos::QoS;
pub use flask_mqtt_macros::{
    on_connect, on_disconnect, on_log, on_message, on_publish, on_subscribe, on_unsubscribe,
    publisher,
};
pub use flask_mqtt_topic::{
    is_disallowed, RenderError, TemplateError, TopicFilter, TopicFilterError, TopicName,
    TopicNameError, TopicNameTemplate, TopicTemplate, ValueProblem, MAX_TOPIC_LEVELS,
};
/// Our fork of the Paho MQTT Rust crate (package `flask-mqtt-paho`), whose types the API
/// shows: [`Message::as_paho`] (MQTT 5 properties: `paho::PropertyCode`,
/// `paho::Properties`) and [`Error::Paho`]. Users name them through here, with no
/// dependency of their own on the fork.
pub use paho_mqtt as paho;

/// Support for the code the attribute macros generate. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::ack::policy::AckPolicy;
    /// The split of handler calls made inline and on workers (the benchmark's).
    #[cfg(feature = "call-split")]
    pub use crate::dispatch::split::{call_split, CallSplit};
    pub use crate::event::HandlerKind;
    pub use crate::extract::context::EventContext;
    pub use crate::handler::{
        argument_fits, argument_home, extract, replies, takes_ack, Converter, Extractor,
        IntoOutcome, Outcome,
    };
    pub use crate::handler_future::HandlerFuture;
    pub use crate::registry::{HandlerDescriptor, HandlerFn};
    pub use inventory;
    pub use std::sync::Arc;

    // Payload descriptions (AsyncAPI) and declared publishers.
    pub use crate::__payload_doc as payload_doc;
    pub use crate::describe::probe;
    pub use crate::describe::{PayloadDoc, Schemas};
    pub use crate::extract::message::Json;
    pub use crate::publisher::{Publisher, PublisherDescriptor, PublisherEntry};
}
