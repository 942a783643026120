//! The serde deserializer behind [`Path<T>`](super::Path): topic parameters
//! `[(name, value)]` as one value, a tuple (in order) or a struct/map (by name).

use std::fmt;
use std::str::FromStr;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use crate::error::truncate;

/// Why the parameters could not be read.
#[derive(Debug)]
pub(crate) struct PathError {
    message: String,
    /// The message already names the parameter and its value.
    complete: bool,
}

impl PathError {
    fn complete(message: String) -> Self {
        PathError {
            message,
            complete: true,
        }
    }

    /// The rejection text, for a `Path<T>` read from `params`. The parameters come from
    /// a received topic: each value quoted is escaped and cut (`error::truncate`), and
    /// so is what serde says, which may quote one too.
    pub(crate) fn describe<T>(&self, params: &[(&str, &str)]) -> String {
        if self.complete {
            return self.message.clone();
        }
        let list = params
            .iter()
            .map(|(name, value)| format!("{name} = `{}`", truncate(value)))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "cannot read `{}` from the topic parameters ({list}): {}",
            std::any::type_name::<T>(),
            truncate(&self.message)
        )
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PathError {}

impl de::Error for PathError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        PathError {
            message: msg.to_string(),
            complete: false,
        }
    }
}

/// Every parameter of the topic.
pub(crate) struct PathDeserializer<'de> {
    params: &'de [(&'de str, &'de str)],
}

impl<'de> PathDeserializer<'de> {
    pub(crate) fn new(params: &'de [(&'de str, &'de str)]) -> Self {
        PathDeserializer { params }
    }

    /// The only parameter, for a `T` that is one value.
    fn single(&self) -> Result<ValueDeserializer<'de>, PathError> {
        match self.params {
            [(name, value)] => Ok(ValueDeserializer { name, value }),
            params => Err(de::Error::custom(format!(
                "one value reads one topic parameter, and the filter has {}; use a tuple or a struct",
                params.len()
            ))),
        }
    }

    fn visit_params<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_seq(ParamValues {
            iter: self.params.iter(),
        })
    }

    fn check_len(&self, len: usize) -> Result<(), PathError> {
        if len == self.params.len() {
            Ok(())
        } else {
            Err(de::Error::custom(format!(
                "a tuple of {len} reads {len} topic parameters, and the filter has {}",
                self.params.len()
            )))
        }
    }
}

macro_rules! forward_to_single {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
                self.single()?.$method(visitor)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for PathDeserializer<'de> {
    type Error = PathError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        if self.params.len() == 1 {
            self.single()?.deserialize_any(visitor)
        } else {
            self.deserialize_map(visitor)
        }
    }

    forward_to_single! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_identifier
    }

    /// With one parameter, `None` when its level is empty.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        if self.params.len() == 1 {
            self.single()?.deserialize_option(visitor)
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        visitor.visit_newtype_struct(self)
    }

    /// The values in order; with one parameter, the levels of its value
    /// (`Path<Vec<String>>` for `files/{path:#}`).
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        if self.params.len() == 1 {
            return self.single()?.deserialize_seq(visitor);
        }
        self.visit_params(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        self.check_len(len)?;
        self.visit_params(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        self.check_len(len)?;
        self.visit_params(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_map(ParamMap {
            iter: self.params.iter(),
            value: None,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        self.single()?.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_unit()
    }
}

/// The values of the parameters, in order (a tuple).
struct ParamValues<'de> {
    iter: std::slice::Iter<'de, (&'de str, &'de str)>,
}

impl<'de> de::SeqAccess<'de> for ParamValues<'de> {
    type Error = PathError;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, PathError> {
        match self.iter.next() {
            Some((name, value)) => seed
                .deserialize(ValueDeserializer { name, value })
                .map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// The parameters by name (a struct or a map).
struct ParamMap<'de> {
    iter: std::slice::Iter<'de, (&'de str, &'de str)>,
    value: Option<(&'de str, &'de str)>,
}

impl<'de> de::MapAccess<'de> for ParamMap<'de> {
    type Error = PathError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, PathError> {
        match self.iter.next() {
            Some(&(name, value)) => {
                self.value = Some((name, value));
                seed.deserialize(BorrowedStrDeserializer::new(name))
                    .map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, PathError> {
        match self.value.take() {
            Some((name, value)) => seed.deserialize(ValueDeserializer { name, value }),
            None => Err(de::Error::custom("a value was asked for before its name")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// One parameter's value (one level, or `a/b/c` for `{name:#}`).
struct ValueDeserializer<'de> {
    name: &'de str,
    value: &'de str,
}

impl<'de> ValueDeserializer<'de> {
    fn parse<T: FromStr>(&self, what: &str) -> Result<T, PathError>
    where
        T::Err: fmt::Display,
    {
        self.value.parse().map_err(|e: T::Err| {
            PathError::complete(format!(
                "topic parameter `{}` is `{}`, which is not {what} ({})",
                self.name,
                truncate(self.value),
                truncate(&e.to_string())
            ))
        })
    }

    fn not_one_value(&self, what: &str) -> PathError {
        PathError::complete(format!(
            "topic parameter `{}` is one value (`{}`), not {what}",
            self.name,
            truncate(self.value)
        ))
    }
}

macro_rules! parse_value {
    ($($method:ident => $visit:ident: $ty:ty, $what:literal;)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
                visitor.$visit(self.parse::<$ty>($what)?)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for ValueDeserializer<'de> {
    type Error = PathError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_borrowed_str(self.value)
    }

    parse_value! {
        deserialize_bool => visit_bool: bool, "`true` or `false`";
        deserialize_i8 => visit_i8: i8, "a valid i8";
        deserialize_i16 => visit_i16: i16, "a valid i16";
        deserialize_i32 => visit_i32: i32, "a valid i32";
        deserialize_i64 => visit_i64: i64, "a valid i64";
        deserialize_i128 => visit_i128: i128, "a valid i128";
        deserialize_u8 => visit_u8: u8, "a valid u8";
        deserialize_u16 => visit_u16: u16, "a valid u16";
        deserialize_u32 => visit_u32: u32, "a valid u32";
        deserialize_u64 => visit_u64: u64, "a valid u64";
        deserialize_u128 => visit_u128: u128, "a valid u128";
        deserialize_f32 => visit_f32: f32, "a valid f32";
        deserialize_f64 => visit_f64: f64, "a valid f64";
        deserialize_char => visit_char: char, "a single character";
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_borrowed_str(self.value)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_borrowed_str(self.value)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_borrowed_str(self.value)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_borrowed_bytes(self.value.as_bytes())
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_borrowed_bytes(self.value.as_bytes())
    }

    /// An empty level is `None`.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        if self.value.is_empty() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        visitor.visit_newtype_struct(self)
    }

    /// The levels of a `{name:#}` value: `a/b` is `["a", "b"]`, the empty value `[]`.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_seq(Levels {
            name: self.name,
            iter: (!self.value.is_empty()).then(|| self.value.split('/')),
        })
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, PathError> {
        Err(self.not_one_value("a map"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, PathError> {
        Err(self.not_one_value(&format!("a `{name}`")))
    }

    /// Unit variants by name.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        let (name, value) = (self.name, self.value);
        let access: de::value::StrDeserializer<'_, PathError> = value.into_deserializer();
        visitor.visit_enum(access).map_err(|e| {
            if e.complete {
                e
            } else {
                PathError::complete(format!(
                    "topic parameter `{name}` is `{}`: {}",
                    truncate(value),
                    truncate(&e.message)
                ))
            }
        })
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        visitor.visit_unit()
    }
}

/// The levels of one `{name:#}` value.
struct Levels<'de> {
    name: &'de str,
    iter: Option<std::str::Split<'de, char>>,
}

impl<'de> de::SeqAccess<'de> for Levels<'de> {
    type Error = PathError;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, PathError> {
        match self.iter.as_mut().and_then(Iterator::next) {
            Some(value) => seed
                .deserialize(ValueDeserializer {
                    name: self.name,
                    value,
                })
                .map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::de::DeserializeOwned;
    use serde::Deserialize;

    use super::*;

    fn read<T: DeserializeOwned>(params: &[(&str, &str)]) -> Result<T, String> {
        T::deserialize(PathDeserializer::new(params)).map_err(|e| e.describe::<T>(params))
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Sensor {
        site: String,
        sensor_id: u32,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Temperature,
        Humidity,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Id(u32);

    #[test]
    fn single_values() {
        let p = [("id", "7")];
        assert_eq!(read::<u32>(&p), Ok(7));
        assert_eq!(read::<i8>(&[("n", "-3")]), Ok(-3));
        assert_eq!(read::<f64>(&[("x", "2.5")]), Ok(2.5));
        assert_eq!(read::<bool>(&[("on", "true")]), Ok(true));
        assert_eq!(read::<char>(&[("c", "é")]), Ok('é'));
        assert_eq!(read::<String>(&p), Ok("7".to_owned()));
        assert_eq!(read::<Id>(&p), Ok(Id(7)));
        assert_eq!(read::<Option<u32>>(&p), Ok(Some(7)));
        assert_eq!(read::<Option<u32>>(&[("id", "")]), Ok(None));
        assert_eq!(read::<Kind>(&[("kind", "humidity")]), Ok(Kind::Humidity));
        assert_eq!(read::<(u32,)>(&p), Ok((7,)));
    }

    #[test]
    fn tuples_structs_maps() {
        let p = [("site", "north"), ("sensor_id", "42")];
        assert_eq!(read::<(String, u32)>(&p), Ok(("north".to_owned(), 42)));
        assert_eq!(
            read::<Sensor>(&p),
            Ok(Sensor {
                site: "north".into(),
                sensor_id: 42
            })
        );
        let map = read::<BTreeMap<String, String>>(&p).unwrap();
        assert_eq!(map["sensor_id"], "42");
        assert_eq!(
            read::<Vec<String>>(&p),
            Ok(vec!["north".into(), "42".into()])
        );
        assert_eq!(
            read::<Option<(String, u32)>>(&p),
            Ok(Some(("north".into(), 42)))
        );
    }

    #[test]
    fn rest_levels() {
        let p = [("id", "3"), ("rest", "a/b/c")];
        assert_eq!(read::<(u32, String)>(&p), Ok((3, "a/b/c".to_owned())));
        assert_eq!(
            read::<(u32, Vec<String>)>(&p),
            Ok((3, vec!["a".into(), "b".into(), "c".into()]))
        );
        assert_eq!(
            read::<(u32, Vec<String>)>(&[("id", "3"), ("rest", "")]),
            Ok((3, vec![]))
        );
        assert_eq!(read::<Vec<u8>>(&[("rest", "1/2")]), Ok(vec![1, 2]));
    }

    #[test]
    fn rejections() {
        let cases: Vec<(Result<(), String>, &str)> = vec![
            (
                read::<u32>(&[("sensor_id", "abc")]).map(drop),
                "topic parameter `sensor_id` is `abc`, which is not a valid u32 (invalid digit found in string)",
            ),
            (
                read::<u8>(&[("n", "300")]).map(drop),
                "topic parameter `n` is `300`, which is not a valid u8 (number too large to fit in target type)",
            ),
            (
                read::<bool>(&[("on", "yes")]).map(drop),
                "topic parameter `on` is `yes`, which is not `true` or `false` (provided string was not `true` or `false`)",
            ),
            (
                read::<(String, u32)>(&[("site", "n"), ("sensor_id", "x")]).map(drop),
                "topic parameter `sensor_id` is `x`, which is not a valid u32 (invalid digit found in string)",
            ),
            (
                read::<u32>(&[("a", "1"), ("b", "2")]).map(drop),
                "cannot read `u32` from the topic parameters (a = `1`, b = `2`): one value reads one topic parameter, and the filter has 2; use a tuple or a struct",
            ),
            (
                read::<(u32, u32, u32)>(&[("a", "1"), ("b", "2")]).map(drop),
                "cannot read `(u32, u32, u32)` from the topic parameters (a = `1`, b = `2`): a tuple of 3 reads 3 topic parameters, and the filter has 2",
            ),
            (
                read::<Sensor>(&[("site", "n"), ("id", "2")]).map(drop),
                "cannot read `flask_mqtt_core::extract::path_de::tests::Sensor` from the topic parameters (site = `n`, id = `2`): missing field `sensor_id`",
            ),
            (
                read::<Kind>(&[("kind", "pressure")]).map(drop),
                "topic parameter `kind` is `pressure`: unknown variant `pressure`, expected `temperature` or `humidity`",
            ),
            (
                read::<(Sensor,)>(&[("s", "x")]).map(drop),
                "topic parameter `s` is one value (`x`), not a `Sensor`",
            ),
        ];
        for (got, expected) in cases {
            assert_eq!(got, Err(expected.to_owned()));
        }
    }

    /// A parameter comes from a received topic (up to 65,535 bytes, control characters
    /// allowed): every rejection quoting it stays short and shows a control character
    /// escaped, never raw (a line break would forge a log line).
    #[test]
    fn rejections_quote_values_escaped_and_cut() {
        let long = "9".repeat(70_000);
        let forged = "\u{1b}[2J\nERROR forged";
        for value in [long.as_str(), forged] {
            let texts = [
                read::<u8>(&[("n", value)]).map(drop),
                read::<Kind>(&[("kind", value)]).map(drop),
                read::<(Sensor,)>(&[("s", value)]).map(drop),
                read::<u32>(&[("a", value), ("b", value)]).map(drop),
                read::<Sensor>(&[("site", value), ("id", value)]).map(drop),
            ];
            for text in texts {
                let Err(text) = text else {
                    panic!("{value:.20}: read");
                };
                assert!(text.len() < 800, "{} bytes: {text:.300}", text.len());
                assert!(
                    !text.contains('\u{1b}') && !text.contains('\n'),
                    "a raw control character: {text:?}"
                );
            }
        }
        assert_eq!(
            read::<u8>(&[("n", forged)]).map(drop),
            Err("topic parameter `n` is `\\u{1b}[2J\\u{a}ERROR forged`, which is not a valid u8 (invalid digit found in string)".to_owned())
        );
    }
}
