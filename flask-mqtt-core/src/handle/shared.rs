//! [`Shared`]: the state of one client that every handle shares.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::health::Health;
use super::input::Input;
use crate::client::reaper;
use crate::config::Config;
use crate::error::ConnectError;
use crate::message::Message;
use crate::qos::QoS;

/// Filters per SUBSCRIBE packet when resubscribing.
pub(crate) const SUBSCRIBE_CHUNK: usize = 64;

pub(crate) struct Shared {
    pub(crate) paho: paho_mqtt::AsyncClient,
    pub(crate) config: Config,
    pub(crate) uri: String,
    pub(crate) topics: Mutex<BTreeMap<String, QoS>>,
    pub(crate) input: mpsc::UnboundedSender<Input>,
    pub(crate) rt: tokio::runtime::Handle,
    pub(crate) closed: AtomicBool,
    pub(crate) health: Mutex<Health>,
    /// Publishes handed to Paho whose completion has not been reported yet.
    pub(crate) unsent: AtomicUsize,
    /// Set once the client's runtime has stopped: publishes still awaiting Paho then
    /// return [`Error::Closed`] instead of waiting for a completion that may never come.
    pub(crate) ended: tokio::sync::watch::Sender<bool>,
    /// Whether any `on_publish` handler is registered: without one, a completed publish
    /// is not reported to the driver at all (one thread wake-up less per publish).
    pub(crate) on_publish: bool,
    /// Application state shared with handlers (`Mqtt::insert_state`).
    pub(crate) state: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    /// Set for detached (test) handles: publishes are recorded here instead of sent.
    pub(crate) tap: Option<Mutex<Vec<Message>>>,
    /// Told the outcome of the first connection attempt (connect mode `required`).
    pub(crate) first_outcome:
        Mutex<Option<std::sync::mpsc::Sender<std::result::Result<(), ConnectError>>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Paho tokens hold a reference to the client; a token completed on a Paho thread
        // after the last handle is gone would destroy the client there, and
        // MQTTAsync_destroy then deadlocks on the mutex that thread holds. Keep a
        // reference on a thread of our own until every operation has had time to end.
        let grace = self.config.connect_timeout() + Duration::from_secs(10);
        reaper::keep(self.paho.clone(), grace);
    }
}
