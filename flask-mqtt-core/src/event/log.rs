//! Log entries handed to `#[on_log]` handlers.
//!
//! Everything also goes to the [`log`] facade: the client's own lines under the target
//! `flask_mqtt::client` ([`to_log_facade`]), Paho C's trace under `paho_mqtt_c` (see the
//! client's trace bridge).

use std::fmt;

/// Severity of a [`LogEntry`], with Flask-MQTT's (paho-python's) numeric values.
///
/// Levels compare by severity, `Debug < Info < Notice < Warning < Err`, not by those
/// values (debug's 0x10 is the largest): `entry.level() >= LogLevel::Warning` keeps
/// warnings and errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum LogLevel {
    /// `MQTT_LOG_INFO` (0x01).
    Info = 0x01,
    /// `MQTT_LOG_NOTICE` (0x02).
    Notice = 0x02,
    /// `MQTT_LOG_WARNING` (0x04).
    Warning = 0x04,
    /// `MQTT_LOG_ERR` (0x08).
    Err = 0x08,
    /// `MQTT_LOG_DEBUG` (0x10).
    Debug = 0x10,
}

impl LogLevel {
    /// The numeric value (0x01, 0x02, 0x04, 0x08 or 0x10).
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The rank by severity, debug lowest.
    const fn severity(self) -> u8 {
        match self {
            LogLevel::Debug => 0,
            LogLevel::Info => 1,
            LogLevel::Notice => 2,
            LogLevel::Warning => 3,
            LogLevel::Err => 4,
        }
    }

    pub(crate) fn to_log(self) -> log::Level {
        match self {
            LogLevel::Err => log::Level::Error,
            LogLevel::Warning => log::Level::Warn,
            LogLevel::Notice | LogLevel::Info => log::Level::Info,
            LogLevel::Debug => log::Level::Debug,
        }
    }
}

impl Ord for LogLevel {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.severity().cmp(&other.severity())
    }
}

impl PartialOrd for LogLevel {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogLevel::Info => "info",
            LogLevel::Notice => "notice",
            LogLevel::Warning => "warning",
            LogLevel::Err => "error",
            LogLevel::Debug => "debug",
        })
    }
}

/// One log line, as `#[on_log]` handlers receive it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    level: LogLevel,
    message: String,
}

impl LogEntry {
    /// A new entry.
    pub fn new(level: LogLevel, message: impl Into<String>) -> Self {
        LogEntry {
            level,
            message: message.into(),
        }
    }

    /// Its severity.
    pub fn level(&self) -> LogLevel {
        self.level
    }

    /// Its text.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for LogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.level, self.message)
    }
}

/// The `log` target of the client's own lines: connects, losses, subscriptions.
pub(crate) const CLIENT_TARGET: &str = "flask_mqtt::client";
/// The `log` target of dispatch: handler errors, rejections and panics, back-pressure.
pub(crate) const DISPATCH_TARGET: &str = "flask_mqtt::dispatch";

/// Writes `entry` to the `log` facade under the client target.
pub(crate) fn to_log_facade(entry: &LogEntry) {
    log::log!(target: CLIENT_TARGET, entry.level.to_log(), "{}", entry.message);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_have_flask_values() {
        assert_eq!(LogLevel::Info.code(), 0x01);
        assert_eq!(LogLevel::Notice.code(), 0x02);
        assert_eq!(LogLevel::Warning.code(), 0x04);
        assert_eq!(LogLevel::Err.code(), 0x08);
        assert_eq!(LogLevel::Debug.code(), 0x10);
    }

    /// An `#[on_log]` filter `entry.level() >= LogLevel::Warning` keeps warnings and
    /// errors only: the levels order by severity, not by their numeric values (debug is
    /// 0x10, the largest).
    #[test]
    fn levels_order_by_severity() {
        use LogLevel::{Debug, Err, Info, Notice, Warning};
        let ascending = [Debug, Info, Notice, Warning, Err];
        for (i, a) in ascending.iter().enumerate() {
            for (j, b) in ascending.iter().enumerate() {
                assert_eq!(a.cmp(b), i.cmp(&j), "{a} vs {b}");
                assert_eq!(a.partial_cmp(b), Some(i.cmp(&j)), "{a} vs {b}");
            }
        }
        assert!(Debug < Warning);
        assert_eq!(ascending.iter().max(), Some(&Err));
    }
}
