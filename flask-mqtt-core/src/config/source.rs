//! Where text values come from: the environment, or any lookup of full key names (a file
//! section, a map in a test); and the environment's keys that no client reads.

use std::collections::BTreeSet;
use std::sync::Mutex;

use super::builder::ConfigBuilder;
use super::keys::{self, Key, CONFIG_FILE, KEYS};
use super::prefix;
use crate::error::ConfigError;
use crate::visible;

/// Log target of configuration warnings.
pub(crate) const TARGET: &str = "flask_mqtt::config";

/// One environment variable; non-UTF-8 values are an error naming the key.
pub(crate) fn env_var(key: &str) -> Result<Option<String>, ConfigError> {
    match std::env::var(key) {
        Ok(v) => Ok(Some(v)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::new(
            key,
            None,
            "valid UTF-8 (the environment variable is not)",
        )),
    }
}

/// A builder for `prefix` with every key `lookup` knows (it takes full key names, like
/// `std::env::var`). Only the form of each value is checked here; `build` does the rest.
pub(crate) fn read<F>(prefix: &str, mut lookup: F) -> Result<ConfigBuilder, ConfigError>
where
    F: FnMut(&str) -> Result<Option<String>, ConfigError>,
{
    prefix::check(prefix)?;
    let mut builder = ConfigBuilder::with_prefix(prefix);
    for key in KEYS {
        let full = key.full(prefix);
        if let Some(value) = lookup(&full)? {
            (key.read)(&mut builder, &full, value)?;
        }
    }
    Ok(builder)
}

/// An environment variable that looks like a key of `prefix` but is none, and the known
/// key it is closest to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Unknown {
    pub(crate) name: String,
    pub(crate) closest: String,
}

/// Environment variables Paho C reads itself (`src/Log.c`): its own trace, which it
/// writes to stdout or a file, before and without the redaction of `on_log` lines.
const PAHO_VARIABLES: &[&str] = &[
    "MQTT_C_CLIENT_TRACE",
    "MQTT_C_CLIENT_TRACE_LEVEL",
    "MQTT_C_CLIENT_TRACE_MAX_LINES",
];

/// The names among `names` that Paho C reads itself ([`PAHO_VARIABLES`]).
pub(crate) fn paho_variables<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    names
        .into_iter()
        .filter(|n| PAHO_VARIABLES.contains(n))
        .collect()
}

/// What to say about `name`, a variable Paho C reads itself: not ignored, and what it
/// turns on is not redacted.
pub(crate) fn paho_variable_warning(name: &str) -> String {
    let what = match name {
        "MQTT_C_CLIENT_TRACE" => {
            "it turns on Paho's own trace, written to stdout (`ON`) or to the file it names"
        }
        "MQTT_C_CLIENT_TRACE_LEVEL" => {
            "it sets the level of Paho's own trace (MQTT_C_CLIENT_TRACE)"
        }
        _ => "it sets the lines per file of Paho's own trace (MQTT_C_CLIENT_TRACE)",
    };
    format!(
        "{name} is no flask-mqtt key but is read by Paho C, the MQTT library underneath: {what}. That trace is not redacted: unlike `on_log` lines, it shows payload bytes and a websocket URL's query values (presigned credentials); unset it in production"
    )
}

/// The names among `names` that start with `{prefix}_` but are no key of `prefix`:
/// misspellings, mostly (`MQTT_BROKER_URI`). Not counted: `MQTT_CONFIG_FILE`, the
/// variables Paho C reads ([`PAHO_VARIABLES`]), and a known key of a longer prefix
/// (`MQTT_B_BROKER_URL` is `MQTT_B`'s `BROKER_URL`).
pub(crate) fn unknown<'a>(prefix: &str, names: impl IntoIterator<Item = &'a str>) -> Vec<Unknown> {
    let start = format!("{prefix}_");
    let mut out = Vec::new();
    for name in names {
        let Some(rest) = name.strip_prefix(&start) else {
            continue;
        };
        let known = keys::find(rest).is_some()
            || name == CONFIG_FILE
            || PAHO_VARIABLES.contains(&name)
            || KEYS.iter().any(|k: &Key| {
                rest.strip_suffix(k.name)
                    .and_then(|p| p.strip_suffix('_'))
                    .is_some_and(|more| !more.is_empty())
            });
        if !known {
            out.push(Unknown {
                name: name.to_owned(),
                closest: keys::closest(rest).full(prefix),
            });
        }
    }
    out
}

/// Names already warned about in this process.
static WARNED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Warns once per process about each environment variable that looks like a key of
/// `prefix` but is none, naming the closest key: through `log` (target
/// `flask_mqtt::config`), or on stderr when no logger would show it. (Those Paho C reads
/// itself are warned about where a client starts: [`warn_paho_env`].)
pub(crate) fn warn_unknown_env(prefix: &str) {
    let names = env_names();
    for u in unknown(prefix, names.iter().map(String::as_str)) {
        warn_once(
            &u.name,
            &format_args!(
                "unknown configuration key {} is ignored; did you mean {}?",
                u.name, u.closest
            ),
        );
    }
}

/// Warns about each `MQTT_C_CLIENT_TRACE*` variable set, once per process: Paho C reads
/// them whatever made the configuration, so every client's start calls this.
pub(crate) fn warn_paho_env() {
    for name in paho_variables(env_names().iter().map(String::as_str)) {
        warn_once(name, &paho_variable_warning(name));
    }
}

/// The names of the environment variables (those that are Unicode).
fn env_names() -> Vec<String> {
    std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .collect()
}

/// Warns about the key `name` once per process: through `log` (target
/// `flask_mqtt::config`), or on stderr when no logger would show it.
pub(crate) fn warn_once(name: &str, message: &dyn std::fmt::Display) {
    let first = crate::sync::lock(&WARNED).insert(name.to_owned());
    if first {
        visible::report(TARGET, log::Level::Warn, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Receive Maximum set on MQTT 3.1.1 (which has none) is warned about, once per
    /// process and key, whichever path set it.
    #[test]
    fn receive_maximum_on_mqtt_3_is_warned_about_once() {
        let warned = || crate::sync::lock(&WARNED).contains("MQTTRM_RECEIVE_MAXIMUM");
        assert!(!warned());
        let five = crate::config::ConfigBuilder::with_prefix("MQTTRM")
            .protocol_version(crate::config::ProtocolVersion::V5)
            .receive_maximum(7)
            .build()
            .unwrap();
        assert_eq!(five.receive_maximum(), 7);
        assert!(!warned(), "MQTT 5 uses it: no warning");
        let three = read("MQTTRM", |k| {
            Ok((k == "MQTTRM_RECEIVE_MAXIMUM").then(|| "7".to_owned()))
        })
        .unwrap()
        .build()
        .unwrap();
        assert_eq!(three.receive_maximum(), 7);
        assert!(warned());
    }

    /// Paho C reads `MQTT_C_CLIENT_TRACE` (and its `_LEVEL`, `_MAX_LINES`) itself
    /// (Log.c): they are not ignored, and what they turn on is not redacted. Never
    /// reported as an unknown key with a "did you mean"; said for what it is instead.
    #[test]
    fn paho_c_trace_variables_are_not_unknown_keys() {
        let env = [
            "MQTT_C_CLIENT_TRACE",
            "MQTT_C_CLIENT_TRACE_LEVEL",
            "MQTT_C_CLIENT_TRACE_MAX_LINES",
        ];
        assert_eq!(unknown("MQTT", env), Vec::<Unknown>::new());
        assert_eq!(unknown("MQTT_C", env), Vec::<Unknown>::new());
        assert_eq!(paho_variables(env), env);
        assert_eq!(paho_variables(["MQTT_C_CLIENT_TRACES", "PATH"]), [""; 0]);
        let said = paho_variable_warning("MQTT_C_CLIENT_TRACE");
        assert!(said.contains("read by Paho C"), "{said}");
        assert!(said.contains("not redacted"), "{said}");
        assert!(!said.contains("ignored"), "{said}");
        assert!(!said.contains("did you mean"), "{said}");
    }

    #[test]
    fn unknown_keys_name_the_closest_known_one() {
        let env = [
            "MQTT_BROKER_URI",
            "MQTT_BROKER_URL",
            "MQTT_CONFIG_FILE",
            "MQTT_PASWORD",
            "MQTT_B_BROKER_URL",
            "MQTT2_BROKER_URI",
            "PATH",
            "MQTTX",
        ];
        let found = unknown("MQTT", env);
        assert_eq!(
            found,
            [
                Unknown {
                    name: "MQTT_BROKER_URI".into(),
                    closest: "MQTT_BROKER_URL".into()
                },
                Unknown {
                    name: "MQTT_PASWORD".into(),
                    closest: "MQTT_PASSWORD".into()
                },
            ]
        );
        let found = unknown("MQTT2", env);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].closest, "MQTT2_BROKER_URL");
        // Lower case, as a shell user might write it, still finds its key.
        assert_eq!(
            unknown("MQTT", ["MQTT_keepalive"])[0].closest,
            "MQTT_KEEPALIVE"
        );
    }
}
