//! Channels and operations: one channel per topic space (broker and address), one
//! operation per handler (`receive`) and per declared publisher (`send`).
//!
//! # How filters become addresses
//!
//! An AsyncAPI address names the topics of a channel, with `{name}` for the parts that
//! vary. Each level of the MQTT filter or template becomes:
//!
//! | level | address | parameter description |
//! |---|---|---|
//! | `sensors` | `sensors` | |
//! | `{id}` | `{id}` | any one level |
//! | `{path:#}` | `{path}` | the remaining levels, `/`-separated, zero or more |
//! | `+` | `{levelN}` (N: its position) | any one level (an unnamed `+`) |
//! | `#` | `{rest}` | the remaining levels (an unnamed `#`) |
//!
//! so `home/+/temperature` is the address `home/{level2}/temperature`; the filter itself
//! is kept in the channel's `x-mqtt-filter`. A shared subscription
//! (`$share/workers/jobs/#`) is the channel of its topics (`jobs/{rest}`): the group is a
//! property of the receive operation, `x-mqtt-shared-group`.

use std::collections::HashMap;

use flask_mqtt_topic::{Segment, TopicTemplate};
use serde_json::{json, Map, Value};

use super::servers::MQTT_BINDING_VERSION;
use crate::config::DEFAULT_PREFIX;
use crate::describe::PayloadDoc;

/// One operation to document.
pub(super) struct Operation<'a> {
    /// `true`: the app publishes (a declared publisher); `false`: it receives (a handler).
    pub(super) send: bool,
    /// The client's configuration prefix.
    pub(super) broker: &'a str,
    pub(super) template: &'a TopicTemplate,
    /// `module::name`, numbered as in the logs for a handler (`module::function#2`).
    pub(super) name: String,
    /// The function or static's own name (numbered for a handler: `reading#2`).
    pub(super) short: &'a str,
    pub(super) doc: Option<&'a str>,
    pub(super) qos: u8,
    /// Whether a publisher's messages are retained.
    pub(super) retain: Option<bool>,
    pub(super) payload: Option<PayloadDoc>,
}

/// The channels and operations being built.
#[derive(Default)]
pub(super) struct Channels {
    pub(super) channels: Map<String, Value>,
    pub(super) operations: Map<String, Value>,
    /// (broker, address) -> channel id.
    by_address: HashMap<(String, String), String>,
}

impl Channels {
    /// Adds `op`, on the channel of its topics (made if needed), on `servers` (the ids of
    /// the broker's servers, `None` when its client is not running).
    pub(super) fn add(&mut self, op: Operation<'_>, servers: Option<&[String]>) {
        let (address, parameters) = address(op.template, op.send);
        let channel_id = self.channel(op.broker, &address, parameters, op.template, servers);
        let message_id = self.message(&channel_id, op.payload.as_ref());
        let mut operation = Map::new();
        operation.insert(
            "action".into(),
            json!(if op.send { "send" } else { "receive" }),
        );
        operation.insert(
            "channel".into(),
            json!({ "$ref": format!("#/channels/{channel_id}") }),
        );
        operation.insert(
            "messages".into(),
            json!([{ "$ref": format!("#/channels/{channel_id}/messages/{message_id}") }]),
        );
        operation.insert("title".into(), json!(op.name));
        let mut description = op.doc.map(str::to_owned).unwrap_or_default();
        if let Some(summary) = description.lines().find(|l| !l.trim().is_empty()) {
            operation.insert("summary".into(), json!(summary.trim()));
        }
        if let Some(group) = op.template.filter().share_group() {
            if !description.is_empty() {
                description.push_str("\n\n");
            }
            description.push_str(&format!(
                "A shared subscription (`{}`): the broker hands each message to one subscriber of the group `{group}`, e.g. one replica of the app.",
                op.template.filter()
            ));
            operation.insert("x-mqtt-shared-group".into(), json!(group));
        }
        if !description.is_empty() {
            operation.insert("description".into(), json!(description));
        }
        let mut binding = Map::new();
        binding.insert("qos".into(), json!(op.qos.min(2)));
        if let Some(retain) = op.retain {
            binding.insert("retain".into(), json!(retain));
        }
        binding.insert("bindingVersion".into(), json!(MQTT_BINDING_VERSION));
        operation.insert("bindings".into(), json!({ "mqtt": binding }));
        let id = unique(
            &self.operations,
            &sanitize(&numbered_id(op.short)),
            &numbered_id(&op.name),
        );
        self.operations.insert(id, Value::Object(operation));
    }

    /// The id of the channel of `address` on `broker`, made if needed.
    fn channel(
        &mut self,
        broker: &str,
        address: &str,
        parameters: Map<String, Value>,
        template: &TopicTemplate,
        servers: Option<&[String]>,
    ) -> String {
        let key = (broker.to_owned(), address.to_owned());
        if let Some(id) = self.by_address.get(&key) {
            return id.clone();
        }
        let base = if broker == DEFAULT_PREFIX {
            sanitize(address)
        } else {
            format!("{}__{broker}", sanitize(address))
        };
        let id = unique(&self.channels, &base, &base);
        let filter = match template.filter().share_group() {
            Some(_) => template.filter().inner(),
            None => template.filter().as_str(),
        };
        let mut channel = Map::new();
        channel.insert("address".into(), json!(address));
        channel.insert(
            "description".into(),
            json!(format!(
                "The MQTT topics matching `{filter}`, on the broker of the client `{broker}`."
            )),
        );
        if !parameters.is_empty() {
            channel.insert("parameters".into(), Value::Object(parameters));
        }
        channel.insert("messages".into(), json!({}));
        if let Some(servers) = servers {
            let refs: Vec<Value> = servers
                .iter()
                .map(|s| json!({ "$ref": format!("#/servers/{s}") }))
                .collect();
            channel.insert("servers".into(), Value::Array(refs));
        }
        channel.insert("x-mqtt-filter".into(), json!(filter));
        channel.insert("x-flask-mqtt-broker".into(), json!(broker));
        self.channels.insert(id.clone(), Value::Object(channel));
        self.by_address.insert(key, id.clone());
        id
    }

    /// The id of the channel's message for `payload`, added if the channel has none like it
    /// (`payload`'s references are final: see `describe`).
    fn message(&mut self, channel_id: &str, payload: Option<&PayloadDoc>) -> String {
        let message = message(payload);
        let base = match payload {
            Some(PayloadDoc {
                type_name: Some(name),
                ..
            }) => sanitize(name),
            Some(p) if p.content_type == "text/plain" => "text".to_owned(),
            _ => "message".to_owned(),
        };
        let Some(messages) = self
            .channels
            .get_mut(channel_id)
            .and_then(|c| c.get_mut("messages"))
            .and_then(Value::as_object_mut)
        else {
            return base;
        };
        let mut id = base.clone();
        for n in 2.. {
            match messages.get(&id) {
                None => {
                    messages.insert(id.clone(), message);
                    break;
                }
                Some(existing) if *existing == message => break,
                Some(_) => id = format!("{base}{n}"),
            }
        }
        id
    }
}

/// The message object for a payload.
fn message(payload: Option<&PayloadDoc>) -> Value {
    let mut m = Map::new();
    match payload {
        Some(p) => {
            let name = p.type_name.clone().unwrap_or_else(|| "text".to_owned());
            m.insert("name".into(), json!(name));
            m.insert("title".into(), json!(name));
            m.insert("contentType".into(), json!(p.content_type));
            match &p.schema {
                Some(schema) => {
                    m.insert("payload".into(), schema.clone());
                }
                None => {
                    m.insert(
                        "summary".into(),
                        json!("JSON; its type declares no schema (derive `schemars::JsonSchema` for one)"),
                    );
                }
            }
        }
        None => {
            m.insert("name".into(), json!("message"));
            m.insert("title".into(), json!("Any payload"));
            m.insert("contentType".into(), json!("application/octet-stream"));
            m.insert(
                "summary".into(),
                json!("bytes: the handler takes the message as it is"),
            );
        }
    }
    Value::Object(m)
}

/// The address of `template`'s topics and its parameters (see the module docs); `send`:
/// a publisher's template, whose parameters are values given when publishing.
pub(super) fn address(template: &TopicTemplate, send: bool) -> (String, Map<String, Value>) {
    let names: Vec<&str> = template.names().collect();
    let taken = |name: &str, params: &Map<String, Value>| {
        names.contains(&name) || params.contains_key(name)
    };
    let mut params = Map::new();
    let mut levels = Vec::new();
    for (index, segment) in template.segments().enumerate() {
        let level = index + 1;
        let (name, description) = match segment {
            Segment::Literal(text) => {
                levels.push(text.to_owned());
                continue;
            }
            Segment::Param(name) if send => (
                name.to_owned(),
                format!("the value given for `{{{name}}}` when publishing: one topic level"),
            ),
            Segment::Param(name) => (
                name.to_owned(),
                format!("any one topic level (`{{{name}}}` in the handler's filter, read with `Path`)"),
            ),
            Segment::RestParam(name) if send => (
                name.to_owned(),
                format!("the value given for `{{{name}:#}}` when publishing: the remaining topic levels, separated by `/`"),
            ),
            Segment::RestParam(name) => (
                name.to_owned(),
                format!("the remaining topic levels, zero or more, separated by `/` (`{{{name}:#}}` in the handler's filter, MQTT `#`)"),
            ),
            Segment::AnyLevel => {
                let mut name = format!("level{level}");
                while taken(&name, &params) {
                    name.push('_');
                }
                (
                    name,
                    format!("any one topic level (an unnamed `+`, level {level} of the filter)"),
                )
            }
            Segment::AnyRest => {
                let mut name = "rest".to_owned();
                while taken(&name, &params) {
                    name.push('_');
                }
                (
                    name,
                    "the remaining topic levels, zero or more, separated by `/` (an unnamed `#`; `a/#` also matches `a`)".to_owned(),
                )
            }
        };
        levels.push(format!("{{{name}}}"));
        params.insert(name, json!({ "description": description }));
    }
    (levels.join("/"), params)
}

/// `text` as an id (`^[A-Za-z0-9_\-]+$`): other characters become `_`.
fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let trimmed = out.trim_matches('_');
    if trimmed.is_empty() {
        "root".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// A numbered name's `#` (`reading#2`) as `-`, which the ids allow and no Rust name
/// holds: `reading-2` is never the id of a function named `reading_2`.
fn numbered_id(name: &str) -> String {
    name.replace('#', "-")
}

/// `base` if `map` has no such key, else `fallback` sanitized, else numbered.
fn unique(map: &Map<String, Value>, base: &str, fallback: &str) -> String {
    if !map.contains_key(base) {
        return base.to_owned();
    }
    let fallback = sanitize(fallback);
    if !map.contains_key(&fallback) {
        return fallback;
    }
    (2..)
        .map(|n| format!("{fallback}_{n}"))
        .find(|id| !map.contains_key(id))
        .unwrap_or(fallback)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(source: &str, send: bool) -> (String, Vec<String>) {
        let t = TopicTemplate::parse(source).unwrap();
        let (address, params) = address(&t, send);
        (address, params.keys().cloned().collect())
    }

    #[test]
    fn addresses() {
        for (filter, expected, params) in [
            ("a/b", "a/b", &[][..]),
            (
                "sensors/{id}/temperature",
                "sensors/{id}/temperature",
                &["id"][..],
            ),
            (
                "home/+/temperature",
                "home/{level2}/temperature",
                &["level2"][..],
            ),
            ("files/{path:#}", "files/{path}", &["path"][..]),
            ("a/#", "a/{rest}", &["rest"][..]),
            (
                "$share/g/jobs/+/#",
                "jobs/{level2}/{rest}",
                &["level2", "rest"][..],
            ),
            (
                "{level2}/+/{rest}/#",
                "{level2}/{level2_}/{rest}/{rest_}",
                &["level2", "level2_", "rest", "rest_"][..],
            ),
        ] {
            let (address, names) = addr(filter, false);
            assert_eq!(address, expected, "{filter}");
            let mut names = names;
            names.sort();
            let mut params: Vec<String> = params.iter().map(|p| (*p).to_owned()).collect();
            params.sort();
            assert_eq!(names, params, "{filter}");
        }
    }

    #[test]
    fn ids() {
        assert_eq!(
            sanitize("sensors/{id}/temperature"),
            "sensors_id_temperature"
        );
        assert_eq!(sanitize("$SYS/#"), "SYS");
        assert_eq!(sanitize("#"), "root");
        assert_eq!(sanitize("a::b"), "a_b");
        let mut map = Map::new();
        map.insert("x".into(), json!(1));
        assert_eq!(unique(&map, "y", "m::y"), "y");
        assert_eq!(unique(&map, "x", "m::x"), "m_x");
        map.insert("m_x".into(), json!(1));
        assert_eq!(unique(&map, "x", "m::x"), "m_x_2");
        // A numbered handler name: `-` for its `#`, never a function's own name.
        map.insert("x_2".into(), json!(1));
        assert_eq!(
            unique(&map, &sanitize(&numbered_id("x#2")), &numbered_id("m::x#2")),
            "x-2"
        );
        map.insert("x-2".into(), json!(1));
        assert_eq!(
            unique(&map, &sanitize(&numbered_id("x#2")), &numbered_id("m::x#2")),
            "m_x-2"
        );
    }
}
