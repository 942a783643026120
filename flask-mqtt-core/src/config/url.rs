//! `MQTT_BROKER_URL`: a host or a URI, or a comma-separated list of them (the first broker
//! and its fallbacks); and the URIs handed to Paho.

use super::keys;
use super::values::{shown_url, Transport};
use crate::error::ConfigError;

/// One broker as written: the host, and what the URI said, if it was one.
#[derive(Debug, Default)]
pub(crate) struct Url {
    pub(crate) host: String,
    pub(crate) port: Option<u16>,
    pub(crate) transport: Option<Transport>,
    pub(crate) tls: Option<bool>,
    pub(crate) path: Option<String>,
}

const FORM: &str = "a host name or address, or a URI `scheme://host[:port][/path]` with scheme `mqtt`, `tcp`, `mqtts`, `ssl`, `ws` or `wss`";

/// Parses one broker; errors name `key`.
fn parse(key: &str, value: &str) -> Result<Url, ConfigError> {
    let bad = |what: &str| ConfigError::new(key, Some(&shown_url(value)), what.to_owned());
    let value_t = value.trim();
    let (scheme, rest) = match value_t.split_once("://") {
        None => (None, value_t),
        Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
    };
    let (transport, tls) = match scheme.as_deref() {
        None => (None, None),
        Some("mqtt" | "tcp") => (Some(Transport::Tcp), Some(false)),
        Some("mqtts" | "ssl" | "tls") => (Some(Transport::Tcp), Some(true)),
        Some("ws") => (Some(Transport::WebSockets), Some(false)),
        Some("wss") => (Some(Transport::WebSockets), Some(true)),
        Some(_) => return Err(bad(FORM)),
    };
    // The path starts at the first `/`; a query written right after the authority
    // (`wss://host?token=...`) is the query of the path `/`, not part of the host name.
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('?') => (&rest[..i], Some(format!("/{}", &rest[i..]))),
        Some(i) => (&rest[..i], Some(rest[i..].to_owned())),
        None => (rest, None),
    };
    let path = match path.as_deref() {
        Some("/") | None => None,
        Some(_) if transport == Some(Transport::WebSockets) => path,
        Some(_) => return Err(bad(FORM)),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or_else(|| bad(FORM))?;
        match after.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if after.is_empty() => (h, None),
            None => return Err(bad(FORM)),
        }
    } else if authority.matches(':').count() > 1 {
        // A bare IPv6 address.
        (authority, None)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    // Control characters (NUL above all: Paho C would cut the URI there, and the Rust
    // binding panics on it) are no more a host than spaces are.
    if host.is_empty()
        || host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '@' | '#' | '?'))
    {
        return Err(bad(FORM));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n != 0 => Some(n),
            _ => return Err(bad("a port number from 1 to 65535 after the host")),
        },
    };
    Ok(Url {
        host: host.to_owned(),
        port,
        transport,
        tls,
        path,
    })
}

/// The value of `{prefix}_BROKER_URL`: the first broker and the fallbacks (comma
/// separated). A URL with credentials (`mqtt://user:password@host`) is refused, its
/// user name and password not shown: they belong in `{prefix}_USERNAME` and
/// `{prefix}_PASSWORD`, which are never logged.
pub(crate) fn parse_list(prefix: &str, value: &str) -> Result<(Url, Vec<Url>), ConfigError> {
    let key = &keys::BROKER_URL.full(prefix);
    if value.contains('@') {
        return Err(ConfigError::new(
            key,
            Some(&shown_url(value)),
            format!(
                "a broker URL without user name or password: set them in {} and {} \
                 (a websocket path with `@` goes in {})",
                keys::USERNAME.full(prefix),
                keys::PASSWORD.full(prefix),
                keys::WEBSOCKET_PATH.full(prefix),
            ),
        ));
    }
    if !value.contains(',') {
        return Ok((parse(key, value)?, Vec::new()));
    }
    let mut urls = Vec::new();
    for part in value.split(',') {
        if part.trim().is_empty() {
            return Err(ConfigError::new(
                key,
                Some(&shown_url(value)),
                "a comma-separated list of brokers without empty entries",
            ));
        }
        urls.push(parse(key, part)?);
    }
    let first = urls.remove(0);
    Ok((first, urls))
}

/// The URI Paho connects to (`tcp://`, `ssl://`, `ws://` or `wss://`); IPv6 addresses in
/// brackets, the websocket path after the port.
pub(crate) fn uri(transport: Transport, tls: bool, host: &str, port: u16, path: &str) -> String {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    match (transport, tls) {
        (Transport::Tcp, false) => format!("tcp://{host}:{port}"),
        (Transport::Tcp, true) => format!("ssl://{host}:{port}"),
        (Transport::WebSockets, false) => format!("ws://{host}:{port}{path}"),
        (Transport::WebSockets, true) => format!("wss://{host}:{port}{path}"),
    }
}

/// The port a scheme uses when none is given.
pub(crate) fn default_port(transport: Transport, tls: bool) -> u16 {
    match (transport, tls) {
        (Transport::Tcp, false) => 1883,
        (Transport::Tcp, true) => 8883,
        (Transport::WebSockets, false) => 80,
        (Transport::WebSockets, true) => 443,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A URL with credentials is refused, and no error shows what precedes the `@`.
    #[test]
    fn credentials_in_the_url_are_refused_unshown() {
        for url in [
            "mqtt://user:hunter2secret@host:1883",
            "mqtts://user:hunter2secret@broker.example",
            "user:hunter2secret@host",
            "hunter2secret@host",
            "mqtt://user:hunter2secret@[::1]:1883",
            // A password with `/`, `,`, `@` or `:` in it.
            "ws://user:hun/ter2secret@host/mqtt",
            "ws://user:12/hunter2secret@host",
            "mqtt://user:hunter2,secret@host",
            "mqtt://user:hunter2@secret@host",
            "mqtt://a:1883,mqtt://user:hunter2secret@b:1883",
        ] {
            let err = parse_list("MQTT", url).err().unwrap();
            let text = format!("{err} {err:?}");
            for part in ["hunter2", "secret", "user:"] {
                assert!(!text.contains(part), "{url}: {text}");
            }
            assert_eq!(err.key(), "MQTT_BROKER_URL", "{text}");
            assert!(err.expected().contains("MQTT_PASSWORD"), "{text}");
        }
        let err = parse_list("MQTT2", "mqtt://u:hunter2secret@host:1883")
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "invalid MQTT2_BROKER_URL `mqtt://***@host:1883`: expected a broker URL without user \
             name or password: set them in MQTT2_USERNAME and MQTT2_PASSWORD (a websocket path \
             with `@` goes in MQTT2_WEBSOCKET_PATH)"
        );
    }

    /// A query right after the host (`wss://host?X-Amz-Signature=...`, no path) was read as
    /// part of the host name: Paho got `wss://host?...:443`, and `Config`'s `Debug` showed
    /// the query's values in `host`. For WebSockets it is the query of the path `/`; other
    /// transports have no path and no query; a fragment (`#`) is no part of a broker URL.
    #[test]
    fn a_query_after_the_host_is_the_paths_not_the_hosts() {
        let (url, _) = parse_list("MQTT", "wss://broker.example?X-Amz-Signature=s3cr3t").unwrap();
        assert_eq!(url.host, "broker.example");
        assert_eq!(url.path.as_deref(), Some("/?X-Amz-Signature=s3cr3t"));
        let (url, _) = parse_list("MQTT", "ws://[::1]:9001?token=t").unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", Some(9001)));
        assert_eq!(url.path.as_deref(), Some("/?token=t"));
        for bad in [
            "mqtt://broker.example?token=s3cr3t",
            "broker.example?token=s3cr3t",
            "mqtts://broker.example:8883?token=s3cr3t",
            "ws://broker.example#frag",
            "mqtt://broker.example#frag",
        ] {
            let err = parse_list("MQTT", bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} accepted"));
            assert_eq!(err.key(), "MQTT_BROKER_URL", "{bad}: {err}");
            assert!(!format!("{err} {err:?}").contains("s3cr3t"), "{bad}: {err}");
        }
    }

    #[test]
    fn shown_urls_hide_what_precedes_the_last_at() {
        assert_eq!(shown_url("mqtt://u:p@h:1883"), "mqtt://***@h:1883");
        assert_eq!(shown_url("u:p@h"), "***@h");
        assert_eq!(shown_url("mqtt://u:p@w@h"), "mqtt://***@h");
        assert_eq!(shown_url("h@x://y"), "***@x://y");
        assert_eq!(shown_url("mqtt://h:1883"), "mqtt://h:1883");
        assert_eq!(shown_url("h\0st"), "h\\u{0}st");
    }
}
