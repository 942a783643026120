//! `MQTT_CLIENT_ID`: the default id, unique per process, and the placeholders `{pid}` and
//! `{hostname}` that give replicas sharing one setting distinct ids.

use std::time::{SystemTime, UNIX_EPOCH};

use super::values::shown;
use crate::error::ConfigError;

/// Replaces `{pid}` and `{hostname}` in a configured client id; an unclosed `{` is kept as
/// written, any other placeholder is an error naming `key`.
pub(crate) fn expand(key: &str, template: &str) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        match &after[..close] {
            "pid" => out.push_str(&std::process::id().to_string()),
            "hostname" => out.push_str(&hostname()),
            other => {
                return Err(ConfigError::new(
                    key,
                    Some(&shown(template)),
                    format!(
                        "only the placeholders `{{pid}}` and `{{hostname}}` (found `{{{other}}}`)"
                    ),
                ))
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// This machine's host name (the container name under Docker and Kubernetes).
fn hostname() -> String {
    let read = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    read.or_else(|| {
        ["HOSTNAME", "COMPUTERNAME"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|s| !s.is_empty()))
    })
    .unwrap_or_else(|| "localhost".to_owned())
}

/// `flask-mqtt-` and 12 hex digits, different in every process (and every call).
pub(crate) fn default_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded randomly per process; mix in pid and time for good measure.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    if let Ok(t) = SystemTime::now().duration_since(UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    // 11 + 12 = 23 characters: the MQTT 3.1.1 limit every broker must accept.
    format!("flask-mqtt-{:012x}", h.finish() & 0xffff_ffff_ffff)
}
