//! [`Recorder`]: a test client's outbound side, which keeps what handlers publish.

use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;

use crate::handle::outbound::{Delivery, Outbound, Refused};
use crate::message::Message;
use crate::qos::QoS;
use crate::sync::lock;

/// Always "connected": publishes are kept (with their MQTT 5 properties, whatever the
/// protocol version), subscriptions are granted as asked.
#[derive(Default)]
pub(super) struct Recorder {
    published: Mutex<Vec<Message>>,
}

impl Recorder {
    /// Everything published so far, oldest first.
    pub(super) fn published(&self) -> Vec<Message> {
        lock(&self.published).clone()
    }
}

impl Outbound for Arc<Recorder> {
    fn is_connected(&self) -> bool {
        true
    }

    fn carries_properties(&self) -> bool {
        true
    }

    fn publish(&self, msg: paho_mqtt::Message) -> Result<Delivery, Box<Refused>> {
        lock(&self.published).push(Message::from_paho(msg));
        Ok(Delivery::Done)
    }

    fn subscribe(
        &self,
        _filters: Vec<String>,
        qos: Vec<QoS>,
    ) -> BoxFuture<'static, Result<Vec<i32>, paho_mqtt::Error>> {
        let granted = qos.into_iter().map(|q| i32::from(q.as_u8())).collect();
        Box::pin(async move { Ok(granted) })
    }

    fn unsubscribe(
        &self,
        _filters: Vec<String>,
    ) -> BoxFuture<'static, Result<(), paho_mqtt::Error>> {
        Box::pin(async { Ok(()) })
    }
}
