//! The watchdog of inline calls: an async handler that blocks its thread in a call made
//! inline ([`inline`](super::inline)) holds up dispatch to every handler for as long as
//! it blocks, and nothing else would say so.
//!
//! The dispatching task marks each inline poll's start and end ([`InlinePolls`]: two
//! plain stores, no lock). One thread for the whole process (`flask-mqtt-watchdog`,
//! started with the first dispatcher, gone with the last) looks every
//! [`CHECK_EVERY`]; a poll under way for [`STALLED_AFTER`] or more is reported once,
//! naming the handler, as a warning that is visible with no logger installed
//! ([`visible::report`](crate::visible::report)). When the poll returns, the dispatching
//! task says how long dispatch was held ([`resumed`]); the handler is then back on its
//! own task until it passes its probation again (`trust`).
//!
//! It reports; it cannot take dispatch back from a poll that never returns (the stuck
//! call holds the dispatching task's stack, and the rest of its event must reach the
//! other handlers after it, in order).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use super::clock::{elapsed, ticks};
use super::trust::{BOUND, PROBATION};
use crate::event::log::DISPATCH_TARGET as TARGET;
use crate::registry::Handler;
use crate::sync::lock;

/// How long one inline poll may hold dispatch before it is reported.
pub(super) const STALLED_AFTER: Duration = Duration::from_secs(1);

/// How often the watchdog looks.
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// A dispatcher's inline poll under way, for the watchdog.
pub(super) struct InlinePolls {
    /// When the poll under way started (the calls' clock, ticks); 0: none.
    since: AtomicU64,
    /// Its handler, by index.
    handler: AtomicUsize,
    /// The start of the last poll reported (so each stall is reported once).
    reported: AtomicU64,
    /// The handlers' names, by index.
    names: Box<[String]>,
}

impl InlinePolls {
    /// The watch of a dispatcher whose handlers are named `names` (by index); the
    /// watchdog looks at it as long as it is alive.
    pub(super) fn watch(names: Box<[String]>) -> Arc<InlinePolls> {
        let polls = Arc::new(InlinePolls {
            since: AtomicU64::new(0),
            handler: AtomicUsize::new(0),
            reported: AtomicU64::new(0),
            names,
        });
        thread::add(&polls);
        polls
    }

    /// An inline poll of handler `index` starts (`at`: ticks).
    pub(super) fn begin(&self, index: usize, at: u64) {
        self.handler.store(index, Ordering::Relaxed);
        // 0 means "none": a clock that reads 0 is taken as 1 tick later.
        self.since.store(at.max(1), Ordering::Release);
    }

    /// The poll under way has returned.
    pub(super) fn end(&self) {
        self.since.store(0, Ordering::Release);
    }

    /// Reports the poll under way if it has held dispatch for `STALLED_AFTER` (once).
    fn check(&self) {
        let since = self.since.load(Ordering::Acquire);
        if since == 0 || self.reported.load(Ordering::Relaxed) == since {
            return;
        }
        let held = elapsed(since, ticks());
        if held < STALLED_AFTER {
            return;
        }
        // The handler stored before `since`: the one of this poll or of a later one.
        let index = self.handler.load(Ordering::Relaxed);
        if self.since.load(Ordering::Acquire) != since {
            return;
        }
        self.reported.store(since, Ordering::Relaxed);
        let name = self.names.get(index).map_or("?", String::as_str);
        say(&format!(
            "handler {name} has held the dispatching task for {:.1} s in one poll: no \
             handler gets events until it returns. An async handler must not block its \
             thread (std::thread::sleep, blocking I/O, a lock held for long); make it a \
             sync handler (a plain `fn`, which may block) or await async I/O instead",
            held.as_secs_f64()
        ));
    }
}

/// Called by the dispatching task when an inline poll of `h` returned after holding
/// dispatch for `held`: says so when it was a stall.
pub(super) fn resumed(h: &Handler, held: Duration) {
    if held >= STALLED_AFTER {
        say(&format!(
            "handler {} returned after holding the dispatching task for {:.1} s; \
             dispatch goes on, and its calls run on its own task until {PROBATION} in a \
             row return within {BOUND:?}",
            h.desc.name(),
            held.as_secs_f64()
        ));
    }
}

fn say(message: &str) {
    crate::visible::report(TARGET, log::Level::Warn, &message);
    #[cfg(test)]
    said::add(message);
}

/// The watchdog thread and the dispatchers it watches.
mod thread {
    use super::*;

    struct Watched {
        polls: Vec<Weak<InlinePolls>>,
        /// Whether the thread is running (it ends when nothing is left to watch).
        running: bool,
    }

    fn watched() -> &'static Mutex<Watched> {
        static WATCHED: OnceLock<Mutex<Watched>> = OnceLock::new();
        WATCHED.get_or_init(|| {
            Mutex::new(Watched {
                polls: Vec::new(),
                running: false,
            })
        })
    }

    pub(super) fn add(polls: &Arc<InlinePolls>) {
        let mut w = lock(watched());
        w.polls.push(Arc::downgrade(polls));
        if w.running {
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("flask-mqtt-watchdog".into())
            .spawn(run);
        match spawned {
            Ok(_) => w.running = true,
            // Without the thread, stalls go unreported; dispatch itself is unaffected.
            Err(e) => log::warn!(
                target: TARGET,
                "could not start the watchdog of inline handler calls: {e}"
            ),
        }
    }

    fn run() {
        loop {
            std::thread::sleep(CHECK_EVERY);
            let alive: Vec<Arc<InlinePolls>> = {
                let mut w = lock(watched());
                w.polls.retain(|p| p.strong_count() > 0);
                if w.polls.is_empty() {
                    w.running = false;
                    return;
                }
                w.polls.iter().filter_map(Weak::upgrade).collect()
            };
            for polls in alive {
                polls.check();
            }
        }
    }
}

/// What the watchdog said, for the tests.
#[cfg(test)]
pub(super) mod said {
    use std::sync::Mutex;

    use crate::sync::lock;

    static SAID: Mutex<Vec<String>> = Mutex::new(Vec::new());

    pub(super) fn add(message: &str) {
        lock(&SAID).push(message.to_owned());
    }

    /// The messages so far that name handler `name`.
    pub(in crate::dispatch) fn about(name: &str) -> Vec<String> {
        let needle = format!("handler {name} ");
        lock(&SAID)
            .iter()
            .filter(|m| m.starts_with(&needle))
            .cloned()
            .collect()
    }
}
