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

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use paho_mqtt::{Properties, PropertyCode};

use crate::config::{Config, ConfigBuilder};
use crate::dispatch::tracker::CallRecord;
use crate::dispatch::Dispatcher;
use crate::error::Result;
use crate::event::payloads::Connected;
use crate::event::Event;
use crate::handle::Mqtt;
use crate::handler::HandlerError;
use crate::message::Message;
use crate::qos::QoS;
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
    published: Mutex<Vec<Message>>,
    calls: Mutex<Vec<HandlerCall>>,
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
    /// [`Error::Runtime`](crate::Error::Runtime) outside a Tokio runtime.
    pub fn new() -> Result<TestClient> {
        TestClient::with_config(Config::default())
    }

    /// The handlers of the client named `prefix` (`broker = "MQTT2"`).
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) for a prefix that is not a configuration
    /// prefix; [`Error::Runtime`](crate::Error::Runtime) outside a Tokio runtime.
    pub fn for_broker(prefix: &str) -> Result<TestClient> {
        TestClient::with_config(ConfigBuilder::with_prefix(prefix).build()?)
    }

    /// The handlers of the client `config` configures (its prefix picks them), with
    /// `config` visible to handlers through their [`Mqtt`] handle.
    ///
    /// # Errors
    ///
    /// [`Error::Runtime`](crate::Error::Runtime) outside a Tokio runtime.
    pub fn with_config(config: Config) -> Result<TestClient> {
        let handlers = registry::collect_for(config.prefix());
        let mqtt = Mqtt::detached(config)?;
        Ok(TestClient {
            mqtt,
            dispatcher: Dispatcher::start(handlers),
            published: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
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
    pub fn inject(&self, message: impl Into<Message>) -> impl Future<Output = Calls> + Send + '_ {
        self.inject_event(Event::Message(message.into()))
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
        let done = self.dispatcher.dispatch_tracked(&self.mqtt, event);
        async move {
            let mut calls: Vec<HandlerCall> =
                done.await.into_iter().map(HandlerCall::from).collect();
            calls.sort_by(|a, b| a.handler.cmp(&b.handler));
            lock(&self.calls).extend(calls.iter().cloned());
            Calls(calls)
        }
    }

    /// Everything handlers published so far, oldest first (replies included).
    pub fn published(&self) -> Vec<Message> {
        let mut all = lock(&self.published);
        all.extend(self.mqtt.take_published());
        all.clone()
    }

    /// Every handler call so far, in the order the injections were awaited.
    pub fn calls(&self) -> Vec<HandlerCall> {
        lock(&self.calls).clone()
    }
}

/// One handler call caused by an injected event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandlerCall {
    handler: String,
    result: std::result::Result<(), HandlerError>,
}

impl From<CallRecord> for HandlerCall {
    fn from((handler, result): CallRecord) -> Self {
        HandlerCall { handler, result }
    }
}

impl HandlerCall {
    /// The handler, `module::function`.
    pub fn handler(&self) -> &str {
        &self.handler
    }

    /// Whether the handler ran and succeeded (and its reply, if any, was sent).
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }

    /// Whether an argument was rejected (the handler was not called).
    pub fn is_rejected(&self) -> bool {
        matches!(self.result, Err(HandlerError::Rejected { .. }))
    }

    /// What went wrong, if anything.
    pub fn error(&self) -> Option<&HandlerError> {
        self.result.as_ref().err()
    }

    /// The call's result.
    pub fn result(&self) -> &std::result::Result<(), HandlerError> {
        &self.result
    }

    /// Whether this call is of the handler `name`: its full `module::function`, or the
    /// function name alone.
    pub fn is(&self, name: &str) -> bool {
        self.handler == name
            || self
                .handler
                .strip_suffix(name)
                .is_some_and(|rest| rest.ends_with("::"))
    }
}

/// The handler calls one injected event caused, sorted by handler name. Derefs to the
/// slice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Calls(Vec<HandlerCall>);

impl Calls {
    /// The call of the handler `name` (`module::function` or the function name alone).
    pub fn handler(&self, name: &str) -> Option<&HandlerCall> {
        self.0.iter().find(|c| c.is(name))
    }

    /// Whether every call succeeded.
    pub fn all_ok(&self) -> bool {
        self.0.iter().all(HandlerCall::is_ok)
    }

    /// The calls as a `Vec`.
    pub fn into_vec(self) -> Vec<HandlerCall> {
        self.0
    }
}

impl Deref for Calls {
    type Target = [HandlerCall];

    fn deref(&self) -> &[HandlerCall] {
        &self.0
    }
}

impl IntoIterator for Calls {
    type Item = HandlerCall;
    type IntoIter = std::vec::IntoIter<HandlerCall>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// A message to inject: topic and payload, QoS 0, not retained, no properties.
pub fn message(topic: impl Into<String>, payload: impl Into<Vec<u8>>) -> TestMessage {
    TestMessage {
        topic: topic.into(),
        payload: payload.into(),
        qos: QoS::AtMostOnce,
        retain: false,
        response_topic: None,
        correlation_data: None,
        content_type: None,
        user_properties: Vec::new(),
    }
}

/// A message being built for [`TestClient::inject`]; start with [`message`].
#[derive(Clone, Debug)]
#[must_use = "inject the message with `TestClient::inject`"]
pub struct TestMessage {
    topic: String,
    payload: Vec<u8>,
    qos: QoS,
    retain: bool,
    response_topic: Option<String>,
    correlation_data: Option<Vec<u8>>,
    content_type: Option<String>,
    user_properties: Vec<(String, String)>,
}

impl TestMessage {
    /// The QoS it is delivered with (default: [`QoS::AtMostOnce`]).
    pub fn qos(mut self, qos: QoS) -> Self {
        self.qos = qos;
        self
    }

    /// Whether it is delivered as a retained message (default: `false`).
    pub fn retain(mut self, retain: bool) -> Self {
        self.retain = retain;
        self
    }

    /// Sets the MQTT 5 Response Topic property.
    pub fn response_topic(mut self, topic: impl Into<String>) -> Self {
        self.response_topic = Some(topic.into());
        self
    }

    /// Sets the MQTT 5 Correlation Data property.
    pub fn correlation_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.correlation_data = Some(data.into());
        self
    }

    /// Sets the MQTT 5 Content Type property.
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Adds an MQTT 5 user property (names may repeat; order is kept).
    pub fn user_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.user_properties.push((name.into(), value.into()));
        self
    }
}

impl From<TestMessage> for Message {
    fn from(m: TestMessage) -> Message {
        // Each push matches its code's type, so none can fail.
        let mut props = Properties::new();
        if let Some(topic) = &m.response_topic {
            let _ = props.push_string(PropertyCode::ResponseTopic, topic);
        }
        if let Some(data) = m.correlation_data {
            let _ = props.push_binary(PropertyCode::CorrelationData, data);
        }
        if let Some(content_type) = &m.content_type {
            let _ = props.push_string(PropertyCode::ContentType, content_type);
        }
        for (name, value) in &m.user_properties {
            let _ = props.push_string_pair(PropertyCode::UserProperty, name, value);
        }
        // Paho panics on a NUL in a topic; MQTT forbids it anyway. Cut there, as
        // `Message::new` does.
        let mut topic = m.topic;
        if let Some(nul) = topic.find('\0') {
            topic.truncate(nul);
        }
        let msg = paho_mqtt::MessageBuilder::new()
            .topic(topic)
            .payload(m.payload)
            .qos(m.qos.to_paho())
            .retained(m.retain)
            .properties(props)
            .finalize();
        Message::from_paho(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nul_in_an_injected_topic_cuts_it_instead_of_panicking() {
        let m: Message = message("a/b\0c", "x").qos(QoS::AtLeastOnce).into();
        assert_eq!(m.topic(), "a/b");
        assert_eq!(m.payload(), b"x");
    }
}
