//! [`States`]: the application state a client's handlers read (`State<T>`, and
//! `web::Data<T>` with the `actix` feature), one value per type.

use std::any::{Any, TypeId};
use std::sync::{Arc, Mutex};

use crate::sync::lock;

type Value = Arc<dyn Any + Send + Sync>;

/// One value per type, in two tiers: the client's own (`Mqtt::insert_state`) over the
/// one shared with every client of a web app (flask-mqtt-actix's `manage`).
///
/// A list, not a hash map: an app shares a handful of types, and every handler call
/// with a `State<T>` argument looks one up (hashing a `TypeId` with SipHash cost about
/// 100 instructions per call more than scanning a short list; callgrind, bench
/// child-framework).
#[derive(Default)]
pub(crate) struct States(Mutex<Vec<(TypeId, Slot)>>);

#[derive(Default)]
struct Slot {
    own: Option<Value>,
    shared: Option<Value>,
}

impl States {
    /// Sets the client's own value for `T`.
    pub(crate) fn insert_own<T: Send + Sync + 'static>(&self, value: Arc<T>) {
        self.edit::<T>(|slot| slot.own = Some(value));
    }

    /// Sets the value shared with every client for `T`; the client's own one, if any,
    /// still comes first.
    #[cfg(any(feature = "actix", test))]
    pub(crate) fn insert_shared<T: Send + Sync + 'static>(&self, value: Arc<T>) {
        self.edit::<T>(|slot| slot.shared = Some(value));
    }

    fn edit<T: 'static>(&self, f: impl FnOnce(&mut Slot)) {
        let id = TypeId::of::<T>();
        let mut all = lock(&self.0);
        match all.iter_mut().find(|(t, _)| *t == id) {
            Some((_, slot)) => f(slot),
            None => {
                let mut slot = Slot::default();
                f(&mut slot);
                all.push((id, slot));
            }
        }
    }

    /// The value for `T`: the client's own, else the shared one.
    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let id = TypeId::of::<T>();
        let any = {
            let all = lock(&self.0);
            let (_, slot) = all.iter().find(|(t, _)| *t == id)?;
            slot.own.as_ref().or(slot.shared.as_ref())?.clone()
        };
        any.downcast::<T>().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clients_own_value_comes_first_and_later_values_replace_earlier_ones() {
        let states = States::default();
        assert!(states.get::<u32>().is_none());
        states.insert_shared(Arc::new(1u32));
        assert_eq!(states.get::<u32>().as_deref(), Some(&1));
        states.insert_own(Arc::new(2u32));
        states.insert_shared(Arc::new(3u32));
        assert_eq!(states.get::<u32>().as_deref(), Some(&2));
        states.insert_own(Arc::new(4u32));
        assert_eq!(states.get::<u32>().as_deref(), Some(&4));
        assert!(states.get::<u64>().is_none());
    }
}
