//! [`Publish`]: a message on its way to the broker, and its completion.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::Ordering;

use flask_mqtt_topic::TopicName;

use super::Mqtt;
use crate::config::ProtocolVersion;
use crate::error::{Error, Result};
use crate::event::log::CLIENT_TARGET;
use crate::event::payloads::Published;
use crate::event::Event;
use crate::message::Message;
use crate::qos::QoS;
use crate::sync::lock;

/// A publish being prepared: set [`qos`](Publish::qos) and [`retain`](Publish::retain),
/// then `.await` it (it implements [`IntoFuture`]).
#[must_use = "a publish does nothing until it is awaited"]
#[derive(Debug)]
pub struct Publish {
    mqtt: Mqtt,
    topic: String,
    payload: Vec<u8>,
    qos: QoS,
    retain: bool,
    props: Vec<Prop>,
}

/// An MQTT 5 property to attach to a publish.
#[derive(Debug)]
enum Prop {
    CorrelationData(Vec<u8>),
    ContentType(String),
    ResponseTopic(String),
    User(String, String),
}

impl Publish {
    pub(crate) fn new(mqtt: Mqtt, topic: String, payload: Vec<u8>) -> Self {
        Publish {
            mqtt,
            topic,
            payload,
            qos: QoS::AtMostOnce,
            retain: false,
            props: Vec::new(),
        }
    }

    /// The QoS to publish with (default: [`QoS::AtMostOnce`]).
    pub fn qos(mut self, qos: QoS) -> Self {
        self.qos = qos;
        self
    }

    /// Whether the broker keeps the message for later subscribers (default: `false`).
    pub fn retain(mut self, retain: bool) -> Self {
        self.retain = retain;
        self
    }

    /// MQTT 5 Correlation Data (for request/response). Ignored, with a debug log line,
    /// on an MQTT 3.1.1 connection, which has no properties.
    pub fn correlation_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.props.push(Prop::CorrelationData(data.into()));
        self
    }

    /// MQTT 5 Content Type (e.g. `application/json`); ignored on MQTT 3.1.1.
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.props.push(Prop::ContentType(content_type.into()));
        self
    }

    /// MQTT 5 Response Topic, where a responder should answer; ignored on MQTT 3.1.1.
    pub fn response_topic(mut self, topic: impl Into<String>) -> Self {
        self.props.push(Prop::ResponseTopic(topic.into()));
        self
    }

    /// An MQTT 5 user property (may be repeated); ignored on MQTT 3.1.1.
    pub fn user_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.props.push(Prop::User(key.into(), value.into()));
        self
    }

    /// Sends the message; the same as awaiting the `Publish`.
    pub async fn send(self) -> Result<()> {
        let Publish {
            mqtt,
            topic,
            payload,
            qos,
            retain,
            props,
        } = self;
        let name = TopicName::new(topic.as_str()).map_err(|e| Error::invalid_topic(&topic, e))?;
        if let Some(Prop::ResponseTopic(t)) =
            props.iter().find(|p| matches!(p, Prop::ResponseTopic(_)))
        {
            TopicName::new(t.as_str()).map_err(|e| Error::invalid_topic(t, e))?;
        }
        mqtt.ensure_open()?;
        let v5 = mqtt.shared.config.protocol_version() == ProtocolVersion::V5;
        let mut builder = paho_mqtt::MessageBuilder::new()
            .topic(name.as_str())
            .payload(payload)
            .qos(qos.to_paho())
            .retained(retain);
        // A detached (test) handle records properties whatever the version.
        if !props.is_empty() && (v5 || mqtt.shared.tap.is_some()) {
            builder = builder.properties(to_properties(&props).map_err(Error::Paho)?);
        } else if !props.is_empty() {
            log::debug!(
                target: CLIENT_TARGET,
                "MQTT 3.1.1 has no properties; {} ignored on the publish to `{topic}`",
                props.len()
            );
        }
        let msg = builder.finalize();
        if let Some(tap) = &mqtt.shared.tap {
            lock(tap).push(Message::from_paho(msg));
            return Ok(());
        }
        let token = mqtt.shared.paho.try_publish(msg).map_err(|e| {
            // paho-mqtt 0.14's `try_publish` reports a refused publish as `Publish(rc,
            // message)`, handing the message back, never as the bare error.
            let e = match e {
                paho_mqtt::Error::Publish(rc, _) => paho_mqtt::Error::from(rc),
                other => other,
            };
            match e {
                paho_mqtt::Error::MaxBufferedMessages => Error::BufferFull {
                    limit: mqtt.shared.config.max_buffered_messages,
                    topic: topic.clone(),
                },
                other => Error::Paho(other),
            }
        })?;
        log::debug!(target: CLIENT_TARGET, "publishing to `{topic}` (qos {qos})");
        // Paho's token is awaited right here (Paho's thread wakes this task directly);
        // if the caller stops waiting, `InFlight`'s drop hands the rest to the client's
        // runtime, so that `on_publish` still runs. A graceful shutdown waits for
        // `unsent` to drain.
        mqtt.shared.unsent.fetch_add(1, Ordering::SeqCst);
        let in_flight = InFlight {
            mqtt,
            token: Some(token),
            published: Some(Published { topic, qos, retain }),
        };
        match in_flight.wait().await {
            Ok(()) => Ok(()),
            Err(Some(paho_mqtt::Error::Disconnected)) => Err(Error::NotConnected),
            Err(Some(paho_mqtt::Error::OperationIncomplete)) => Err(Error::ConnectionLost),
            Err(Some(e)) => Err(Error::Paho(e)),
            Err(None) => Err(Error::Closed),
        }
    }
}

/// A publish Paho has accepted and not yet completed; counted in `Shared::unsent`.
struct InFlight {
    mqtt: Mqtt,
    /// `None` once the outcome is known (or handed to the client's runtime).
    token: Option<paho_mqtt::DeliveryToken>,
    published: Option<Published>,
}

impl InFlight {
    /// Waits for Paho's outcome; `Err(None)` when the client's runtime stopped first.
    async fn wait(mut self) -> std::result::Result<(), Option<paho_mqtt::Error>> {
        let mut ended = self.mqtt.shared.ended.subscribe();
        let outcome = match self.token.as_mut() {
            Some(token) => tokio::select! {
                res = token => Some(res),
                _ = ended.wait_for(|ended| *ended) => None,
            },
            None => None,
        };
        // Known, or nobody will settle it any more: either way `Drop` must not try.
        self.token = None;
        let Some(outcome) = outcome else {
            return Err(None);
        };
        settle(&self.mqtt, self.published.take(), &outcome);
        outcome.map_err(Some)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // The caller stopped waiting: finish on the client's runtime (if it still runs).
        if let Some(token) = self.token.take() {
            let mqtt = self.mqtt.clone();
            let published = self.published.take();
            drop(self.mqtt.shared.rt.spawn(async move {
                let outcome = token.await;
                settle(&mqtt, published, &outcome);
            }));
        }
    }
}

/// Counts a publish as settled and, if it went out, tells `on_publish` handlers.
fn settle(
    mqtt: &Mqtt,
    published: Option<Published>,
    outcome: &std::result::Result<(), paho_mqtt::Error>,
) {
    mqtt.shared.unsent.fetch_sub(1, Ordering::SeqCst);
    if let (Ok(()), Some(published), true) = (outcome, published, mqtt.shared.on_publish) {
        mqtt.emit(Event::Published(published));
    }
}

impl IntoFuture for Publish {
    type Output = Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<()>> + Send + 'static>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

fn to_properties(props: &[Prop]) -> std::result::Result<paho_mqtt::Properties, paho_mqtt::Error> {
    use paho_mqtt::PropertyCode;
    let mut out = paho_mqtt::Properties::new();
    for p in props {
        match p {
            Prop::CorrelationData(d) => {
                out.push_binary(PropertyCode::CorrelationData, d.clone())?
            }
            Prop::ContentType(t) => out.push_string(PropertyCode::ContentType, t)?,
            Prop::ResponseTopic(t) => out.push_string(PropertyCode::ResponseTopic, t)?,
            Prop::User(k, v) => out.push_string_pair(PropertyCode::UserProperty, k, v)?,
        }
    }
    Ok(out)
}
