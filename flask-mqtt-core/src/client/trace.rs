//! The bridge from Paho C's trace to the `log` facade (target `paho_mqtt_c`) and to
//! `#[on_log]` handlers.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use paho_mqtt::TraceKey;
use tokio::sync::mpsc::UnboundedSender;

use crate::error::shown_uri;
use crate::event::log::{LogEntry, LogLevel};

const PAHO_TARGET: &str = "paho_mqtt_c";

/// A client's `on_log` sink, under the key its Paho client's trace lines carry.
struct Sink {
    id: u64,
    key: TraceKey,
    tx: UnboundedSender<LogEntry>,
}

/// Where Paho C trace lines go: each live client that has `on_log` handlers, by key.
fn sinks() -> &'static Mutex<Vec<Sink>> {
    static SINKS: OnceLock<Mutex<Vec<Sink>>> = OnceLock::new();
    SINKS.get_or_init(|| Mutex::new(Vec::new()))
}

/// While it lives, the Paho trace lines of one client reach its `on_log` handlers; drop
/// it before the Paho client is destroyed (a later client may get the same key).
pub(crate) struct TraceGuard {
    id: Option<u64>,
}

impl Drop for TraceGuard {
    fn drop(&mut self) {
        let Some(id) = self.id else { return };
        crate::sync::lock(sinks()).retain(|s| s.id != id);
        set_level();
    }
}

/// Routes Paho C's trace to `log` (target `paho_mqtt_c`) and, when `sink` is given, the
/// lines of the Paho client `key` (and only those: Paho's fork names each line's client,
/// docs/paho-fork.md patch 7) to that client's `on_log` handlers. Call it after the Paho
/// client is created and before it connects, so that its first line is seen.
pub(crate) fn install_paho_trace(
    key: TraceKey,
    sink: Option<UnboundedSender<LogEntry>>,
) -> TraceGuard {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let id = sink.map(|tx| {
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut s = crate::sync::lock(sinks());
        s.retain(|s| !s.tx.is_closed());
        s.push(Sink { id, key, tx });
        id
    });
    // paho-mqtt installs its own (unattributed) bridge to `log` whenever it creates a
    // client: this one replaces it, so each line is logged once.
    trace_ffi::remove_unattributed_bridge();
    set_level();
    TraceGuard { id }
}

/// Protocol lines (one per packet) while a client has `on_log` handlers or `log` wants
/// them; errors only otherwise. The level is the process's: it follows the clients.
fn set_level() {
    let want_protocol = !crate::sync::lock(sinks()).is_empty()
        || log::log_enabled!(target: PAHO_TARGET, log::Level::Trace);
    let level = if want_protocol {
        paho_mqtt::ffi_trace_level::PROTOCOL
    } else {
        paho_mqtt::ffi_trace_level::ERROR
    };
    paho_mqtt::set_client_trace_callback(level, |line| {
        let level = i32::try_from(line.level()).unwrap_or(7);
        on_trace_line(level, line.message(), line.client());
    });
}

/// Called from Paho's threads for every trace line: only non-blocking work here.
fn on_trace_line(level: i32, line: &str, client: Option<TraceKey>) {
    let line = without_paho_time(line);
    let line = &*redact_server_uri(line);
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
    if level < 4 || is_inventory(line) {
        return;
    }
    // A line about no one client (threads, the poll over all sockets) goes to `log` only.
    let Some(client) = client else { return };
    // Waiting here is safe: the lock is only held for a push, a retain or a length, never
    // across a Paho call, so it cannot wait on this Paho thread.
    let s = crate::sync::lock(sinks());
    let mut entry = None;
    for sink in s.iter().filter(|s| s.key == client && !s.tx.is_closed()) {
        let entry = entry.get_or_insert_with(|| LogEntry::new(entry_level, redact_payload(line)));
        let _ = sink.tx.send(entry.clone());
    }
}

/// A line that lists what OpenSSL offers rather than says what happened: Paho logs every
/// cipher it may use at each TLS connect (about 60 lines), which would bury the protocol
/// lines `on_log` handlers are for. `log` still gets them, at `trace`.
fn is_inventory(line: &str) -> bool {
    line.starts_with("SSL cipher available:")
}

/// The line without the time stamp Paho starts it with (`20261206 024342.580 `): a `log`
/// logger adds its own, and an `on_log` handler gets the line as it comes (paho-python's
/// `buf`, which Flask-MQTT handlers know, has none either).
fn without_paho_time(line: &str) -> &str {
    const STAMP: &[u8] = b"dddddddd dddddd.ddd ";
    let bytes = line.as_bytes();
    let is_stamp = bytes.len() > STAMP.len()
        && STAMP.iter().zip(bytes).all(|(want, got)| match want {
            b'd' => got.is_ascii_digit(),
            other => got == other,
        });
    if is_stamp {
        // The stamp is ASCII, so its end is a character boundary.
        line.get(STAMP.len()..).unwrap_or(line)
    } else {
        line
    }
}

/// Paho's protocol trace names the broker of each connect (`Connecting to serverURI
/// wss://host:443/mqtt?...`): its query's values are `***` ([`shown_uri`]), as a
/// presigned WebSocket URL carries credentials there.
fn redact_server_uri(line: &str) -> Cow<'_, str> {
    const MARK: &str = "serverURI ";
    let Some(start) = line.find(MARK).map(|i| i + MARK.len()) else {
        return Cow::Borrowed(line);
    };
    let rest = line.get(start..).unwrap_or_default();
    let end = rest.find(' ').unwrap_or(rest.len());
    let uri = rest.get(..end).unwrap_or_default();
    if !uri.contains('?') {
        return Cow::Borrowed(line);
    }
    Cow::Owned(format!(
        "{}{}{}",
        line.get(..start).unwrap_or_default(),
        shown_uri(uri),
        rest.get(end..).unwrap_or_default()
    ))
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

/// `unsafe` for the one Paho C call paho-mqtt does not expose: removing the trace
/// callback paho-mqtt installs when it creates a client.
#[allow(unsafe_code)]
mod trace_ffi {
    use paho_mqtt_sys as ffi;

    pub(super) fn remove_unattributed_bridge() {
        // SAFETY: stores NULL in Paho's global callback pointer (under Paho's trace lock);
        // Paho checks it for NULL before every call.
        unsafe { ffi::MQTTAsync_setTraceCallback(None) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_of_a_server_uri_is_redacted() {
        assert_eq!(
            redact_server_uri("Connecting to serverURI wss://h:443/mqtt?X-Amz-Credential=AKID&X-Amz-Signature=sig123 with MQTT version 4"),
            "Connecting to serverURI wss://h:443/mqtt?X-Amz-Credential=***&X-Amz-Signature=*** with MQTT version 4"
        );
        let plain = "Connecting to serverURI tcp://h:1883 with MQTT version 4";
        assert_eq!(redact_server_uri(plain), plain);
        assert_eq!(redact_server_uri("3 c <- PINGRESP"), "3 c <- PINGRESP");
    }

    #[test]
    fn payload_is_redacted() {
        assert_eq!(
            redact_payload("3 c -> PUBLISH msgid: 0 qos: 0 retained: 0 rc 0 payload len(5): hello"),
            "3 c -> PUBLISH msgid: 0 qos: 0 retained: 0 rc 0 payload len(5)"
        );
        assert_eq!(redact_payload("3 c <- PINGRESP"), "3 c <- PINGRESP");
    }

    #[test]
    fn only_the_cipher_inventory_is_kept_from_on_log() {
        assert!(is_inventory(
            "SSL cipher available: 0:TLS_AES_256_GCM_SHA384"
        ));
        for line in [
            "SSL alert write:fatal:unknown CA",
            "6 c -> CONNECT version 4 clean: 1 (0)",
            "SSL cipher",
        ] {
            assert!(!is_inventory(line), "{line}");
        }
    }

    #[test]
    fn pahos_time_stamp_is_left_out() {
        assert_eq!(
            without_paho_time("20261206 024342.580 SSL alert write:fatal:unknown CA"),
            "SSL alert write:fatal:unknown CA"
        );
        assert_eq!(
            without_paho_time("20261206 022901.734 6 c -> CONNECT version 4 clean: 1 (0)"),
            "6 c -> CONNECT version 4 clean: 1 (0)"
        );
        // Anything else is left as it is.
        for line in [
            "",
            "20261206 024342.580 ",
            "2026120 024342.580 short",
            "20261206-024342.580 dash",
            "SSL connect:error",
            "20261206 024342.58é multibyte",
        ] {
            assert_eq!(without_paho_time(line), line);
        }
    }
}
