//! Paho clients for the tests of our Paho fork: [`paho_client`], a `paho_mqtt` client
//! without persistence ([`connected_consumer`] connects one to receive its own
//! messages), and [`RawClient`], a client of Paho C's own API (`MQTTAsync_*`), for what
//! the Rust crate does not let a test do (destroy a client whose connect is under way,
//! set a proxy with a credential).

use std::ffi::{CStr, CString};
use std::os::raw::c_int;
use std::time::{Duration, Instant};

use paho_mqtt as paho;
use paho_mqtt_sys as ffi;

/// A `paho_mqtt` client of `uri` with client id `id`, without persistence.
pub fn paho_client(uri: &str, id: &str) -> paho::AsyncClient {
    paho::CreateOptionsBuilder::new()
        .server_uri(uri)
        .client_id(id)
        .persistence(paho::PersistenceType::None)
        .create_client()
        .unwrap()
}

/// Connects `cli` (clean session), starts consuming its messages and subscribes it at
/// QoS 2 to a topic of its own, `<id>/t`, each step within `within`; fails the test if
/// one fails. Returns the channel its messages come on and the topic, for it to publish
/// to itself.
pub fn connected_consumer(
    cli: &paho::AsyncClient,
    id: &str,
    within: Duration,
) -> (paho::SyncReceiver<Option<paho::Message>>, String) {
    let opts = paho::ConnectOptionsBuilder::new()
        .clean_session(true)
        .finalize();
    cli.connect(opts).wait_for(within).expect("connect");
    let rx = cli.start_consuming();
    let topic = format!("{id}/t");
    cli.subscribe(&topic, 2)
        .wait_for(within)
        .expect("subscribe");
    (rx, topic)
}

/// One `paho_mqtt` client's life: [`paho_client`] of `uri` with client id `id`, connected
/// (keep-alive 60 s), disconnected and destroyed (dropped), each step within `within`.
/// Returns how long the destroy took: the last client's waits for Paho's threads to stop,
/// and frees its global state (the next client created sets it up again).
pub fn paho_client_life(uri: &str, id: &str, within: Duration) -> Duration {
    let cli = paho_client(uri, id);
    let options = paho::ConnectOptionsBuilder::new()
        .connect_timeout(within)
        .keep_alive_interval(Duration::from_secs(60))
        .finalize();
    cli.connect(options).wait_for(within).unwrap();
    cli.disconnect(None).wait_for(within).unwrap();
    let start = Instant::now();
    drop(cli);
    start.elapsed()
}

/// A Paho C client handle (`MQTTAsync_create`, no persistence), destroyed by
/// [`RawClient::destroy`] or when dropped.
pub struct RawClient {
    handle: ffi::MQTTAsync,
}

impl RawClient {
    /// `MQTTAsync_create` for `uri` with client id `id`; fails the test if it fails.
    pub fn create(uri: &str, id: &str) -> Self {
        let uri = CString::new(uri).unwrap();
        let id = CString::new(id).unwrap();
        let mut handle: ffi::MQTTAsync = std::ptr::null_mut();
        // SAFETY: a handle out-pointer and C strings that outlive the call (Paho copies
        // them).
        #[allow(unsafe_code)]
        let rc = unsafe {
            ffi::MQTTAsync_create(
                &mut handle,
                uri.as_ptr(),
                id.as_ptr(),
                ffi::MQTTCLIENT_PERSISTENCE_NONE as c_int,
                std::ptr::null_mut(),
            )
        };
        assert_eq!(rc, 0, "MQTTAsync_create");
        Self { handle }
    }

    /// `MQTTAsync_connect` with a connect timeout in seconds, an `onFailure` callback and an
    /// HTTP proxy; fails the test if the call fails.
    pub fn connect(
        &self,
        connect_timeout: c_int,
        on_failure: ffi::MQTTAsync_onFailure,
        http_proxy: Option<&CStr>,
    ) {
        assert!(!self.is_null(), "MQTTAsync_connect of a destroyed client");
        let opts = ffi::MQTTAsync_connectOptions {
            connectTimeout: connect_timeout,
            onFailure: on_failure,
            httpProxy: http_proxy.map_or(std::ptr::null(), CStr::as_ptr),
            ..Default::default()
        };
        // SAFETY: a live handle (not destroyed: checked above) and options that outlive the
        // call (Paho copies them, the proxy string too).
        #[allow(unsafe_code)]
        let rc = unsafe { ffi::MQTTAsync_connect(self.handle, &opts) };
        assert_eq!(rc, 0, "MQTTAsync_connect");
    }

    /// `MQTTAsync_destroy`; the handle is null afterwards (destroying again does nothing).
    pub fn destroy(&mut self) {
        if self.is_null() {
            return;
        }
        // SAFETY: a live handle, destroyed once (Paho sets it to null).
        #[allow(unsafe_code)]
        unsafe {
            ffi::MQTTAsync_destroy(&mut self.handle)
        };
    }

    /// The handle (null once destroyed), for a call the methods here do not make.
    pub fn handle(&self) -> ffi::MQTTAsync {
        self.handle
    }

    /// Whether the handle is null (destroyed).
    pub fn is_null(&self) -> bool {
        self.handle.is_null()
    }
}

impl Drop for RawClient {
    fn drop(&mut self) {
        self.destroy();
    }
}
