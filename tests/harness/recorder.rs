//! [`Recorder`]: a thread-safe event log for handlers to push into and tests
//! to wait on.

use std::fmt;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// A thread-safe, append-only (until [`clear`](Recorder::clear)) list of
/// events.
///
/// Handlers under test [`push`](Recorder::push) what they saw; the test
/// [`wait_for`](Recorder::wait_for)s a condition on the whole list. Waiting
/// uses a `Condvar` with a deadline, so it wakes up as soon as an event
/// arrives.
///
/// `new` is `const`, so a recorder can be a `static` that plain `fn`
/// handlers can reach:
///
/// ```
/// use std::time::Duration;
/// use flask_mqtt_tests::Recorder;
///
/// static SEEN: Recorder<String> = Recorder::new();
///
/// std::thread::spawn(|| SEEN.push("hello".to_owned()));
/// assert!(SEEN.wait_for(Duration::from_secs(5), |ev| ev.iter().any(|e| e == "hello")));
/// assert_eq!(SEEN.snapshot(), vec!["hello".to_owned()]);
/// ```
///
/// A `static` recorder is shared by every test of the binary, and tests run
/// in parallel: filter on something unique to the test (see
/// [`unique`](crate::unique)) rather than calling `clear`.
///
/// A panic inside a predicate does not poison the recorder for other tests.
pub struct Recorder<T> {
    events: Mutex<Vec<T>>,
    changed: Condvar,
}

impl<T> Recorder<T> {
    /// An empty recorder (usable in a `static`).
    pub const fn new() -> Self {
        Self {
            events: Mutex::new(Vec::new()),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<T>> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends an event and wakes every waiter.
    pub fn push(&self, event: T) {
        self.lock().push(event);
        self.changed.notify_all();
    }

    /// Blocks until `pred` returns `true` for the recorded events (returns
    /// `true`), or until `timeout` elapses (returns `false`).
    ///
    /// `pred` is evaluated immediately, then after every change, with the
    /// lock held: keep it quick and do not push from it. Blocks the calling
    /// thread; in a current-thread async runtime use
    /// [`wait_for_async`](Self::wait_for_async).
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&[T]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut events = self.lock();
        loop {
            if pred(&events) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            events = self
                .changed
                .wait_timeout(events, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Blocks until at least `n` events are recorded (see
    /// [`wait_for`](Self::wait_for)).
    pub fn wait_for_len(&self, timeout: Duration, n: usize) -> bool {
        self.wait_for(timeout, |events| events.len() >= n)
    }

    /// Like [`wait_for`](Self::wait_for) but without blocking the thread:
    /// checks every few milliseconds with `tokio::time::sleep`. Needed when
    /// the events are produced by tasks of the same current-thread runtime
    /// (e.g. in `#[actix_web::test]`). Must be awaited inside a Tokio
    /// runtime with the time driver enabled.
    pub async fn wait_for_async(&self, timeout: Duration, pred: impl Fn(&[T]) -> bool) -> bool {
        crate::wait_until_async(timeout, || pred(&self.lock())).await
    }

    /// Number of events recorded so far.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing has been recorded (since the last `clear`).
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Number of recorded events for which `pred` is true.
    pub fn count(&self, pred: impl Fn(&T) -> bool) -> usize {
        self.lock().iter().filter(|e| pred(e)).count()
    }

    /// Runs `f` on the recorded events (without cloning them).
    pub fn with<R>(&self, f: impl FnOnce(&[T]) -> R) -> R {
        f(&self.lock())
    }

    /// Forgets every recorded event.
    pub fn clear(&self) {
        self.lock().clear();
        self.changed.notify_all();
    }
}

impl<T: Clone> Recorder<T> {
    /// A copy of the events recorded so far, oldest first.
    pub fn snapshot(&self) -> Vec<T> {
        self.lock().clone()
    }
}

impl<T> Default for Recorder<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for Recorder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("events", &*self.lock())
            .finish()
    }
}
