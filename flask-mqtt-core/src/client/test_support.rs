//! Test support for the client's modules: a [`Session`] as the driver builds one, and a
//! stop run as the driver runs it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::session::Session;
use super::shutdown::{shutdown, Link, SHUTDOWN_STEPS, SHUTDOWN_TIMEOUT};
use crate::dispatch::observe::Observer;
use crate::dispatch::Dispatcher;
use crate::handle::input::{Done, Input};
use crate::handle::Mqtt;
use crate::registry::Handler;

/// How long a test waits for a whole stop: twice the longest one ([`SHUTDOWN_STEPS`]
/// steps of up to [`SHUTDOWN_TIMEOUT`] each), and a step more. Under a paused clock,
/// which jumps to the next timer when the runtime is idle, the stop's own deadlines all
/// come first: this one fires only if the stop never ends.
pub(super) const STOP_DEADLINE: Duration = SHUTDOWN_TIMEOUT.saturating_mul(2 * SHUTDOWN_STEPS + 1);

/// A session of `mqtt` as the driver builds one, calling `handlers` (their calls seen by
/// `observer`), with a Paho client that is never connected (`tcp://127.0.0.1:1`, no
/// persistence) and no first connection's outcome to tell.
pub(super) fn test_session(
    mqtt: &Mqtt,
    handlers: Vec<Handler>,
    observer: Option<Arc<dyn Observer>>,
) -> Session {
    let dispatcher = Dispatcher::start(handlers, observer);
    let paho = paho_mqtt::CreateOptionsBuilder::new()
        .server_uri("tcp://127.0.0.1:1")
        .persistence(paho_mqtt::PersistenceType::None)
        .create_client()
        .unwrap();
    Session::new(mqtt.clone(), paho, dispatcher, None)
}

/// Stops `session` gracefully as the driver does when a `Client`'s drop asks it to
/// (`Done::Blocking`), its inputs read from `rx`, a connection up or not as `up` says
/// and no connection attempt under way. Fails the test unless the stop returns within
/// [`STOP_DEADLINE`], having answered the request.
pub(super) async fn stop_blocking(session: Session, rx: mpsc::UnboundedReceiver<Input>, up: bool) {
    let (done, stopped) = std::sync::mpsc::channel();
    let link = Link {
        up,
        connecting: false,
    };
    let stop = shutdown(session, rx, link, Done::Blocking(done), true);
    tokio::time::timeout(STOP_DEADLINE, stop)
        .await
        .expect("the stop did not end");
    assert!(stopped.try_recv().is_ok(), "the stop was not answered");
}
