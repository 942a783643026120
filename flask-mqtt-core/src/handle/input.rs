//! What the driver task receives: from Paho's callbacks, from connect attempts and from
//! handles (events to dispatch, log lines, shutdown requests).

use tokio::sync::oneshot;

use crate::error::ConnectError;
use crate::event::log::LogEntry;
use crate::event::payloads::Connected;
use crate::event::Event;

/// What the driver task receives.
pub(crate) enum Input {
    /// A connect attempt succeeded: the broker that answered, whether its CONNACK
    /// allows shared subscriptions (MQTT 5; `None` when it cannot say), and whether it
    /// kept the session (its subscriptions included).
    Connected {
        broker: String,
        shared_subscriptions: Option<bool>,
        session_present: bool,
    },
    ConnectionLost,
    BrokerDisconnect(u8),
    /// The recorded filters were subscribed again on the connection that was current
    /// when [`Shared::ends`](super::shared::Shared::ends) said `connection`: on_connect
    /// handlers are told, unless that connection has ended since.
    Resubscribed {
        connection: u64,
        connected: Connected,
    },
    Message(paho_mqtt::Message),
    ConnectFailed(ConnectError),
    Emit(Event),
    Log(LogEntry),
    /// The app is ready for events (`Mqtt::ready`): dispatch what waited for it.
    Ready,
    /// Stop for good. Graceful (the owner stops the client: `Client` dropped or shut down):
    /// first let handlers finish and unsent publishes go out, then DISCONNECT. Otherwise
    /// (`Mqtt::disconnect`, maybe from inside a handler): DISCONNECT at once.
    Shutdown {
        done: Done,
        graceful: bool,
    },
}

/// Tells whoever asked for the shutdown that it is complete.
pub(crate) enum Done {
    Async(oneshot::Sender<()>),
    Blocking(std::sync::mpsc::Sender<()>),
}

impl Done {
    pub(crate) fn send(self) {
        match self {
            Done::Async(tx) => {
                let _ = tx.send(());
            }
            Done::Blocking(tx) => {
                let _ = tx.send(());
            }
        }
    }
}
