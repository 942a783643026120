//! [`Path<T>`]: the named levels of the topic, typed (like actix-web's `web::Path`).

use std::ops::{Deref, DerefMut};

use serde::de::DeserializeOwned;

use super::context::{EventContext, WrongEvent};
use super::path_de::{PathDeserializer, PathError};
use super::{FromEvent, OptionalFromEvent, MESSAGE_ONLY};
use crate::event::HandlerKinds;

/// The named levels of the topic, `{name}` in the handler's filter, deserialized into `T`:
///
/// - one value for one parameter: `Path<u32>`, `Path<String>`, any type serde reads from
///   a string or a number;
/// - a tuple, one element per parameter in filter order: `Path<(String, u32)>`;
/// - a struct (or map) by parameter name: `Path<Sensor>` with `#[derive(Deserialize)]`.
///
/// `{name:#}` (the remaining levels, last) is the levels joined by `/`, or a `Vec` of
/// levels. An empty level is `None` for an `Option`.
///
/// ```
/// # use flask_mqtt_core as mqtt;
/// #[mqtt::on_message("sensors/{sensor_id}/temperature")]
/// async fn temperature(mqtt::Path(sensor_id): mqtt::Path<u32>, text: mqtt::Text) {
///     println!("sensor {sensor_id}: {}", text.as_str());
/// }
///
/// #[mqtt::on_message("sites/{site}/sensors/{sensor_id}/{rest:#}")]
/// fn any(mqtt::Path((site, sensor_id, rest)): mqtt::Path<(String, u32, Vec<String>)>) {}
///
/// #[derive(serde::Deserialize)]
/// struct Sensor {
///     site: String,
///     sensor_id: u32,
/// }
///
/// #[mqtt::on_message("sites/{site}/sensors/{sensor_id}/state")]
/// fn state(sensor: mqtt::Path<Sensor>) {
///     println!("{}/{}", sensor.site, sensor.sensor_id);
/// }
/// ```
///
/// A `Path` in a handler whose filter names no level, or a tuple whose length is not the
/// number of parameters, is a compile error on the argument. A level that is not a `T`
/// (`abc` for a `u32`) is a [`PathRejection`]: the handler is not called and a warning
/// says which parameter, which value and why.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Path<T>(pub T);

impl<T> Path<T> {
    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Path<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Path<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// Why [`Path<T>`] was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathRejection {
    /// The handler does not receive messages.
    #[error(transparent)]
    WrongEvent(#[from] WrongEvent),
    /// The handler's filter names no level (only possible when the macro could not
    /// see the `Path`, e.g. behind a type alias).
    #[error("`Path` needs named levels in the handler's filter, like `sensors/{{sensor_id}}/temperature`")]
    NoParameters,
    /// A level could not be read as the requested type.
    #[error("{0}")]
    Invalid(String),
}

impl<T: DeserializeOwned> FromEvent for Path<T> {
    type Rejection = PathRejection;
    const AVAILABLE_IN: HandlerKinds = MESSAGE_ONLY;

    fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        ctx.require_message("Path")?;
        let params = ctx.path_params().ok_or(PathRejection::NoParameters)?;
        T::deserialize(PathDeserializer::new(&params))
            .map(Path)
            .map_err(|e: PathError| PathRejection::Invalid(e.describe::<T>(&params)))
    }
}

/// `None` in handlers of other events; a level that is not a `T` is still a rejection.
impl<T: DeserializeOwned> OptionalFromEvent for Path<T> {
    type Rejection = PathRejection;
    const AVAILABLE_IN: HandlerKinds = MESSAGE_ONLY;

    fn from_event_optional(ctx: &EventContext) -> Result<Option<Self>, Self::Rejection> {
        if ctx.message().is_none() {
            return Ok(None);
        }
        <Self as FromEvent>::from_event(ctx).map(Some)
    }
}
