//! Declared publishers: what the app publishes, to which topics, with which payload type
//! (`publisher!`), registered for the AsyncAPI document and used to publish.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::OnceLock;

use flask_mqtt_topic::{RenderError, TemplateError, TopicName, TopicNameTemplate};

use crate::config::DEFAULT_PREFIX;
use crate::describe::PayloadFn;
use crate::error::{Error, Result};
use crate::handle::publish::Publish;
use crate::handle::Mqtt;
use crate::qos::QoS;

/// What `publisher!` registers: one per declared publisher. Built in a `const` context by
/// the generated code: [`PublisherDescriptor::new`] and then the `with_*` methods.
pub struct PublisherDescriptor {
    pub(crate) name: &'static str,
    pub(crate) module: &'static str,
    /// The topic template as written (`devices/{id}/command`); the macro checked it.
    pub(crate) template: &'static str,
    pub(crate) qos: u8,
    pub(crate) retain: bool,
    pub(crate) broker: Option<&'static str>,
    pub(crate) doc: Option<&'static str>,
    pub(crate) payload: Option<PayloadFn>,
    /// The template, parsed at the first publish.
    parsed: OnceLock<std::result::Result<TopicNameTemplate, TemplateError>>,
}

impl PublisherDescriptor {
    /// The publisher `module::name` of `template`: QoS 0, not retained, the default
    /// broker.
    pub const fn new(name: &'static str, module: &'static str, template: &'static str) -> Self {
        PublisherDescriptor {
            name,
            module,
            template,
            qos: 0,
            retain: false,
            broker: None,
            doc: None,
            payload: None,
            parsed: OnceLock::new(),
        }
    }

    /// The QoS it publishes with: 0, 1 or 2.
    ///
    /// # Panics
    ///
    /// On any other QoS. In the `static` that `publisher!` declares (which refuses such
    /// a `qos` itself), that is a compile error:
    ///
    /// ```compile_fail
    /// use flask_mqtt_core::__private::PublisherDescriptor;
    ///
    /// static P: PublisherDescriptor = PublisherDescriptor::new("p", "m", "a/b").with_qos(7);
    /// ```
    ///
    /// ```
    /// use flask_mqtt_core::__private::PublisherDescriptor;
    ///
    /// static P: PublisherDescriptor = PublisherDescriptor::new("p", "m", "a/b").with_qos(2);
    /// ```
    pub const fn with_qos(mut self, qos: u8) -> Self {
        // A const fn used in statics: a compile error there. (`publish` would send at QoS 2
        // and the AsyncAPI document show the number.)
        assert!(qos <= 2, "a publisher's QoS is 0, 1 or 2");
        self.qos = qos;
        self
    }

    /// Whether its messages are retained.
    pub const fn with_retain(mut self, retain: bool) -> Self {
        self.retain = retain;
        self
    }

    /// The configuration prefix of the client it publishes through (`"MQTT2"`).
    pub const fn with_broker(mut self, broker: &'static str) -> Self {
        self.broker = Some(broker);
        self
    }

    /// The declaration's doc comment.
    pub const fn with_doc(mut self, doc: &'static str) -> Self {
        self.doc = Some(doc);
        self
    }

    /// How to describe its payload, for the AsyncAPI document.
    pub const fn with_payload(mut self, payload: PayloadFn) -> Self {
        self.payload = Some(payload);
        self
    }

    /// `module::NAME`, as in log lines.
    pub fn name(&self) -> String {
        format!("{}::{}", self.module, self.name)
    }

    /// The configuration prefix of the client it publishes through.
    pub fn broker(&self) -> &'static str {
        self.broker.unwrap_or(DEFAULT_PREFIX)
    }

    fn parsed(&self) -> std::result::Result<&TopicNameTemplate, RenderError> {
        self.parsed
            .get_or_init(|| TopicNameTemplate::parse(self.template))
            .as_ref()
            .map_err(|e| RenderError::Template(e.clone()))
    }
}

impl fmt::Debug for PublisherDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublisherDescriptor")
            .field("name", &self.name())
            .field("template", &self.template)
            .field("qos", &self.qos)
            .field("retain", &self.retain)
            .field("broker", &self.broker())
            .finish_non_exhaustive()
    }
}

/// The registration of one declared publisher (generated code submits it).
#[derive(Debug)]
pub struct PublisherEntry(pub &'static PublisherDescriptor);

inventory::collect!(PublisherEntry);

/// Every declared publisher linked into the program, sorted by module and name.
#[cfg_attr(not(feature = "asyncapi"), allow(dead_code))]
pub(crate) fn declared() -> Vec<&'static PublisherDescriptor> {
    let mut out: Vec<&'static PublisherDescriptor> = inventory::iter::<PublisherEntry>
        .into_iter()
        .map(|entry| entry.0)
        .collect();
    out.sort_by_key(|d| (d.module, d.name));
    out
}

/// A declared publisher: the app publishes `T`, as JSON, to the topics of a template, with
/// a QoS and retain flag fixed where it is declared. Declare one with
/// [`publisher!`](crate::publisher!); it appears in the AsyncAPI document (a `send`
/// operation, with `T`'s schema when `T: schemars::JsonSchema`), and publishes from HTTP
/// handlers and MQTT handlers alike.
///
/// `N` is the number of named levels in the template: [`publish`](Publisher::publish)
/// takes exactly that many values, in template order, so a missing one is a compile
/// error.
///
/// ```
/// use flask_mqtt_core as mqtt;
///
/// #[derive(serde::Serialize)]
/// struct Command {
///     on: bool,
/// }
///
/// mqtt::publisher! {
///     /// Switches a device on or off.
///     pub static COMMAND: Command = "devices/{device_id}/command", qos = 1;
/// }
///
/// async fn switch(client: mqtt::Mqtt, device_id: u32) -> mqtt::Result<()> {
///     // Publishes `{"on":true}` to `devices/7/command` at QoS 1.
///     COMMAND.publish(&client, [&device_id], &Command { on: true }).await
/// }
/// # assert_eq!(COMMAND.topic([&7]).unwrap().as_str(), "devices/7/command");
/// ```
pub struct Publisher<T, const N: usize = 0> {
    desc: &'static PublisherDescriptor,
    payload: PhantomData<fn(&T)>,
}

impl<T, const N: usize> Publisher<T, N> {
    #[doc(hidden)]
    pub const fn __new(desc: &'static PublisherDescriptor) -> Self {
        Publisher {
            desc,
            payload: PhantomData,
        }
    }

    /// The topic template, as declared (`devices/{device_id}/command`).
    pub fn template(&self) -> &'static str {
        self.desc.template
    }

    /// The QoS it publishes with.
    pub fn qos(&self) -> QoS {
        QoS::from_u8(self.desc.qos).unwrap_or(QoS::ExactlyOnce)
    }

    /// Whether its messages are retained.
    pub fn retain(&self) -> bool {
        self.desc.retain
    }

    /// The configuration prefix of the client it publishes through (`MQTT` unless
    /// declared with `broker = "..."`).
    pub fn broker(&self) -> &'static str {
        self.desc.broker()
    }

    /// The topic for these parameter values, in template order.
    ///
    /// # Errors
    ///
    /// [`Error::TopicParameter`]: a value that cannot fill its level (empty, or with a
    /// `/` for a one-level parameter; with `+`, `#`, NUL, a control character or another
    /// character MQTT says must not be sent
    /// ([`is_disallowed`](flask_mqtt_topic::is_disallowed)) for any; starting with `$` in
    /// the first level, a topic MQTT keeps for the broker), or a topic too long.
    ///
    /// ```
    /// use flask_mqtt_core as mqtt;
    ///
    /// mqtt::publisher! {
    ///     pub static STATUS: String = "{site}/status";
    /// }
    ///
    /// assert_eq!(STATUS.topic([&"plant-1"]).unwrap().as_str(), "plant-1/status");
    /// assert!(STATUS.topic([&"$SYS"]).is_err());
    /// assert!(STATUS.topic([&"plant\u{7}1"]).is_err());
    /// assert!(STATUS.topic([&"plant/1"]).is_err());
    /// ```
    pub fn topic(&self, params: [&dyn fmt::Display; N]) -> Result<TopicName> {
        let values: Vec<String> = params.iter().map(ToString::to_string).collect();
        self.desc
            .parsed()
            .and_then(|t| t.render(&values))
            .map_err(|source| Error::TopicParameter {
                template: self.desc.template.to_owned(),
                source,
            })
    }
}

impl<T: serde::Serialize, const N: usize> Publisher<T, N> {
    /// Publishes `payload` as JSON to the topic for `params`, with the declared QoS and
    /// retain flag (and, on MQTT 5, the Content Type `application/json`). The topic and
    /// the payload are built at once; the returned future sends them, like
    /// [`Mqtt::publish`].
    ///
    /// # Errors
    ///
    /// [`Error::TopicParameter`], [`Error::Serialize`], [`Error::WrongClient`] (a client
    /// of another broker than the declared one); then those of [`Publish::send`].
    pub fn publish(
        &self,
        client: &Mqtt,
        params: [&dyn fmt::Display; N],
        payload: &T,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let prepared = self.message(client, params, payload);
        async move { prepared?.send().await }
    }

    /// The message [`publish`](Publisher::publish) sends, as a [`Publish`] to adjust
    /// (user properties, a Correlation Data, ...) before awaiting it.
    ///
    /// # Errors
    ///
    /// As [`publish`](Publisher::publish), before anything is sent.
    pub fn message(
        &self,
        client: &Mqtt,
        params: [&dyn fmt::Display; N],
        payload: &T,
    ) -> Result<Publish> {
        let given = client.shared.config.prefix();
        if given != self.broker() {
            return Err(Error::WrongClient {
                template: self.desc.template.to_owned(),
                declared: self.broker().to_owned(),
                given: given.to_owned(),
            });
        }
        let topic = self.topic(params)?;
        let body = serde_json::to_vec(payload).map_err(|source| Error::Serialize {
            template: self.desc.template.to_owned(),
            source,
        })?;
        let mut publish = client
            .publish(topic.into_string(), body)
            .qos(self.qos())
            .retain(self.retain());
        if client.shared.outbound.carries_properties() {
            publish = publish.content_type("application/json");
        }
        Ok(publish)
    }
}

impl<T, const N: usize> fmt::Debug for Publisher<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher")
            .field("template", &self.desc.template)
            .field("qos", &self.desc.qos)
            .field("retain", &self.desc.retain)
            .field("broker", &self.broker())
            .finish()
    }
}
