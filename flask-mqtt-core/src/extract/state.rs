//! Shared application state: [`State<T>`], and actix-web's `web::Data<T>` with the
//! `actix` feature, both reading what [`Mqtt::insert_state`](crate::Mqtt::insert_state)
//! registered for `T`.

use std::convert::Infallible;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use super::context::EventContext;
use super::{FromEvent, OptionalFromEvent};

/// Application state shared with handlers: the value registered for `T` with
/// [`Mqtt::insert_state`](crate::Mqtt::insert_state) (with `flask-mqtt-actix`, or with
/// its `manage(web::Data<T>)`: the same `Arc` HTTP handlers get as `web::Data<T>`). Cheap to clone; derefs to `T`. Use
/// interior mutability (`Mutex`, atomics) to change it.
///
/// ```
/// # use flask_mqtt_core as mqtt;
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// #[derive(Default)]
/// struct Counters {
///     readings: AtomicU64,
/// }
///
/// #[mqtt::on_message("sensors/#")]
/// fn count(counters: mqtt::State<Counters>) {
///     counters.readings.fetch_add(1, Ordering::Relaxed);
/// }
///
/// # fn setup(client: mqtt::Mqtt) {
/// client.insert_state(std::sync::Arc::new(Counters::default()));
/// # }
/// ```
pub struct State<T: ?Sized>(pub Arc<T>);

impl<T: ?Sized> State<T> {
    /// The shared `Arc`.
    pub fn into_inner(self) -> Arc<T> {
        self.0
    }
}

impl<T: ?Sized> Clone for State<T> {
    fn clone(&self) -> Self {
        State(Arc::clone(&self.0))
    }
}

impl<T: ?Sized> Deref for State<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for State<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("State").field(&&*self.0).finish()
    }
}

/// No state of the requested type was registered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no shared state of type `{type_name}`: register one at startup with `client.insert_state(Arc::new(value))`, before messages arrive (in an actix app: `App::new().configure(mqtt::manage(data.clone()))` with the same `web::Data` HTTP handlers use)")]
pub struct MissingState {
    type_name: &'static str,
}

impl MissingState {
    /// The missing type, as `std::any::type_name` spells it.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }
}

fn shared<T: Send + Sync + 'static>(ctx: &EventContext) -> Result<Arc<T>, MissingState> {
    ctx.client().state::<T>().ok_or(MissingState {
        type_name: std::any::type_name::<T>(),
    })
}

impl<T: Send + Sync + 'static> FromEvent for State<T> {
    type Rejection = MissingState;

    fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        shared::<T>(ctx).map(State)
    }
}

/// `None` when no state of type `T` is registered.
impl<T: Send + Sync + 'static> OptionalFromEvent for State<T> {
    type Rejection = Infallible;

    fn from_event_optional(ctx: &EventContext) -> Result<Option<Self>, Self::Rejection> {
        Ok(shared::<T>(ctx).ok().map(State))
    }
}

/// `web::Data<T>` in MQTT handlers, as in HTTP handlers: the state registered for `T`.
#[cfg(feature = "actix")]
impl<T: Send + Sync + 'static> FromEvent for actix_web::web::Data<T> {
    type Rejection = MissingState;

    fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        shared::<T>(ctx).map(actix_web::web::Data::from)
    }
}

/// `None` when no state of type `T` is registered.
#[cfg(feature = "actix")]
impl<T: Send + Sync + 'static> OptionalFromEvent for actix_web::web::Data<T> {
    type Rejection = Infallible;

    fn from_event_optional(ctx: &EventContext) -> Result<Option<Self>, Self::Rejection> {
        Ok(shared::<T>(ctx).ok().map(actix_web::web::Data::from))
    }
}
