//! Completion of tracked events (`Dispatcher::dispatch_tracked`).

use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::handler::HandlerError;
use crate::sync::lock;

/// One handler call's result, as recorded for tracked events.
pub(crate) type CallRecord = (String, Result<(), HandlerError>);

/// Completion of one tracked event: when the last clone is dropped (every handler call
/// the event caused has finished, or the event could not be queued), the calls are sent.
pub(super) struct Tracker {
    pub(super) calls: Mutex<Vec<CallRecord>>,
    pub(super) done: Mutex<Option<oneshot::Sender<Vec<CallRecord>>>>,
}

impl Tracker {
    pub(super) fn record(&self, call: CallRecord) {
        lock(&self.calls).push(call);
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if let Some(done) = lock(&self.done).take() {
            let _ = done.send(std::mem::take(&mut *lock(&self.calls)));
        }
    }
}
