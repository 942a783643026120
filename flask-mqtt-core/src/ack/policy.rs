//! The acknowledgement policy of a message handler: when a QoS 1/2 message it handles is
//! acknowledged to the broker.

use std::fmt;
use std::str::FromStr;

/// When a QoS 1/2 message is acknowledged to the broker (PUBACK for QoS 1, PUBREC for
/// QoS 2), relative to the handlers it is routed to.
///
/// Set per handler with `#[on_message("...", ack = "after" | "first" | "manual")]`; handlers
/// without it use the configuration's `MQTT_ACK_POLICY` (`after` unless set). A message
/// routed to several handlers is acknowledged once every handler that holds it has let it
/// go. Whatever the policy, acknowledgements leave in the order the messages arrived, as
/// MQTT requires, so a message held by one handler also holds back the acknowledgements of
/// the messages that arrived after it. QoS 0 messages are never acknowledged.
///
/// An `Err`, a panic or a rejected argument counts as finished: the message is
/// acknowledged and the failure logged, so that a message that always fails cannot loop
/// forever; `nack_on_error` on the handler withholds the acknowledgement instead.
///
/// ```
/// use flask_mqtt_core::ack::AckPolicy;
///
/// assert_eq!("First".parse::<AckPolicy>(), Ok(AckPolicy::First));
/// assert_eq!(AckPolicy::default(), AckPolicy::After);
/// assert_eq!(AckPolicy::Manual.to_string(), "manual");
/// assert!("later".parse::<AckPolicy>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AckPolicy {
    /// Acknowledge once the handler's call has finished (returned `Ok` or `Err`,
    /// panicked, or rejected its arguments): a message acknowledged to the broker has
    /// been handled, so an app that dies loses none. The default.
    #[default]
    After,
    /// Acknowledge when the message arrives, before the handler runs (Flask-MQTT's and
    /// Paho's behaviour): a message received but not yet handled when the app dies is
    /// lost.
    First,
    /// Acknowledge when the handler calls `ack()` on its `Ack` argument. Dropped without
    /// `ack()`, the `Ack` releases the message with a warning: not acknowledged (the broker
    /// sends it again with the next session), and the acknowledgements after it do not
    /// wait for it, but it holds a place in the broker's in-flight window until the
    /// connection ends (a window full of them stops QoS 1/2 delivery; warned of). A
    /// per-handler choice only; not accepted by `MQTT_ACK_POLICY`.
    Manual,
}

impl AckPolicy {
    /// Every policy, in the order the documentation lists them.
    pub const ALL: [AckPolicy; 3] = [AckPolicy::After, AckPolicy::First, AckPolicy::Manual];

    /// The name used in attributes and settings: `"after"`, `"first"` or `"manual"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AckPolicy::After => "after",
            AckPolicy::First => "first",
            AckPolicy::Manual => "manual",
        }
    }
}

impl fmt::Display for AckPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not an [`AckPolicy`]: what [`AckPolicy::from_str`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownAckPolicy {
    name: String,
}

impl UnknownAckPolicy {
    /// The name that was given.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for UnknownAckPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown acknowledgement policy `{}`; expected one of `after`, `first`, `manual`",
            self.name
        )
    }
}

impl std::error::Error for UnknownAckPolicy {}

impl FromStr for AckPolicy {
    type Err = UnknownAckPolicy;

    /// `"after"`, `"first"` or `"manual"`, in any case, without surrounding spaces.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AckPolicy::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownAckPolicy { name: s.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_name_in_any_case() {
        for (text, policy) in [
            ("after", AckPolicy::After),
            ("AFTER", AckPolicy::After),
            ("First", AckPolicy::First),
            ("first", AckPolicy::First),
            ("manual", AckPolicy::Manual),
            ("mAnUaL", AckPolicy::Manual),
        ] {
            assert_eq!(text.parse::<AckPolicy>(), Ok(policy), "{text}");
        }
    }

    #[test]
    fn display_round_trips() {
        for policy in AckPolicy::ALL {
            assert_eq!(policy.to_string().parse::<AckPolicy>(), Ok(policy));
        }
    }

    #[test]
    fn unknown_names_are_rejected_with_the_choices() {
        for text in ["", "later", " after", "after ", "ack_first", "none"] {
            let err = text.parse::<AckPolicy>().unwrap_err();
            assert_eq!(err.name(), text);
            assert_eq!(
                err.to_string(),
                format!(
                    "unknown acknowledgement policy `{text}`; expected one of `after`, `first`, `manual`"
                )
            );
        }
    }

    #[test]
    fn the_default_is_after() {
        assert_eq!(AckPolicy::default(), AckPolicy::After);
    }
}
