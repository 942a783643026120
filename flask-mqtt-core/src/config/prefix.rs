//! Key prefixes: `MQTT` for the default client, `MQTT2`, ... for named ones (Flask-MQTT's
//! `config_prefix`). A prefix is also the client's name.

use crate::error::ConfigError;

/// The prefix of the default client's keys.
pub const DEFAULT_PREFIX: &str = "MQTT";

/// Checks that `prefix` can start key names: upper-case ASCII letters, digits and `_`,
/// starting with a letter.
pub(crate) fn check(prefix: &str) -> Result<(), ConfigError> {
    let well_formed = prefix.starts_with(|c: char| c.is_ascii_uppercase())
        && prefix
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if well_formed {
        Ok(())
    } else {
        Err(ConfigError::new(
            "config prefix",
            Some(prefix),
            "upper-case ASCII letters, digits and `_`, starting with a letter (like `MQTT2`)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        for good in ["MQTT", "MQTT2", "BROKER_B"] {
            assert!(check(good).is_ok(), "{good}");
        }
        for bad in ["", "mqtt", "2MQTT", "MQTT-2", "MQTT\0"] {
            assert_eq!(check(bad).unwrap_err().key(), "config prefix", "{bad}");
        }
    }
}
