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
//! Field names are the keys without their prefix, in lower case; section names are key
//! prefixes. Unknown fields, sections no client can use and unquoted numbers in text
//! settings that would not reach the client as written are errors (a typo must not be
//! silently ignored, nor `password = 1.50` sent as `1.5`; `client_id = 42` is kept, as
//! "42"); an unknown field's error names the closest known one.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::Path;

use serde::de::{DeserializeSeed, Error as _, MapAccess, Unexpected, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

use super::keys::{self, Key, CONFIG_FILE, KEYS};
use super::prefix;
use super::source;
use super::values::{shown, GivenUrl, Secret, WebSocketPath};
use crate::error::ConfigError;

/// A scalar setting in a file: strings, numbers and booleans are read with the same
/// rules as environment variables, except that a setting that is text (user name,
/// password, client id, URLs, paths, will topic and message, ciphers) that is not a
/// string must be written in the file exactly as it is used: `42`, `-7`, `1.5`, `true`
/// are kept, while `1.50` (used as 1.5), `0x1F` (31), `0o17`, `1_000`, `1e3`, `+5` and
/// `2.0` are refused by [`ConfigFile::from_toml_str`] with an error asking for quotes.
///
/// More variants may come: a `match` outside this crate needs a wildcard arm.
///
/// ```compile_fail,E0004
/// fn f(v: flask_mqtt_core::Scalar) {
///     match v {
///         flask_mqtt_core::Scalar::Str(_) => {}
///         flask_mqtt_core::Scalar::Int(_) => {}
///         flask_mqtt_core::Scalar::Float(_) => {}
///         flask_mqtt_core::Scalar::Bool(_) => {}
///     }
/// }
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged, expecting = "a string, number or boolean")]
#[non_exhaustive]
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

/// The keys whose value is text, which a file gives as a string or as a number written
/// exactly as it is used: another unquoted number would reach them rewritten
/// (`password = 1.50` as `1.5`, `0x1F` as `31`).
const TEXT_KEYS: &[Key] = &[
    keys::BROKER_URL,
    keys::USERNAME,
    keys::PASSWORD,
    keys::CLIENT_ID,
    keys::WEBSOCKET_PATH,
    keys::TLS_CA_CERTS,
    keys::TLS_CERTFILE,
    keys::TLS_KEYFILE,
    keys::TLS_CIPHERS,
    keys::LAST_WILL_TOPIC,
    keys::LAST_WILL_MESSAGE,
];

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
        let url = keys::BROKER_URL.field();
        let path = keys::WEBSOCKET_PATH.field();
        let mut map = f.debug_map();
        for (field, value) in &self.values {
            if *field == password {
                map.entry(field, &Secret::new(""));
            } else if *field == url {
                map.entry(field, &GivenUrl(value.to_raw()));
            } else if *field == path {
                map.entry(field, &WebSocketPath(value.to_raw()));
            } else {
                map.entry(field, value);
            }
        }
        map.finish()
    }
}

impl<'de> Deserialize<'de> for BrokerSection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(SectionVisitor { text: None })
    }
}

/// Reads a [`BrokerSection`]. Anything but a table is refused without quoting it: a
/// `password = "..."` line above every `[MQTT]` header is read as a section, and serde's
/// own message would quote its value.
///
/// With `text` (the TOML being read), a number or boolean in a text setting is kept when
/// it is written exactly as the client would use it (`client_id = 42`, `true`, `1.5`),
/// and refused when not (`0x1F`, `1_000`, `1e3`, `1.50`, `+5`); without it (any other
/// serde format, where the literal is unknown), every unquoted one is refused.
struct SectionVisitor<'t> {
    text: Option<&'t str>,
}

impl SectionVisitor<'_> {
    fn refuse<E: serde::de::Error>(&self, found: &str) -> Result<BrokerSection, E> {
        Err(E::invalid_type(Unexpected::Other(found), self))
    }
}

impl<'de> Visitor<'de> for SectionVisitor<'_> {
    type Value = BrokerSection;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table of settings such as `[MQTT]`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BrokerSection, A::Error> {
        let mut values = BTreeMap::new();
        while let Some(field) = map.next_key::<String>()? {
            if !KEYS.iter().any(|k| k.field() == field) {
                return Err(A::Error::custom(format!(
                    "unknown field `{field}`; did you mean `{}`?",
                    keys::closest(&field).field()
                )));
            }
            let (value, written) = match self.text {
                Some(text) => {
                    let spanned: Spanned<Scalar> = map.next_value()?;
                    let written = text.get(spanned.span());
                    (spanned.into_inner(), written)
                }
                None => (map.next_value()?, None),
            };
            let as_written = written == Some(value.to_raw().as_str());
            if !matches!(value, Scalar::Str(_))
                && !as_written
                && TEXT_KEYS.iter().any(|k| k.field() == field)
            {
                // Never the value: it may be a password.
                return Err(A::Error::custom(format!(
                    "`{field}` is text: put its value in quotes (`{field} = \"...\"`); unquoted, this value would not reach the client as written"
                )));
            }
            values.insert(field, value);
        }
        Ok(BrokerSection { values })
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<BrokerSection, E> {
        self.refuse("a boolean")
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<BrokerSection, E> {
        self.refuse("an integer")
    }

    fn visit_i128<E: serde::de::Error>(self, _: i128) -> Result<BrokerSection, E> {
        self.refuse("an integer")
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<BrokerSection, E> {
        self.refuse("an integer")
    }

    fn visit_u128<E: serde::de::Error>(self, _: u128) -> Result<BrokerSection, E> {
        self.refuse("an integer")
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<BrokerSection, E> {
        self.refuse("a number")
    }

    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<BrokerSection, E> {
        self.refuse("a string")
    }

    fn visit_bytes<E: serde::de::Error>(self, _: &[u8]) -> Result<BrokerSection, E> {
        self.refuse("bytes")
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
        ConfigFile::read(path, None)
    }

    /// Reads a TOML file for the client with keys `prefix` (when known), whose prefix a
    /// section misnamed as it is suggested.
    pub(crate) fn read(path: &Path, prefix: Option<&str>) -> Result<ConfigFile, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::io(CONFIG_FILE, Some(&shown), "a readable TOML file", e))?;
        ConfigFile::parse(&text, &shown, prefix)
    }

    /// Parses TOML text; `origin` names it in errors. An error says what is wrong, where
    /// (line, column, key) and never quotes the text: the line may hold a password. A
    /// section whose name is no key prefix (`[mqtt]`, `[MQTT-2]`) is an error too: no
    /// client would read it, and its settings would fall back to their defaults unsaid.
    /// The error suggests a prefix the file does not have already.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<ConfigFile, ConfigError> {
        ConfigFile::parse(text, origin, None)
    }

    /// [`ConfigFile::from_toml_str`] for the client with keys `prefix` (when known): a
    /// section that is that prefix spelled otherwise (`[MQTT-2]` for `MQTT2`) is told so.
    pub(crate) fn parse(
        text: &str,
        origin: &str,
        prefix: Option<&str>,
    ) -> Result<ConfigFile, ConfigError> {
        let parsed =
            toml::Deserializer::parse(text).and_then(|de| de.deserialize_map(FileVisitor { text }));
        let file = parsed.map_err(|e| {
            ConfigError::new(
                CONFIG_FILE,
                Some(origin),
                format!("valid settings: {}", describe(&e, text)),
            )
        })?;
        if let Some(name) = file.clients.keys().find(|n| prefix::check(n).is_err()) {
            return Err(ConfigError::new(
                CONFIG_FILE,
                Some(origin),
                format!(
                    "valid settings: section `[{}]` is no key prefix (upper-case ASCII letters, digits and `_`, starting with a letter, like `[MQTT2]`), so no client reads it{}",
                    shown(name),
                    file.hint(name, prefix)
                ),
            ));
        }
        Ok(file)
    }

    /// What the misnamed section `name` may have meant: the reading client's prefix when
    /// `name` is it spelled otherwise (`[mqtt]`, `[MQTT-2]` for `MQTT2`, `["mqtt.tls"]`),
    /// else `name` upper-cased with `-`, ` `, `.` as `_` or dropped; a name the file has
    /// already is not suggested (it would make a second table) but said to be there.
    fn hint(&self, name: &str, prefix: Option<&str>) -> String {
        let squeezed = |s: &str| s.to_ascii_uppercase().replace(['-', ' ', '.', '_'], "");
        let upper = name.to_ascii_uppercase();
        let candidates: Vec<String> = match prefix {
            Some(p)
                if squeezed(name) == squeezed(p)
                    || upper
                        .strip_prefix(p)
                        .is_some_and(|rest| rest.starts_with('.')) =>
            {
                vec![p.to_owned()]
            }
            _ => {
                let mut c = vec![upper.replace(['-', ' ', '.'], "_"), squeezed(name)];
                c.dedup();
                c
            }
        };
        let (there, new): (Vec<String>, Vec<String>) = candidates
            .into_iter()
            .filter(|c| prefix::check(c).is_ok())
            .partition(|c| self.clients.contains_key(c));
        let mut hint = String::new();
        if !new.is_empty() {
            let names: Vec<String> = new.iter().map(|n| format!("`[{n}]`")).collect();
            let _ = write!(hint, "; did you mean {}?", names.join(" or "));
        }
        if let Some(n) = there.first() {
            let _ = write!(
                hint,
                "; the file also has `[{n}]`: put these settings there"
            );
        }
        hint
    }

    /// Says visibly (once per process for `origin` and `prefix`) when the file has
    /// sections but none for the client with keys `prefix`: none of the file reaches
    /// that client, which is often a misnamed section (`[MQTT_2]` for `MQTT2`).
    pub(crate) fn warn_if_unread(&self, origin: &str, prefix: &str) {
        if self.clients.is_empty() || self.clients.contains_key(prefix) {
            return;
        }
        let closest = self
            .clients
            .keys()
            .min_by_key(|name| keys::edit_distance(name, prefix))
            .map(String::as_str)
            .unwrap_or_default();
        source::warn_once(
            &format!("{origin}\u{0}[{prefix}]"),
            &format_args!(
                "settings file `{origin}` has no section `[{prefix}]`, so client {prefix} reads nothing from it; its closest section is `[{closest}]`"
            ),
        );
    }

    /// The section for `prefix`, if the file has one.
    pub fn section(&self, prefix: &str) -> Option<&BrokerSection> {
        self.clients.get(prefix)
    }
}

/// Reads a whole TOML file, giving each section the text so that a literal can be
/// compared with its value (see [`SectionVisitor`]).
struct FileVisitor<'t> {
    text: &'t str,
}

impl<'de> Visitor<'de> for FileVisitor<'_> {
    type Value = ConfigFile;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tables of settings such as `[MQTT]`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ConfigFile, A::Error> {
        let mut clients = BTreeMap::new();
        while let Some(name) = map.next_key::<String>()? {
            let section = map.next_value_seed(SectionSeed { text: self.text })?;
            clients.insert(name, section);
        }
        Ok(ConfigFile { clients })
    }
}

/// One section of a TOML file, read with the file's text.
struct SectionSeed<'t> {
    text: &'t str,
}

impl<'de> DeserializeSeed<'de> for SectionSeed<'_> {
    type Value = BrokerSection;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<BrokerSection, D::Error> {
        deserializer.deserialize_map(SectionVisitor {
            text: Some(self.text),
        })
    }
}

/// A TOML error as [`ConfigError`] shows it: toml's message, the key it is about and its
/// line and column. Not toml's `Display` with the input, which quotes the offending line
/// (`password = hunter2` unquoted, an unclosed quote, a wrong type).
fn describe(e: &toml::de::Error, text: &str) -> String {
    // Without its input, the error displays as its message and the key path only
    // ("... in `MQTT.password`").
    let mut bare = e.clone();
    bare.set_input(None);
    let mut out = bare.to_string().trim().replace('\n', " ");
    if let Some(span) = e.span() {
        let (line, column) = position(text, span.start);
        let _ = write!(out, " (line {line}, column {column})");
    }
    out
}

/// The 1-based line and column (in characters) of byte `at` of `text`.
fn position(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = text.get(..at).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "hunter2secret";

    /// A file that cannot be read: the error names the key and the reason, and keeps the
    /// I/O error itself (its kind), not only its text.
    #[test]
    fn unreadable_file_keeps_the_io_error() {
        let path = std::env::temp_dir().join("flask-mqtt-no-such-dir/settings.toml");
        let err = ConfigFile::from_path(&path).unwrap_err();
        assert_eq!(err.key(), CONFIG_FILE);
        assert!(err.to_string().contains("a readable TOML file"), "{err}");
        let io = err.io_error().expect("the I/O error is kept");
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
        assert!(err.to_string().contains(&io.to_string()), "{err}");
    }

    /// Files with the password where TOML or the settings cannot take it: the error says
    /// what and where, and never quotes the line.
    #[test]
    fn errors_never_quote_the_file() {
        for (text, key, line) in [
            // Unquoted.
            (
                "[MQTT]\nusername = \"u\"\npassword = hunter2secret\n",
                "",
                3,
            ),
            // An unclosed quote.
            ("[MQTT]\npassword = \"hunter2secret\n", "", 2),
            (
                "[MQTT]\npassword = 'hunter2secret\nusername = \"u\"\n",
                "",
                2,
            ),
            // A wrong type.
            (
                "[MQTT]\npassword = [\"hunter2secret\"]\n",
                "`MQTT.password`",
                2,
            ),
            (
                "[MQTT]\npassword = { p = \"hunter2secret\" }\n",
                "`MQTT.password`",
                2,
            ),
            // Above every section header.
            ("password = \"hunter2secret\"\n[MQTT]\n", "`password`", 1),
            ("password = 12345678\n", "`password`", 1),
            // After a bad key, on the same line (toml points at the section).
            ("[MQTT]\npasword = \"hunter2secret\"\n", "`MQTT`", 1),
        ] {
            let err = ConfigFile::from_toml_str(text, "app.toml").unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(SECRET), "{text:?}: {shown}");
            assert!(!shown.contains("12345678"), "{text:?}: {shown}");
            assert_eq!(err.key(), CONFIG_FILE);
            assert!(err.expected().contains(key), "{text:?}: {err}");
            assert!(
                err.expected().contains(&format!("(line {line}, column ")),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn the_message_says_what_is_expected() {
        let err = ConfigFile::from_toml_str("[MQTT]\npassword = [1]\n", "f").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid MQTT_CONFIG_FILE `f`: expected valid settings: a string, number or \
             boolean in `MQTT.password` (line 2, column 12)"
        );
        let err = ConfigFile::from_toml_str("MQTT = \"x\"\n", "f").unwrap_err();
        assert!(
            err.expected()
                .starts_with("valid settings: invalid type: a string, expected a table of settings such as `[MQTT]`"),
            "{err}"
        );
    }

    /// An unquoted number or boolean where a setting is text would be rewritten on the
    /// way (`1.50` read as 1.5, `0x1F` as 31, `1e3` as 1000), and the client would
    /// send another password or id than the file says. Refused, naming the field and
    /// asking for quotes, never quoting the value (it may be a password).
    #[test]
    fn unquoted_numbers_in_text_settings_are_refused() {
        for (line, field, value) in [
            ("password = 1.50", "password", "1.5"),
            ("password = 0x1F", "password", "31"),
            ("password = 1_000", "password", "1000"),
            ("password = 29.0", "password", "29"),
            ("password = +57", "password", "57"),
            ("client_id = 0o777", "client_id", "511"),
            ("username = 1e3", "username", "1000"),
            ("last_will_message = 4.20e2", "last_will_message", "420"),
        ] {
            let text = format!("[MQTT]\n{line}\n");
            let Err(err) = ConfigFile::from_toml_str(&text, "app.toml") else {
                panic!("{line}: accepted");
            };
            let shown = format!("{err} {err:?}");
            assert_eq!(err.key(), CONFIG_FILE, "{line}: {shown}");
            assert!(
                err.expected()
                    .contains(&format!("`{field}` is text: put its value in quotes")),
                "{line}: {shown}"
            );
            assert!(!shown.contains(value), "{line}: {shown}");
            let written = line.rsplit(' ').next().unwrap_or_default();
            assert!(!shown.contains(written), "{line}: {shown}");
        }
        // Numbers and booleans stay fine where a setting is one.
        let file = ConfigFile::from_toml_str(
            "[MQTT]\nbroker_port = 1884\nkeepalive = 1.5e1\nclean_session = false\nprotocol_version = 5\nclient_id = \"0x1F\"\n",
            "app.toml",
        )
        .unwrap();
        assert_eq!(
            file.section("MQTT")
                .and_then(|s| s.raw("MQTT_CLIENT_ID", "MQTT")),
            Some("0x1F".to_owned())
        );
    }

    /// A plain number or boolean that reaches the client exactly as written is kept:
    /// `client_id = 42` was always the id "42" (decimal integers, `true`, `1.5`).
    #[test]
    fn unquoted_values_kept_as_written_are_accepted() {
        for (line, field, used) in [
            ("client_id = 42", "client_id", "42"),
            ("username = 1001", "username", "1001"),
            ("password = 123456", "password", "123456"),
            ("password = -7", "password", "-7"),
            ("password = 1.5", "password", "1.5"),
            ("password = true", "password", "true"),
            (
                "last_will_message = false # comment",
                "last_will_message",
                "false",
            ),
        ] {
            let text = format!("[MQTT]\n{line}\n");
            let file = match ConfigFile::from_toml_str(&text, "app.toml") {
                Ok(file) => file,
                Err(err) => panic!("{line}: {err}"),
            };
            let key = format!("MQTT_{}", field.to_ascii_uppercase());
            assert_eq!(
                file.section("MQTT").and_then(|s| s.raw(&key, "MQTT")),
                Some(used.to_owned()),
                "{line}"
            );
        }
    }

    #[test]
    fn positions_count_lines_and_characters() {
        assert_eq!(position("", 0), (1, 1));
        assert_eq!(position("ab\ncd", 4), (2, 2));
        assert_eq!(position("é = x", 3), (1, 3));
        assert_eq!(position("é", 1), (1, 1), "inside a character");
        assert_eq!(position("ab", 99), (1, 3), "past the end");
    }
}
