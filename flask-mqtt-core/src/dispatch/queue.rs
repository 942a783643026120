//! A handler's bounded queue.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Notify};

use super::trust::Trust;
use crate::ack::watermark::Owing;
use crate::extract::context::EventContext;

/// An event in one handler's queue. Its context holds the event's completion (see
/// `event::completion`) until every call that shares it is over (or dropped).
pub(super) struct Item {
    pub(super) ctx: Arc<EventContext>,
    /// The call this item owes the message, holding its acknowledgement (policies
    /// `after` and `manual`): an item dropped before its call begins leaves the message
    /// unacknowledged.
    pub(super) owing: Owing,
    /// Whether the call goes on holding the acknowledgement until it has ended (policy
    /// `after`); a `manual` call lets go of it as it begins (its context holds it for the
    /// handler's `mqtt::Ack`).
    pub(super) after: bool,
    /// Whether a failed call releases the message without acknowledging it.
    pub(super) nack_on_error: bool,
}

/// A handler call started and not finished: it ends with the time it ended.
pub(super) type Started = Pin<Box<dyn Future<Output = u64> + Send>>;

/// What a handler's worker takes from its queue.
pub(super) enum Work {
    /// An event to call the handler for.
    Call(Item),
    /// A call made inline that has to wait: the worker finishes it (see `inline`).
    Started(Started),
}

/// A handler's queue: at most `capacity` events sent and not yet taken by its worker.
///
/// An unbounded channel and a counter rather than Tokio's bounded channel, whose
/// receiver returns every slot under the semaphore's mutex: measured with callgrind
/// (bench child-framework, 10 calls per message), that was about 800 instructions per
/// message.
#[derive(Clone)]
pub(super) struct Queue {
    pub(super) tx: mpsc::UnboundedSender<Work>,
    pub(super) room: Arc<Room>,
}

/// How full a [`Queue`] is, shared by its senders and its worker.
pub(super) struct Room {
    pub(super) capacity: usize,
    /// Events sent and not yet taken by the worker.
    pub(super) len: AtomicUsize,
    /// Told when the worker takes an event from a full queue.
    pub(super) freed: Notify,
    /// Events queued or being handled (`len` and the calls not ended): 0 when the
    /// handler is idle, which is when a call may be made inline.
    pub(super) busy: AtomicUsize,
    /// Whether the handler's calls may be made inline.
    pub(super) trust: Trust,
}

impl Room {
    /// Takes an idle handler for a call made inline: nothing else is queued or runs until
    /// it ends ([`Room::release`]) or its worker finishes it.
    pub(super) fn claim(&self) -> bool {
        self.busy
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// A call has ended (on the worker, or inline).
    pub(super) fn release(&self) {
        self.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A [`Queue`]'s worker end.
pub(super) struct QueueRx {
    pub(super) rx: mpsc::UnboundedReceiver<Work>,
    pub(super) room: Arc<Room>,
}

pub(super) fn queue(capacity: usize, trust: Trust) -> (Queue, QueueRx) {
    let (tx, rx) = mpsc::unbounded_channel();
    let room = Arc::new(Room {
        capacity,
        len: AtomicUsize::new(0),
        freed: Notify::new(),
        busy: AtomicUsize::new(0),
        trust,
    });
    (
        Queue {
            tx,
            room: Arc::clone(&room),
        },
        QueueRx { rx, room },
    )
}

/// Why [`Queue::try_send`] did not queue the event.
pub(super) enum SendError {
    /// The queue is full; the event is handed back.
    Full(Item),
    /// The worker is gone (runtime shutdown).
    Closed,
}

impl Queue {
    pub(super) fn try_send(&self, item: Item) -> Result<(), SendError> {
        let room = &self.room;
        let taken = room
            .len
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < room.capacity).then_some(n + 1)
            });
        if taken.is_err() {
            return Err(SendError::Full(item));
        }
        room.busy.fetch_add(1, Ordering::SeqCst);
        self.tx.send(Work::Call(item)).map_err(|_| {
            room.len.fetch_sub(1, Ordering::SeqCst);
            room.busy.fetch_sub(1, Ordering::SeqCst);
            SendError::Closed
        })
    }

    /// Queues a call made inline that has to wait, on a handler claimed for it
    /// ([`Room::claim`]; so the queue is empty and this is not counted against its
    /// capacity). Dropped if the worker is gone (runtime shutdown).
    pub(super) fn push_started(&self, call: Started) {
        self.room.len.fetch_add(1, Ordering::SeqCst);
        if self.tx.send(Work::Started(call)).is_err() {
            self.room.len.fetch_sub(1, Ordering::SeqCst);
            self.room.release();
        }
    }

    /// Waits until `item` is queued (or the worker is gone).
    pub(super) async fn send(&self, mut item: Item) {
        loop {
            let freed = self.room.freed.notified();
            tokio::pin!(freed);
            // Registered before the attempt: room made after it wakes this wait.
            freed.as_mut().enable();
            match self.try_send(item) {
                Ok(()) | Err(SendError::Closed) => return,
                Err(SendError::Full(back)) => item = back,
            }
            freed.await;
        }
    }
}

impl QueueRx {
    /// The next work; the caller calls [`Room::release`] once it is done.
    pub(super) async fn recv(&mut self) -> Option<Work> {
        let item = self.rx.recv().await?;
        if self.room.len.fetch_sub(1, Ordering::SeqCst) == self.room.capacity {
            self.room.freed.notify_one();
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::event::Event;
    use crate::message::Message;
    use crate::qos::QoS;
    use crate::testing::TestClient;

    const DEADLINE: Duration = Duration::from_secs(10);

    async fn done<T>(f: impl std::future::Future<Output = T>) -> T {
        match tokio::time::timeout(DEADLINE, f).await {
            Ok(v) => v,
            Err(_) => panic!("did not complete in {DEADLINE:?}"),
        }
    }

    /// A handler queue takes `capacity` events; a waiting send gets the slot the worker
    /// frees; a queue whose worker is gone says so.
    #[tokio::test]
    async fn a_queue_is_bounded_and_a_waiting_send_gets_the_freed_slot() {
        let app = TestClient::new().unwrap();
        let mqtt = app.client();
        let item = || Item {
            ctx: Arc::new(EventContext::new(
                mqtt.clone(),
                Event::Message(Message::new("a", "", QoS::AtMostOnce, false)),
            )),
            owing: Owing::new(None),
            after: false,
            nack_on_error: false,
        };
        let (q, mut rx) = queue(2, Trust::never());
        assert!(q.try_send(item()).is_ok());
        assert!(q.try_send(item()).is_ok());
        assert!(matches!(q.try_send(item()), Err(SendError::Full(_))));
        let waiting = tokio::spawn({
            let q = q.clone();
            let item = item();
            async move { q.send(item).await }
        });
        assert!(rx.recv().await.is_some());
        done(waiting).await.unwrap();
        assert_eq!(q.room.len.load(Ordering::SeqCst), 2);
        assert!(rx.recv().await.is_some());
        drop(rx);
        assert!(matches!(q.try_send(item()), Err(SendError::Closed)));
        assert_eq!(q.room.len.load(Ordering::SeqCst), 1);
    }
}
