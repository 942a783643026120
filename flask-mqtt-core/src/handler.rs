//! What a handler returns, and how failures are reported.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::extract::{EventContext, FromEvent};

/// The future a generated async wrapper returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Outcome> + Send + 'static>>;

/// The result of one handler call.
pub type Outcome = Result<(), HandlerError>;

/// Why a handler call did not succeed. Logged (target `flask_mqtt::dispatch`) with the
/// topic and handler name; never stops dispatch.
#[derive(Debug)]
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
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandlerError::Rejected { argument, reason } => {
                write!(f, "argument `{argument}` rejected: {reason}")
            }
            HandlerError::Failed(e) => write!(f, "returned an error: {e}"),
            HandlerError::Panicked(p) => write!(f, "panicked: {p}"),
        }
    }
}

impl std::error::Error for HandlerError {}

/// Runs an extractor for the argument `argument` (used by generated code).
pub fn extract<T: FromEvent>(
    ctx: &EventContext,
    argument: &'static str,
) -> Result<T, HandlerError> {
    T::from_event(ctx).map_err(|e| HandlerError::Rejected {
        argument,
        reason: e.to_string(),
    })
}

/// Return types a handler may have: `()` or `Result<(), E>` with `E: Display`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid return type for an MQTT handler",
    label = "handlers return `()` or `Result<(), E>` where `E: Display`"
)]
pub trait IntoOutcome {
    /// Converts the return value.
    fn into_outcome(self) -> Outcome;
}

impl IntoOutcome for () {
    fn into_outcome(self) -> Outcome {
        Ok(())
    }
}

impl<E: fmt::Display> IntoOutcome for Result<(), E> {
    fn into_outcome(self) -> Outcome {
        self.map_err(|e| HandlerError::Failed(e.to_string()))
    }
}

/// Turns a caught panic payload into text.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
