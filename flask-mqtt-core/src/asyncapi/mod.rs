//! [`AsyncApi`]: the app's MQTT interface as an AsyncAPI 3.0 document, generated from
//! the handler registry and the declared publishers (see [`AsyncApi`]).

mod channels;
mod keys;
mod refs;
mod servers;

use std::collections::HashMap;

use flask_mqtt_topic::TopicTemplate;
use serde_json::{json, Map, Value};

use self::channels::{Channels, Operation};
use self::keys::by_component_key;
use self::refs::rename_refs;
use self::servers::Servers;
use crate::describe::{PayloadFn, Schemas};
use crate::event::HandlerKind;
use crate::handle::Mqtt;
use crate::publisher;
use crate::registry;

/// A handler or publisher as the registry declares it.
struct Declared {
    send: bool,
    broker: &'static str,
    template: &'static str,
    /// `module::name`, numbered as in the logs for a handler (`module::function#2`).
    name: String,
    /// `name` without its module path.
    short: String,
    doc: Option<&'static str>,
    qos: u8,
    retain: Option<bool>,
    payload: Option<PayloadFn>,
}

/// The AsyncAPI version of the documents.
pub const ASYNCAPI_VERSION: &str = "3.0.0";

/// The `info` of an AsyncAPI document, and the document itself with
/// [`document`](AsyncApi::document).
///
/// What the document holds:
/// - `servers`: each running client's brokers (host, protocol, MQTT version, the session
///   it asks for as the MQTT binding), with the kind of credentials it uses
///   (`userPassword`, `X509`) but never a user name, password or key; a WebSocket
///   path's query is left out (`pathname` is the path alone), as it may carry
///   credentials (a presigned URL's `X-Amz-Signature`);
/// - `channels`: one per topic space that a `#[on_message("...")]` handler subscribes
///   to or a declared publisher publishes to, addressed as described below;
/// - `operations`: one `receive` per handler (its name, QoS, shared group) and one
///   `send` per publisher (QoS, retain, its doc comment). A handler's operation is
///   titled with its name as log lines, spans and metrics write it, `module::function`,
///   with `#2`, `#3`, ... for the second and further handlers of one `module::function`;
///   its id is the function's name (`reading`, `reading-2` for `reading#2`), or the
///   whole name (`app_sensors_reading`) when another operation has that id already;
///   every id is unique;
/// - `components.schemas`: the JSON Schemas (draft-07, which AsyncAPI's default schema
///   format extends) of the `Json<T>` payloads whose `T` derives `schemars::JsonSchema`,
///   under schemars' name for `T` when it is a component key (`^[a-zA-Z0-9\.\-_]+$`);
///   another name (`Température`) has each other character replaced by `_` and a hash of
///   the name appended (`Temp_rature_<8 hex digits>`), and the references follow.
///   A `Json<T>` whose `T` has none is documented as untyped JSON, `Text` as a string,
///   other handlers as any payload.
///
/// ## How filters become addresses
///
/// An AsyncAPI address names a channel's topics with `{name}` for the parts that vary.
/// `{id}` stays `{id}`, `{path:#}` becomes `{path}`, an unnamed `+` becomes `{levelN}`
/// (N: its level) and an unnamed `#` `{rest}`, each documented as a channel parameter
/// (one level; the remaining levels, zero or more): `home/+/temperature` is the address
/// `home/{level2}/temperature`. The filter itself is kept in the channel's
/// `x-mqtt-filter`. A shared subscription (`$share/workers/jobs/#`) is on the channel of
/// its topics (`jobs/{rest}`), its group in the operation's `x-mqtt-shared-group`.
///
/// ```
/// use flask_mqtt_core::AsyncApi;
///
/// let info = AsyncApi::new("sensors", "1.2.0").description("Temperature readings.");
/// let doc = info.document([]); // no running client: channels and operations only
/// assert_eq!(doc["asyncapi"], "3.0.0");
/// assert_eq!(doc["info"]["title"], "sensors");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsyncApi {
    title: String,
    version: String,
    description: Option<String>,
}

impl Default for AsyncApi {
    /// The executable's name as the title, version `0.0.0`: give your own with
    /// `AsyncApi::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"))`.
    fn default() -> Self {
        let title = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "flask-mqtt app".to_owned());
        AsyncApi::new(title, "0.0.0")
    }
}

impl AsyncApi {
    /// The application's title and version (its own version, not AsyncAPI's).
    pub fn new(title: impl Into<String>, version: impl Into<String>) -> Self {
        AsyncApi {
            title: title.into(),
            version: version.into(),
            description: None,
        }
    }

    /// A description of the application (CommonMark).
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// The AsyncAPI 3.0 document: every handler with a topic filter and every declared
    /// publisher linked into the program, on the servers of `clients` (those of other
    /// brokers are documented without servers), as described above.
    pub fn document<'a>(&self, clients: impl IntoIterator<Item = &'a Mqtt>) -> Value {
        let mut servers = Servers::default();
        for client in clients {
            servers.add(&client.shared.config);
        }
        // Named as in the logs (`module::function#2`: `registry::numbered`); by client,
        // then in the registry's order, which the numbers follow.
        let mut handlers = registry::named();
        handlers.sort_by_key(|(d, _)| d.broker());
        let receive = handlers
            .into_iter()
            .filter_map(|(d, name)| match (d.kind, d.filter) {
                (HandlerKind::Message, Some(filter)) => Some(Declared {
                    send: false,
                    broker: d.broker(),
                    template: d.template.unwrap_or(filter),
                    short: short(&name).to_owned(),
                    name,
                    doc: d.doc,
                    qos: d.qos,
                    retain: None,
                    payload: d.payload,
                }),
                _ => None,
            });
        let send = publisher::declared().into_iter().map(|d| Declared {
            send: true,
            broker: d.broker(),
            template: d.template,
            name: d.name(),
            short: d.name.to_owned(),
            doc: d.doc,
            qos: d.qos,
            retain: Some(d.retain),
            payload: d.payload,
        });
        let (channels, schemas) = describe(receive.chain(send), &servers);
        let mut components = Map::new();
        if !schemas.is_empty() {
            components.insert("schemas".into(), Value::Object(schemas));
        }
        if !servers.security_schemes.is_empty() {
            components.insert(
                "securitySchemes".into(),
                Value::Object(std::mem::take(&mut servers.security_schemes)),
            );
        }

        let mut info = Map::new();
        info.insert("title".into(), json!(self.title));
        info.insert("version".into(), json!(self.version));
        if let Some(d) = &self.description {
            info.insert("description".into(), json!(d));
        }
        let mut doc = Map::new();
        doc.insert("asyncapi".into(), json!(ASYNCAPI_VERSION));
        doc.insert("info".into(), Value::Object(info));
        doc.insert("defaultContentType".into(), json!("application/json"));
        if !servers.servers.is_empty() {
            doc.insert("servers".into(), Value::Object(servers.servers));
        }
        doc.insert("channels".into(), Value::Object(channels.channels));
        doc.insert("operations".into(), Value::Object(channels.operations));
        if !components.is_empty() {
            doc.insert("components".into(), Value::Object(components));
        }
        Value::Object(doc)
    }
}

/// `name` without its module path: `reading#2` of `app::sensors::reading#2`.
fn short(name: &str) -> &str {
    name.rsplit("::").next().unwrap_or(name)
}

/// The channels and operations of `declared`, on `servers`, and the named schemas of
/// their payloads.
///
/// Every payload is described first, so that the schemas are merged (a sent type's
/// `<Name>Sent` named) and keyed (a name that is no component key given one: see
/// `keys`) before any message is made: a channel's messages are compared with the
/// references they end up with, and a handler's message is never merged with a
/// publisher's whose schema only looked the same before the renaming.
fn describe(
    declared: impl Iterator<Item = Declared>,
    servers: &Servers,
) -> (Channels, Map<String, Value>) {
    let mut schemas = Schemas::new();
    let mut described = Vec::new();
    for declared in declared {
        // The macros checked it; a hand-written descriptor may not be.
        let Ok(template) = TopicTemplate::parse(declared.template) else {
            continue;
        };
        schemas.sending = declared.send;
        let payload = declared.payload.and_then(|describe| describe(&mut schemas));
        described.push((declared, template, payload));
    }
    let (all, renames) = merge_schemas(&mut schemas);
    let (all, keys) = by_component_key(all);
    let mut channels = Channels::default();
    for (declared, template, mut payload) in described {
        if let Some(schema) = payload.as_mut().and_then(|p| p.schema.as_mut()) {
            if declared.send {
                rename_refs(schema, &renames);
            }
            rename_refs(schema, &keys);
        }
        channels.add(
            Operation {
                send: declared.send,
                broker: declared.broker,
                template: &template,
                name: declared.name,
                short: &declared.short,
                doc: declared.doc,
                qos: declared.qos,
                retain: declared.retain,
                payload,
            },
            servers.of(declared.broker),
        );
    }
    (channels, all)
}

/// The named schemas of received and sent payloads, in one map. A type whose sent form
/// differs from its received form (asymmetric serde attributes, or any `Option` field
/// with schemars 1) gets a second entry, `<Name>Sent`; the renames, by old name, are for
/// the sent payloads' references to follow.
///
/// A sent schema is compared with the references it ends up with: a type that holds a
/// renamed one (`Both { state: State }`, whose two schemas are both a `$ref` to `State`
/// before the sent one points at `StateSent`) differs, and is renamed too; which can make
/// a type holding it differ in turn, so this repeats until no new rename appears. A type
/// only sent is kept under its name, its references rewritten as well.
fn merge_schemas(schemas: &mut Schemas) -> (Map<String, Value>, HashMap<String, String>) {
    let mut all = schemas.receive.take_definitions(true);
    let sent = schemas.send.take_definitions(true);
    let mut renames: HashMap<String, String> = HashMap::new();
    // Each round renames at least one more type, or stops.
    loop {
        let mut renamed = Vec::new();
        for (name, schema) in &sent {
            let Some(received) = all.get(name) else {
                continue;
            };
            if renames.contains_key(name) {
                continue;
            }
            let mut schema = schema.clone();
            rename_refs(&mut schema, &renames);
            if *received != schema {
                renamed.push(name.clone());
            }
        }
        if renamed.is_empty() {
            break;
        }
        for name in renamed {
            let mut new = format!("{name}Sent");
            while all.contains_key(&new)
                || sent.contains_key(&new)
                || renames.values().any(|taken| *taken == new)
            {
                new.push('_');
            }
            renames.insert(name, new);
        }
    }
    for (name, mut schema) in sent {
        rename_refs(&mut schema, &renames);
        match renames.get(&name) {
            Some(new) => {
                all.insert(new.clone(), schema);
            }
            // Only sent; or sent as received (the same schema: nothing to add).
            None => {
                all.entry(name).or_insert(schema);
            }
        }
    }
    (all, renames)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::message::Json;

    /// A device's state: `Option` makes schemars' deserialize and serialize schemas
    /// differ (`StateSent`).
    #[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct State {
        on: bool,
        level: Option<u8>,
    }

    fn state(schemas: &mut Schemas) -> Option<crate::describe::PayloadDoc> {
        crate::__payload_doc!(Json<State>, schemas)
    }

    fn declared(send: bool, short: &'static str) -> Declared {
        Declared {
            send,
            broker: crate::config::DEFAULT_PREFIX,
            template: "devices/{id}/state",
            name: format!("app::{short}"),
            short: short.to_owned(),
            doc: None,
            qos: 1,
            retain: if send { Some(false) } else { None },
            payload: Some(state),
        }
    }

    /// The payload schema of `operation`'s message.
    fn payload<'a>(channels: &'a Channels, operation: &str) -> &'a Value {
        let reference = channels.operations[operation]["messages"][0]["$ref"]
            .as_str()
            .expect("a message reference");
        let pointer = reference.strip_prefix("#/channels/").expect("a channel's");
        let (channel, message) = pointer.split_once("/messages/").expect("a message");
        &channels.channels[channel]["messages"][message]["payload"]
    }

    /// A sent-only payload holding `State`.
    #[derive(serde::Serialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Envelope {
        state: State,
    }

    fn envelope(schemas: &mut Schemas) -> Option<crate::describe::PayloadDoc> {
        crate::__payload_doc!(Json<Envelope>, schemas)
    }

    /// Received and sent, holding `State`: its two schemas have the same text (a `$ref`
    /// to `State`) until the sent one points at `StateSent`.
    #[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Both {
        state: State,
    }

    fn both(schemas: &mut Schemas) -> Option<crate::describe::PayloadDoc> {
        crate::__payload_doc!(Json<Both>, schemas)
    }

    /// A name that schemars percent-encodes in a `$ref` (`Temp%C3%A9rature`).
    #[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Température {
        level: Option<u8>,
    }

    fn temperature(schemas: &mut Schemas) -> Option<crate::describe::PayloadDoc> {
        crate::__payload_doc!(Json<Température>, schemas)
    }

    fn on(template: &'static str, send: bool, short: &'static str, payload: PayloadFn) -> Declared {
        Declared {
            template,
            payload: Some(payload),
            ..declared(send, short)
        }
    }

    /// The name of the schema `reference` (`#/components/schemas/<name>`) points at.
    fn target(reference: &Value) -> &str {
        let reference = reference["$ref"].as_str().expect("a reference");
        reference.rsplit('/').next().expect("a name")
    }

    #[test]
    fn a_sent_only_type_holds_the_sent_form_of_a_renamed_type() {
        let (_, schemas) = describe(
            [
                declared(false, "on_state"),
                on("devices/{id}/envelope", true, "ENVELOPE", envelope),
            ]
            .into_iter(),
            &Servers::default(),
        );
        assert_eq!(
            schemas["Envelope"]["properties"]["state"],
            json!({ "$ref": "#/components/schemas/StateSent" }),
            "{:#}",
            Value::Object(schemas.clone())
        );
    }

    #[test]
    fn a_type_received_and_sent_holding_a_renamed_type_is_renamed_too() {
        let (channels, schemas) = describe(
            [
                declared(false, "on_state"),
                on("devices/{id}/both", false, "on_both", both),
                on("devices/{id}/both", true, "BOTH", both),
            ]
            .into_iter(),
            &Servers::default(),
        );
        let dump = Value::Object(schemas.clone());
        assert_eq!(target(payload(&channels, "on_both")), "Both", "{dump:#}");
        assert_eq!(target(payload(&channels, "BOTH")), "BothSent", "{dump:#}");
        assert_eq!(
            schemas["Both"]["properties"]["state"],
            json!({ "$ref": "#/components/schemas/State" }),
            "{dump:#}"
        );
        assert_eq!(
            schemas["BothSent"]["properties"]["state"],
            json!({ "$ref": "#/components/schemas/StateSent" }),
            "{dump:#}"
        );
    }

    #[test]
    fn a_name_that_is_no_component_key_is_keyed_and_renamed_too() {
        let (channels, schemas) = describe(
            [
                on("devices/{id}/state", false, "on_t", temperature),
                on("devices/{id}/state", true, "T", temperature),
            ]
            .into_iter(),
            &Servers::default(),
        );
        let keys: Vec<_> = schemas.keys().collect();
        assert_eq!(
            payload(&channels, "on_t"),
            &json!({ "$ref": "#/components/schemas/Temp_rature_b1f3b4c0" }),
            "{keys:?}"
        );
        assert_eq!(
            payload(&channels, "T"),
            &json!({ "$ref": "#/components/schemas/Temp_ratureSent_9935127e" }),
            "{keys:?}"
        );
        assert_eq!(
            keys,
            ["Temp_ratureSent_9935127e", "Temp_rature_b1f3b4c0"],
            "only the keys"
        );
    }

    #[test]
    fn a_type_received_and_sent_on_one_channel_keeps_both_schemas() {
        let servers = Servers::default();
        let (channels, schemas) = describe(
            [declared(false, "on_state"), declared(true, "STATE")].into_iter(),
            &servers,
        );
        assert_eq!(channels.channels.len(), 1, "{:#?}", channels.channels);
        assert_ne!(
            schemas["State"], schemas["StateSent"],
            "schemars describes them differently"
        );
        assert_eq!(
            payload(&channels, "on_state"),
            &json!({ "$ref": "#/components/schemas/State" }),
            "the handler reads the deserialize schema: {:#?}",
            channels.channels
        );
        assert_eq!(
            payload(&channels, "STATE"),
            &json!({ "$ref": "#/components/schemas/StateSent" }),
            "the publisher sends the serialize schema: {:#?}",
            channels.channels
        );
    }
}
