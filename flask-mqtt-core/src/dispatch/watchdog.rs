//! The watchdog of dispatch: what holds up a client's dispatching task (its driver) is
//! reported while it lasts, since nothing else would say so.
//!
//! - **An inline poll that blocks.** An async handler that blocks its thread in a call
//!   made inline ([`inline`](super::inline)) holds up dispatch to every handler for as
//!   long as it blocks. The dispatching task marks each inline poll's start and end
//!   ([`InlinePolls`]: three plain stores per call, no lock); a poll under way for
//!   [`STALLED_AFTER`] is reported, naming the handler, and when it returns the
//!   dispatching task says how long it held dispatch ([`resumed`]). The handler is then
//!   back on its own task until it passes its probation again (`trust`).
//! - **A driver that does not run.** Async handlers that block their threads on their
//!   own tasks (during their probation, or in a call that waited) each hold one of the
//!   client's two runtime threads; with both held, the driver never runs. Messages are
//!   counted as Paho hands them over and as the driver takes them ([`Intake`]: one atomic
//!   add and one store per message); messages that wait while the driver takes none for
//!   [`STALLED_AFTER`] are reported, and so is the driver taking them again.
//!
//! One thread for the whole process (`flask-mqtt-watchdog`, started with the first
//! client, gone with the last) looks every [`CHECK_EVERY`]. A stall is reported once,
//! as a warning that is visible with no logger installed
//! ([`visible::report`](crate::visible::report)), after it was seen on [`LOOKS`] looks
//! in a row (a stopped or starved process is not a stall). The watchdog reports; it
//! cannot take dispatch back from a poll that never returns (the stuck call holds the
//! dispatching task's stack, and the rest of its event must reach the other handlers
//! after it, in order), nor free a thread a handler blocks.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use super::clock::{elapsed, ticks};
use super::trust::{BOUND, PROBATION};
use crate::event::log::DISPATCH_TARGET as TARGET;
use crate::handle::health::Stalls;
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
    /// The watchdog's looks at the poll under way.
    looked: Mutex<Looks>,
    /// The handlers' names, by index (only for a report).
    handlers: Box<[String]>,
}

impl InlinePolls {
    /// The watch of a dispatcher whose handlers are named `handlers` (by index); the
    /// watchdog looks at it as long as it is alive.
    pub(super) fn watch(handlers: Box<[String]>) -> Arc<InlinePolls> {
        let polls = Arc::new(InlinePolls {
            since: AtomicU64::new(0),
            handler: AtomicUsize::new(0),
            looked: Mutex::new(Looks::default()),
            handlers,
        });
        let weak: Weak<InlinePolls> = Arc::downgrade(&polls);
        thread::add(weak);
        polls
    }

    /// An inline poll of handler `index` starts (`at`: ticks).
    pub(super) fn begin(&self, index: usize, at: u64) {
        // Release: a watchdog that reads this index also sees the end of the poll before.
        self.handler.store(index, Ordering::Release);
        // 0 means "none": a clock that reads 0 is taken as 1 tick later.
        self.since.store(at.max(1), Ordering::Release);
    }

    /// The poll under way has returned.
    pub(super) fn end(&self) {
        self.since.store(0, Ordering::Release);
    }

    /// Whether a poll is under way.
    fn polling(&self) -> bool {
        self.since.load(Ordering::Acquire) != 0
    }
}

/// The watchdog's consecutive looks at one possible stall, named by when it started.
///
/// A stall is reported once it has held for long enough (`after`: [`STALLED_AFTER`] for
/// dispatch, longer for owed acknowledgements) *and* the watchdog saw it
/// on `LOOKS` looks in a row: a process stopped (SIGSTOP) or starved of CPU with a poll
/// under way looks, to the first look after it runs again, like a long stall.
#[derive(Default)]
pub(super) struct Looks {
    since: u64,
    looks: u32,
    pub(super) reported: bool,
}

/// Looks in a row before a stall is reported (`CHECK_EVERY` apart).
pub(super) const LOOKS: u32 = 4;

impl Looks {
    /// Counts a look at the stall that started at `since` and has held for `held`;
    /// whether to report it now (once per stall).
    pub(super) fn stalled(&mut self, since: u64, held: Duration, after: Duration) -> bool {
        if self.since != since {
            *self = Looks {
                since,
                looks: 0,
                reported: false,
            };
        }
        self.looks = self.looks.saturating_add(1);
        let report = !self.reported && self.looks >= LOOKS && held >= after;
        self.reported |= report;
        report
    }
}

/// What the watchdog looks at.
pub(super) trait Check: Send + Sync {
    /// Reports what has to be reported now.
    fn check(&self);
}

impl Check for InlinePolls {
    /// Reports the poll under way if it has held dispatch for `STALLED_AFTER` (once).
    fn check(&self) {
        let since = self.since.load(Ordering::Acquire);
        // The handler stored before `since`: the one of this poll, unless a later poll
        // began, which the second look at `since` then sees.
        let index = self.handler.load(Ordering::Acquire);
        if since == 0 || self.since.load(Ordering::Acquire) != since {
            return;
        }
        let held = elapsed(since, ticks());
        if !lock(&self.looked).stalled(since, held, STALLED_AFTER) {
            return;
        }
        let name = self.handlers.get(index).map_or("?", String::as_str);
        say(&format!(
            "handler {name} has held the dispatching task for {:.1} s in one poll: no \
             handler gets events until it returns. An async handler must not block its \
             thread (std::thread::sleep, blocking I/O, a lock held for long); make it a \
             sync handler (a plain `fn`, which may block) or await async I/O instead",
            held.as_secs_f64()
        ));
    }
}

/// The messages Paho hands a client's dispatching task (its driver), for the watchdog:
/// counted as they arrive (Paho's thread) and as the driver takes them. Messages that
/// wait while the driver takes none for `STALLED_AFTER` mean that the task does not run:
/// both threads of the client's runtime are held (async handlers that block their
/// threads on their own tasks, each holding one), or an inline poll blocks (reported as
/// such, by its [`InlinePolls`], not here).
pub(crate) struct Intake {
    client_id: String,
    /// Written by Paho's thread at every message: a cache line of its own, so that the
    /// driver's writes to `taken` do not take it away at every message.
    arrived: OwnLine<AtomicU64>,
    /// Written by the driver at every message; likewise.
    taken: OwnLine<AtomicU64>,
    /// The driver has ended: what is left is never taken, and that is no stall.
    closed: AtomicBool,
    /// The dispatcher's inline polls, once the driver has one.
    inline: OnceLock<Weak<InlinePolls>>,
    /// The watchdog's last look.
    seen: Mutex<Seen>,
}

/// A value alone on its cache line (128 bytes: two lines, for the adjacent-line
/// prefetcher).
#[repr(align(128))]
struct OwnLine<T>(T);

/// What the watchdog saw of an [`Intake`].
struct Seen {
    taken: u64,
    /// Since when (ticks) `taken` has not moved while messages waited.
    since: u64,
    looks: Looks,
}

impl Intake {
    /// The intake of client `client_id`; watched as long as it is alive.
    pub(crate) fn watch(client_id: &str) -> Arc<Intake> {
        let intake = Arc::new(Intake {
            client_id: client_id.to_owned(),
            arrived: OwnLine(AtomicU64::new(0)),
            taken: OwnLine(AtomicU64::new(0)),
            closed: AtomicBool::new(false),
            inline: OnceLock::new(),
            seen: Mutex::new(Seen {
                taken: 0,
                since: ticks(),
                looks: Looks::default(),
            }),
        });
        let weak: Weak<Intake> = Arc::downgrade(&intake);
        thread::add(weak);
        intake
    }

    /// A message was handed to the driver (Paho's thread).
    pub(crate) fn arrived(&self) {
        self.arrived.0.fetch_add(1, Ordering::Release);
    }

    /// The driver took a message (the driver only).
    pub(crate) fn taken(&self) {
        let n = self.taken.0.load(Ordering::Relaxed);
        self.taken.0.store(n + 1, Ordering::Release);
    }

    /// The driver has ended.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// The inline polls of the driver's dispatcher, whose stalls they report themselves.
    pub(super) fn follow(&self, polls: &Arc<InlinePolls>) {
        let _ = self.inline.set(Arc::downgrade(polls));
    }
}

impl Stalls for Intake {
    /// How long dispatch has been held up, once that was reported: an inline poll
    /// blocking, or the driver taking no message.
    fn stalled_for(&self) -> Option<Duration> {
        let now = ticks();
        let inline = self.inline.get().and_then(Weak::upgrade);
        let polling = inline.as_ref().and_then(|p| {
            let looked = lock(&p.looked);
            (looked.reported && p.since.load(Ordering::Acquire) == looked.since)
                .then(|| elapsed(looked.since, now))
        });
        polling.or_else(|| {
            let seen = lock(&self.seen);
            seen.looks.reported.then(|| elapsed(seen.since, now))
        })
    }
}

impl Check for Intake {
    fn check(&self) {
        let taken = self.taken.0.load(Ordering::Acquire);
        let arrived = self.arrived.0.load(Ordering::Acquire);
        let now = ticks();
        let mut seen = lock(&self.seen);
        let inline = self
            .inline
            .get()
            .and_then(Weak::upgrade)
            .is_some_and(|p| p.polling());
        let stalled = arrived > taken && taken == seen.taken && !inline;
        if !stalled || self.closed.load(Ordering::Acquire) {
            if seen.looks.reported && taken != seen.taken {
                say(&format!(
                    "client `{}`: the dispatching task takes messages again, after {:.1} s",
                    self.client_id,
                    elapsed(seen.since, now).as_secs_f64()
                ));
            }
            *seen = Seen {
                taken,
                since: now,
                looks: Looks::default(),
            };
            return;
        }
        let (since, held) = (seen.since, elapsed(seen.since, now));
        if seen.looks.stalled(since, held, STALLED_AFTER) {
            say(&format!(
                "client `{}`: the dispatching task has taken no message for {:.1} s while {} \
                 messages wait: both threads of the client's runtime are held, most likely \
                 by async handlers that block their threads (std::thread::sleep, blocking \
                 I/O, a lock held for long). Make them sync handlers (a plain `fn`, which may \
                 block) or await async I/O instead",
                self.client_id,
                held.as_secs_f64(),
                arrived - taken
            ));
        }
    }
}

/// Called by the dispatching task when an inline poll of `h` returned after holding
/// dispatch for `held`: says so when it was a stall.
///
/// Inlined, its cold part not: every call made inline asks, and the warning's frame
/// cost 16 instructions per call (callgrind, bench `child-framework`).
#[inline]
pub(super) fn resumed(h: &Handler, held: Duration) {
    if held >= STALLED_AFTER {
        report_resumed(h, held);
    }
}

/// [`resumed`] after a stall.
#[cold]
#[inline(never)]
fn report_resumed(h: &Handler, held: Duration) {
    say(&format!(
        "handler {} returned after holding the dispatching task for {:.1} s; \
         dispatch goes on, and its calls run on its own task until {PROBATION} in a row \
         return within {BOUND:?}",
        h.name,
        held.as_secs_f64()
    ));
}

pub(super) fn say(message: &str) {
    crate::visible::report(TARGET, log::Level::Warn, &message);
    #[cfg(test)]
    said::add(message);
}

/// Looks at `watched` every [`CHECK_EVERY`] as long as it is alive.
pub(super) fn watch(watched: Weak<dyn Check>) {
    thread::add(watched);
}

/// The watchdog thread and the dispatchers it watches.
mod thread {
    use super::*;

    struct Watched {
        polls: Vec<Weak<dyn Check>>,
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

    pub(super) fn add(watched_: Weak<dyn Check>) {
        let mut w = lock(watched());
        w.polls.push(watched_);
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
            let alive: Vec<Arc<dyn Check>> = {
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

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(10);

    /// A stall is reported once, on the look that makes `LOOKS` in a row, and only when
    /// it has held for `STALLED_AFTER`; another stall starts the count over.
    #[test]
    fn a_stall_is_reported_once_after_enough_looks_in_a_row() {
        let mut looks = Looks::default();
        for _ in 1..LOOKS {
            assert!(!looks.stalled(7, LONG, STALLED_AFTER));
        }
        assert!(looks.stalled(7, LONG, STALLED_AFTER));
        assert!(!looks.stalled(7, LONG, STALLED_AFTER), "once");
        // A new stall (another start) is counted from its own first look.
        assert!(!looks.stalled(8, LONG, STALLED_AFTER));
        // Enough looks, but not held long enough yet.
        let mut short = Looks::default();
        for _ in 0..LOOKS * 2 {
            assert!(!short.stalled(9, STALLED_AFTER / 2, STALLED_AFTER));
        }
        assert!(short.stalled(9, STALLED_AFTER, STALLED_AFTER));
    }

    /// A process that was stopped (or starved) with a poll under way shows the watchdog,
    /// on its first look after, a stall as long as the stop: not reported.
    #[test]
    fn one_look_at_a_long_stall_is_not_a_report() {
        let mut looks = Looks::default();
        assert!(!looks.stalled(1, Duration::from_secs(3600), STALLED_AFTER));
    }
}
