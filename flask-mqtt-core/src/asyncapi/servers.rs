//! The document's servers: one per broker of each client's configuration, without
//! credentials: no user name, password or key, and a WebSocket path without its query
//! (which may carry them).

use serde_json::{json, Map, Value};

use crate::config::{Config, ProtocolVersion};

/// The version of the MQTT bindings the document uses.
pub(super) const MQTT_BINDING_VERSION: &str = "0.2.0";

/// The servers of every client, the security schemes they use, and the server ids of
/// each client (by configuration prefix).
#[derive(Default)]
pub(super) struct Servers {
    pub(super) servers: Map<String, Value>,
    pub(super) security_schemes: Map<String, Value>,
    pub(super) by_client: Vec<(String, Vec<String>)>,
}

impl Servers {
    /// Adds the brokers of `config` (the client `config.prefix()`): the first as
    /// `<prefix>`, the fallbacks as `<prefix>-2`, `<prefix>-3`, ...
    pub(super) fn add(&mut self, config: &Config) {
        let prefix = config.prefix();
        let mut ids = Vec::new();
        for (i, uri) in config.server_uris().iter().enumerate() {
            let id = if i == 0 {
                prefix.to_owned()
            } else {
                format!("{prefix}-{}", i + 1)
            };
            let server = self.server(config, uri, i);
            self.servers.insert(id.clone(), server);
            ids.push(id);
        }
        self.by_client.push((prefix.to_owned(), ids));
    }

    /// The server ids of the client `prefix`, if it was added.
    pub(super) fn of(&self, prefix: &str) -> Option<&[String]> {
        self.by_client
            .iter()
            .find(|(p, _)| p == prefix)
            .map(|(_, ids)| ids.as_slice())
    }

    fn server(&mut self, config: &Config, uri: &str, index: usize) -> Value {
        let (scheme, rest) = uri.split_once("://").unwrap_or(("tcp", uri));
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(&rest[i..])),
            None => (rest, None),
        };
        let (protocol, over) = match scheme {
            "ssl" => ("secure-mqtt", "MQTT over TLS"),
            "ws" => ("ws", "MQTT over WebSockets"),
            "wss" => ("wss", "MQTT over WebSockets with TLS"),
            _ => ("mqtt", "MQTT over TCP"),
        };
        let role = if index == 0 {
            "the broker".to_owned()
        } else {
            format!("fallback broker {index}")
        };
        let mut server = Map::new();
        server.insert("host".into(), json!(host));
        server.insert("protocol".into(), json!(protocol));
        server.insert(
            "protocolVersion".into(),
            json!(match config.protocol_version() {
                ProtocolVersion::V311 => "3.1.1",
                ProtocolVersion::V5 => "5",
            }),
        );
        // The path without its query: a presigned WebSocket URL carries credentials
        // there (AWS IoT's `X-Amz-Signature`), and a document is for anyone to read.
        if let Some(path) = path.map(|p| p.split_once('?').map_or(p, |(path, _)| path)) {
            server.insert("pathname".into(), json!(path));
        }
        server.insert(
            "description".into(),
            json!(format!(
                "{role} of the client `{}` ({over}; settings `{}_*`)",
                config.client_id(),
                config.prefix()
            )),
        );
        let mut security = Vec::new();
        if config.username().is_some() {
            // That a user name and password are needed, never which.
            self.security_schemes.insert(
                "userPassword".into(),
                json!({
                    "type": "userPassword",
                    "description": "a user name and password (MQTT CONNECT)",
                }),
            );
            security.push(json!({ "$ref": "#/components/securitySchemes/userPassword" }));
        }
        if config.tls().is_some_and(|t| t.certfile().is_some()) {
            self.security_schemes.insert(
                "X509".into(),
                json!({ "type": "X509", "description": "a TLS client certificate" }),
            );
            security.push(json!({ "$ref": "#/components/securitySchemes/X509" }));
        }
        if !security.is_empty() {
            server.insert("security".into(), Value::Array(security));
        }
        server.insert("bindings".into(), json!({ "mqtt": binding(config) }));
        Value::Object(server)
    }
}

/// The MQTT server binding: the session the client asks for.
fn binding(config: &Config) -> Value {
    let mut b = Map::new();
    b.insert("clientId".into(), json!(config.client_id()));
    b.insert("cleanSession".into(), json!(config.clean_session()));
    b.insert("keepAlive".into(), json!(config.keepalive().as_secs()));
    if config.protocol_version() == ProtocolVersion::V5 {
        b.insert(
            "sessionExpiryInterval".into(),
            json!(config.session_expiry().as_secs()),
        );
    }
    if let Some(will) = config.last_will() {
        // The will's message is the application's business: topic, QoS and retain only.
        b.insert(
            "lastWill".into(),
            json!({
                "topic": will.topic(),
                "qos": will.qos().as_u8(),
                "retain": will.retain(),
            }),
        );
    }
    b.insert("bindingVersion".into(), json!(MQTT_BINDING_VERSION));
    Value::Object(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A presigned WebSocket URL carries its credentials in the query (AWS IoT's
    /// `X-Amz-Signature`): the document must not publish them.
    #[test]
    fn a_query_with_credentials_is_left_out_of_the_pathname() {
        let config = Config::builder()
            .broker_url("wss://iot.example.com/mqtt?X-Amz-Credential=AKIDEXAMPLE%2F20260101&X-Amz-Signature=deadbeefsig")
            .build()
            .expect("a valid configuration");
        let mut servers = Servers::default();
        servers.add(&config);
        let text = serde_json::to_string(&servers.servers).expect("JSON");
        assert!(!text.contains("deadbeefsig"), "{text}");
        assert!(!text.contains("AKIDEXAMPLE"), "{text}");
        let server = &servers.servers[crate::config::DEFAULT_PREFIX];
        assert_eq!(server["pathname"], "/mqtt");
        assert_eq!(server["host"], "iot.example.com:443");
        assert_eq!(server["protocol"], "wss");
    }

    /// What the key's documentation (README, module docs, `keys.rs`) says the document
    /// does with a WebSocket path's query is what it does: the query is left out, its
    /// parameters' names too.
    #[test]
    fn the_websocket_path_docs_say_what_the_document_does() {
        let config = Config::builder()
            .broker_url("ws://h/mqtt")
            .websocket_path("/mqtt?X-Amz-Signature=sig")
            .build()
            .expect("a valid configuration");
        let mut servers = Servers::default();
        servers.add(&config);
        let text = serde_json::to_string(&servers.servers).expect("JSON");
        assert!(!text.contains("X-Amz-Signature"), "{text}");
        let meaning = crate::config::keys::WEBSOCKET_PATH.meaning;
        assert!(
            meaning.contains("the AsyncAPI document leaves the query out"),
            "{meaning}"
        );
        assert!(!meaning.contains("AsyncAPI document show"), "{meaning}");
    }
}
