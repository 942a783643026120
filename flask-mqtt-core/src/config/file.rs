//! The TOML (or any serde format) form of the settings.
//!
//! ```toml
//! [MQTT]                       # the default client
//! broker_url = "mqtts://broker.example"
//! username = "app"
//! password = "secret"
//! tls_ca_certs = "/etc/ssl/certs/ca.pem"
//!
//! [MQTT2]                      # a second, named client
//! broker_url = "10.0.0.2"
//! broker_port = 1884
//! ```
//! Field names are the keys without their prefix, in lower case. Unknown fields are an
//! error naming the closest known field (a typo must not be silently ignored).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use super::keys::{self, CONFIG_FILE, KEYS};
use super::values::Secret;
use crate::error::ConfigError;

/// A scalar setting in a file: strings, numbers and booleans are all accepted and read
/// with the same rules as environment variables.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Scalar {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A number with decimals.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl Scalar {
    fn to_raw(&self) -> String {
        match self {
            Scalar::Str(s) => s.clone(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// One client's settings in a file: its fields are the keys without their prefix, in
/// lower case (every one optional). An unknown field is an error that names the closest
/// known one (a typo must not be silently ignored). `Debug` hides the password.
#[derive(Clone, Default, PartialEq)]
pub struct BrokerSection {
    values: BTreeMap<String, Scalar>,
}

impl BrokerSection {
    /// The value of a field (`broker_url`, `keepalive`, ...), if the section sets it.
    pub fn get(&self, field: &str) -> Option<&Scalar> {
        self.values.get(field)
    }

    /// The raw value for the full key `{prefix}_{NAME}`.
    pub(crate) fn raw(&self, key: &str, prefix: &str) -> Option<String> {
        let name = key.strip_prefix(prefix)?.strip_prefix('_')?;
        let key = keys::find(name)?;
        self.values.get(&key.field()).map(Scalar::to_raw)
    }
}

impl fmt::Debug for BrokerSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let password = keys::PASSWORD.field();
        let mut map = f.debug_map();
        for (field, value) in &self.values {
            if *field == password {
                map.entry(field, &Secret::new(""));
            } else {
                map.entry(field, value);
            }
        }
        map.finish()
    }
}

impl<'de> Deserialize<'de> for BrokerSection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let values = BTreeMap::<String, Scalar>::deserialize(deserializer)?;
        if let Some(field) = values
            .keys()
            .find(|f| !KEYS.iter().any(|k| k.field() == **f))
        {
            return Err(D::Error::custom(format!(
                "unknown field `{field}`; did you mean `{}`?",
                keys::closest(field).field()
            )));
        }
        Ok(BrokerSection { values })
    }
}

/// A whole settings file: one [`BrokerSection`] per client, keyed by prefix.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct ConfigFile {
    /// Sections by prefix (`MQTT`, `MQTT2`, ...).
    pub clients: BTreeMap<String, BrokerSection>,
}

impl ConfigFile {
    /// Reads a TOML file.
    pub fn from_path(path: &Path) -> Result<ConfigFile, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(
                CONFIG_FILE,
                Some(&shown),
                format!("a readable TOML file ({e})"),
            )
        })?;
        ConfigFile::from_toml_str(&text, &shown)
    }

    /// Parses TOML text; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<ConfigFile, ConfigError> {
        toml::from_str(text).map_err(|e| {
            ConfigError::new(
                CONFIG_FILE,
                Some(origin),
                format!(
                    "valid settings: {}",
                    e.to_string().trim().replace('\n', " ")
                ),
            )
        })
    }

    /// The section for `prefix`, if the file has one.
    pub fn section(&self, prefix: &str) -> Option<&BrokerSection> {
        self.clients.get(prefix)
    }
}
