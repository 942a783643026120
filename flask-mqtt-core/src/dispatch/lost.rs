//! Events a stopping dispatcher leaves unhandled: counted, and said once with their
//! number (visibly: they are lost), as the client does for events that waited for an
//! app that never became ready.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::event::log::DISPATCH_TARGET as TARGET;
use crate::visible::report;

/// Events that did not reach a handler they were for, until said.
pub(super) struct Lost {
    undelivered: AtomicUsize,
}

/// Events shutdown stopped waiting for.
pub(super) struct Abandoned {
    /// Events still queued or running (not settled).
    pub(super) events: usize,
    /// How long shutdown waited for them.
    pub(super) waited: Duration,
    /// The handlers with calls queued or running, by name.
    pub(super) handlers: Vec<String>,
}

impl Lost {
    pub(super) fn new() -> Lost {
        Lost {
            undelivered: AtomicUsize::new(0),
        }
    }

    /// An event did not reach a handler it was for: the handler's worker, or the
    /// router, is gone (a runtime shutting down, or a bug of ours).
    pub(super) fn undelivered(&self) {
        self.undelivered.fetch_add(1, Ordering::Relaxed);
    }

    /// Says, once, how many events were not handled: those counted so far and those
    /// `abandoned` (if shutdown stopped waiting for some).
    pub(super) fn say(&self, abandoned: Option<&Abandoned>) {
        let undelivered = self.undelivered.swap(0, Ordering::Relaxed);
        let mut why = Vec::new();
        if let Some(a) = abandoned {
            why.push(format!(
                "{} still queued or running {:?} after shutdown began, for handlers {} (abandoned)",
                a.events,
                a.waited,
                a.handlers.join(", ")
            ));
        }
        if undelivered > 0 {
            why.push(format!(
                "{undelivered} that did not reach a handler (its worker, or the router, had stopped)"
            ));
        }
        if why.is_empty() {
            return;
        }
        let total = undelivered + abandoned.map_or(0, |a| a.events);
        let events = if total == 1 { "event" } else { "events" };
        report(
            TARGET,
            log::Level::Warn,
            &format_args!(
                "dispatch stopped with {total} {events} not handled: {}",
                why.join("; ")
            ),
        );
    }
}

/// What was counted after the dispatcher was drained (or if it never was) is said
/// when the last of its parts is gone.
impl Drop for Lost {
    fn drop(&mut self) {
        self.say(None);
    }
}
