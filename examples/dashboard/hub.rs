//! The live channel: one bounded broadcast queue of Server-Sent Events frames, fanned out
//! to every open tab.
//!
//! Memory stays bounded however many tabs are open and however slow they are: the queue
//! holds at most `capacity` frames (each frame at most a few KiB: payloads are cut to
//! [`PAYLOAD_PREVIEW`] bytes), and a tab that falls more than `capacity` frames behind is
//! skipped ahead to the oldest frame still queued and told how many it missed (a
//! `skipped` event). A stalled tab never makes the server queue more: actix stops
//! polling a response stream whose socket does not drain, so its receiver simply lags.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use actix_web::web::Bytes;
use futures::{stream, Stream, StreamExt};
use serde::Serialize;
use tokio::sync::broadcast::{self, error::RecvError};

/// How many frames the live channel keeps for tabs that are behind.
pub(crate) const CAPACITY: usize = 1024;

/// How many payload bytes a message event carries (the table shows a preview).
pub(crate) const PAYLOAD_PREVIEW: usize = 2048;

/// A comment line sent when nothing else was, so proxies keep the stream open and a
/// closed tab is noticed.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// Whether the MQTT client is connected, as the page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Status {
    /// `connecting` (never connected yet), `connected` or `reconnecting`.
    pub(crate) state: &'static str,
    /// The broker's URI.
    pub(crate) broker: String,
    /// The CONNACK return (or MQTT 5 reason) code of the last refused attempt.
    pub(crate) code: Option<u8>,
    /// Why the last attempt failed, in words.
    pub(crate) error: Option<String>,
}

/// A message as the table shows it.
#[derive(Debug)]
pub(crate) struct MessageView<'a> {
    pub(crate) topic: &'a str,
    pub(crate) qos: u8,
    pub(crate) retain: bool,
    pub(crate) payload: &'a [u8],
    pub(crate) received: SystemTime,
}

#[derive(Serialize)]
struct MessageEvent<'a> {
    /// Milliseconds since the Unix epoch, when the server received it.
    t: u64,
    topic: &'a str,
    qos: u8,
    retain: bool,
    /// The payload as text, or as hex digits when it is not UTF-8 (`binary`).
    payload: String,
    binary: bool,
    /// The whole payload's length in bytes.
    size: usize,
    /// Whether `payload` shows only the first [`PAYLOAD_PREVIEW`] bytes.
    truncated: bool,
}

/// A subscription as the page lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct TopicView {
    pub(crate) filter: String,
    pub(crate) qos: u8,
}

/// The live channel and the last status and topics sent on it.
#[derive(Debug)]
pub(crate) struct Hub {
    tx: broadcast::Sender<Bytes>,
    capacity: usize,
    status: Mutex<Option<Status>>,
    topics: Mutex<Vec<TopicView>>,
}

impl Hub {
    /// A hub whose queue holds `capacity` frames (a power of two, or tokio rounds it up).
    pub(crate) fn new(capacity: usize) -> Hub {
        let (tx, _) = broadcast::channel(capacity);
        Hub {
            tx,
            capacity,
            status: Mutex::new(None),
            topics: Mutex::new(Vec::new()),
        }
    }

    /// Sends a message event to every tab.
    pub(crate) fn message(&self, msg: &MessageView<'_>) {
        let cut = msg.payload.len().min(PAYLOAD_PREVIEW);
        let shown = &msg.payload[..cut];
        let (payload, binary) = match std::str::from_utf8(shown) {
            Ok(text) => (text.to_owned(), false),
            // A preview cut inside a UTF-8 character is still text.
            Err(e) if cut < msg.payload.len() && e.error_len().is_none() => (
                String::from_utf8_lossy(&shown[..e.valid_up_to()]).into_owned(),
                false,
            ),
            Err(_) => (hex(shown), true),
        };
        let t = msg
            .received
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.send(frame(
            "message",
            &MessageEvent {
                t,
                topic: msg.topic,
                qos: msg.qos,
                retain: msg.retain,
                payload,
                binary,
                size: msg.payload.len(),
                truncated: cut < msg.payload.len(),
            },
        ));
    }

    /// Records `status` and sends it to every tab if it changed.
    pub(crate) fn set_status(&self, status: Status) {
        let mut last = lock(&self.status);
        if last.as_ref() != Some(&status) {
            self.send(frame("status", &status));
            *last = Some(status);
        }
    }

    /// The last status recorded.
    pub(crate) fn status(&self) -> Option<Status> {
        lock(&self.status).clone()
    }

    /// Records the subscription list and sends it to every tab if it changed.
    pub(crate) fn set_topics(&self, topics: Vec<TopicView>) {
        let mut last = lock(&self.topics);
        if *last != topics {
            self.send(frame("topics", &topics));
            *last = topics;
        }
    }

    /// A new tab's event stream: `hello` (queue capacity), the current status and
    /// topics, then everything sent from now on.
    pub(crate) fn subscribe(&self) -> impl Stream<Item = Result<Bytes, Infallible>> + 'static {
        // Subscribe first, so nothing sent between the snapshot and the stream is lost.
        let rx = self.tx.subscribe();
        let mut first = vec![
            Bytes::from_static(b"retry: 2000\n\n"),
            frame(
                "hello",
                &serde_json::json!({ "capacity": self.capacity, "preview": PAYLOAD_PREVIEW }),
            ),
        ];
        if let Some(status) = self.status() {
            first.push(frame("status", &status));
        }
        first.push(frame("topics", &*lock(&self.topics)));
        stream::iter(first.into_iter().map(Ok)).chain(follow(rx))
    }

    /// How many frames are queued now (never more than the capacity).
    pub(crate) fn queued(&self) -> usize {
        self.tx.len()
    }

    /// How many frames the queue holds at most.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    fn send(&self, frame: Bytes) {
        // No tab open: nothing to do.
        let _ = self.tx.send(frame);
    }
}

/// Frames from `rx` as they come; a `skipped` event when the reader fell behind; a
/// keep-alive comment after a quiet spell; ends when the hub is gone.
fn follow(rx: broadcast::Receiver<Bytes>) -> impl Stream<Item = Result<Bytes, Infallible>> {
    stream::unfold(rx, |mut rx| async move {
        let next = match tokio::time::timeout(KEEPALIVE, rx.recv()).await {
            Ok(Ok(frame)) => frame,
            Ok(Err(RecvError::Lagged(n))) => frame("skipped", &serde_json::json!({ "n": n })),
            Ok(Err(RecvError::Closed)) => return None,
            Err(_quiet) => Bytes::from_static(b": keep-alive\n\n"),
        };
        Some((Ok(next), rx))
    })
}

/// One Server-Sent Events frame: `event: NAME` and the JSON on one `data:` line
/// (serde_json never writes a raw newline).
pub(crate) fn frame(event: &str, data: &impl Serialize) -> Bytes {
    let json = serde_json::to_string(data).unwrap_or_else(|e| {
        log::error!("cannot serialize a {event} event: {e}");
        "null".to_owned()
    });
    Bytes::from(format!("event: {event}\ndata: {json}\n\n"))
}

/// `00 ff 10`: bytes as lowercase hex pairs separated by spaces.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the value consistent.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(topic: &str, payload: &[u8]) -> MessageView<'static> {
        MessageView {
            topic: Box::leak(topic.to_owned().into_boxed_str()),
            qos: 1,
            retain: false,
            payload: Box::leak(payload.to_vec().into_boxed_slice()),
            received: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
        }
    }

    /// The JSON of a frame, checking the SSE framing on the way.
    fn parse(frame: &[u8]) -> (String, serde_json::Value) {
        let text = std::str::from_utf8(frame).unwrap();
        assert!(text.ends_with("\n\n"), "{text:?}");
        let mut lines = text.trim_end().lines();
        let event = lines.next().unwrap().strip_prefix("event: ").unwrap();
        let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
        assert_eq!(lines.next(), None, "{text:?}");
        (event.to_owned(), serde_json::from_str(data).unwrap())
    }

    async fn next(s: &mut (impl Stream<Item = Result<Bytes, Infallible>> + Unpin)) -> Bytes {
        let item = tokio::time::timeout(Duration::from_secs(5), s.next()).await;
        item.unwrap().unwrap().unwrap()
    }

    async fn skip_greeting(s: &mut (impl Stream<Item = Result<Bytes, Infallible>> + Unpin)) {
        assert_eq!(next(s).await, Bytes::from_static(b"retry: 2000\n\n"));
        assert_eq!(parse(&next(s).await).0, "hello");
        assert_eq!(parse(&next(s).await).0, "topics");
    }

    #[test]
    fn text_and_binary_payloads() {
        let hub = Hub::new(8);
        let mut rx = hub.tx.subscribe();
        hub.message(&view("a/b", b"21.5 \xc2\xb0C"));
        hub.message(&view("a/bin", &[0x00, 0xff, 0x10]));
        let (event, text) = parse(&rx.try_recv().unwrap());
        assert_eq!(event, "message");
        assert_eq!(text["topic"], "a/b");
        assert_eq!(text["payload"], "21.5 °C");
        assert_eq!(text["binary"], false);
        assert_eq!(text["qos"], 1);
        assert_eq!(text["t"], 1_700_000_000_123u64);
        let (_, bin) = parse(&rx.try_recv().unwrap());
        assert_eq!(bin["payload"], "00 ff 10");
        assert_eq!(bin["binary"], true);
        assert_eq!(bin["size"], 3);
    }

    #[test]
    fn long_payloads_are_cut_to_the_preview() {
        let hub = Hub::new(8);
        let mut rx = hub.tx.subscribe();
        // 'é' is two bytes: the cut falls inside one, and the preview is still text.
        let long = "é".repeat(PAYLOAD_PREVIEW);
        hub.message(&view("a", long.as_bytes()));
        let (_, m) = parse(&rx.try_recv().unwrap());
        assert_eq!(m["binary"], false);
        assert_eq!(m["truncated"], true);
        assert_eq!(m["size"], long.len());
        assert_eq!(m["payload"].as_str().unwrap().len(), PAYLOAD_PREVIEW);
    }

    #[test]
    fn status_and_topics_are_sent_only_when_they_change() {
        let hub = Hub::new(8);
        let mut rx = hub.tx.subscribe();
        let up = Status {
            state: "connected",
            broker: "tcp://127.0.0.1:1883".into(),
            code: None,
            error: None,
        };
        hub.set_status(up.clone());
        hub.set_status(up.clone());
        hub.set_topics(vec![TopicView {
            filter: "a/#".into(),
            qos: 1,
        }]);
        hub.set_topics(vec![TopicView {
            filter: "a/#".into(),
            qos: 1,
        }]);
        assert_eq!(parse(&rx.try_recv().unwrap()).0, "status");
        assert_eq!(parse(&rx.try_recv().unwrap()).0, "topics");
        assert!(rx.try_recv().is_err());
        assert_eq!(hub.status(), Some(up));
    }

    #[tokio::test]
    async fn every_tab_gets_every_message() {
        let hub = Hub::new(16);
        let mut tabs: Vec<_> = (0..3).map(|_| Box::pin(hub.subscribe())).collect();
        for tab in &mut tabs {
            skip_greeting(tab).await;
        }
        for i in 0..10 {
            hub.message(&view(&format!("t/{i}"), b"x"));
        }
        for tab in &mut tabs {
            for i in 0..10 {
                assert_eq!(parse(&next(tab).await).1["topic"], format!("t/{i}"));
            }
        }
    }

    /// A tab that stops reading (its stream is not polled, as when its socket does not
    /// drain) neither grows the queue past its capacity nor slows the others; when it
    /// reads again it is told how many frames it missed and goes on from the oldest
    /// frame still queued.
    #[tokio::test]
    async fn a_stalled_tab_is_bounded_and_told_what_it_missed() {
        const CAP: usize = 32;
        const SENT: usize = 10 * CAP;
        let hub = Hub::new(CAP);
        let mut stalled = Box::pin(hub.subscribe());
        let mut live = Box::pin(hub.subscribe());
        skip_greeting(&mut stalled).await;
        skip_greeting(&mut live).await;

        for i in 0..SENT {
            hub.message(&view(&format!("t/{i}"), b"x"));
            // The live tab keeps up...
            assert_eq!(parse(&next(&mut live).await).1["topic"], format!("t/{i}"));
            // ...while the stalled one keeps at most CAP frames queued.
            assert!(hub.queued() <= CAP, "{} frames queued", hub.queued());
        }
        assert_eq!(hub.queued(), CAP);

        let (event, data) = parse(&next(&mut stalled).await);
        assert_eq!(event, "skipped");
        assert_eq!(data["n"], SENT - CAP);
        for i in SENT - CAP..SENT {
            assert_eq!(
                parse(&next(&mut stalled).await).1["topic"],
                format!("t/{i}")
            );
        }
        // Caught up: nothing is queued any more.
        assert_eq!(hub.queued(), 0);
    }

    #[test]
    fn hex_pairs() {
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0x0a]), "0a");
        assert_eq!(hex(&[0xde, 0xad, 0xbe, 0xef]), "de ad be ef");
    }
}
