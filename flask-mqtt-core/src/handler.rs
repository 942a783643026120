//! What a handler returns, and how failures are reported.

use std::fmt;

use crate::event::HandlerKind;
use crate::extract::context::EventContext;
use crate::extract::FromEvent;
use crate::qos::QoS;

/// The result of one handler call: the reply to publish, if any, or why it failed.
pub type Outcome = Result<Option<Reply>, HandlerError>;

/// The answer to an MQTT 5 request: a handler that returns a `Reply` (or
/// `Option<Reply>`, `Result<Reply, E>`, `Result<Option<Reply>, E>`) has it published to
/// the request's Response Topic, with the request's Correlation Data (so the requester
/// can match it to its request), once the handler returns. A Response Topic of more
/// than [`MAX_TOPIC_LEVELS`](crate::MAX_TOPIC_LEVELS) (201) levels or starting with `$`
/// gets no reply (the call ends with [`HandlerError::Reply`]): Mosquitto disconnects a
/// client that publishes to a deeper topic, and `$` topics are the broker's.
///
/// ```
/// # use flask_mqtt_core as mqtt;
/// #[mqtt::on_message("rpc/time")]
/// fn time() -> mqtt::Reply {
///     mqtt::Reply::new("12:00")
/// }
///
/// #[derive(serde::Deserialize)]
/// struct Sum {
///     a: i64,
///     b: i64,
/// }
///
/// #[mqtt::on_message("rpc/sum", qos = 1)]
/// fn sum(mqtt::Json(sum): mqtt::Json<Sum>) -> Result<mqtt::Reply, serde_json::Error> {
///     Ok(mqtt::Reply::json(&(sum.a + sum.b))?.qos(mqtt::QoS::AtLeastOnce))
/// }
/// ```
///
/// A request without a Response Topic (any MQTT 3.1.1 message) cannot be answered: the
/// reply is not sent and a warning says so. Publishing errors are reported the same way
/// as handler errors. The message still counts as handled: with `nack_on_error` it is
/// acknowledged all the same, since the handler succeeded (released, it would come back
/// with every session, and the handler's side effects with it).
///
/// Only `#[on_message]` handlers have a request to answer: in any other kind of handler
/// a return type that may be a `Reply` is a compile error ([`IntoOutcome::REPLIES`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    payload: Vec<u8>,
    qos: QoS,
}

impl Reply {
    /// A reply with `payload`, at QoS 0.
    pub fn new(payload: impl Into<Vec<u8>>) -> Self {
        Reply {
            payload: payload.into(),
            qos: QoS::AtMostOnce,
        }
    }

    /// A reply with `value` serialized as JSON.
    ///
    /// # Errors
    ///
    /// serde_json's, when `value` cannot be serialized (e.g. a map with non-string keys).
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::to_vec(value).map(Reply::new)
    }

    /// The QoS to publish the reply with (default: [`QoS::AtMostOnce`]).
    pub fn qos(mut self, qos: QoS) -> Self {
        self.qos = qos;
        self
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The QoS it is published with.
    pub fn get_qos(&self) -> QoS {
        self.qos
    }

    pub(crate) fn into_parts(self) -> (Vec<u8>, QoS) {
        (self.payload, self.qos)
    }
}

impl fmt::Debug for Reply {
    /// The payload's length only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply")
            .field("payload_len", &self.payload.len())
            .field("qos", &self.qos)
            .finish()
    }
}

/// Why a handler call did not succeed. Logged (target `flask_mqtt::dispatch`) with the
/// topic and handler name; never stops dispatch.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandlerError {
    /// An argument could not be extracted; the handler was not called.
    Rejected {
        /// The argument's name.
        argument: &'static str,
        /// The extractor's reason.
        reason: String,
    },
    /// The handler returned an error.
    Failed(String),
    /// The handler panicked.
    Panicked(String),
    /// The handler returned a [`Reply`] that could not be sent.
    Reply(String),
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandlerError::Rejected { argument, reason } => {
                write!(f, "argument `{argument}` rejected: {reason}")
            }
            HandlerError::Failed(e) => write!(f, "returned an error: {e}"),
            HandlerError::Panicked(p) => write!(f, "panicked: {p}"),
            HandlerError::Reply(why) => write!(f, "returned a reply that was not sent: {why}"),
        }
    }
}

impl std::error::Error for HandlerError {}

/// Runs an extractor for the argument `argument` (used by generated code, which calls it
/// directly so that it inlines into the handler's wrapper; the rejection stays out of line).
#[inline]
pub fn extract<T: FromEvent>(
    ctx: &EventContext,
    argument: &'static str,
) -> Result<T, HandlerError> {
    match T::from_event(ctx) {
        Ok(value) => Ok(value),
        Err(e) => Err(rejected(&e, argument)),
    }
}

/// The error of an argument whose extractor rejected the event.
#[cold]
#[inline(never)]
fn rejected(e: &dyn std::fmt::Display, argument: &'static str) -> HandlerError {
    HandlerError::Rejected {
        argument,
        reason: e.to_string(),
    }
}

/// An argument's extractor, as the generated code holds it: [`extract`] for a type the
/// compile-time checks below accepted.
pub type Extractor<T> = fn(&EventContext, &'static str) -> Result<T, HandlerError>;

/// A return type's conversion, as the generated code holds it.
pub type Converter<R> = fn(R) -> Outcome;

/// Whether `T` can be an argument of a handler of `kind` (used by generated code, in a
/// `static`'s initializer: a compile error when not).
pub const fn argument_fits<T: FromEvent>(kind: HandlerKind) -> bool {
    T::AVAILABLE_IN.contains(kind)
}

/// The one kind of handler `T` can be an argument of, if there is one (used by generated
/// code, to say where `T` belongs).
pub const fn argument_home<T: FromEvent>() -> Option<HandlerKind> {
    T::AVAILABLE_IN.single()
}

/// Whether `T` takes the message's acknowledgement (used by generated code).
pub const fn takes_ack<T: FromEvent>() -> bool {
    T::TAKES_ACK
}

/// Whether `R` may be a [`Reply`] (used by generated code).
pub const fn replies<R: IntoOutcome>() -> bool {
    R::REPLIES
}

/// Return types a handler may have: `()`, [`Reply`], `Option<Reply>`, and `Result` of
/// those with an error `E: Display` (logged with topic and handler name).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid return type for an MQTT handler",
    label = "handlers return `()`, `Reply`, `Option<Reply>`, or `Result<_, E>` of those where `E: Display`"
)]
pub trait IntoOutcome {
    /// Whether the value may be a [`Reply`], which only `#[on_message]` handlers can
    /// send (there is no request to answer in the others): the macros make such a return
    /// type a compile error in every other kind of handler. `false` unless an
    /// implementation says otherwise.
    const REPLIES: bool = false;

    /// Converts the return value.
    fn into_outcome(self) -> Outcome;
}

impl IntoOutcome for () {
    fn into_outcome(self) -> Outcome {
        Ok(None)
    }
}

impl IntoOutcome for Reply {
    const REPLIES: bool = true;

    fn into_outcome(self) -> Outcome {
        Ok(Some(self))
    }
}

impl IntoOutcome for Option<Reply> {
    const REPLIES: bool = true;

    fn into_outcome(self) -> Outcome {
        Ok(self)
    }
}

impl<T: IntoOutcome, E: fmt::Display> IntoOutcome for Result<T, E> {
    const REPLIES: bool = T::REPLIES;

    fn into_outcome(self) -> Outcome {
        self.map_err(|e| HandlerError::Failed(e.to_string()))?
            .into_outcome()
    }
}

/// Turns a caught panic payload into text, and drops it where a panic of its own `Drop`
/// (a payload given to [`std::panic::panic_any`] whose type panics when dropped) cannot
/// unwind into dispatch: that would end the handler's worker, or the client's driver for
/// a call made inline, outside every handler's panic boundary.
pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let text = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    };
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload)));
    if let Err(again) = dropped {
        // The second payload could panic when dropped too: it is leaked instead.
        std::mem::forget(again);
    }
    text
}
