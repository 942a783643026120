// ack.rs
//
// flask-mqtt: this file is ours (docs/paho-fork.md, "deferred acknowledgements"), not
// upstream's. Same licence as the rest of the crate (EPL-2.0 / EDL-1.0).
//

//! Acknowledgements given by the application
//! ([`CreateOptionsBuilder::manual_acks`](crate::CreateOptionsBuilder::manual_acks)).
//!
//! With manual acknowledgements, Paho C sends the PUBACK of an inbound QoS 1 message and
//! the PUBREC of a QoS 2 message only when the application acknowledges it:
//!
//! ```no_run
//! use flask_mqtt_paho as mqtt;
//!
//! let mut cli = mqtt::CreateOptionsBuilder::new()
//!     .server_uri("tcp://localhost:1883")
//!     .client_id("worker")
//!     .persistence(mqtt::PersistenceType::None)
//!     .manual_acks(true)
//!     .create_client()?;
//! let rx = cli.get_stream(None);
//! // connect with a persistent session, subscribe at QoS 1 ...
//! while let Ok(Some(msg)) = rx.recv_blocking() {
//!     // handle it, then:
//!     let handled = true;
//!     let outcome = match msg.ack_token() {
//!         Some(token) if !handled => cli.release(token)?, // comes again after a reconnect
//!         _ => cli.ack(&msg)?,
//!     };
//!     match outcome {
//!         mqtt::AckOutcome::ConnectionGone => { /* it comes again in the next session */ }
//!         _ => {}
//!     }
//! }
//! # Ok::<(), mqtt::Error>(())
//! ```
//!
//! - **Order.** Acknowledgements leave in the order the PUBLISHes arrived, as MQTT
//!   requires: an acknowledgement given early is held until every message that arrived
//!   before it on the same connection is acknowledged. Calls may come in any order, but one
//!   message never acknowledged holds back every later acknowledgement of its connection
//!   (and the server stops sending once its in-flight window is full).
//! - **Connections.** A token names the connection its message arrived on. Once that
//!   connection has ended, [`AsyncClient::ack`](crate::AsyncClient::ack) returns
//!   [`AckOutcome::ConnectionGone`] and sends nothing, never on a newer connection that
//!   reuses the packet identifier; the server sends the message again (with DUP) in the
//!   next connection of a persistent session, and it is delivered again.
//! - **Release.** A message the application could not handle is settled with
//!   [`AsyncClient::release`](crate::AsyncClient::release) instead: no acknowledgement is
//!   ever sent for it, so the server keeps it in flight and sends it again in the next
//!   connection of a persistent session, and later acknowledgements no longer wait for it.
//!   [`AsyncClient::unacked`](crate::AsyncClient::unacked) counts the messages of the
//!   current connection still awaiting either.
//! - **QoS 2.** The PUBREC is what is deferred (once PUBREC is sent the server never sends
//!   the PUBLISH again, so deferring only PUBCOMP would not survive a crash). The message
//!   is delivered when its PUBLISH arrives, also on MQTT 3.1.1 (unpatched Paho delivers at
//!   PUBREL), and may be delivered twice: QoS 2 gives at-least-once to the application.
//! - **Threads.** `ack` takes only a lock of its own and never waits for Paho's threads;
//!   it may be called from any thread, also inside a Paho callback. Paho's receive thread
//!   writes the acknowledgement (woken for it), as it writes Paho's other acknowledgements.
//!   Keep-alive, the acknowledgements of outbound messages and the receive thread never
//!   wait for the application.

use crate::{ffi, QoS};

/// What is needed to acknowledge a message: its packet identifier, its QoS and the
/// connection it arrived on. `Copy`; it stays valid when the message is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AckToken(pub(crate) ffi::MQTTAsync_ackToken);

impl AckToken {
    /// The PUBLISH's packet identifier.
    pub fn packet_id(&self) -> u16 {
        u16::try_from(self.0.msgid).unwrap_or(0)
    }

    /// The message's QoS (`AtLeastOnce`: a PUBACK is owed; `ExactlyOnce`: a PUBREC).
    pub fn qos(&self) -> QoS {
        QoS::from(self.0.qos)
    }

    /// The connection the message arrived on (a number that changes at every connect and
    /// every close of the client).
    pub fn connection(&self) -> u32 {
        self.0.connection
    }

    /// A token made up from its parts, for tests of code that settles tokens without a
    /// server. Paho answers `Err(Error::AckUnknown)` (or `ConnectionGone`) for one that
    /// names no message it holds.
    #[doc(hidden)]
    pub fn from_parts(packet_id: u16, qos: QoS, connection: u32) -> AckToken {
        AckToken(ffi::MQTTAsync_ackToken {
            msgid: i32::from(packet_id),
            qos: qos as i32,
            connection,
        })
    }
}

/// What [`AsyncClient::ack`](crate::AsyncClient::ack) (or
/// [`release`](crate::AsyncClient::release)) did.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AckOutcome {
    /// Accepted: the PUBACK/PUBREC is sent on the message's connection as soon as every
    /// message that arrived before it is acknowledged (or released) too. For a release: the
    /// message is settled without an acknowledgement.
    Accepted,
    /// The message's connection has ended: nothing is sent. The server sends the message
    /// again in the next connection of a persistent session.
    ConnectionGone,
    /// Nothing to acknowledge: a QoS 0 message, or one received without manual
    /// acknowledgements (Paho acknowledged it on receipt).
    NotNeeded,
}

impl AckOutcome {
    /// The outcome of `MQTTAsync_acknowledge` / `MQTTAsync_release` for `token`.
    pub(crate) fn from_rc(rc: i32, token: AckToken) -> crate::Result<AckOutcome> {
        match rc {
            0 if token.0.qos == 0 => Ok(AckOutcome::NotNeeded),
            0 => Ok(AckOutcome::Accepted),
            ffi::MQTTASYNC_ACK_CONNECTION_GONE => Ok(AckOutcome::ConnectionGone),
            rc => Err(rc.into()),
        }
    }
}
