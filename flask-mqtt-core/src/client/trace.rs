//! The bridge from Paho C's trace to the `log` facade (target `paho_mqtt_c`) and to
//! `#[on_log]` handlers.

use std::sync::{Mutex, OnceLock};

use tokio::sync::mpsc::UnboundedSender;

use crate::event::log::{LogEntry, LogLevel};

const PAHO_TARGET: &str = "paho_mqtt_c";

/// Where Paho C trace lines go: every live client that has `on_log` handlers.
type TraceSinks = Mutex<Vec<UnboundedSender<LogEntry>>>;

fn sinks() -> &'static TraceSinks {
    static SINKS: OnceLock<TraceSinks> = OnceLock::new();
    SINKS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Routes Paho C's trace to `log` (target `paho_mqtt_c`) and, when `sink` is given, to
/// that client's `on_log` handlers. Must be called after the Paho client is created
/// (Paho installs its own trace callback then).
pub(crate) fn install_paho_trace(sink: Option<UnboundedSender<LogEntry>>) {
    let want_protocol = sink.is_some() || log::log_enabled!(target: PAHO_TARGET, log::Level::Trace);
    if let Some(sink) = sink {
        if let Ok(mut s) = sinks().lock() {
            s.retain(|tx| !tx.is_closed());
            s.push(sink);
        }
    }
    trace_ffi::install(want_protocol);
}

/// Called from Paho's threads for every trace line: only non-blocking work here.
fn on_trace_line(level: i32, line: &str) {
    let (entry_level, log_level) = match level {
        // FATAL, SEVERE
        6 | 7 => (LogLevel::Err, log::Level::Error),
        // ERROR
        5 => (LogLevel::Warning, log::Level::Warn),
        // PROTOCOL: one line per packet; may quote payload bytes, so `trace` in `log`.
        4 => (LogLevel::Debug, log::Level::Trace),
        _ => (LogLevel::Debug, log::Level::Trace),
    };
    log::log!(target: PAHO_TARGET, log_level, "{line}");
    if level < 4 {
        return;
    }
    let entry = LogEntry::new(entry_level, redact_payload(line));
    if let Ok(s) = sinks().lock() {
        for tx in s.iter() {
            let _ = tx.send(entry.clone());
        }
    }
}

/// Paho's protocol trace ends PUBLISH lines with `payload len(N): <bytes>`; `on_log`
/// handlers get the length only.
fn redact_payload(line: &str) -> String {
    match line.find("payload len(") {
        Some(i) => match line[i..].find("):") {
            Some(j) => line[..i + j + 1].to_owned(),
            None => line.to_owned(),
        },
        None => line.to_owned(),
    }
}

/// `unsafe` for Paho C's trace hook, a C callback that paho-mqtt does not expose in
/// Rust: the two FFI calls that install it, and reading the line it passes.
#[allow(unsafe_code)]
mod trace_ffi {
    use std::ffi::CStr;
    use std::os::raw::c_char;

    use paho_mqtt_sys as ffi;

    unsafe extern "C" fn on_c_trace(level: ffi::MQTTASYNC_TRACE_LEVELS, msg: *mut c_char) {
        if msg.is_null() {
            return;
        }
        // SAFETY: Paho passes a NUL-terminated string valid for the call's duration.
        let line = unsafe { CStr::from_ptr(msg) };
        if let Ok(line) = line.to_str() {
            let level = i32::try_from(level).unwrap_or(7);
            // A panic must not unwind into C.
            let _ = std::panic::catch_unwind(|| super::on_trace_line(level, line));
        }
    }

    pub(super) fn install(protocol: bool) {
        let level = if protocol {
            ffi::MQTTASYNC_TRACE_LEVELS_MQTTASYNC_TRACE_PROTOCOL
        } else {
            ffi::MQTTASYNC_TRACE_LEVELS_MQTTASYNC_TRACE_ERROR
        };
        // SAFETY: both functions only store the values in Paho's globals; the callback
        // is a plain `extern "C"` fn that lives for the whole program.
        unsafe {
            ffi::MQTTAsync_setTraceCallback(Some(on_c_trace));
            ffi::MQTTAsync_setTraceLevel(level);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_redacted() {
        assert_eq!(
            redact_payload("3 c -> PUBLISH msgid: 0 qos: 0 retained: 0 rc 0 payload len(5): hello"),
            "3 c -> PUBLISH msgid: 0 qos: 0 retained: 0 rc 0 payload len(5)"
        );
        assert_eq!(redact_payload("3 c <- PINGRESP"), "3 c <- PINGRESP");
    }
}
