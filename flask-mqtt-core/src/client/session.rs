//! [`Session`]: what the driver task works with, and the one place its inputs become
//! events.

use std::collections::VecDeque;

use paho_mqtt::AckToken;

use crate::ack::watermark::Watermark;
use crate::config::{Config, ProtocolVersion};
use crate::dispatch::Dispatcher;
use crate::error::ConnectError;
use crate::event::log::CLIENT_TARGET;
use crate::event::Event;
use crate::handle::input::Input;
use crate::handle::Mqtt;
use crate::message::Message;
use crate::qos::QoS;
use crate::visible::report;

/// What the driver task works with.
pub(super) struct Session {
    /// The client's handle: its shared state, and what `on_*` handlers get.
    pub(super) mqtt: Mqtt,
    /// The Paho client, to connect and disconnect (handles publish through `Outbound`).
    pub(super) paho: paho_mqtt::AsyncClient,
    pub(super) dispatcher: Dispatcher,
    /// Told the outcome of the first connection attempt (connect mode `required`).
    pub(super) first_outcome: Option<std::sync::mpsc::Sender<Result<(), ConnectError>>>,
    /// Events received before the app was ready (`Client::start_paused`), in order.
    pub(super) waiting: VecDeque<Input>,
    /// Whether the events that waited for the app have been dispatched ([`Session::resume`]):
    /// from then on events go straight to dispatch. Not `Shared::ready`, which turns true
    /// when `Mqtt::ready` is called, before the driver has taken its `Input::Ready`: a
    /// message taken in between would overtake those still waiting. (And a plain field
    /// costs each message no lock.)
    resumed: bool,
}

impl Session {
    pub(super) fn new(
        mqtt: Mqtt,
        paho: paho_mqtt::AsyncClient,
        dispatcher: Dispatcher,
        first_outcome: Option<std::sync::mpsc::Sender<Result<(), ConnectError>>>,
    ) -> Session {
        Session {
            mqtt,
            paho,
            dispatcher,
            first_outcome,
            waiting: VecDeque::new(),
            resumed: false,
        }
    }

    pub(super) fn dispatch(&self, event: Event) {
        self.dispatcher.dispatch(&self.mqtt, event);
    }

    /// Hands an input that is an event (a message, an event a handle emitted, a log line)
    /// to dispatch, and gives back any other: the one place inputs become events.
    ///
    /// Until the app is ready, events wait (in order) for [`Session::resume`]; a QoS 1/2
    /// message is owed an acknowledgement from the moment it is taken, waiting or not
    /// (`Watermark::wait`). A QoS 1/2 message gets its acknowledgement slot here, before
    /// dispatch; a reply to a request is acknowledged here (no handler sees it). Once
    /// the client is stopping, a QoS 1/2 message of a persistent session is left to the
    /// broker, unacknowledged: it comes again with the next session.
    pub(super) fn deliver(&mut self, input: Input) -> Option<Input> {
        match input {
            Input::Message(m) => {
                self.deliver_message(m);
                return None;
            }
            Input::Emit(_) | Input::Log(_) => {}
            Input::Resubscribed {
                connection,
                connected,
            } => {
                let shared = &self.mqtt.shared;
                if *shared.ends.borrow() != connection || !shared.outbound.is_connected() {
                    // Its on_disconnect handlers may have run already: no on_connect for
                    // a connection that is gone; the next one has its own.
                    log::debug!(
                        target: CLIENT_TARGET,
                        "the connection to {} ended before its subscriptions were made: on_connect handlers are not told",
                        crate::error::shown_uri(&connected.server_uri)
                    );
                    return None;
                }
                return self.deliver(Input::Emit(Event::Connected(connected)));
            }
            Input::ConnectionLost | Input::BrokerDisconnect(_) => {
                // Its unacknowledged messages come again with the next session.
                self.mqtt.shared.acks.connection_ended();
                return Some(input);
            }
            other => return Some(other),
        }
        if !self.straight() {
            self.waiting.push_back(input);
            return None;
        }
        let event = match input {
            Input::Emit(event) => event,
            Input::Log(entry) => Event::Log(entry),
            other => return Some(other),
        };
        self.dispatch(event);
        None
    }

    /// [`Session::deliver`] for a message (the driver's path for every one, without
    /// moving it into and out of an [`Input`]). The one place a message taken from Paho
    /// is counted as received (`mqtt_messages_received_total`), by the driver's loop and
    /// by a stop reading the inputs itself alike.
    pub(super) fn deliver_message(&mut self, m: paho_mqtt::Message) {
        if let Some(metrics) = &self.mqtt.shared.metrics {
            // Counted on arrival, once: a message that waits for `Mqtt::ready` comes back
            // through `Session::resume`, not through here.
            metrics.received(QoS::from_paho(m.qos()));
        }
        if !self.straight() {
            if let Some(t) = m.ack_token() {
                // The broker counts it in its in-flight window from now on.
                self.mqtt.shared.acks.wait(t);
            }
            self.waiting.push_back(Input::Message(m));
            return;
        }
        self.dispatch_message(m, false);
    }

    /// Dispatches a message taken from Paho, which `waited` for the app to be ready (it
    /// is owed already: `Watermark::wait`) or not.
    fn dispatch_message(&self, m: paho_mqtt::Message, waited: bool) {
        let shared = &self.mqtt.shared;
        let token = m.ack_token();
        let slot = |t| {
            if waited {
                shared.acks.slot_waited(t)
            } else {
                shared.acks.slot(t)
            }
        };
        let m = if shared.requests.may_be_reply(m.topic()) {
            let Some(m) = shared.requests.route(m, |topic| shared.subscribes(topic)) else {
                // A reply: handed to the request waiting for it, never to handlers,
                // also while stopping (the call awaiting it may be what the stop
                // waits for); or a message only a reply topic's subscription brought
                // and no request waits for (late, duplicate): dropped. Acknowledged
                // now (the slot is dropped at once).
                drop(token.map(slot));
                return;
            };
            m
        } else {
            m
        };
        if let Some(t) = token.filter(|_| shared.acks.is_closing() && self.persistent()) {
            log::debug!(
                target: CLIENT_TARGET,
                "stopping: message on `{}` left to the broker for the next session",
                m.topic()
            );
            // Released, so later acknowledgements of the connection (a reply's,
            // given on arrival) do not wait behind it in Paho.
            if waited {
                shared.acks.unwait(t);
            }
            shared.acks.leave(t);
            return;
        }
        let slot = token.map(slot);
        self.dispatcher
            .dispatch_owed(&self.mqtt, Event::Message(Message::from_paho(m)), slot);
    }

    /// Whether events go straight to dispatch; if not, they wait (in order) in
    /// `waiting`. Not until the app is ready, nor while what waited for it has not been
    /// dispatched yet (`Mqtt::ready()` was called, its `Input::Ready` not taken: a
    /// message taken in between would overtake those still waiting).
    #[inline]
    fn straight(&mut self) -> bool {
        if !self.resumed {
            if !*self.mqtt.shared.ready.borrow() || !self.waiting.is_empty() {
                return false;
            }
            self.resumed = true;
        }
        true
    }

    /// The app is ready: dispatches what waited for it, in order.
    pub(super) fn resume(&mut self) {
        self.resumed = true;
        while let Some(input) = self.waiting.pop_front() {
            if let Input::Message(m) = input {
                self.dispatch_message(m, true);
            } else {
                // Only events wait, so nothing comes back.
                let _ = self.deliver(input);
            }
        }
    }

    /// Events that never reached a handler because the app was never ready: reported
    /// when the client stops (where it is seen without a logger too: these messages are
    /// lost), and again at the end of the stop for those that came during it.
    pub(super) fn abandon_waiting(&mut self) {
        let tokens = self.waiting.drain(..).filter_map(|input| match input {
            Input::Message(m) => Some(m.ack_token()),
            _ => None,
        });
        let messages = leave_all(&self.mqtt.shared.acks, tokens);
        if messages > 0 {
            report(
                CLIENT_TARGET,
                log::Level::Warn,
                &format_args!(
                    "stopping before the app was ready: {messages} messages were not handled (QoS 1/2 ones were not acknowledged, so a persistent session gets them again)"
                ),
            );
        }
    }

    /// Whether the broker keeps the session for a later connection to take up
    /// ([`persistent`]).
    pub(super) fn persistent(&self) -> bool {
        persistent(&self.mqtt.shared.config)
    }
}

/// Whether the broker keeps the session (and so unacknowledged messages) after a
/// disconnect for a later process to take up: not when the client id is new in every
/// process, nor when it is empty (the broker assigns a new one at every connect): then
/// what is left to the session is never delivered again, so a graceful stop handles it
/// instead.
fn persistent(c: &Config) -> bool {
    !c.clean_session()
        && !c.client_id_per_process
        && !c.client_id().is_empty()
        && (c.protocol_version() == ProtocolVersion::V311 || !c.session_expiry().is_zero())
}

/// Leaves to the broker the messages that waited for the app, whose acknowledgement
/// tokens `tokens` gives (`None` for a QoS 0 message): each QoS 1/2 one is owed no more,
/// and released (the broker sends it again with a persistent session), so later
/// acknowledgements of its connection do not wait behind it in Paho. Returns how many
/// messages there were.
fn leave_all(acks: &Watermark, tokens: impl Iterator<Item = Option<AckToken>>) -> usize {
    let mut messages = 0usize;
    for token in tokens {
        messages += 1;
        if let Some(t) = token {
            acks.unwait(t);
            acks.leave(t);
        }
    }
    messages
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::ack::test_support::{Recorder, Settled};
    use crate::client::test_support::test_session;
    use crate::event::HandlerKind;
    use crate::extract::context::EventContext;
    use crate::handle::outbound::fake::{client_and_input, Fake};
    use crate::handler_future::HandlerFuture;
    use crate::registry::{Handler, HandlerDescriptor, HandlerFn};
    use crate::sync::lock;
    use crate::testing::Watch;

    /// The topics `record` saw, in call order.
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

    fn record(ctx: Arc<EventContext>) -> HandlerFuture {
        if let Some(m) = ctx.message() {
            lock(&SEEN).push(m.topic().to_owned());
        }
        HandlerFuture::new(async { Ok(None) })
    }

    static RECORD: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "record",
        "client::session::tests",
        HandlerFn::Async(record),
    )
    .with_filter("session-test/#");

    /// A paused client's messages reach handlers in arrival order across `Mqtt::ready`:
    /// one taken after `ready()` turned the flag but before the driver took its
    /// `Input::Ready` waits behind those that waited already. Before, it went straight
    /// to dispatch and overtook them.
    #[tokio::test]
    async fn a_message_taken_while_ready_is_on_its_way_waits_its_turn() {
        let (mqtt, _inputs) = client_and_input(Fake::default(), Config::default(), &[]);
        mqtt.shared.ready.send_replace(false);
        let watch = Arc::new(Watch::default());
        let handlers = Handler::new(&RECORD, RECORD.name()).into_iter().collect();
        let mut session = test_session(&mqtt, handlers, Some(Arc::clone(&watch) as _));
        let message = |topic: &str| {
            Input::Message(paho_mqtt::Message::new(
                topic,
                "",
                paho_mqtt::QoS::AtMostOnce,
            ))
        };
        assert!(session.deliver(message("session-test/1")).is_none());
        // `Input::Ready` is on its way to the driver (`_inputs`), not taken yet.
        mqtt.ready();
        assert!(session.deliver(message("session-test/2")).is_none());
        assert!(session
            .deliver(Input::Ready)
            .is_some_and(|i| matches!(i, Input::Ready)));
        session.resume();
        assert!(session.deliver(message("session-test/3")).is_none());
        for seq in 0..3 {
            let ended = tokio::time::timeout(std::time::Duration::from_secs(10), watch.ended(seq));
            assert_eq!(ended.await.unwrap().len(), 1, "event {seq}");
        }
        assert_eq!(
            *lock(&SEEN),
            ["session-test/1", "session-test/2", "session-test/3"],
            "handled in arrival order"
        );
    }

    /// A kept session under a fixed id is taken up by the next connection; under an empty
    /// id it never is: the broker assigns a new id at every connect (MQTT 5), so a message
    /// left to it at a stop would be lost, not delivered again. The configuration refuses
    /// an empty id with a kept session; this holds even for one made without `build`.
    #[test]
    fn a_session_under_an_empty_client_id_is_not_persistent() {
        for protocol in [ProtocolVersion::V311, ProtocolVersion::V5] {
            let mut c = Config::builder()
                .client_id("orders")
                .clean_session(false)
                .protocol_version(protocol)
                .build()
                .unwrap();
            assert!(persistent(&c), "{protocol:?}: a fixed id keeps its session");
            c.client_id = String::new();
            c.client_id_per_process = false;
            assert!(!persistent(&c), "{protocol:?}: an empty id keeps none");
        }
    }

    /// Messages that waited for an app that never became ready are released, not left
    /// unsettled: Paho sends acknowledgements in arrival order, so one never settled would
    /// hold back every later acknowledgement of its connection (a reply's, given on
    /// arrival, while the stop waits for the request); and they are owed no more.
    #[test]
    fn messages_abandoned_before_ready_are_released() {
        let settled = Arc::new(Settled::default());
        let acks = Watermark::new(Box::new(Recorder(Arc::clone(&settled))));
        let token = |id| Some(AckToken::from_parts(id, paho_mqtt::QoS::AtLeastOnce, 3));
        let waited = [token(1), None, token(2)];
        for t in waited.iter().flatten() {
            acks.wait(*t);
        }
        assert_eq!(acks.unacknowledged(), 2, "owed while they wait");
        let messages = leave_all(&acks, waited.into_iter());
        assert_eq!(messages, 3);
        assert_eq!(settled.seen(), [(1, false), (2, false)]);
        assert_eq!(acks.unacknowledged(), 0);
    }
}
