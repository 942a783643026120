//! Flask-MQTT for actix-web: one managed MQTT connection per process, handlers as
//! attribute-marked functions, and the same connection for HTTP handlers.
//!
//! ```no_run
//! use actix_web::{web, App, HttpServer};
//! use flask_mqtt_actix as mqtt;
//!
//! #[mqtt::on_connect] // every successful (re)connect
//! async fn connected(client: mqtt::Mqtt) {
//!     client.subscribe("home/mytopic", mqtt::QoS::AtMostOnce).await.ok();
//! }
//!
//! #[mqtt::on_message("home/+/temperature", qos = 1)] // subscribed at each connect
//! async fn temperature(msg: mqtt::Message) {
//!     log::info!("{} = {}", msg.topic(), msg.payload_str().unwrap_or("<binary>"));
//! }
//!
//! #[mqtt::on_message] // catch-all: messages no filter handler matched
//! fn other(msg: mqtt::Message) {}
//!
//! async fn webhook(client: mqtt::Mqtt) -> &'static str {
//!     client.publish("device/command", "on").await.ok();
//!     "OK"
//! }
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     HttpServer::new(|| {
//!         App::new()
//!             .configure(mqtt::configure)
//!             .route("/hook", web::post().to(webhook))
//!     })
//!     .bind(("127.0.0.1", 8080))?
//!     .run()
//!     .await
//! }
//! ```
//!
//! # How the client lives
//! [`configure`] starts the client the first time an app is built in this process (actix
//! builds one app per worker) and shares it with every worker: one broker connection per
//! process, however many workers. Connecting happens in the background, so the server
//! serves while the broker is away. When the last worker stops, the client disconnects
//! cleanly (DISCONNECT is sent; no last will) and waits for queued handler calls.
//!
//! Configuration comes from the environment with Flask-MQTT's key names (see
//! [`Config`]); call [`init`] or [`init_with`] before building the server to fail fast on
//! a bad setting or to configure in code.
//!
//! See the `flask-mqtt-core` documentation for delivery guarantees and log targets.
//!
//! # Features
//! - `asyncapi` (default): `asyncapi` and `asyncapi_page`, the AsyncAPI 3.0 document
//!   of the app's MQTT interface and a page showing it; `Json<T>` payloads get their JSON
//!   Schema when `T` derives `schemars::JsonSchema`. Off, the `schemars` dependency goes
//!   away; nothing on the publish or dispatch path depends on it.
//! - `embedded-broker`: `MQTT_BROKER_URL=embedded` runs a development broker in the
//!   process.
//! - `opentelemetry`: W3C trace context crosses MQTT 5 through `tracing-opentelemetry`:
//!   a publish made inside a span carries a `traceparent` user property, and the span of
//!   a handler whose message carries one continues that trace.
//!
//! # Tracing
//! Without any feature, every handler call runs in a `tracing` span `mqtt.handler`
//! (fields `handler`, `kind`, `broker`, `topic`, `qos`, `outcome`) and every publish in a
//! span `mqtt.publish` (`topic`, `qos`, `retain`, `broker`, `outcome`), target
//! `flask_mqtt::span`. Until a `tracing` subscriber is set, no span is made, so none is
//! written to `log` through `tracing`'s `log` feature (which actix-web turns on).
//!
//! # Unsafe code
//! The workspace denies `unsafe`; four modules allow it, each block with a `SAFETY`
//! comment saying why it holds (the Paho C library itself is C, built from our fork in
//! `flask-mqtt-paho-sys`):
//! - this crate's `exit`: one call to `atexit(3)`, so that the clients stop gracefully
//!   when the process exits (see [`configure`]). It only records a function pointer
//!   valid for the whole process, to an `extern "C" fn()` as atexit requires.
//! - `flask-mqtt-core`'s `handler_future`: async handler calls' futures in blocks each
//!   thread recycles, instead of one `Box` per call (what `Box<dyn Future>` does, done by
//!   hand): a future is written into an unused block that fits its layout, polled pinned
//!   there (the block never moves), dropped once, and its block freed with the layout
//!   it was allocated with; `unsafe impl Send` because the future is `Send` (a bound of
//!   the constructor) and only its owner reaches it, as with a `Box`.
//! - `flask-mqtt-core`'s `paho_version` (Paho C FFI): reads Paho C's static version
//!   table, NULL-terminated, whose strings are constants living as long as the program.
//! - `flask-mqtt-core`'s `client::trace` (Paho C FFI): removes the global trace callback
//!   paho-mqtt installs, by storing NULL, which Paho checks before every call.
//!
//! `flask-mqtt-topic` and `flask-mqtt-macros` have no unsafe code; the vendored Rust
//! forks (`flask-mqtt-paho`, `flask-mqtt-rumqttd`) keep their upstreams' own.
#![deny(unsafe_code)]

extern crate self as flask_mqtt_actix;

#[cfg(feature = "asyncapi")]
mod asyncapi;
mod exit;
mod health;
mod metrics;
mod plugin;
mod ready;
mod state;

#[cfg(feature = "asyncapi")]
pub use crate::asyncapi::{asyncapi, asyncapi_page};
pub use crate::health::readiness;
pub use crate::metrics::metrics;
pub use crate::plugin::{configure, init, init_named, init_with, Clients};
pub use crate::state::manage;
pub use flask_mqtt_core::Ack;
pub use flask_mqtt_core::{
    is_disallowed, publisher, Publisher, RenderError, Request, TopicNameTemplate, ValueProblem,
    DEFAULT_REQUEST_TIMEOUT, MAX_TOPIC_LEVELS,
};
pub use flask_mqtt_core::{
    on_connect, on_disconnect, on_log, on_message, on_publish, on_subscribe, on_unsubscribe,
    BrokerSection, Client, Config, ConfigBuilder, ConfigError, ConfigFile, ConnectError,
    ConnectMode, ConnectRefusal, ConnectReturnCode, Connected, ConnectionState, DisconnectReason,
    Disconnected, Error, Event, EventContext, FromEvent, HandlerError, HandlerKind, HandlerKinds,
    Health, IntoOutcome, LastWill, LogEntry, LogLevel, Message, MetricsCollector, MetricsFormat,
    Mqtt, MqttUnavailable, OptionalFromEvent, ProtocolVersion, Publish, Published, QoS, Result,
    Scalar, Secret, Subscribed, TlsConfig, TlsVersion, TopicFilter, TopicFilterError, TopicName,
    TopicNameError, Transport, Unsubscribed, WrongEvent, DEFAULT_PREFIX,
};
pub use flask_mqtt_core::{
    testing, ContentType, CorrelationData, Json, JsonRejection, MissingState, Path, PathRejection,
    Payload, PropertyRejection, PublishLimit, Reply, ResponseTopic, Retain, State, TemplateError,
    Text, TextRejection, Topic, TopicTemplate, UserProperties,
};
#[cfg(feature = "asyncapi")]
pub use flask_mqtt_core::{AsyncApi, ASYNCAPI_VERSION};

pub use flask_mqtt_core::ack::{AckPolicy, UnknownAckPolicy};
/// Our fork of the Paho MQTT Rust crate, whose types [`Message::as_paho`] and
/// [`Error::Paho`] show: `mqtt::paho::PropertyCode` reads a message's MQTT 5 properties.
pub use flask_mqtt_core::paho;
pub use flask_mqtt_core::paho_version;

#[doc(hidden)]
pub use flask_mqtt_core::__private;
#[cfg(feature = "embedded-broker")]
pub use flask_mqtt_core::EmbeddedBroker;
