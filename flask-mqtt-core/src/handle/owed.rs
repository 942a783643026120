//! [`Owed`]: the UNSUBSCRIBEs a persistent session is owed for the user's filters, and
//! [`Released`], what a connect's one pass over everything owed did
//! (`Mqtt::pay_owed`, in `session.rs`).

use std::collections::{BTreeMap, BTreeSet};

use crate::error::PublishLimit;

/// The user's filters whose UNSUBSCRIBE the broker has not answered, with a persistent
/// session: each with the number it was owed under, so that the answer to an
/// UNSUBSCRIBE pays what it was sent for and not an UNSUBSCRIBE owed again since.
#[derive(Debug, Default)]
pub(crate) struct Owed {
    filters: BTreeMap<String, u64>,
    next: u64,
}

impl Owed {
    /// Owes an UNSUBSCRIBE of `filter` (again).
    pub(crate) fn owe(&mut self, filter: String) {
        self.filters.insert(filter, self.next);
        self.next = self.next.wrapping_add(1);
    }

    /// `filter` is subscribed again: its UNSUBSCRIBE would undo that.
    pub(crate) fn cancel(&mut self, filter: &str) {
        self.filters.remove(filter);
    }

    /// What is owed now, except what `subscribed` says is subscribed again (no longer
    /// owed: dropped).
    pub(crate) fn due(&mut self, subscribed: impl Fn(&str) -> bool) -> Vec<(String, u64)> {
        self.filters.retain(|f, _| !subscribed(f));
        self.filters.iter().map(|(f, n)| (f.clone(), *n)).collect()
    }

    /// The broker answered the UNSUBSCRIBE of `filters` (or they need none any more):
    /// paid, unless owed again since.
    pub(crate) fn paid<'a>(&mut self, filters: impl IntoIterator<Item = &'a (String, u64)>) {
        for (filter, n) in filters {
            if self.filters.get(filter) == Some(n) {
                self.filters.remove(filter);
            }
        }
    }

    /// The filters owed, in order.
    #[cfg(test)]
    pub(crate) fn filters(&self) -> Vec<&str> {
        self.filters.keys().map(String::as_str).collect()
    }
}

/// What [`Requests::release_owed`](super::replies::Requests::release_owed) did.
pub(crate) struct Released<F> {
    /// The UNSUBSCRIBEs sent, in order: the strings of each, with what its call
    /// returned (none when nothing was owed).
    pub(crate) sent: Vec<(Vec<String>, F)>,
    /// The strings too large for any UNSUBSCRIBE the broker takes: not sent, with the
    /// limit each is over.
    pub(crate) too_large: Vec<(String, PublishLimit)>,
    /// The owed filters not sent: a request waits on them as its reply topic.
    pub(crate) wanted: BTreeSet<String>,
    /// The reply topics in the UNSUBSCRIBE, each with the number to give
    /// [`Requests::released`](super::replies::Requests::released).
    pub(crate) replies: Vec<(String, u64)>,
}
