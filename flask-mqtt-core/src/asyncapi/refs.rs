//! References to the document's named schemas (`#/components/schemas/<name>`), and
//! pointing them at a renamed schema.
//!
//! schemars writes a name into a reference as a JSON Pointer in URI fragment form: `~`
//! and `/` as `~0` and `~1`, then every byte outside a fragment's plain characters
//! percent-encoded (`Température` as `Temp%C3%A9rature`). The renames are by name, so a
//! reference is decoded before it is looked up, and the new name encoded when written.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::describe::SCHEMAS_PATH;

/// Points every `$ref` to a renamed schema (`renames`: new names by old name) at its new
/// name.
pub(super) fn rename_refs(value: &mut Value, renames: &HashMap<String, String>) {
    let prefix = format!("#{SCHEMAS_PATH}/");
    rename_in(value, renames, &prefix);
}

fn rename_in(value: &mut Value, renames: &HashMap<String, String>, prefix: &str) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if key == "$ref" {
                    let name = v
                        .as_str()
                        .and_then(|r| r.strip_prefix(prefix))
                        .and_then(decode_ref_name);
                    if let Some(new) = name.and_then(|name| renames.get(&name)) {
                        *v = json!(format!("{prefix}{}", encode_ref_name(new)));
                    }
                } else {
                    rename_in(v, renames, prefix);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_in(v, renames, prefix)),
        _ => {}
    }
}

/// Whether schemars percent-encodes `byte` in a reference: all but a URI fragment's
/// plain characters (RFC 3986, 3.5), and `~` and `/` (JSON Pointer's, escaped first).
fn needs_encoding(byte: u8) -> bool {
    !matches!(byte, b'!' | b'$' | b'&'..=b'.' | b'0'..=b';' | b'=' | b'?'..=b'Z' | b'_' | b'a'..=b'z')
}

/// `name` as schemars writes it into a reference.
fn encode_ref_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        match byte {
            b'~' => out.push_str("~0"),
            b'/' => out.push_str("~1"),
            b if needs_encoding(b) => out.push_str(&format!("%{b:02X}")),
            b => out.push(char::from(b)),
        }
    }
    out
}

/// The schema name a reference's last part (after `#/components/schemas/`) stands for;
/// `None` if it is not one name (invalid UTF-8 once decoded, or a deeper pointer).
fn decode_ref_name(encoded: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut rest = encoded.as_bytes();
    while let Some((&byte, after)) = rest.split_first() {
        let hex = after
            .get(..2)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (byte, hex) {
            (b'%', Some(decoded)) => {
                bytes.push(decoded);
                rest = after.get(2..).unwrap_or_default();
            }
            // A `%` without two hex digits is itself, as schemars reads it.
            _ => {
                bytes.push(byte);
                rest = after;
            }
        }
    }
    let pointer = String::from_utf8(bytes).ok()?;
    if pointer.contains('/') {
        return None;
    }
    Some(pointer.replace("~1", "/").replace("~0", "~"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_encoded_as_schemars_does_and_decoded_back() {
        for (name, encoded) in [
            ("State", "State"),
            ("StateSent_", "StateSent_"),
            ("Température", "Temp%C3%A9rature"),
            ("Wrapper<u8>", "Wrapper%3Cu8%3E"),
            ("a b%", "a%20b%25"),
            ("aA0-._!$&'()*+,;=:@?", "aA0-._!$&'()*+,;=:@?"),
            ("\"£%^\\~/", "%22%C2%A3%25%5E%5C~0~1"),
        ] {
            assert_eq!(encode_ref_name(name), encoded, "{name}");
            assert_eq!(decode_ref_name(encoded).as_deref(), Some(name), "{encoded}");
        }
        assert_eq!(
            decode_ref_name("%e2%82%AC"),
            Some("€".into()),
            "lower-case hex"
        );
        assert_eq!(decode_ref_name("100%"), Some("100%".into()), "a lone %");
        assert_eq!(decode_ref_name("%F0%9F%9A"), None, "invalid UTF-8");
        assert_eq!(decode_ref_name("A/properties"), None, "not one name");
    }

    #[test]
    fn references_to_a_renamed_name_follow_it_others_stay() {
        let renames = HashMap::from([
            ("State".to_owned(), "StateSent".to_owned()),
            ("Température".to_owned(), "TempératureSent".to_owned()),
        ]);
        let mut schema = json!({
            "properties": {
                "a": { "$ref": "#/components/schemas/State" },
                "b": { "items": [{ "$ref": "#/components/schemas/Temp%C3%A9rature" }] },
                "c": { "$ref": "#/components/schemas/Other" },
                "d": { "$ref": "#/components/schemas/State/properties/on" },
                "e": { "$ref": "https://example.com/schemas/State" },
            }
        });
        rename_refs(&mut schema, &renames);
        assert_eq!(
            schema,
            json!({
                "properties": {
                    "a": { "$ref": "#/components/schemas/StateSent" },
                    "b": { "items": [{ "$ref": "#/components/schemas/Temp%C3%A9ratureSent" }] },
                    "c": { "$ref": "#/components/schemas/Other" },
                    "d": { "$ref": "#/components/schemas/State/properties/on" },
                    "e": { "$ref": "https://example.com/schemas/State" },
                }
            })
        );
    }
}
