//! Autoref specialisation: what the generated code calls to describe an argument type.
//!
//! `payload_doc!(A, schemas)` expands to `(&&&Probe::<A>::new()).describe(schemas)`.
//! Method lookup tries the receiver `&&&Probe<A>` first, which only [`DescribeSchema`]
//! has (implemented for `&&Probe<Json<T>>` where `T: JsonSchema`, with feature
//! `asyncapi`), then `&&Probe<A>` ([`DescribeKnown`]: `Json<T>` of any `T`, `Text`),
//! then `&Probe<A>` ([`DescribeOther`]: anything, nothing to say). An impl whose bounds
//! do not hold is skipped, so a `Json<T>` without `JsonSchema` compiles and is documented
//! as untyped JSON. This works because handler and publisher types are concrete where the
//! macros expand (handlers cannot be generic).

use std::marker::PhantomData;

use super::{PayloadDoc, Schemas};
use crate::extract::message::{Json, Text};

/// Stands for the type `A` being described; never holds one.
pub struct Probe<A>(PhantomData<fn() -> A>);

impl<A> Probe<A> {
    /// A probe for `A`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Probe(PhantomData)
    }
}

/// The most specific description: a JSON payload with a schema.
pub trait DescribeSchema {
    /// The payload `A` stands for.
    fn describe(&self, schemas: &mut Schemas) -> Option<PayloadDoc>;
}

/// A payload extractor whose payload has no schema: JSON of any type, text.
pub trait DescribeKnown {
    /// The payload `A` stands for.
    fn describe(&self, schemas: &mut Schemas) -> Option<PayloadDoc>;
}

/// Any other argument: says nothing about the payload.
pub trait DescribeOther {
    /// Nothing.
    fn describe(&self, schemas: &mut Schemas) -> Option<PayloadDoc>;
}

/// Describes the payload of an argument of type `$ty`: `Some` for `Json<T>`, `Text` and
/// `Option`/`Result` of those. Used by the code the macros generate.
#[doc(hidden)]
#[macro_export]
macro_rules! __payload_doc {
    ($ty:ty, $schemas:expr) => {{
        #[allow(unused_imports)]
        use $crate::__private::probe::{
            DescribeKnown as _, DescribeOther as _, DescribeSchema as _,
        };
        (&&&$crate::__private::probe::Probe::<$ty>::new()).describe($schemas)
    }};
}

#[cfg(feature = "asyncapi")]
fn typed<T: schemars::JsonSchema>(schemas: &mut Schemas) -> Option<PayloadDoc> {
    Some(PayloadDoc {
        content_type: "application/json",
        schema: Some(schemas.schema_for::<T>()),
        type_name: Some(T::schema_name().into_owned()),
    })
}

#[cfg(feature = "asyncapi")]
impl<T: schemars::JsonSchema> DescribeSchema for &&Probe<Json<T>> {
    fn describe(&self, schemas: &mut Schemas) -> Option<PayloadDoc> {
        typed::<T>(schemas)
    }
}

#[cfg(feature = "asyncapi")]
impl<T: schemars::JsonSchema> DescribeSchema for &&Probe<Option<Json<T>>> {
    fn describe(&self, schemas: &mut Schemas) -> Option<PayloadDoc> {
        typed::<T>(schemas)
    }
}

#[cfg(feature = "asyncapi")]
impl<T: schemars::JsonSchema, R> DescribeSchema for &&Probe<Result<Json<T>, R>> {
    fn describe(&self, schemas: &mut Schemas) -> Option<PayloadDoc> {
        typed::<T>(schemas)
    }
}

impl<T> DescribeKnown for &Probe<Json<T>> {
    fn describe(&self, _: &mut Schemas) -> Option<PayloadDoc> {
        Some(PayloadDoc::json_untyped(std::any::type_name::<T>()))
    }
}

impl<T> DescribeKnown for &Probe<Option<Json<T>>> {
    fn describe(&self, _: &mut Schemas) -> Option<PayloadDoc> {
        Some(PayloadDoc::json_untyped(std::any::type_name::<T>()))
    }
}

impl<T, R> DescribeKnown for &Probe<Result<Json<T>, R>> {
    fn describe(&self, _: &mut Schemas) -> Option<PayloadDoc> {
        Some(PayloadDoc::json_untyped(std::any::type_name::<T>()))
    }
}

impl DescribeKnown for &Probe<Text> {
    fn describe(&self, _: &mut Schemas) -> Option<PayloadDoc> {
        Some(PayloadDoc::text())
    }
}

impl DescribeKnown for &Probe<Option<Text>> {
    fn describe(&self, _: &mut Schemas) -> Option<PayloadDoc> {
        Some(PayloadDoc::text())
    }
}

impl<R> DescribeKnown for &Probe<Result<Text, R>> {
    fn describe(&self, _: &mut Schemas) -> Option<PayloadDoc> {
        Some(PayloadDoc::text())
    }
}

impl<A> DescribeOther for Probe<A> {
    fn describe(&self, _: &mut Schemas) -> Option<PayloadDoc> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Untyped {
        a: u8,
    }

    #[test]
    fn the_most_specific_description_wins() {
        let mut s = Schemas::new();
        let untyped = crate::__payload_doc!(Json<Untyped>, &mut s).unwrap();
        assert_eq!(untyped.content_type, "application/json");
        assert_eq!(untyped.schema, None);
        assert_eq!(untyped.type_name.as_deref(), Some("Untyped"));
        let untyped = crate::__payload_doc!(Option<Json<Untyped>>, &mut s).unwrap();
        assert_eq!(untyped.schema, None);
        assert_eq!(
            crate::__payload_doc!(Result<Text, crate::extract::message::TextRejection>, &mut s),
            Some(PayloadDoc::text())
        );
        assert_eq!(crate::__payload_doc!(Message, &mut s), None);
        assert_eq!(crate::__payload_doc!(u32, &mut s), None);
    }

    #[cfg(feature = "asyncapi")]
    #[test]
    fn a_json_schema_is_used_when_there_is_one() {
        #[derive(serde::Deserialize, schemars::JsonSchema)]
        #[allow(dead_code)]
        struct Reading {
            celsius: f64,
        }
        let mut s = Schemas::new();
        let doc = crate::__payload_doc!(Json<Reading>, &mut s).unwrap();
        assert_eq!(
            doc.schema,
            Some(serde_json::json!({ "$ref": "#/components/schemas/Reading" }))
        );
        assert_eq!(doc.type_name.as_deref(), Some("Reading"));
        let defs = s.receive.take_definitions(true);
        assert_eq!(defs["Reading"]["properties"]["celsius"]["type"], "number");
        let doc = crate::__payload_doc!(Json<Vec<u32>>, &mut s).unwrap();
        assert_eq!(doc.schema.unwrap()["type"], "array");
    }
}
