//! The handler calls an injected event caused, as the dispatcher reports them.

use std::collections::HashMap;
use std::future::Future;
use std::ops::Deref;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::dispatch::observe::{CallEnd, Observer};
use crate::event::Event;
use crate::handler::HandlerError;
use crate::sync::lock;

/// One handler call caused by an injected event. Two calls are equal when their handler
/// and result are (whatever they took).
#[derive(Clone, Debug)]
pub struct HandlerCall {
    handler: String,
    result: std::result::Result<(), HandlerError>,
    duration: Duration,
}

impl PartialEq for HandlerCall {
    fn eq(&self, other: &Self) -> bool {
        self.handler == other.handler && self.result == other.result
    }
}

impl Eq for HandlerCall {}

impl HandlerCall {
    /// The handler's name, as its log lines, spans and metrics write it:
    /// `module::function`, with `#2`, `#3`, ... for the second and further handlers of
    /// one `module::function` (one function under two attributes, functions of one name
    /// in two blocks of a module).
    pub fn handler(&self) -> &str {
        &self.handler
    }

    /// Whether the handler ran and succeeded (and its reply, if any, was sent).
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }

    /// Whether an argument was rejected (the handler was not called).
    pub fn is_rejected(&self) -> bool {
        matches!(self.result, Err(HandlerError::Rejected { .. }))
    }

    /// What went wrong, if anything.
    pub fn error(&self) -> Option<&HandlerError> {
        self.result.as_ref().err()
    }

    /// The call's result.
    pub fn result(&self) -> &std::result::Result<(), HandlerError> {
        &self.result
    }

    /// How long the call took: extraction, the handler and its reply.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// Whether this call is of the handler `name`: its full name
    /// ([`handler`](Self::handler)), or that without the module path (`reading`,
    /// `reading#2`).
    pub fn is(&self, name: &str) -> bool {
        self.handler == name
            || self
                .handler
                .strip_suffix(name)
                .is_some_and(|rest| rest.ends_with("::"))
    }
}

/// The handler calls one injected event caused, sorted by handler name. Derefs to the
/// slice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Calls(Vec<HandlerCall>);

impl Calls {
    /// The call of the handler `name` (its full name or that without the module path, as
    /// [`HandlerCall::is`] takes it).
    pub fn handler(&self, name: &str) -> Option<&HandlerCall> {
        self.0.iter().find(|c| c.is(name))
    }

    /// Whether every call succeeded.
    pub fn all_ok(&self) -> bool {
        self.0.iter().all(HandlerCall::is_ok)
    }

    /// The calls as a `Vec`.
    pub fn into_vec(self) -> Vec<HandlerCall> {
        self.0
    }
}

impl Deref for Calls {
    type Target = [HandlerCall];

    fn deref(&self) -> &[HandlerCall] {
        &self.0
    }
}

impl IntoIterator for Calls {
    type Item = HandlerCall;
    type IntoIter = std::vec::IntoIter<HandlerCall>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// The dispatcher's [`Observer`] of a test client: collects each event's calls and
/// hands them over when the event has ended.
#[derive(Default)]
pub(crate) struct Watch {
    events: Mutex<HashMap<u64, Watched>>,
}

/// One event's calls so far, and who waits for them.
#[derive(Default)]
struct Watched {
    calls: Vec<HandlerCall>,
    ended: bool,
    waiter: Option<oneshot::Sender<Vec<HandlerCall>>>,
}

impl Watch {
    /// Resolves, once event `seq` has ended, to its calls sorted by handler name.
    pub(crate) fn ended(&self, seq: u64) -> impl Future<Output = Calls> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        {
            let mut events = lock(&self.events);
            let watched = events.entry(seq).or_default();
            if watched.ended {
                let calls = std::mem::take(&mut watched.calls);
                events.remove(&seq);
                let _ = tx.send(calls);
            } else {
                watched.waiter = Some(tx);
            }
        }
        async move {
            let mut calls = rx.await.unwrap_or_default();
            calls.sort_by(|a, b| a.handler.cmp(&b.handler));
            Calls(calls)
        }
    }
}

impl Observer for Watch {
    fn call_ended(&self, call: &CallEnd<'_>) {
        let record = HandlerCall {
            handler: call.name.to_owned(),
            result: call.result.clone(),
            duration: Duration::from_nanos(call.nanos),
        };
        lock(&self.events)
            .entry(call.seq)
            .or_default()
            .calls
            .push(record);
    }

    fn event_ended(&self, seq: u64, _event: &Event) {
        let mut events = lock(&self.events);
        let watched = events.entry(seq).or_default();
        match watched.waiter.take() {
            Some(tx) => {
                let calls = std::mem::take(&mut watched.calls);
                events.remove(&seq);
                let _ = tx.send(calls);
            }
            None => watched.ended = true,
        }
    }
}
