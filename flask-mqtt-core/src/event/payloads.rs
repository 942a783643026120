//! The details of connection, acknowledgement and log events, as handlers receive them.

use std::fmt;

use crate::error::{shown_uri, ConnectError};
use crate::qos::QoS;

/// Details of a successful connect.
///
/// Its `Debug` shows the broker's URI with the values of its query as `***` (a presigned
/// WebSocket URL carries its credentials there); [`server_uri`](Connected::server_uri)
/// gives it whole.
#[derive(Clone, PartialEq, Eq)]
pub struct Connected {
    pub(crate) server_uri: String,
    pub(crate) reconnect: bool,
}

impl fmt::Debug for Connected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connected")
            .field("server_uri", &shown_uri(&self.server_uri))
            .field("reconnect", &self.reconnect)
            .finish()
    }
}

impl Connected {
    /// The broker's URI, as handed to Paho: a WebSocket URL's query is included as
    /// configured (a presigned URL's credentials, e.g. `X-Amz-Signature`), so do not log
    /// it; this event's `Debug` shows the query's values as `***`.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A presigned WebSocket URL carries its credentials in the query: the `Debug` of a
    /// connect event (and of the event that holds it) shows the query's names, never its
    /// values; the accessor gives the URI as it is.
    #[test]
    fn the_debug_of_a_connect_event_hides_the_query_values() {
        let uri = "wss://h:443/mqtt?X-Amz-Credential=AKIDSECRET&X-Amz-Signature=sig123secret";
        let connected = Connected {
            server_uri: uri.to_owned(),
            reconnect: true,
        };
        let event = crate::event::Event::Connected(connected.clone());
        for shown in [
            format!("{connected:?}"),
            format!("{event:?}"),
            format!("{connected:#?}"),
        ] {
            assert!(!shown.contains("SECRET"), "{shown}");
            assert!(!shown.contains("secret"), "{shown}");
            assert!(shown.contains("X-Amz-Signature=***"), "{shown}");
            assert!(shown.contains("reconnect: true"), "{shown}");
        }
        assert_eq!(connected.server_uri(), uri);
    }
}
