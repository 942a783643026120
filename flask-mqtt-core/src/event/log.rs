//! Log entries handed to `#[on_log]` handlers.
//!
//! Everything also goes to the [`log`] facade: the client's own lines under the target
//! `flask_mqtt::client` ([`to_log_facade`]), Paho C's trace under `paho_mqtt_c` (see the
//! client's trace bridge).

use std::fmt;

/// Severity of a [`LogEntry`], with Flask-MQTT's (paho-python's) numeric values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

    pub(crate) fn to_log(self) -> log::Level {
        match self {
            LogLevel::Err => log::Level::Error,
            LogLevel::Warning => log::Level::Warn,
            LogLevel::Notice | LogLevel::Info => log::Level::Info,
            LogLevel::Debug => log::Level::Debug,
        }
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
}
