//! No proxy credential in Paho C's trace (docs/paho-fork.md, patch 16). Paho logged
//! "Setting http proxy auth to <base64 of user:password>" at PROTOCOL level, once per
//! connect attempt (twice since patch 16 looks the proxy's host name up first); flask-mqtt
//! raises Paho's trace to PROTOCOL when `on_log` handlers exist, so the line reached them.
//!
//! One test in its own binary: the trace callback and level are process-wide.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_void};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use flask_mqtt_tests::RawClient;
use paho_mqtt_sys as ffi;

/// base64 of `user:secret`, as Paho puts it in `Proxy-Authorization`.
const CREDENTIAL: &str = "dXNlcjpzZWNyZXQ=";

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());
static DONE: Mutex<Option<mpsc::Sender<()>>> = Mutex::new(None);

#[allow(unsafe_code)]
unsafe extern "C" fn on_trace(_: ffi::MQTTASYNC_TRACE_LEVELS, message: *mut c_char) {
    if message.is_null() {
        return;
    }
    // SAFETY: Paho passes a NUL-terminated string valid for the call.
    let line = CStr::from_ptr(message).to_string_lossy().into_owned();
    LINES.lock().unwrap().push(line);
}

#[allow(unsafe_code)]
unsafe extern "C" fn on_failure(_: *mut c_void, _: *mut ffi::MQTTAsync_failureData) {
    if let Some(done) = DONE.lock().unwrap().as_ref() {
        let _ = done.send(());
    }
}

#[test]
fn the_proxy_credential_is_not_traced() {
    let (tx, rx) = mpsc::channel();
    *DONE.lock().unwrap() = Some(tx);
    // A closed loopback port for the proxy: the connect fails after the proxy is set up.
    let proxy = CString::new("http://user:secret@127.0.0.1:1").unwrap();
    // SAFETY: a trace callback valid for the process.
    #[allow(unsafe_code)]
    unsafe {
        ffi::MQTTAsync_setTraceCallback(Some(on_trace));
        ffi::MQTTAsync_setTraceLevel(ffi::MQTTASYNC_TRACE_LEVELS_MQTTASYNC_TRACE_PROTOCOL);
    }
    let mut a = RawClient::create("tcp://127.0.0.1:1", "proxy-trace");
    a.connect(5, Some(on_failure), Some(&proxy));
    rx.recv_timeout(Duration::from_secs(15))
        .expect("the connect through the closed proxy port fails");
    a.destroy();
    // SAFETY: unsets the trace callback.
    #[allow(unsafe_code)]
    unsafe {
        ffi::MQTTAsync_setTraceCallback(None)
    };
    let lines = LINES.lock().unwrap();
    assert!(
        lines.iter().any(|l| l.contains("Setting http proxy")),
        "the proxy set-up was not traced at PROTOCOL level: {lines:#?}"
    );
    let leaked: Vec<&String> = lines.iter().filter(|l| l.contains(CREDENTIAL)).collect();
    assert!(
        leaked.is_empty(),
        "the proxy credential is in Paho's trace: {leaked:#?}"
    );
}
