//! Which handler calls hold a message's acknowledgement (issue 15): what a handler's
//! policy makes of the [`Slot`] of a QoS 1/2 message.
//!
//! - `after` (the default): the call holds the slot until it has ended (returned, failed,
//!   panicked, or was not made because an argument was rejected).
//! - `first`: the call does not hold it; a message none of whose handlers hold it is
//!   acknowledged as soon as it is in their queues.
//! - `manual`: the handler's own context holds it, for its `mqtt::Ack` argument to take;
//!   acknowledged at `ack()`. An `Ack` dropped without `ack()`, or a call dropped before
//!   it ended, releases it without acknowledging it; a call that fails before giving it
//!   counts as done, as under `after`.
//!
//! With `nack_on_error`, a call whose handler fails releases the slot without
//! acknowledging it (see [`Slot::nack`]); a reply that could not be sent after the handler
//! succeeded does not (the message was handled).
//!
//! A released message holds a place in the broker's in-flight window until the
//! connection ends (later acknowledgements still leave): the watermark counts them and
//! warns before they fill it (ack/window.rs).

use std::sync::Arc;

use super::queue::Item;
use crate::ack::policy::AckPolicy;
use crate::ack::watermark::{Owing, Slot};
use crate::event::log::DISPATCH_TARGET as TARGET;
use crate::extract::context::EventContext;
use crate::registry::Handler;
use crate::visible::report;

/// How a handler holds the messages it gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Hold {
    After,
    First,
    Manual,
}

/// A handler's acknowledgement settings, as dispatch applies them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AckMode {
    hold: Hold,
    nack_on_error: bool,
}

impl AckMode {
    /// Acknowledged after the handlers; failures acknowledged too.
    pub(crate) const AFTER: AckMode = AckMode {
        hold: Hold::After,
        nack_on_error: false,
    };

    /// Whether the handler's calls (or its `Ack`) hold the acknowledgement.
    pub(super) fn holds(self) -> bool {
        self.hold != Hold::First
    }

    /// Handler `h`'s settings (`default`, the setting of the client whose keys start
    /// with `prefix`, where its attribute chose no policy).
    pub(super) fn of(h: &Handler, default: AckPolicy, prefix: &str) -> AckMode {
        let hold = match h.desc.ack_policy().unwrap_or(default) {
            AckPolicy::First => Hold::First,
            AckPolicy::Manual => Hold::Manual,
            // `After`, and any policy added later until it is taught here: the safe one.
            _ => Hold::After,
        };
        if hold == Hold::First && h.desc.nack_on_error() {
            // The macro refuses `ack = "first"` with `nack_on_error`; the runtime setting
            // can still make it so. Said, since the handler's author expects failures to
            // be delivered again.
            report(
                TARGET,
                log::Level::Warn,
                &format!(
                    "handler {} has nack_on_error, but its messages are acknowledged on receipt (ack policy `first`, from {prefix}_ACK_POLICY), so a failure cannot withhold an acknowledgement: give it `ack = \"after\"`",
                    h.name
                ),
            );
        }
        AckMode {
            hold,
            nack_on_error: h.desc.nack_on_error(),
        }
    }
}

/// What handler `h`, with settings `mode`, gets of an event whose dispatcher context is
/// `base` and whose acknowledgement is `slot` (QoS 1/2 messages only).
#[inline]
pub(super) fn item(
    h: &Handler,
    mode: AckMode,
    base: &Arc<EventContext>,
    slot: Option<&Slot>,
) -> Item {
    let manual = match (mode.hold, slot) {
        (Hold::Manual, Some(slot)) => Some(slot.clone()),
        _ => None,
    };
    let ctx = match (&h.template, manual) {
        (template, Some(slot)) => Arc::new(EventContext::for_handler(
            base,
            template.clone(),
            Some(slot),
        )),
        (Some(t), None) => Arc::new(EventContext::for_handler(base, Some(Arc::clone(t)), None)),
        (None, None) => Arc::clone(base),
    };
    Item {
        ctx,
        // `after`: the one hold of the call, from its queue to its end; `manual`: the
        // call owed, besides the context's hold for the `Ack`.
        owing: Owing::new(slot.filter(|_| mode.holds()).cloned()),
        after: mode.hold == Hold::After,
        nack_on_error: mode.nack_on_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ack::watermark::Watermark;
    use crate::event::{Event, HandlerKind};
    use crate::message::Message;
    use crate::qos::QoS;
    use crate::registry::{HandlerDescriptor, HandlerFn};
    use crate::testing::TestClient;
    use crate::visible::said;
    use paho_mqtt::AckToken;

    fn nothing(_: Arc<EventContext>) -> crate::handler::Outcome {
        Ok(None)
    }

    static NACKING: HandlerDescriptor = HandlerDescriptor::new(
        HandlerKind::Message,
        "hold_test_nacking",
        "dispatch::hold::tests",
        HandlerFn::Sync(nothing),
    )
    .with_filter("hold/test")
    .with_qos(1)
    .with_nack_on_error();

    /// What each policy's item holds of a message's acknowledgement: `after`, one hold
    /// (the call it owes, which the call then keeps until it ends); `manual`, two (the
    /// context's, for the handler's `Ack`, and the call it owes); `first`, none.
    #[tokio::test]
    async fn an_item_holds_the_acknowledgement_once_per_reason() {
        let Some(h) = Handler::new(&NACKING, NACKING.name()) else {
            panic!("a valid descriptor");
        };
        let app = TestClient::new().unwrap();
        let msg = Message::new("hold/test", "", QoS::AtLeastOnce, false);
        let base = Arc::new(EventContext::new(app.client().clone(), Event::Message(msg)));
        let acks = Watermark::detached();
        let slot = acks.slot(AckToken::from_parts(1, paho_mqtt::QoS::AtLeastOnce, 1));
        // Made here rather than by `AckMode::of`, whose warning the next test counts.
        for (hold, holds) in [(Hold::After, 1), (Hold::Manual, 2), (Hold::First, 0)] {
            let mode = AckMode {
                hold,
                nack_on_error: false,
            };
            let held = item(&h, mode, &base, Some(&slot));
            assert_eq!(slot.holders() - 1, holds, "{hold:?}");
            drop(held);
            assert_eq!(slot.holders(), 1, "{hold:?}");
        }
    }

    /// `nack_on_error` under a `first` policy from the settings does nothing: said, with
    /// or without a logger; under `after` nothing is said.
    #[test]
    fn nack_on_error_under_ack_first_is_said() {
        let Some(h) = Handler::new(&NACKING, NACKING.name()) else {
            panic!("a valid descriptor");
        };
        let after = AckMode::of(&h, AckPolicy::After, "ALERTS");
        assert!(after.holds() && after.nack_on_error);
        assert_eq!(said::containing("hold_test_nacking"), Vec::<String>::new());
        let first = AckMode::of(&h, AckPolicy::First, "ALERTS");
        assert!(!first.holds());
        let lines = said::containing("hold_test_nacking");
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("acknowledged on receipt"), "{lines:?}");
        // The client's own key, not the default client's.
        assert!(lines[0].contains("from ALERTS_ACK_POLICY"), "{lines:?}");
        assert!(!lines[0].contains("MQTT_"), "{lines:?}");
    }
}
