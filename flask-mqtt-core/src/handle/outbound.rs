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

    /// Hands `msg` over to be sent (or buffered while disconnected).
    fn publish(&self, msg: paho_mqtt::Message) -> Result<Delivery, paho_mqtt::Error>;

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

/// What became of a message handed to [`Outbound::publish`].
pub(crate) enum Delivery {
    /// On its way: the token completes when the broker has it at the message's QoS.
    Pending(paho_mqtt::DeliveryToken),
    /// Delivered as far as this side goes, at once (the testing recorder).
    Done,
}
