//! [`Outbound`]: the outbound side of a client, what a handle hands to the network.
//!
//! A running client's is its Paho client (`crate::client::paho`); the
//! `testing` module's is a recorder that keeps what handlers publish. The handle
//! ([`Mqtt`](super::Mqtt), [`Publish`](super::publish::Publish)) does the rest either way:
//! validation, bookkeeping of subscriptions, `on_publish` events, error mapping.

use futures::future::BoxFuture;

use crate::qos::QoS;

/// Where publishes, subscriptions and unsubscriptions go.
pub(crate) trait Outbound: Send + Sync + 'static {
    /// Whether it can send now (a broker connection is up).
    fn is_connected(&self) -> bool;

    /// Whether publishes carry MQTT 5 properties: without them (MQTT 3.1.1) a publish's
    /// properties are left out, with a debug line.
    fn carries_properties(&self) -> bool;

    /// Hands `msg` over to be sent (or buffered while disconnected); a refused message
    /// comes back in the error, so that the error can name its topic (the handle keeps
    /// no copy of it).
    fn publish(&self, msg: paho_mqtt::Message) -> Result<Delivery, Box<Refused>>;

    /// Subscribes to `filters` (each with the QoS of the same index); resolves to the
    /// granted QoS or failure code per filter, in order.
    fn subscribe(
        &self,
        filters: Vec<String>,
        qos: Vec<QoS>,
    ) -> BoxFuture<'static, Result<Vec<i32>, paho_mqtt::Error>>;

    /// Unsubscribes from `filters`.
    fn unsubscribe(&self, filters: Vec<String>)
        -> BoxFuture<'static, Result<(), paho_mqtt::Error>>;
}

/// A message [`Outbound::publish`] did not take, with the reason (boxed where returned:
/// both are large, and a refusal is rare).
pub(crate) struct Refused {
    /// Why (a bare error: the message is in `msg`).
    pub(crate) error: paho_mqtt::Error,
    /// The message, handed back.
    pub(crate) msg: paho_mqtt::Message,
}

/// What became of a message handed to [`Outbound::publish`].
pub(crate) enum Delivery {
    /// On its way: the token completes when the broker has it at the message's QoS.
    Pending(paho_mqtt::DeliveryToken),
    /// Delivered as far as this side goes, at once (the testing recorder).
    Done,
}

/// [`Fake`](fake::Fake), the handle's unit tests' outbound side, and
/// [`client`](fake::client), a handle in front of one.
#[cfg(test)]
pub(crate) mod fake {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use futures::future::BoxFuture;
    use tokio::sync::{mpsc, oneshot, Notify};

    use super::{Delivery, Outbound, Refused};
    use crate::config::Config;
    use crate::handle::input::Input;
    use crate::handle::shared::Shared;
    use crate::handle::Mqtt;
    use crate::qos::QoS;
    use crate::sync::lock;

    /// What [`Outbound::is_connected`] answers.
    pub(crate) enum Connection {
        Up,
        Down,
        /// It panics: a caller that must not wait on Paho's process-wide lock (held
        /// through a connect attempt's name lookup) asked.
        MustNotBeAsked,
        /// Up while the flag is set.
        Switched(Arc<AtomicBool>),
    }

    /// What becomes of a publish.
    pub(crate) enum Publishes {
        /// Delivered at once.
        Done,
        /// Accepted and never completed: a broker that is not there.
        Held,
        /// Refused with a bare error (no message inside): a full buffer.
        Refused,
    }

    /// What a SUBSCRIBE resolves to.
    pub(crate) enum Subacks {
        /// At once, granting the QoS asked for.
        Granted,
        /// Never: a persistent session whose connection dropped before the SUBACK.
        Never,
        /// Paho's "operation incomplete" when the `Notify` is notified, as Paho fails
        /// the operations in flight when the client disconnects.
        CutShortBy(Arc<Notify>),
        /// With this code (a granted QoS, or a failure code such as 0x80) when the
        /// `Notify` is notified: a broker slow to answer.
        AnsweredOn(Arc<Notify>, i32),
    }

    /// What an UNSUBSCRIBE resolves to.
    pub(crate) enum Unsubacks {
        /// Answered at once.
        Done,
        /// When the test sends its answer through the sender [`Fake::unsubacks_held`]
        /// keeps (in the order sent); never, if the sender is dropped.
        Held,
    }

    /// The senders of the answers to held UNSUBSCRIBEs.
    pub(crate) type HeldUnsubacks = Arc<Mutex<Vec<oneshot::Sender<Result<(), paho_mqtt::Error>>>>>;

    /// An outbound side as its builder methods say; by default up, publishes done at
    /// once, SUBSCRIBEs granted at once, UNSUBSCRIBEs answered at once. Publishes always
    /// carry properties.
    pub(crate) struct Fake {
        connection: Connection,
        publishes: Publishes,
        subacks: Subacks,
        unsubacks: Unsubacks,
        held_unsubacks: HeldUnsubacks,
        /// The tokens of held publishes.
        held: Mutex<Vec<paho_mqtt::DeliveryToken>>,
        /// Every message published and filter subscribed or unsubscribed, in order.
        sent: Arc<Mutex<Sent>>,
        /// Called by [`Outbound::unsubscribe`] before anything else: what happens while an
        /// UNSUBSCRIBE is being sent.
        on_unsubscribe: Option<Box<dyn Fn() + Send + Sync>>,
    }

    /// What a [`Fake`] was asked to send: every packet in order ([`Sent::packets`]), and
    /// by kind (the filters of all SUBSCRIBEs, of all UNSUBSCRIBEs, in order).
    #[derive(Default)]
    pub(crate) struct Sent {
        pub(crate) published: Vec<paho_mqtt::Message>,
        pub(crate) subscribed: Vec<String>,
        pub(crate) unsubscribed: Vec<String>,
        pub(crate) packets: Vec<Packet>,
    }

    /// One packet a [`Fake`] was asked to send.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub(crate) enum Packet {
        /// A PUBLISH to this topic.
        Publish(String),
        /// A SUBSCRIBE of these filters.
        Subscribe(Vec<String>),
        /// An UNSUBSCRIBE of these filters.
        Unsubscribe(Vec<String>),
    }

    impl Packet {
        /// A SUBSCRIBE of `filters`.
        pub(crate) fn sub(filters: &[&str]) -> Packet {
            Packet::Subscribe(filters.iter().map(|f| (*f).to_owned()).collect())
        }

        /// An UNSUBSCRIBE of `filters`.
        pub(crate) fn unsub(filters: &[&str]) -> Packet {
            Packet::Unsubscribe(filters.iter().map(|f| (*f).to_owned()).collect())
        }
    }

    impl Default for Fake {
        fn default() -> Self {
            Self {
                connection: Connection::Up,
                publishes: Publishes::Done,
                subacks: Subacks::Granted,
                unsubacks: Unsubacks::Done,
                held_unsubacks: Arc::default(),
                held: Mutex::default(),
                sent: Arc::default(),
                on_unsubscribe: None,
            }
        }
    }

    impl Fake {
        pub(crate) fn connection(self, connection: Connection) -> Self {
            Self { connection, ..self }
        }

        pub(crate) fn publishes(self, publishes: Publishes) -> Self {
            Self { publishes, ..self }
        }

        pub(crate) fn subacks(self, subacks: Subacks) -> Self {
            Self { subacks, ..self }
        }

        pub(crate) fn unsubacks(self, unsubacks: Unsubacks) -> Self {
            Self { unsubacks, ..self }
        }

        /// Runs `hook` at each UNSUBSCRIBE, before it is recorded and answered (it parks
        /// the caller for as long as it runs).
        pub(crate) fn on_unsubscribe(self, hook: impl Fn() + Send + Sync + 'static) -> Self {
            Self {
                on_unsubscribe: Some(Box::new(hook)),
                ..self
            }
        }

        /// The answers to the UNSUBSCRIBEs held ([`Unsubacks::Held`]), also once it is
        /// a client's.
        pub(crate) fn unsubacks_held(&self) -> HeldUnsubacks {
            Arc::clone(&self.held_unsubacks)
        }

        /// What it is asked to send, also once it is a client's.
        pub(crate) fn sent(&self) -> Arc<Mutex<Sent>> {
            Arc::clone(&self.sent)
        }
    }

    impl Outbound for Fake {
        fn is_connected(&self) -> bool {
            match &self.connection {
                Connection::Up => true,
                Connection::Down => false,
                Connection::MustNotBeAsked => panic!("asked Paho whether it is connected"),
                Connection::Switched(up) => up.load(Ordering::SeqCst),
            }
        }

        fn carries_properties(&self) -> bool {
            true
        }

        fn publish(&self, msg: paho_mqtt::Message) -> Result<Delivery, Box<Refused>> {
            let mut sent = lock(&self.sent);
            sent.packets.push(Packet::Publish(msg.topic().to_owned()));
            sent.published.push(msg.clone());
            drop(sent);
            match self.publishes {
                Publishes::Done => Ok(Delivery::Done),
                Publishes::Held => {
                    let token = paho_mqtt::DeliveryToken::new(msg);
                    lock(&self.held).push(token.clone());
                    Ok(Delivery::Pending(token))
                }
                Publishes::Refused => Err(Box::new(Refused {
                    error: paho_mqtt::Error::MaxBufferedMessages,
                    msg,
                })),
            }
        }

        fn subscribe(
            &self,
            filters: Vec<String>,
            qos: Vec<QoS>,
        ) -> BoxFuture<'static, Result<Vec<i32>, paho_mqtt::Error>> {
            let filters_len = filters.len();
            let mut sent = lock(&self.sent);
            sent.packets.push(Packet::Subscribe(filters.clone()));
            sent.subscribed.extend(filters);
            drop(sent);
            match &self.subacks {
                Subacks::Granted => {
                    let granted = qos.into_iter().map(|q| i32::from(q.as_u8())).collect();
                    Box::pin(async move { Ok(granted) })
                }
                Subacks::Never => Box::pin(futures::future::pending()),
                Subacks::CutShortBy(cut) => {
                    let cut = Arc::clone(cut);
                    Box::pin(async move {
                        cut.notified().await;
                        Err(paho_mqtt::Error::OperationIncomplete)
                    })
                }
                Subacks::AnsweredOn(answer, code) => {
                    let (answer, n) = (Arc::clone(answer), filters_len);
                    let code = *code;
                    Box::pin(async move {
                        answer.notified().await;
                        Ok(vec![code; n])
                    })
                }
            }
        }

        fn unsubscribe(
            &self,
            filters: Vec<String>,
        ) -> BoxFuture<'static, Result<(), paho_mqtt::Error>> {
            if let Some(hook) = &self.on_unsubscribe {
                hook();
            }
            let mut sent = lock(&self.sent);
            sent.packets.push(Packet::Unsubscribe(filters.clone()));
            sent.unsubscribed.extend(filters);
            drop(sent);
            match self.unsubacks {
                Unsubacks::Done => Box::pin(async { Ok(()) }),
                Unsubacks::Held => {
                    let (tx, rx) = oneshot::channel();
                    lock(&self.held_unsubacks).push(tx);
                    Box::pin(async move {
                        match rx.await {
                            Ok(answer) => answer,
                            Err(_) => futures::future::pending().await,
                        }
                    })
                }
            }
        }
    }

    /// A handle whose outbound side is `outbound`, with the default configuration, no
    /// recorded topics, and nobody reading its input; its state is the handle's initial
    /// one. Inside a Tokio runtime.
    pub(crate) fn client(outbound: impl Outbound) -> Mqtt {
        client_with(outbound, Config::default(), &[])
    }

    /// A handle in front of `outbound` (as [`client`]), connected (its connection
    /// counted: the first), and the task of a request to `svc/ask` spawned on it, with
    /// its `reply_to` topic (none: the own reply topic) and `timeout`. The request may
    /// not have sent anything yet when this returns.
    pub(crate) fn connected_with_request(
        outbound: impl Outbound,
        reply_to: Option<&str>,
        timeout: std::time::Duration,
    ) -> (
        Mqtt,
        tokio::task::JoinHandle<crate::error::Result<crate::message::Message>>,
    ) {
        let mqtt = client(outbound);
        mqtt.shared
            .set_state(crate::handle::health::ConnectionState::Connected, |h| {
                h.connects += 1
            });
        let mut request = mqtt.request("svc/ask", "?").timeout(timeout);
        if let Some(topic) = reply_to {
            request = request.reply_to(topic);
        }
        (
            mqtt,
            tokio::spawn(std::future::IntoFuture::into_future(request)),
        )
    }

    /// The default configuration with a kept session (`clean_session` false).
    pub(crate) fn kept_session() -> Config {
        Config {
            clean_session: false,
            ..Config::default()
        }
    }

    /// [`client_with`] `fake`, [`kept_session`] and `declared`, and what `fake` sends.
    pub(crate) fn kept_session_client(fake: Fake, declared: &[&str]) -> (Mqtt, Arc<Mutex<Sent>>) {
        let sent = fake.sent();
        (client_with(fake, kept_session(), declared), sent)
    }

    /// A handle in front of `fake` (as [`client`]) with `filters` recorded (QoS 1, as
    /// subscribed), whose broker announced a Maximum Packet Size of `max` bytes
    /// ([`announcing`]); and what `fake` sends.
    pub(crate) fn subscribed_client(
        fake: Fake,
        filters: &[String],
        max: i32,
    ) -> (Mqtt, Arc<Mutex<Sent>>) {
        let sent = fake.sent();
        let mqtt = client(fake);
        for f in filters {
            lock(&mqtt.shared.topics).insert(f.clone(), QoS::AtLeastOnce);
        }
        announcing(&mqtt, max);
        (mqtt, sent)
    }

    /// `mqtt`'s broker announced a Maximum Packet Size of `max` bytes (in the CONNACK
    /// of its last connect).
    pub(crate) fn announcing(mqtt: &Mqtt, max: i32) {
        let mut connack = paho_mqtt::Properties::new();
        connack
            .push_int(paho_mqtt::PropertyCode::MaximumPacketSize, max)
            .unwrap();
        mqtt.shared.limits.connected(Some(&connack));
    }

    /// [`client`] with `config`, and handlers declaring `declared` (QoS 1).
    pub(crate) fn client_with(outbound: impl Outbound, config: Config, declared: &[&str]) -> Mqtt {
        client_and_input(outbound, config, declared).0
    }

    /// [`client_with`], and what it sends the driver (its log lines among them).
    pub(crate) fn client_and_input(
        outbound: impl Outbound,
        config: Config,
        declared: &[&str],
    ) -> (Mqtt, mpsc::UnboundedReceiver<Input>) {
        let (input, inputs) = mpsc::unbounded_channel();
        let topics: BTreeMap<String, QoS> = declared
            .iter()
            .map(|f| ((*f).to_owned(), QoS::AtLeastOnce))
            .collect();
        let mqtt = Mqtt {
            shared: Arc::new(Shared::new(
                config,
                "tcp://nowhere:1".to_owned(),
                Box::new(outbound),
                topics,
                input,
                tokio::runtime::Handle::current(),
                false,
            )),
        };
        (mqtt, inputs)
    }
}
