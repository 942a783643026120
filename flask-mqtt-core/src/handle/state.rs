//! [`States`]: the application state a client's handlers read (`State<T>`, and
//! `web::Data<T>` with the `actix` feature), one value per type.
//!
//! Every handler call with a `State<T>` argument looks its value up, so a lookup on a
//! thread that has made it before is served from a small per-thread cache: one acquire
//! load, a short scan, and the `Arc` clone the caller gets (one locked instruction). A
//! miss takes the lock: its lock and unlock, the caller's clone and the cache's (four
//! locked instructions, and a decrement for each value the cache lets go).
//! Any insert, in any `States`, and the drop of any `States` advance a process-wide
//! epoch; a thread's cache is only used while its epoch is the current one, and is
//! emptied at that thread's next lookup after that, so a replaced or dropped value is
//! never answered. It may still be kept alive by a thread's cache until that thread's
//! next state lookup or its exit (a `States`' drop empties the dropping thread's cache
//! at once, not the others'). An insert therefore empties every thread's cache once:
//! state is meant to be inserted at start-up, not per message.

use std::any::{Any, TypeId};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::sync::lock;

type Value = Arc<dyn Any + Send + Sync>;

/// One value per type, in two tiers: the client's own (`Mqtt::insert_state`) over the
/// one shared with every client of a web app (flask-mqtt-actix's `manage`).
///
/// A list, not a hash map: an app shares a handful of types, and a lookup the thread's
/// cache does not answer scans it under the lock (hashing a `TypeId` with SipHash cost
/// about 100 instructions per call more than scanning a short list; callgrind, bench
/// child-framework).
pub(crate) struct States {
    /// This `States`' key in the per-thread caches: unique in the process (a counter,
    /// not an address, which a later `States` could reuse).
    id: u64,
    slots: Mutex<Vec<(TypeId, Slot)>>,
}

#[derive(Default)]
struct Slot {
    own: Option<Value>,
    shared: Option<Value>,
}

/// The source of `States::id`; 0 is never handed out (it marks an empty cache entry).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Advanced by every insert (under that `States`' lock, after the change) and by every
/// `States`' drop: a per-thread cache filled at another epoch is stale.
static EPOCH: AtomicU64 = AtomicU64::new(0);

impl Default for States {
    fn default() -> Self {
        States {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            slots: Mutex::default(),
        }
    }
}

impl Drop for States {
    fn drop(&mut self) {
        // Lets every thread's cache release this `States`' values at its next lookup.
        EPOCH.fetch_add(1, Ordering::Release);
        // This thread's cache releases them now: it may never look state up again.
        let evicted = CACHE.try_with(Cache::flush).ok();
        // Dropped with no cache cell in the middle of a change: a value's drop may look
        // state up itself.
        drop(evicted);
    }
}

impl States {
    /// Sets the client's own value for `T`.
    pub(crate) fn insert_own<T: Send + Sync + 'static>(&self, value: Arc<T>) {
        self.edit(|slot| &mut slot.own, value);
    }

    /// Sets the value shared with every client for `T`; the client's own one, if any,
    /// still comes first.
    #[cfg(any(feature = "actix", test))]
    pub(crate) fn insert_shared<T: Send + Sync + 'static>(&self, value: Arc<T>) {
        self.edit(|slot| &mut slot.shared, value);
    }

    /// The only writer of the list: under `TypeId::of::<T>()` it stores `value`, an
    /// `Arc<T>`, and nothing else, which `cast` relies on. `field` picks the tier.
    ///
    /// The value replaced is dropped last, after the lock is released and the epoch
    /// advanced: its drop may look this `States` up (under the lock it would wait for
    /// itself) or panic (under the lock it would poison it and skip the increment).
    fn edit<T: Send + Sync + 'static>(
        &self,
        field: impl FnOnce(&mut Slot) -> &mut Option<Value>,
        value: Arc<T>,
    ) {
        let id = TypeId::of::<T>();
        let replaced = {
            let mut all = lock(&self.slots);
            let replaced = match all.iter_mut().find(|(t, _)| *t == id) {
                Some((_, slot)) => field(slot).replace(value),
                None => {
                    let mut slot = Slot::default();
                    *field(&mut slot) = Some(value);
                    all.push((id, slot));
                    None
                }
            };
            // Under the lock, after the change: a lookup that read the epoch before this
            // read the list before the change too, or is stale by this increment.
            EPOCH.fetch_add(1, Ordering::Release);
            replaced
        };
        drop(replaced);
    }

    /// The value for `T`: the client's own, else the shared one.
    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let type_id = TypeId::of::<T>();
        // `try_with` fails only while the thread's locals are being destroyed.
        let cached = CACHE
            .try_with(|cache| cache.find(self.id, type_id))
            .ok()
            .flatten();
        let value = match cached {
            Some(value) => value,
            None => self.get_locked(type_id)?,
        };
        Some(cast::<T>(value))
    }

    /// The lookup under the lock, whose answer this thread's cache keeps.
    #[cold]
    #[inline(never)]
    fn get_locked(&self, type_id: TypeId) -> Option<Value> {
        // Read before the list: a change after this read makes the entry stale.
        let epoch = EPOCH.load(Ordering::Acquire);
        let value = {
            let all = lock(&self.slots);
            all.iter()
                .find(|(t, _)| *t == type_id)
                .and_then(|(_, slot)| slot.own.as_ref().or(slot.shared.as_ref()))
                .cloned()
        };
        let evicted = CACHE
            .try_with(|cache| cache.store(epoch, self.id, type_id, value.clone()))
            .ok();
        // Dropped here, with no cache cell in the middle of a change: a value's drop may
        // look state up itself.
        drop(evicted);
        value
    }
}

/// `value` as the `Arc<T>` it was made from, without `downcast`'s virtual `type_id`
/// call (about 25 instructions of a lookup's ~80; callgrind, bench child-framework).
#[allow(unsafe_code)]
fn cast<T: Send + Sync + 'static>(value: Value) -> Arc<T> {
    debug_assert!(value.is::<T>());
    // SAFETY: `value` was found under `TypeId::of::<T>()`, in the list or in a cache
    // entry copied from it with its key, and `States::edit::<T>`, the list's only writer,
    // stores under that key only `Arc<T>`s unsized to `Arc<dyn Any + Send + Sync>`.
    // `Arc::from_raw` allows exactly this: a pointer from `Arc<U>::into_raw` where the
    // `Arc<U>` was made from an `Arc<T>` by an unsized coercion (the data pointer, its
    // metadata dropped by `cast`, is the `T`'s).
    unsafe { Arc::from_raw(Arc::into_raw(value).cast::<T>()) }
}

/// Entries per thread: a handler's arguments name a few types, and an app has a few
/// clients; the oldest entry makes room for a new one. A thread that cycles through
/// more (`States`, type) pairs than this never hits, and each miss costs more than a
/// lookup without the cache (two clients of three types each already need 6). A hit on
/// an early entry costs the same whatever the number (`find` scans from the first).
const CACHE_ENTRIES: usize = 8;

thread_local! {
    static CACHE: Cache = Cache::new();
}

/// A thread's recent lookups: (`States` id, type) -> value, valid at `epoch`. Cells, not
/// a `RefCell`: nothing here can fail to borrow, whatever a value's drop does.
struct Cache {
    epoch: Cell<u64>,
    next: Cell<usize>,
    entries: [Entry; CACHE_ENTRIES],
}

struct Entry {
    /// 0: empty.
    states: Cell<u64>,
    type_id: Cell<TypeId>,
    value: Cell<Option<Value>>,
}

/// What a `Cache::store` took out of the cache, to be dropped after it.
type Evicted = [Option<Value>; CACHE_ENTRIES];

impl Cache {
    fn new() -> Self {
        Cache {
            // `EPOCH` never goes back to it: the first lookup stores.
            epoch: Cell::new(u64::MAX),
            next: Cell::new(0),
            entries: std::array::from_fn(|_| Entry {
                states: Cell::new(0),
                type_id: Cell::new(TypeId::of::<()>()),
                value: Cell::new(None),
            }),
        }
    }

    /// The value stored for (`states`, `type_id`), if the cache is current.
    #[inline]
    fn find(&self, states: u64, type_id: TypeId) -> Option<Value> {
        if self.epoch.get() != EPOCH.load(Ordering::Acquire) {
            return None;
        }
        let entry = self
            .entries
            .iter()
            .find(|e| e.states.get() == states && e.type_id.get() == type_id)?;
        let value = entry.value.take()?;
        let answer = Arc::clone(&value);
        entry.value.set(Some(value));
        Some(answer)
    }

    /// Empties the cache; returns what it held. Its epoch is left as it was: the
    /// next `store` sets one.
    fn flush(&self) -> Evicted {
        let mut evicted: Evicted = Default::default();
        for (entry, out) in self.entries.iter().zip(evicted.iter_mut()) {
            entry.states.set(0);
            *out = entry.value.take();
        }
        self.next.set(0);
        evicted
    }

    /// Empties the cache if it is of an earlier epoch than `epoch`, then stores `value`
    /// (read at `epoch`) if there is one; returns what it took out.
    fn store(&self, epoch: u64, states: u64, type_id: TypeId, value: Option<Value>) -> Evicted {
        let mut evicted: Evicted = Default::default();
        if self.epoch.get() != epoch {
            evicted = self.flush();
            self.epoch.set(epoch);
        }
        let Some(value) = value else {
            return evicted;
        };
        let i = self.next.get() % CACHE_ENTRIES;
        self.next.set(i + 1);
        if let (Some(entry), Some(out)) = (self.entries.get(i), evicted.get_mut(i)) {
            // After a flush `out` holds the flushed value and the entry is empty.
            let old = entry.value.replace(Some(value));
            if old.is_some() {
                *out = old;
            }
            entry.states.set(states);
            entry.type_id.set(type_id);
        }
        evicted
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    use super::*;

    /// How long a test thread waits for the other's step.
    const STEP: Duration = Duration::from_secs(10);

    /// This thread's cache's (epoch, next slot): every store, which a lookup the cache
    /// misses makes, changes one of them; a hit changes neither.
    fn cache_marker() -> (u64, usize) {
        CACHE.with(|c| (c.epoch.get(), c.next.get()))
    }

    /// Whether, in one of 1,000 attempts on this thread, `lookups` run a second time in a
    /// row was served by the cache alone: other tests advance the process-wide epoch
    /// meanwhile, which empties every cache, hence the attempts.
    fn served_by_cache(lookups: impl Fn()) -> bool {
        (0..1_000).any(|_| {
            lookups();
            let before = cache_marker();
            lookups();
            cache_marker() == before
        })
    }

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

    #[test]
    fn the_own_value_still_comes_first_after_the_shared_one_was_cached() {
        let states = States::default();
        states.insert_shared(Arc::new(1u32));
        assert_eq!(states.get::<u32>().as_deref(), Some(&1));
        assert_eq!(states.get::<u32>().as_deref(), Some(&1));
        states.insert_own(Arc::new(2u32));
        assert_eq!(states.get::<u32>().as_deref(), Some(&2));
        states.insert_shared(Arc::new(3u32));
        assert_eq!(states.get::<u32>().as_deref(), Some(&2));
        assert_eq!(states.get::<u32>().as_deref(), Some(&2));
    }

    #[test]
    fn a_replacement_is_seen_by_the_next_lookup_here_and_on_a_thread_that_cached_the_old_value() {
        let states = Arc::new(States::default());
        states.insert_own(Arc::new(1u32));
        assert_eq!(states.get::<u32>().as_deref(), Some(&1));

        let (cached_tx, cached_rx) = mpsc::channel();
        let (replaced_tx, replaced_rx) = mpsc::channel::<()>();
        let other = thread::spawn({
            let states = Arc::clone(&states);
            move || {
                let before = (states.get::<u32>(), states.get::<u32>());
                let _ = cached_tx.send(());
                replaced_rx
                    .recv_timeout(STEP)
                    .expect("the main thread's insert");
                (before, states.get::<u32>())
            }
        });
        cached_rx
            .recv_timeout(STEP)
            .expect("the other thread's lookups");
        states.insert_own(Arc::new(2u32));
        assert_eq!(states.get::<u32>().as_deref(), Some(&2));
        replaced_tx.send(()).expect("the other thread waits");
        let ((first, second), after) = other.join().expect("the other thread");
        assert_eq!((first.as_deref(), second.as_deref()), (Some(&1), Some(&1)));
        assert_eq!(after.as_deref(), Some(&2));
    }

    #[test]
    fn two_states_keep_their_values_of_one_type_apart_on_one_thread() {
        let a = States::default();
        let b = States::default();
        a.insert_own(Arc::new(1u32));
        b.insert_own(Arc::new(2u32));
        for _ in 0..3 {
            assert_eq!(a.get::<u32>().as_deref(), Some(&1));
            assert_eq!(b.get::<u32>().as_deref(), Some(&2));
        }
        let c = States::default();
        assert!(c.get::<u32>().is_none());
        assert_eq!(a.get::<u32>().as_deref(), Some(&1));
    }

    #[test]
    fn more_keys_than_the_cache_holds_are_each_answered_right() {
        let all: Vec<States> = (0..CACHE_ENTRIES as u32 * 2 + 1)
            .map(|i| {
                let states = States::default();
                states.insert_own(Arc::new(i));
                states.insert_own(Arc::new(u64::from(i) + 100));
                states
            })
            .collect();
        for _ in 0..3 {
            for (i, states) in (0u32..).zip(&all) {
                assert_eq!(states.get::<u32>().as_deref(), Some(&i));
                assert_eq!(states.get::<u64>().as_deref(), Some(&(u64::from(i) + 100)));
            }
        }
    }

    #[test]
    fn a_new_states_never_answers_with_a_dropped_ones_value() {
        for i in 0..20u32 {
            let old = States::default();
            old.insert_own(Arc::new(i));
            assert_eq!(old.get::<u32>().as_deref(), Some(&i));
            drop(old);
            // Often at the dropped one's address.
            let new = States::default();
            assert!(new.get::<u32>().is_none());
            new.insert_own(Arc::new(i + 1000));
            assert_eq!(new.get::<u32>().as_deref(), Some(&(i + 1000)));
        }
    }

    #[test]
    fn a_dropped_states_value_is_released_by_another_threads_next_lookup() {
        let value = Arc::new(7u32);
        let states = States::default();
        states.insert_own(Arc::clone(&value));
        let (cached_tx, cached_rx) = mpsc::channel();
        let (dropped_tx, dropped_rx) = mpsc::channel::<()>();
        let (looked_tx, looked_rx) = mpsc::channel();
        let states = Arc::new(states);
        let other = thread::spawn({
            let states = Arc::clone(&states);
            move || {
                let cached = states.get::<u32>().map(|v| *v);
                drop(states);
                let _ = cached_tx.send(cached);
                dropped_rx
                    .recv_timeout(STEP)
                    .expect("the main thread's drop");
                // Any lookup, even one that finds nothing, empties this thread's stale
                // cache.
                let _ = looked_tx.send(States::default().get::<u32>().is_none());
                // Held until the main thread has counted: this thread's exit would
                // release the value too.
                let _ = dropped_rx.recv_timeout(STEP);
            }
        });
        let cached = cached_rx
            .recv_timeout(STEP)
            .expect("the other thread's lookup");
        assert_eq!(cached, Some(7));
        drop(states);
        // The other thread's cache still holds it, until that thread's next lookup.
        assert_eq!(Arc::strong_count(&value), 2);
        dropped_tx.send(()).expect("the other thread waits");
        let found_none = looked_rx
            .recv_timeout(STEP)
            .expect("the other thread's lookup");
        assert!(found_none);
        assert_eq!(Arc::strong_count(&value), 1);
        drop(dropped_tx);
        other.join().expect("the other thread");
    }

    #[test]
    fn a_dropped_states_value_is_released_by_the_drop_on_the_dropping_thread() {
        let value = Arc::new(7u32);
        let states = States::default();
        states.insert_own(Arc::clone(&value));
        assert_eq!(states.get::<u32>().as_deref(), Some(&7));
        drop(states);
        // No lookup after the drop: this thread may never make one.
        assert_eq!(Arc::strong_count(&value), 1);
    }

    /// A value whose drop looks its type up in the `States` it was replaced in, and
    /// sends what it saw.
    struct LooksUpOnDrop {
        states: std::sync::Weak<States>,
        seen: mpsc::Sender<Option<u32>>,
        n: u32,
    }

    impl Drop for LooksUpOnDrop {
        fn drop(&mut self) {
            if let Some(states) = self.states.upgrade() {
                let seen = states.get::<LooksUpOnDrop>().map(|v| v.n);
                let _ = self.seen.send(seen);
            }
        }
    }

    #[test]
    fn a_replaced_values_drop_can_look_up_the_same_states_and_sees_the_new_value() {
        let states = Arc::new(States::default());
        let (seen_tx, seen_rx) = mpsc::channel();
        let value = |n| LooksUpOnDrop {
            states: Arc::downgrade(&states),
            seen: seen_tx.clone(),
            n,
        };
        states.insert_own(Arc::new(value(1)));
        let second = Arc::new(value(2));
        // On another thread: before the fix the drop waited for the lock its insert held.
        let inserter = thread::spawn({
            let states = Arc::clone(&states);
            move || states.insert_own(second)
        });
        let seen = seen_rx
            .recv_timeout(STEP)
            .expect("the replaced value's drop returns from its lookup");
        assert_eq!(seen, Some(2));
        // Only now: had the drop hung, this would too.
        inserter.join().expect("the insert");
    }

    /// A value whose drop panics if it is `armed`.
    struct PanicsOnDrop {
        armed: bool,
    }

    impl Drop for PanicsOnDrop {
        #[allow(clippy::panic)]
        fn drop(&mut self) {
            if self.armed {
                panic!("an armed value's drop panics (as the test wants)");
            }
        }
    }

    #[test]
    fn a_replaced_values_panicking_drop_runs_outside_the_lock_after_the_new_value_is_in() {
        let states = Arc::new(States::default());
        // Not looked up: a value some cache holds is not dropped by its replacement.
        states.insert_own(Arc::new(PanicsOnDrop { armed: true }));
        let replaced = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            states.insert_own(Arc::new(PanicsOnDrop { armed: false }));
        }));
        assert!(replaced.is_err(), "the drop's panic reaches the inserter");
        assert!(!states.slots.is_poisoned(), "the drop ran under the lock");
        let armed = |states: &States| states.get::<PanicsOnDrop>().map(|v| v.armed);
        assert_eq!(armed(&states), Some(false));
        assert_eq!(armed(&states), Some(false));
        let other = thread::spawn({
            let states = Arc::clone(&states);
            move || armed(&states)
        });
        assert_eq!(other.join().expect("the other thread"), Some(false));
    }

    #[test]
    fn a_repeated_lookup_is_served_by_the_cache() {
        // A fresh thread, and a `States` no other test inserts into. Other tests advance
        // the process-wide epoch meanwhile, which empties every cache: a few attempts.
        let hit = thread::spawn(|| {
            let states = States::default();
            states.insert_own(Arc::new(5u32));
            served_by_cache(|| assert_eq!(states.get::<u32>().as_deref(), Some(&5)))
        })
        .join()
        .expect("the lookups");
        assert!(
            hit,
            "none of 1,000 repeated lookups was served by the cache"
        );
    }

    #[test]
    fn a_thread_cycling_through_five_states_and_types_is_served_by_the_cache() {
        // Five (`States`, type) pairs, looked up in turn: with entries replaced oldest
        // first, a cache of four never held the next one asked for.
        let hit = thread::spawn(|| {
            let all: Vec<States> = (0..5u32)
                .map(|i| {
                    let states = States::default();
                    states.insert_own(Arc::new(i));
                    states
                })
                .collect();
            let round = || {
                for (i, states) in (0u32..).zip(&all) {
                    assert_eq!(states.get::<u32>().as_deref(), Some(&i));
                }
            };
            served_by_cache(round)
        })
        .join()
        .expect("the lookups");
        assert!(
            hit,
            "in none of 1,000 attempts was a second round served by the cache"
        );
    }
}
