//! Small synchronisation helpers shared by the crate's modules.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, ignoring poisoning.
///
/// Every critical section in this crate is a single insert, remove, push, take or clone:
/// a panic while one of these locks is held cannot leave the data inconsistent, so a
/// poisoned lock is used as it is.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
