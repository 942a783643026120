//! The details of connection, acknowledgement and log events, as handlers receive them.

use crate::error::ConnectError;
use crate::qos::QoS;

/// Details of a successful connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connected {
    pub(crate) server_uri: String,
    pub(crate) reconnect: bool,
}

impl Connected {
    /// The broker's URI.
    pub fn server_uri(&self) -> &str {
        &self.server_uri
    }

    /// `false` for the first connect of the client, `true` afterwards.
    pub fn is_reconnect(&self) -> bool {
        self.reconnect
    }
}

/// Why the connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The application called `disconnect()` or the server shut down.
    Requested,
    /// The network connection was lost; the client reconnects by itself.
    ConnectionLost,
    /// The broker sent DISCONNECT (MQTT 5) with this reason code; the client reconnects.
    ByBroker(u8),
    /// A connection attempt failed (refused with a return/reason code, or the broker
    /// could not be reached); the client retries after its backoff delay.
    /// `on_disconnect` handlers see every failed attempt, like Flask-MQTT's
    /// `on_connect` sees a non-zero `rc`.
    ConnectFailed(ConnectError),
}

/// Details of a disconnect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disconnected {
    pub(crate) reason: DisconnectReason,
}

impl Disconnected {
    /// Why the connection ended.
    pub fn reason(&self) -> &DisconnectReason {
        &self.reason
    }

    /// The connect error, for [`DisconnectReason::ConnectFailed`].
    pub fn connect_error(&self) -> Option<&ConnectError> {
        match &self.reason {
            DisconnectReason::ConnectFailed(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the client will try to reconnect.
    pub fn will_reconnect(&self) -> bool {
        self.reason != DisconnectReason::Requested
    }
}

/// A publish the broker acknowledged (at QoS 0: handed to the network).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub(crate) topic: String,
    pub(crate) qos: QoS,
    pub(crate) retain: bool,
}

impl Published {
    /// The topic published to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The QoS it was published with.
    pub fn qos(&self) -> QoS {
        self.qos
    }

    /// Whether it was retained.
    pub fn retain(&self) -> bool {
        self.retain
    }
}

/// A subscription the broker acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscribed {
    pub(crate) filter: String,
    pub(crate) granted: QoS,
}

impl Subscribed {
    /// The filter subscribed to.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// The QoS the broker granted.
    pub fn granted_qos(&self) -> QoS {
        self.granted
    }
}

/// An unsubscription the broker acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsubscribed {
    pub(crate) filter: String,
}

impl Unsubscribed {
    /// The filter unsubscribed from.
    pub fn filter(&self) -> &str {
        &self.filter
    }
}
