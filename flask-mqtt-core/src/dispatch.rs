//! Events -> handlers. Each handler has its own unbounded queue and one worker task, so
//! a handler sees its events one at a time in arrival order, a slow handler does not hold
//! up the others, and nothing is dropped. Filters are looked up in a topic trie.
//!
//! Log target: `flask_mqtt::dispatch`.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use flask_mqtt_topic::FilterTrie;
use futures::FutureExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::extract::{Event, EventContext};
use crate::handler::{panic_message, HandlerError, Outcome};
use crate::registry::{Handler, HandlerFn, HandlerKind};
use crate::Mqtt;

const TARGET: &str = "flask_mqtt::dispatch";

struct Slot {
    tx: mpsc::UnboundedSender<Arc<EventContext>>,
}

/// Routes events to the handler workers.
pub(crate) struct Dispatcher {
    slots: Vec<Slot>,
    by_kind: Vec<(HandlerKind, Vec<usize>)>,
    trie: FilterTrie<usize>,
    catch_all: Vec<usize>,
    workers: Vec<JoinHandle<()>>,
}

impl Dispatcher {
    /// Spawns one worker per handler on the current runtime.
    pub(crate) fn start(handlers: Vec<Handler>) -> Dispatcher {
        let mut slots = Vec::with_capacity(handlers.len());
        let mut workers = Vec::with_capacity(handlers.len());
        let mut by_kind: Vec<(HandlerKind, Vec<usize>)> = Vec::new();
        let mut trie = FilterTrie::new();
        let mut catch_all = Vec::new();
        for (i, h) in handlers.into_iter().enumerate() {
            let kind = h.desc.kind;
            match (kind, &h.filter) {
                (HandlerKind::Message, Some(f)) => trie.insert(f, i),
                (HandlerKind::Message, None) => catch_all.push(i),
                _ => match by_kind.iter_mut().find(|(k, _)| *k == kind) {
                    Some((_, v)) => v.push(i),
                    None => by_kind.push((kind, vec![i])),
                },
            }
            let (tx, rx) = mpsc::unbounded_channel();
            slots.push(Slot { tx });
            workers.push(tokio::spawn(run_worker(h, rx)));
        }
        Dispatcher {
            slots,
            by_kind,
            trie,
            catch_all,
            workers,
        }
    }

    pub(crate) fn has(&self, kind: HandlerKind) -> bool {
        match kind {
            HandlerKind::Message => !self.catch_all.is_empty() || !self.trie.is_empty(),
            _ => self
                .by_kind
                .iter()
                .any(|(k, v)| *k == kind && !v.is_empty()),
        }
    }

    /// Queues `event` for every handler it concerns.
    pub(crate) fn dispatch(&self, client: &Mqtt, event: Event) {
        let kind = match &event {
            Event::Message(m) => {
                let ctx = Arc::new(EventContext::new(client.clone(), event.clone()));
                let mut matched = false;
                self.trie.for_each_match(m.topic(), |&i| {
                    matched = true;
                    self.send(i, &ctx);
                });
                if !matched {
                    if self.catch_all.is_empty() {
                        log::debug!(target: TARGET, "no handler for message on `{}`", m.topic());
                    }
                    for &i in &self.catch_all {
                        self.send(i, &ctx);
                    }
                }
                return;
            }
            Event::Connected(_) => HandlerKind::Connect,
            Event::Disconnected(_) => HandlerKind::Disconnect,
            Event::Log(_) => HandlerKind::Log,
            Event::Published(_) => HandlerKind::Publish,
            Event::Subscribed(_) => HandlerKind::Subscribe,
            Event::Unsubscribed(_) => HandlerKind::Unsubscribe,
        };
        if let Some((_, idx)) = self.by_kind.iter().find(|(k, _)| *k == kind) {
            let ctx = Arc::new(EventContext::new(client.clone(), event));
            for &i in idx {
                self.send(i, &ctx);
            }
        }
    }

    fn send(&self, i: usize, ctx: &Arc<EventContext>) {
        if let Some(slot) = self.slots.get(i) {
            // Fails only when the worker is gone, which happens only at shutdown.
            let _ = slot.tx.send(Arc::clone(ctx));
        }
    }

    /// Closes every queue and waits (up to `timeout`) for the handlers to finish what is
    /// queued.
    pub(crate) async fn drain(self, timeout: Duration) {
        drop(self.slots);
        let all = futures::future::join_all(self.workers);
        if tokio::time::timeout(timeout, all).await.is_err() {
            log::warn!(
                target: TARGET,
                "handlers still running {timeout:?} after shutdown began; abandoning them"
            );
        }
    }
}

async fn run_worker(h: Handler, mut rx: mpsc::UnboundedReceiver<Arc<EventContext>>) {
    while let Some(ctx) = rx.recv().await {
        let outcome = call(h.desc.call, Arc::clone(&ctx)).await;
        if let Err(e) = outcome {
            report(&h, &ctx, &e);
        }
    }
}

async fn call(f: HandlerFn, ctx: Arc<EventContext>) -> Outcome {
    match f {
        HandlerFn::Async(f) => match AssertUnwindSafe(async move { f(ctx).await })
            .catch_unwind()
            .await
        {
            Ok(o) => o,
            Err(p) => Err(HandlerError::Panicked(panic_message(&*p))),
        },
        // A sync handler may block: tell the runtime, so other handlers keep running.
        HandlerFn::Sync(f) => tokio::task::block_in_place(move || {
            match std::panic::catch_unwind(AssertUnwindSafe(move || f(ctx))) {
                Ok(o) => o,
                Err(p) => Err(HandlerError::Panicked(panic_message(&*p))),
            }
        }),
    }
}

fn report(h: &Handler, ctx: &EventContext, e: &HandlerError) {
    let name = h.desc.name();
    match ctx.event() {
        Event::Message(m) => log::warn!(
            target: TARGET,
            "handler {name} for message on `{}` {e}",
            m.topic()
        ),
        _ => log::warn!(target: TARGET, "{} handler {name} {e}", h.desc.kind.attribute()),
    }
}
