//! [`States`]: the application state a client's handlers read (`State<T>`, and
//! `web::Data<T>` with the `actix` feature), one value per type.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::sync::lock;

type Value = Arc<dyn Any + Send + Sync>;

/// One value per type, in two tiers: the client's own (`Mqtt::insert_state`) over the
/// one shared with every client of a web app (flask-mqtt-actix's `manage`).
///
/// A list, not a hash map: an app shares a handful of types, and every handler call
/// with a `State<T>` argument looks one up (hashing a `TypeId` with SipHash cost about
/// 100 instructions per call more than scanning a short list; callgrind, bench
/// child-framework).
///
/// Lookups are served from a per-thread cache of what they found, checked against a
/// version every change bumps: a handler call with a `State<T>` argument takes no lock,
/// only the value's reference count (the lock, the scan and the count cost ~87
/// instructions and three atomic read-modify-writes per call; BENCHMARKS.md). The cache
/// keeps `Weak`s, so it never keeps a replaced value alive, and at most
/// [`CACHED`] entries per thread.
pub(crate) struct States {
    /// Tells this set's entries in a thread's cache from other clients'.
    id: u64,
    /// Bumped by every change, under the lock.
    version: AtomicU64,
    all: Mutex<Vec<(TypeId, Slot)>>,
}

#[derive(Default)]
struct Slot {
    own: Option<Value>,
    shared: Option<Value>,
}

/// Lookups a thread keeps (clients × state types its handlers ask for).
const CACHED: usize = 32;

/// A lookup as of a version of a set of states: the value found, or `None` for none.
struct Cached {
    states: u64,
    version: u64,
    type_id: TypeId,
    value: Option<Weak<dyn Any + Send + Sync>>,
}

thread_local! {
    static CACHE: RefCell<Vec<Cached>> = const { RefCell::new(Vec::new()) };
}

impl Default for States {
    fn default() -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        States {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            version: AtomicU64::new(0),
            all: Mutex::default(),
        }
    }
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
        let mut all = lock(&self.all);
        match all.iter_mut().find(|(t, _)| *t == id) {
            Some((_, slot)) => f(slot),
            None => {
                let mut slot = Slot::default();
                f(&mut slot);
                all.push((id, slot));
            }
        }
        self.version.fetch_add(1, Ordering::Release);
    }

    /// The value for `T`: the client's own, else the shared one.
    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let id = TypeId::of::<T>();
        let any = match self.cached(id) {
            Some(found) => found?,
            None => self.look_up(id)?,
        };
        any.downcast::<T>().ok()
    }

    /// What this thread's cache knows of `type_id` at the current version: `None` when
    /// it does not know (or the value it found is gone), `Some(None)` for no value.
    fn cached(&self, type_id: TypeId) -> Option<Option<Value>> {
        let version = self.version.load(Ordering::Acquire);
        CACHE
            .try_with(|cache| {
                let cache = cache.try_borrow().ok()?;
                let entry = cache
                    .iter()
                    .find(|c| c.states == self.id && c.type_id == type_id)?;
                if entry.version != version {
                    return None;
                }
                match &entry.value {
                    None => Some(None),
                    Some(weak) => weak.upgrade().map(Some),
                }
            })
            .ok()
            .flatten()
    }

    /// Looks `type_id` up under the lock, and keeps what it found in this thread's cache.
    fn look_up(&self, type_id: TypeId) -> Option<Value> {
        let (value, version) = {
            let all = lock(&self.all);
            let value = all
                .iter()
                .find(|(t, _)| *t == type_id)
                .and_then(|(_, slot)| slot.own.as_ref().or(slot.shared.as_ref()))
                .cloned();
            (value, self.version.load(Ordering::Relaxed))
        };
        let entry = Cached {
            states: self.id,
            version,
            type_id,
            value: value.as_ref().map(Arc::downgrade),
        };
        // A thread being torn down, or a lookup from inside a value's drop while the
        // cache is borrowed: no caching, the answer stands.
        let _ = CACHE.try_with(|cache| {
            let Ok(mut cache) = cache.try_borrow_mut() else {
                return;
            };
            match cache
                .iter_mut()
                .find(|c| c.states == self.id && c.type_id == type_id)
            {
                Some(old) => *old = entry,
                None => {
                    if cache.len() >= CACHED {
                        cache.remove(0);
                    }
                    cache.push(entry);
                }
            }
        });
        value
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

    /// The per-thread cache answers only for the set and version it looked up: another
    /// client's states, a change, and a value replaced elsewhere are all seen.
    #[test]
    fn cached_lookups_follow_changes_and_other_sets() {
        let a = States::default();
        let b = States::default();
        a.insert_shared(Arc::new(1u32));
        assert_eq!(a.get::<u32>().as_deref(), Some(&1));
        assert!(b.get::<u32>().is_none(), "another set: not a's value");
        assert_eq!(a.get::<u32>().as_deref(), Some(&1), "cached, the same");
        b.insert_own(Arc::new(9u32));
        assert_eq!(b.get::<u32>().as_deref(), Some(&9), "a change is seen");
        // Changed from another thread: the version tells this thread's cache.
        std::thread::scope(|s| {
            s.spawn(|| a.insert_own(Arc::new(2u32)));
        });
        assert_eq!(a.get::<u32>().as_deref(), Some(&2));
        // The cache keeps no replaced value alive.
        let old = Arc::new(5u64);
        a.insert_own(Arc::clone(&old));
        assert_eq!(a.get::<u64>().as_deref(), Some(&5));
        a.insert_own(Arc::new(6u64));
        assert_eq!(Arc::strong_count(&old), 1, "only the test holds the old value");
        assert_eq!(a.get::<u64>().as_deref(), Some(&6));
    }

    /// More sets than the cache keeps: every lookup still answers right.
    #[test]
    fn more_sets_than_the_cache_keeps() {
        let sets: Vec<States> = (0..CACHED * 2).map(|_| States::default()).collect();
        for (n, set) in sets.iter().enumerate() {
            set.insert_own(Arc::new(n));
        }
        for _ in 0..2 {
            for (n, set) in sets.iter().enumerate() {
                assert_eq!(set.get::<usize>().as_deref(), Some(&n));
            }
        }
    }
}
