//! Every configuration key, in one table: its name, TOML field, builder setter, default
//! and meaning, and how its text value is read into a [`ConfigBuilder`].
//!
//! The environment reader and the file reader go through [`KEYS`]; errors name keys
//! through the constants (`keys::BROKER_PORT.full(prefix)`); unknown keys are found,
//! and the closest known one suggested, with [`closest`]. The configuration table in the
//! README and in the `config` module's docs is checked against [`KEYS`] by a test, row by
//! row. Adding a key is one entry in `keys!` below (and the builder field, the `Config`
//! field and the check in `build` that it fills).
//!
//! Reading checks the form of a value only (see `values`); `ConfigBuilder::build` decides
//! whether it is allowed, the same way for every source.

use std::time::Duration;

use super::builder::ConfigBuilder;
use super::tls::TLS_VERSIONS;
use super::values::{self, GivenUrl, Secret, WebSocketPath, CONNECT_MODES, PROTOCOLS, TRANSPORTS};
use crate::ack::policy::AckPolicy;
use crate::error::ConfigError;

/// The key that names a settings file (not prefixed: one file has every client's section).
pub(crate) const CONFIG_FILE: &str = "MQTT_CONFIG_FILE";

/// Reads the text value of a key (its full name given for errors) into the builder.
pub(crate) type Read = fn(&mut ConfigBuilder, &str, String) -> Result<(), ConfigError>;

/// One configuration key.
#[derive(Clone, Copy)]
pub(crate) struct Key {
    /// The name after the prefix: `BROKER_URL` for `MQTT_BROKER_URL`.
    pub(crate) name: &'static str,
    /// The builder method(s) that set it, as the docs write them. This and the next two
    /// are what the docs' table says; a test holds the README and the module docs to them.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) builder: &'static str,
    /// Its default, as the docs write it.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) default: &'static str,
    /// What it means and accepts, as the docs write it.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) meaning: &'static str,
    /// Reads its text form.
    pub(crate) read: Read,
}

impl Key {
    /// The full key name for a client: `MQTT2_BROKER_URL`.
    pub(crate) fn full(&self, prefix: &str) -> String {
        format!("{prefix}_{}", self.name)
    }

    /// Its field in a TOML section: the name in lower case (`broker_url`).
    pub(crate) fn field(&self) -> String {
        self.name.to_ascii_lowercase()
    }

    /// Its row in the documentation's configuration table.
    #[cfg(test)]
    pub(crate) fn doc_row(&self) -> String {
        format!(
            "| `MQTT_{}` | `{}` | {} | {} | {} |",
            self.name,
            self.field(),
            self.builder,
            self.default,
            self.meaning
        )
    }
}

macro_rules! keys {
    ($(
        $name:ident {
            builder: $builder:literal,
            default: $default:literal,
            meaning: $meaning:literal,
            read: $read:expr $(,)?
        }
    )*) => {
        $(
            #[doc = concat!("`{PREFIX}_", stringify!($name), "`.")]
            pub(crate) const $name: Key = Key {
                name: stringify!($name),
                builder: $builder,
                default: $default,
                meaning: $meaning,
                read: $read,
            };
        )*
        /// Every key, in the order the docs list them.
        pub(crate) const KEYS: &[Key] = &[$($name),*];
    };
}

/// What the duration keys accept.
pub(crate) const SECONDS: &str = "a positive number of seconds (decimals allowed, at most 86400)";
/// What `KEEPALIVE` accepts.
pub(crate) const KEEPALIVE_RANGE: &str = "whole seconds from 0 to 65535";
/// What `SESSION_EXPIRY` accepts.
pub(crate) const EXPIRY_RANGE: &str = "whole seconds from 0 to 4294967295";
/// What `MAX_BUFFERED_MESSAGES` accepts.
pub(crate) const BUFFERED_RANGE: &str = "a whole number of messages, at least 1";
/// What `LAST_WILL_QOS` accepts.
pub(crate) const QOS_RANGE: &str = "0, 1 or 2";
/// What `TRANSPORT` accepts.
const TRANSPORT_NAMES: &str = "`tcp` or `websockets`";
/// What `PROTOCOL_VERSION` accepts.
const PROTOCOL_NAMES: &str = "`3.1.1` (also `4`, `311`) or `5`";
/// What `TLS_VERSION` accepts.
const TLS_VERSION_NAMES: &str = "`tlsv1.2` or `tlsv1.3`";
/// What `CONNECT_MODE` accepts.
const CONNECT_MODE_NAMES: &str = "`background` or `required`";
/// What a port accepts.
pub(crate) const PORT_RANGE: &str = "a port number from 1 to 65535";
/// What `ACK_POLICY` accepts.
pub(crate) const ACK_POLICY_NAMES: &str = "`after` or `first`";
/// Why `ACK_POLICY` refuses `manual`.
pub(crate) const ACK_MANUAL_REFUSED: &str = "`after` or `first`: `manual` is chosen per handler, with `#[on_message(.., ack = \"manual\")]` and an `mqtt::Ack` argument to acknowledge with, which a default for every handler cannot give";
/// What `RECEIVE_MAXIMUM` accepts.
pub(crate) const RECEIVE_MAXIMUM_RANGE: &str = "a whole number of messages from 1 to 65535";

keys! {
    BROKER_URL {
        builder: "`.broker_url(..)`",
        default: "`localhost`",
        meaning: "host, or `mqtt://`/`tcp://`, `mqtts://`/`ssl://` (TLS), `ws://`, `wss://` URI with optional `:port` and websocket `/path` (a query after the host, `wss://host?token=...`, is the path `/`'s); a comma-separated list (one scheme) names fallback brokers, tried in order at every (re)connect; `embedded`: the development broker inside the process (feature `embedded-broker`); credentials go in `MQTT_USERNAME`/`MQTT_PASSWORD`, a URL with `user:password@` is refused",
        read: |b, _, v| {
            b.broker_url = Some(GivenUrl(v));
            Ok(())
        },
    }
    BROKER_PORT {
        builder: "`.port(..)`",
        default: "`1883`; `8883` TLS; `80`/`443` ws/wss",
        meaning: "TCP port, 1-65535; wins over a port in the URL",
        read: |b, key, v| {
            b.port = Some(values::number(key, &v, PORT_RANGE)?);
            Ok(())
        },
    }
    USERNAME {
        builder: "`.credentials(user, _)` / `.username(..)`",
        default: "none",
        meaning: "user name (at most 65535 bytes)",
        read: |b, _, v| {
            b.username = Some(v);
            Ok(())
        },
    }
    PASSWORD {
        builder: "`.credentials(_, pass)`",
        default: "none",
        meaning: "password; needs a user name; never logged or shown by `Debug`",
        read: |b, _, v| {
            b.password = Some(Secret::new(v));
            Ok(())
        },
    }
    KEEPALIVE {
        builder: "`.keepalive(..)`",
        default: "`60`",
        meaning: "keep-alive in whole seconds, 0-65535",
        read: |b, key, v| {
            let secs = values::number(key, &v, KEEPALIVE_RANGE)?;
            b.keepalive = Some(Duration::from_secs(secs));
            Ok(())
        },
    }
    CONNECTION_TIMEOUT {
        builder: "`.connect_timeout(..)`",
        default: "`5`",
        meaning: "seconds one connection attempt may take (positive, at most 86400; Paho counts whole seconds, so a fraction rounds up: `2.7` waits 3 s)",
        read: |b, key, v| {
            b.connect_timeout = Some(values::secs(key, &v, SECONDS)?);
            Ok(())
        },
    }
    PUBLISH_TIMEOUT {
        builder: "`.publish_timeout(..)`",
        default: "`10`",
        meaning: "seconds `publish` waits while the client is disconnected before it fails (positive, at most 86400)",
        read: |b, key, v| {
            b.publish_timeout = Some(values::secs(key, &v, SECONDS)?);
            Ok(())
        },
    }
    CLIENT_ID {
        builder: "`.client_id(..)`",
        default: "`flask-mqtt-` + 12 characters unique to the process",
        meaning: "client identifier; `{pid}` and `{hostname}` are replaced, so replicas sharing one setting (`app-{hostname}-{pid}`) never take over each other's connection; empty: the broker assigns one at each connect, so only with a clean session",
        read: |b, _, v| {
            b.client_id = Some(v);
            Ok(())
        },
    }
    CLEAN_SESSION {
        builder: "`.clean_session(..)`",
        default: "`true`",
        meaning: "clean session (3.1.1) / clean start (5)",
        read: |b, key, v| {
            b.clean_session = Some(values::boolean(key, &v)?);
            Ok(())
        },
    }
    SESSION_EXPIRY {
        builder: "`.session_expiry(..)`",
        default: "`0`; 1 day when clean session is off on MQTT 5",
        meaning: "MQTT 5 session expiry, whole seconds",
        read: |b, key, v| {
            let secs = values::number(key, &v, EXPIRY_RANGE)?;
            b.session_expiry = Some(Duration::from_secs(secs));
            Ok(())
        },
    }
    TRANSPORT {
        builder: "`.transport(..)`",
        default: "`tcp`",
        meaning: "`tcp` or `websockets`",
        read: |b, key, v| {
            b.transport = Some(values::one_of(key, &v, TRANSPORTS, TRANSPORT_NAMES)?);
            Ok(())
        },
    }
    WEBSOCKET_PATH {
        builder: "`.websocket_path(..)`",
        default: "`/mqtt`",
        meaning: "websocket HTTP path, with an optional `?query` (a presigned URL's credentials: logs, errors and `Debug` show its parameters' names, never their values; the AsyncAPI document leaves the query out)",
        read: |b, _, v| {
            b.websocket_path = Some(WebSocketPath(v));
            Ok(())
        },
    }
    PROTOCOL_VERSION {
        builder: "`.protocol_version(..)`",
        default: "`3.1.1`",
        meaning: "`3.1.1` (also `4`, `311`) or `5`",
        read: |b, key, v| {
            b.protocol = Some(values::one_of(key, &v, PROTOCOLS, PROTOCOL_NAMES)?);
            Ok(())
        },
    }
    TLS_ENABLED {
        builder: "`.tls(..)`",
        default: "`false` (`true` for `mqtts`/`wss`)",
        meaning: "use TLS; the server certificate and host name are verified (unless `MQTT_TLS_INSECURE` or `MQTT_TLS_VERIFY_CERTIFICATE=false` turns a check off)",
        read: |b, key, v| {
            b.tls_enabled = Some(values::boolean(key, &v)?);
            Ok(())
        },
    }
    TLS_CA_CERTS {
        builder: "`.tls_ca_certs(..)`",
        default: "system trust store",
        meaning: "CA file (PEM); checked to exist at startup",
        read: |b, _, v| {
            b.ca_certs = Some(v.into());
            Ok(())
        },
    }
    TLS_CERTFILE {
        builder: "`.tls_client_cert(cert, _)`",
        default: "none",
        meaning: "client certificate (PEM) for mutual TLS",
        read: |b, _, v| {
            b.certfile = Some(v.into());
            Ok(())
        },
    }
    TLS_KEYFILE {
        builder: "`.tls_client_cert(_, key)`",
        default: "none",
        meaning: "its private key (PEM); a key needs a certificate",
        read: |b, _, v| {
            b.keyfile = Some(v.into());
            Ok(())
        },
    }
    TLS_VERSION {
        builder: "`.tls_version(..)`",
        default: "`tlsv1.2`",
        meaning: "lowest TLS version accepted: `tlsv1.2` (TLS 1.2 or 1.3, whichever the broker offers) or `tlsv1.3` (a broker offering at most TLS 1.2 is refused)",
        read: |b, key, v| {
            b.tls_version = Some(values::one_of(key, &v, TLS_VERSIONS, TLS_VERSION_NAMES)?);
            Ok(())
        },
    }
    TLS_INSECURE {
        builder: "`.tls_insecure(..)`",
        default: "`false`",
        meaning: "skip the host name check only, as Flask-MQTT: the certificate must still come from a trusted CA; a warning is logged at every connect",
        read: |b, key, v| {
            b.tls_insecure = Some(values::boolean(key, &v)?);
            Ok(())
        },
    }
    TLS_VERIFY_CERTIFICATE {
        builder: "`.tls_verify_certificate(..)`",
        default: "`true`",
        meaning: "`false`: accept any server certificate (no CA nor host name check; Flask-MQTT's `MQTT_TLS_CERT_REQS=ssl.CERT_NONE`): anyone on the path can read and change the connection; a warning is logged at every connect",
        read: |b, key, v| {
            b.tls_verify_certificate = Some(values::boolean(key, &v)?);
            Ok(())
        },
    }
    TLS_CIPHERS {
        builder: "`.tls_ciphers(..)`",
        default: "OpenSSL's default",
        meaning: "OpenSSL cipher list (TLS 1.2)",
        read: |b, _, v| {
            b.tls_ciphers = Some(v);
            Ok(())
        },
    }
    LAST_WILL_TOPIC {
        builder: "`.last_will(topic, ..)`",
        default: "none",
        meaning: "last will topic",
        read: |b, _, v| {
            b.will_topic = Some(v);
            Ok(())
        },
    }
    LAST_WILL_MESSAGE {
        builder: "`.last_will(_, message, ..)`",
        default: "empty",
        meaning: "last will payload (at most 65535 bytes)",
        read: |b, _, v| {
            b.will_message = Some(v.into_bytes());
            Ok(())
        },
    }
    LAST_WILL_QOS {
        builder: "`.last_will(.., qos, _)`",
        default: "`0`",
        meaning: "0, 1 or 2",
        read: |b, key, v| {
            b.will_qos = Some(values::number(key, &v, QOS_RANGE)?);
            Ok(())
        },
    }
    LAST_WILL_RETAIN {
        builder: "`.last_will(.., retain)`",
        default: "`false`",
        meaning: "retain the last will",
        read: |b, key, v| {
            b.will_retain = Some(values::boolean(key, &v)?);
            Ok(())
        },
    }
    RECONNECT_MIN_DELAY {
        builder: "`.reconnect_delay(min, _)`",
        default: "`0.5`",
        meaning: "seconds before the first retry (positive, at most 86400)",
        read: |b, key, v| {
            b.reconnect_min_delay = Some(values::secs(key, &v, SECONDS)?);
            Ok(())
        },
    }
    RECONNECT_MAX_DELAY {
        builder: "`.reconnect_delay(_, max)`",
        default: "`30`",
        meaning: "the retry delay doubles up to this (at least the min delay, at most 86400)",
        read: |b, key, v| {
            b.reconnect_max_delay = Some(values::secs(key, &v, SECONDS)?);
            Ok(())
        },
    }
    MAX_BUFFERED_MESSAGES {
        builder: "`.max_buffered_messages(..)`",
        default: "`10000`",
        meaning: "publishes Paho holds that are not yet sent (while disconnected, and queued while connected); past it `publish` fails at once with `Error::BufferFull`",
        read: |b, key, v| {
            b.max_buffered_messages = Some(values::number(key, &v, BUFFERED_RANGE)?);
            Ok(())
        },
    }
    CONNECT_MODE {
        builder: "`.connect_mode(..)`",
        default: "`background`",
        meaning: "`background`: serve HTTP and keep retrying; `required`: `mqtt::init()` fails if the first connect does not succeed, naming host, port and reason, after at most the connection timeout (rounded up to whole seconds) per broker of the list plus 1 s (without `init`, `configure` connects in the background and warns once)",
        read: |b, key, v| {
            b.connect_mode = Some(values::one_of(key, &v, CONNECT_MODES, CONNECT_MODE_NAMES)?);
            Ok(())
        },
    }
    ACK_POLICY {
        builder: "`.ack_policy(..)`",
        default: "`after`",
        meaning: "when a QoS 1/2 message is acknowledged to the broker, for handlers without `ack = \"...\"`: `after` every handler it went to has finished (nothing acknowledged is lost if the app dies), or `first`, on arrival, before the handlers run; `manual` is a per-handler choice only",
        read: |b, key, v| {
            let policy = v
                .trim()
                .parse::<AckPolicy>()
                .map_err(|_| ConfigError::new(key, Some(&values::shown(&v)), ACK_POLICY_NAMES))?;
            b.ack_policy = Some(policy);
            Ok(())
        },
    }
    RECEIVE_MAXIMUM {
        builder: "`.receive_maximum(..)`",
        default: "`100`",
        meaning: "MQTT 5 Receive Maximum (sent in CONNECT): how many QoS 1/2 messages the broker sends before earlier ones are acknowledged, so it bounds the unacknowledged messages in the app; 1-65535. MQTT 3.1.1 has no such setting (the broker's inflight window does it): a warning if set",
        read: |b, key, v| {
            b.receive_maximum = Some(values::number(key, &v, RECEIVE_MAXIMUM_RANGE)?);
            Ok(())
        },
    }
    METRICS {
        builder: "`.metrics(..)`",
        default: "`true`",
        meaning: "record Prometheus metrics for this client (`mqtt::metrics` serves them); `false`: nothing is recorded and the client is left out of `mqtt::metrics`, which answers 404 when no client records",
        read: |b, key, v| {
            b.metrics = Some(values::boolean(key, &v)?);
            Ok(())
        },
    }
}

/// The key `name` (without prefix), if there is one.
pub(crate) fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// The known key closest to `name` (without prefix, any case): the fewest single-character
/// edits (Levenshtein), ties to the first in the table.
pub(crate) fn closest(name: &str) -> &'static Key {
    let name = name.to_ascii_uppercase();
    let mut best = &KEYS[0];
    let mut best_distance = usize::MAX;
    for key in KEYS {
        let d = edit_distance(&name, key.name);
        if d < best_distance {
            best = key;
            best_distance = d;
        }
    }
    best
}

/// Levenshtein distance between two strings, by characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows of the first Markdown table in `text` whose header starts with `| key`,
    /// with `strip` removed from the start of each line (`//! ` for module docs).
    fn table_rows(text: &str, strip: &str) -> Vec<String> {
        let lines: Vec<&str> = text
            .lines()
            .map(|l| l.strip_prefix(strip).unwrap_or(l))
            .collect();
        let start = lines
            .iter()
            .position(|l| l.starts_with("| key"))
            .expect("a table whose first column is `key`");
        lines[start + 2..]
            .iter()
            .take_while(|l| l.starts_with('|'))
            .map(|l| (*l).to_owned())
            .collect()
    }

    fn expected() -> String {
        KEYS.iter().map(Key::doc_row).collect::<Vec<_>>().join("\n")
    }

    fn check(what: &str, rows: Vec<String>) {
        let rows = rows.join("\n");
        assert!(
            rows == expected(),
            "{what}'s configuration table differs from config/keys.rs; the table rendered from \
             the keys is:\n{}\n\n{what} has:\n{rows}",
            expected()
        );
    }

    /// The README's configuration table says exactly what the key table says, row by row:
    /// a key added, renamed or changed without its docs fails here.
    #[test]
    fn the_readme_lists_exactly_the_keys() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
        let readme = std::fs::read_to_string(path).unwrap();
        let section = &readme[readme.find("## Configuration").unwrap()..];
        check("README.md", table_rows(section, ""));
    }

    /// The same for the `config` module's docs.
    #[test]
    fn the_module_docs_list_exactly_the_keys() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/config/mod.rs");
        let docs = std::fs::read_to_string(path).unwrap();
        check("config/mod.rs", table_rows(&docs, "//! "));
    }

    /// Each default the docs give as one value is the default: reading it changes nothing.
    #[test]
    fn documented_defaults_are_the_defaults() {
        let base = |key: &Key| {
            let mut b = crate::config::Config::builder().client_id("fixed");
            if key.name.starts_with("TLS_") {
                b = b.tls(true);
            }
            if key.name.starts_with("LAST_WILL_") {
                b.will_topic = Some("t".to_owned());
            }
            b
        };
        let mut checked = 0;
        for key in KEYS {
            let Some(value) = key
                .default
                .strip_prefix('`')
                .and_then(|d| d.strip_suffix('`'))
                .filter(|d| !d.contains('`'))
            else {
                continue;
            };
            let untouched = format!("{:?}", base(key).build().unwrap());
            let mut b = base(key);
            (key.read)(&mut b, &key.full("MQTT"), value.to_owned()).unwrap();
            let set = format!("{:?}", b.build().unwrap());
            assert_eq!(
                set, untouched,
                "{}: the documented default `{value}`",
                key.name
            );
            checked += 1;
        }
        assert!(checked >= 15, "only {checked} defaults checked");
    }

    #[test]
    fn names_are_unique_upper_case_and_their_fields_lower_case() {
        let mut names: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KEYS.len(), "a key is listed twice");
        for k in KEYS {
            assert!(
                k.name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                k.name
            );
            assert_eq!(find(k.name).map(|f| f.name), Some(k.name));
        }
    }

    #[test]
    fn the_closest_key_is_one_edit_away_for_typos() {
        for (typo, key) in [
            ("BROKER_URI", "BROKER_URL"),
            ("BROKER_PROT", "BROKER_PORT"),
            ("broker_url", "BROKER_URL"),
            ("KEEP_ALIVE", "KEEPALIVE"),
            ("CLIENTID", "CLIENT_ID"),
            ("TLS_CA_CERT", "TLS_CA_CERTS"),
            ("LAST_WILL_TOPC", "LAST_WILL_TOPIC"),
            ("PUBLISH_TIMEOUTS", "PUBLISH_TIMEOUT"),
            ("ACK_POLICIES", "ACK_POLICY"),
            ("RECEIVE_MAXIMUN", "RECEIVE_MAXIMUM"),
            ("METRIC", "METRICS"),
        ] {
            assert_eq!(closest(typo).name, key, "{typo}");
        }
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
