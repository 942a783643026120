// client_trace.rs
//
// flask-mqtt: this file is ours (docs/paho-fork.md, "trace lines with their client"), not
// upstream's. Same licence as the rest of the crate (EPL-2.0 / EDL-1.0).
//

//! Paho C's trace lines with the client they concern
//! (`MQTTAsync_setClientTraceCallback`).
//!
//! Paho C's trace is one stream for the whole process. With
//! [`set_client_trace_callback`], each line also names the client whose socket or command
//! Paho's send or receive thread was working on when it wrote the line, as a
//! [`TraceKey`] equal to that client's [`AsyncClient::trace_key`](crate::AsyncClient::trace_key),
//! so that a program with several clients can route each line to its own client.
//!
//! Attributed: what Paho's threads do for one client: its commands (connect, publish,
//! subscribe, disconnect), the packets read from and written to its socket, resends,
//! keep-alive, timeouts, its acknowledgements, and lines written inside its callbacks.
//! Not attributed (`client() == None`): lines about no one client (threads starting and
//! stopping, the poll over all sockets, library set-up, a socket Paho no longer knows) and
//! lines an application thread writes inside an API call (they are few and below the
//! protocol level).
//!
//! ```no_run
//! use flask_mqtt_paho as mqtt;
//!
//! let cli = mqtt::AsyncClient::new("tcp://localhost:1883")?;
//! let key = cli.trace_key();
//! mqtt::set_client_trace_callback(mqtt::ffi_trace_level::PROTOCOL, move |line| {
//!     if line.client() == Some(key) {
//!         println!("{}", line.message());
//!     }
//! });
//! # Ok::<(), mqtt::Error>(())
//! ```

use std::ffi::CStr;
use std::os::raw::c_char;
use std::sync::{Arc, RwLock};

use crate::ffi;

/// The trace levels of Paho C (`MQTTASYNC_TRACE_LEVELS`), least verbose last.
pub mod ffi_trace_level {
    use crate::ffi;

    /// Every function entry and exit.
    pub const MAXIMUM: ffi::MQTTASYNC_TRACE_LEVELS =
        ffi::MQTTASYNC_TRACE_LEVELS_MQTTASYNC_TRACE_MAXIMUM;
    /// Internal detail.
    pub const MEDIUM: ffi::MQTTASYNC_TRACE_LEVELS =
        ffi::MQTTASYNC_TRACE_LEVELS_MQTTASYNC_TRACE_MEDIUM;
    /// Internal events.
    pub const MINIMUM: ffi::MQTTASYNC_TRACE_LEVELS =
        ffi::MQTTASYNC_TRACE_LEVELS_MQTTASYNC_TRACE_MINIMUM;
    /// One line per MQTT packet sent or received.
    pub const PROTOCOL: ffi::MQTTASYNC_TRACE_LEVELS =
        ffi::MQTTASYNC_TRACE_LEVELS_MQTTASYNC_TRACE_PROTOCOL;
    /// Errors.
    pub const ERROR: ffi::MQTTASYNC_TRACE_LEVELS = ffi::MQTTASYNC_TRACE_LEVELS_MQTTASYNC_TRACE_ERROR;
    /// Severe errors.
    pub const SEVERE: ffi::MQTTASYNC_TRACE_LEVELS =
        ffi::MQTTASYNC_TRACE_LEVELS_MQTTASYNC_TRACE_SEVERE;
    /// Fatal errors.
    pub const FATAL: ffi::MQTTASYNC_TRACE_LEVELS = ffi::MQTTASYNC_TRACE_LEVELS_MQTTASYNC_TRACE_FATAL;
}

/// Identifies a client in trace lines: equal to the client's
/// [`AsyncClient::trace_key`](crate::AsyncClient::trace_key) for as long as the client
/// lives (a later client may get the same key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceKey(pub(crate) usize);

/// One line of Paho C's trace, valid during the callback.
#[derive(Debug)]
pub struct TraceLine<'a> {
    level: ffi::MQTTASYNC_TRACE_LEVELS,
    message: &'a str,
    client: Option<TraceKey>,
    client_id: Option<&'a str>,
}

impl<'a> TraceLine<'a> {
    /// The line's level (see [`ffi_trace_level`]).
    pub fn level(&self) -> ffi::MQTTASYNC_TRACE_LEVELS {
        self.level
    }

    /// The line.
    pub fn message(&self) -> &'a str {
        self.message
    }

    /// The client the line concerns, if Paho knew it.
    pub fn client(&self) -> Option<TraceKey> {
        self.client
    }

    /// That client's ID.
    pub fn client_id(&self) -> Option<&'a str> {
        self.client_id
    }
}

type Callback = dyn Fn(&TraceLine<'_>) + Send + Sync + 'static;

static CALLBACK: RwLock<Option<Arc<Callback>>> = RwLock::new(None);

/// Sends every line of Paho C's trace at `level` or above to `callback`, with the client it
/// concerns (see the [module](self)). Replaces an earlier callback; sets Paho C's trace
/// level for the whole process (also for the trace `paho-mqtt` sends to `log`). Called on
/// Paho's threads and on application threads inside Paho calls, holding Paho's trace lock:
/// do no blocking work and call no Paho function in it. A panic in it is caught.
pub fn set_client_trace_callback<F>(level: ffi::MQTTASYNC_TRACE_LEVELS, callback: F)
where
    F: Fn(&TraceLine<'_>) + Send + Sync + 'static,
{
    if let Ok(mut cb) = CALLBACK.write() {
        *cb = Some(Arc::new(callback));
    }
    unsafe {
        ffi::MQTTAsync_setClientTraceCallback(Some(on_client_trace));
        ffi::MQTTAsync_setTraceLevel(level);
    }
}

/// Removes the callback set by [`set_client_trace_callback`].
pub fn clear_client_trace_callback() {
    unsafe { ffi::MQTTAsync_setClientTraceCallback(None) };
    if let Ok(mut cb) = CALLBACK.write() {
        *cb = None;
    }
}

unsafe extern "C" fn on_client_trace(
    level: ffi::MQTTASYNC_TRACE_LEVELS,
    message: *mut c_char,
    client: ffi::MQTTAsync,
    client_id: *const c_char,
) {
    if message.is_null() {
        return;
    }
    let callback = match CALLBACK.read() {
        Ok(cb) => cb.clone(),
        Err(_) => return,
    };
    let Some(callback) = callback else { return };
    let Ok(message) = CStr::from_ptr(message).to_str() else {
        return;
    };
    let client_id = if client_id.is_null() {
        None
    } else {
        CStr::from_ptr(client_id).to_str().ok()
    };
    let line = TraceLine {
        level,
        message,
        client: (!client.is_null()).then(|| TraceKey(client as usize)),
        client_id,
    };
    // A panic must not unwind into C.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback(&line)));
}
