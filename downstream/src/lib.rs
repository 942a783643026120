//! A user's project that uses flask-mqtt and, next to it, the stock paho-mqtt from
//! crates.io. See `Cargo.toml`.

use std::ffi::CStr;

/// The version string of the stock Paho C that paho-mqtt from crates.io runs on (its
/// `MQTTAsync_getVersionInfo`, "Version"), or `"unknown"`.
pub fn stock_paho_version() -> &'static str {
    // SAFETY: `MQTTAsync_getVersionInfo` returns a static table of name/value pairs,
    // ended by a NULL name, of pointers to string constants that live as long as the
    // program.
    unsafe {
        let mut entry = paho_mqtt_sys::MQTTAsync_getVersionInfo();
        while !entry.is_null() && !(*entry).name.is_null() {
            if CStr::from_ptr((*entry).name).to_bytes() == b"Version" && !(*entry).value.is_null() {
                let value: &'static CStr = CStr::from_ptr((*entry).value);
                return value.to_str().unwrap_or("unknown");
            }
            entry = entry.add(1);
        }
    }
    "unknown"
}
