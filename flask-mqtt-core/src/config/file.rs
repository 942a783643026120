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
//! error (a typo must not be silently ignored).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

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

macro_rules! section {
    ($($field:ident => $key:literal),* $(,)?) => {
        /// One client's settings in a file (every field optional).
        #[derive(Clone, Debug, Default, Deserialize, PartialEq)]
        #[serde(deny_unknown_fields)]
        pub struct BrokerSection {
            $(
                #[doc = concat!("`{PREFIX}_", $key, "`")]
                pub $field: Option<Scalar>,
            )*
        }

        impl BrokerSection {
            /// The raw value for the full key `{prefix}_{NAME}`.
            pub(crate) fn get(&self, key: &str, prefix: &str) -> Option<String> {
                let name = key.strip_prefix(prefix)?.strip_prefix('_')?;
                match name {
                    $($key => self.$field.as_ref().map(Scalar::to_raw),)*
                    _ => None,
                }
            }
        }
    };
}

section! {
    broker_url => "BROKER_URL",
    broker_port => "BROKER_PORT",
    username => "USERNAME",
    password => "PASSWORD",
    keepalive => "KEEPALIVE",
    client_id => "CLIENT_ID",
    clean_session => "CLEAN_SESSION",
    session_expiry => "SESSION_EXPIRY",
    connection_timeout => "CONNECTION_TIMEOUT",
    publish_timeout => "PUBLISH_TIMEOUT",
    transport => "TRANSPORT",
    websocket_path => "WEBSOCKET_PATH",
    protocol_version => "PROTOCOL_VERSION",
    tls_enabled => "TLS_ENABLED",
    tls_ca_certs => "TLS_CA_CERTS",
    tls_certfile => "TLS_CERTFILE",
    tls_keyfile => "TLS_KEYFILE",
    tls_version => "TLS_VERSION",
    tls_insecure => "TLS_INSECURE",
    tls_ciphers => "TLS_CIPHERS",
    last_will_topic => "LAST_WILL_TOPIC",
    last_will_message => "LAST_WILL_MESSAGE",
    last_will_qos => "LAST_WILL_QOS",
    last_will_retain => "LAST_WILL_RETAIN",
    reconnect_min_delay => "RECONNECT_MIN_DELAY",
    reconnect_max_delay => "RECONNECT_MAX_DELAY",
    max_buffered_messages => "MAX_BUFFERED_MESSAGES",
    connect_mode => "CONNECT_MODE",
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
                "MQTT_CONFIG_FILE",
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
                "MQTT_CONFIG_FILE",
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
