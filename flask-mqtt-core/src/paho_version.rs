//! Which Paho C the client runs on.
//!
//! flask-mqtt builds its own fork of Paho C (the crate `flask-mqtt-paho-sys`, see
//! `docs/paho-fork.md` in the repository), and its version string says so.

use std::sync::OnceLock;

/// The version of the Paho C library this program's MQTT client runs on, as the library
/// itself reports it: `1.3.16+flask-mqtt.0.1.0`.
///
/// The part after `+flask-mqtt.` is the version of flask-mqtt's fork of Paho C (the crate
/// `flask-mqtt-paho-sys`): it says that the client runs on the patched library, with the
/// fixes that flask-mqtt's guarantees are measured on, and not on a stock Paho C that
/// another crate in the program may link (each keeps its own symbols). The client logs it
/// at info level when it first connects.
///
/// ```
/// let version = flask_mqtt_core::paho_version();
/// assert!(version.starts_with("1.3."), "{version}");
/// assert!(version.contains("+flask-mqtt."), "{version}");
/// ```
pub fn paho_version() -> &'static str {
    static VERSION: OnceLock<&'static str> = OnceLock::new();
    VERSION.get_or_init(|| ffi::version().unwrap_or("unknown"))
}

/// The one line the client logs at its first connect.
pub(crate) fn first_connect_line() -> String {
    format!("Paho C {}", paho_version())
}

/// The `unsafe` of this module: reading Paho C's version table.
#[allow(unsafe_code)]
mod ffi {
    use std::ffi::CStr;

    use paho_mqtt_sys::MQTTAsync_getVersionInfo;

    /// Paho C's "Version" entry.
    pub(super) fn version() -> Option<&'static str> {
        // SAFETY: `MQTTAsync_getVersionInfo` returns its static table of name/value
        // pairs, ended by a NULL name, after filling it with pointers to string constants
        // (its own and OpenSSL's): the same pointers at every call, so a call Paho makes
        // itself (once, when the process creates its first client) writes what is already
        // there. The table and the strings live as long as the program, hence `'static`.
        // `paho_version` calls this once per process.
        unsafe {
            let mut entry = MQTTAsync_getVersionInfo();
            while !entry.is_null() && !(*entry).name.is_null() {
                if CStr::from_ptr((*entry).name).to_bytes() == b"Version"
                    && !(*entry).value.is_null()
                {
                    let value: &'static CStr = CStr::from_ptr((*entry).value);
                    return value.to_str().ok();
                }
                entry = entry.add(1);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_is_our_forks() {
        let version = paho_version();
        let (paho, fork) = version.split_once("+flask-mqtt.").unwrap_or_default();
        assert_eq!(paho.split('.').count(), 3, "{version}");
        assert!(!fork.is_empty(), "{version}");
        assert_eq!(first_connect_line(), format!("Paho C {version}"));
    }
}
