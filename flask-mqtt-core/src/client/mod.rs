//! The one Paho client of a process: connection management, subscriptions, publishing.
//!
//! Paho's callbacks only push into an unbounded channel (never a Paho call, never a
//! blocking wait, never a drop); a driver task on the client's own Tokio runtime turns
//! them into connects, resubscriptions and handler calls.
//!
//! Log target: `flask_mqtt::client`.

mod driver;
mod paho;
mod reaper;
mod session;
mod shutdown;
mod supervise;
#[cfg(test)]
mod test_support;
mod trace;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};

use self::paho::PahoOutbound;
use self::session::Session;
use self::shutdown::{SHUTDOWN_STEPS, SHUTDOWN_TIMEOUT};
use self::supervise::{supervise, thread_panicked};
use crate::ack::watermark::Watermark;
use crate::ack::window::Window;
use crate::config::{Config, ConnectMode, ProtocolVersion};
use crate::dispatch::{Dispatcher, Intake};
use crate::error::{ConnectError, Error, Result};
use crate::event::log::LogEntry;
use crate::event::HandlerKind;
use crate::handle::health::Stalls;
use crate::handle::input::{Done, Input};
use crate::handle::shared::Shared;
use crate::handle::Mqtt;
use crate::registry;

/// Owns the running client. Dropping it (or calling [`Client::shutdown`]) stops it
/// gracefully, in steps of up to 5 s each: the share groups are left (connected) or a
/// connection attempt under way is waited for (not connected); handler calls already
/// queued or running finish and publishes not yet acknowledged go out; DISCONNECT is sent
/// (so the broker publishes no last will); the handler calls of events received before
/// it finish. Then the client's runtime stops (up to 1 s). At worst some 22 s in all,
/// which bounds how long a drop blocks.
#[derive(Debug)]
pub struct Client {
    mqtt: Mqtt,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Client {
    /// Starts a client with every handler linked into the program. Returns at once:
    /// connecting happens in the background, with retries, and `on_connect` handlers run
    /// when it succeeds.
    pub fn start(config: Config) -> Result<Client> {
        Client::start_with(config, false)
    }

    /// [`start`](Client::start), but no event reaches a handler (and no message is
    /// acknowledged) until [`Mqtt::ready`] is called: for apps that register the state
    /// their handlers need after starting the client. The client connects and subscribes
    /// meanwhile; what arrives waits, in order, in memory.
    pub fn start_paused(config: Config) -> Result<Client> {
        Client::start_with(config, true)
    }

    fn start_with(config: Config, paused: bool) -> Result<Client> {
        // `MQTT_BROKER_URL=embedded`: start (or reuse) the in-process broker, connect to it.
        // It announces no limit (MQTT 3.1.1) but has one: publishes over it are refused
        // here, as over an announced Maximum Packet Size.
        let max_packet_size = crate::embedded::max_packet_size(&config);
        let config = crate::embedded::resolve(config)?;
        // Paho C reads these whatever made `config` (once per process).
        crate::config::source::warn_paho_env();
        if let Some(warning) = config.session_warning() {
            crate::visible::report(crate::event::log::CLIENT_TARGET, log::Level::Warn, &warning);
        }
        // Turned-off certificate checks are said once where a user sees it without a
        // logger too; every connect logs it again (`paho::start_attempt`).
        let weakened = config.tls().and_then(|t| {
            t.weakened(
                config.prefix(),
                &crate::error::shown_uri(&config.server_uri()),
            )
        });
        if let Some(warning) = weakened {
            crate::visible::report(crate::event::log::CLIENT_TARGET, log::Level::Warn, &warning);
        }
        let handlers = registry::collect_for(config.prefix());
        let declared = registry::declared_subscriptions(&handlers)
            .into_iter()
            .map(|(f, q)| (f.into_string(), q))
            .collect();
        let on_publish = handlers.iter().any(|h| h.desc.kind == HandlerKind::Publish);
        let uri = config.server_uri();

        let (tx, rx) = mpsc::unbounded_channel();
        let intake = Intake::watch(config.client_id());
        let paho = paho::create(&config, &uri, &tx, &intake)?;

        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("flask-mqtt")
            .enable_time()
            .build()
            .map_err(Error::Runtime)?;

        let outbound = Box::new(PahoOutbound::new(paho.clone(), &config));
        // On MQTT 5 the broker sends at most the Receive Maximum the client sent; on 3.1.1
        // its own in-flight limit bounds it, which the client is not told.
        let window = match config.protocol_version() {
            ProtocolVersion::V5 => Window::ReceiveMaximum(config.receive_maximum().max(1)),
            ProtocolVersion::V311 => Window::Unknown,
        };
        let acks = Watermark::windowed(
            Box::new(PahoOutbound::new(paho.clone(), &config)),
            config.client_id().to_owned(),
            config.prefix().to_owned(),
            window,
        );
        let shared = Shared::new(
            config,
            uri,
            outbound,
            declared,
            tx.clone(),
            rt.handle().clone(),
            on_publish,
        )
        .acknowledging(acks)
        .watched(Arc::clone(&intake) as Arc<dyn Stalls>)
        .max_packet_size(max_packet_size);
        let shared = if paused { shared.paused() } else { shared };
        let mqtt = Mqtt {
            shared: Arc::new(shared),
        };
        let required = mqtt.shared.config.connect_mode() == ConnectMode::Required;
        let (first_outcome, first) = if required {
            let (tx, rx) = std::sync::mpsc::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };

        let driver_mqtt = mqtt.clone();
        let ended = Arc::downgrade(&mqtt.shared);
        let thread = std::thread::Builder::new()
            .name("flask-mqtt-driver".into())
            .spawn(move || {
                run_thread(rt, ended, async move {
                    // Handlers without `ack = ".."` follow MQTT_ACK_POLICY.
                    let dispatcher = Dispatcher::start_acking(
                        handlers,
                        None,
                        driver_mqtt.shared.config.ack_policy(),
                        driver_mqtt.shared.config.prefix(),
                        driver_mqtt.shared.metrics.as_deref(),
                    );
                    let log_sink = if dispatcher.has(HandlerKind::Log) {
                        let (ltx, mut lrx) = mpsc::unbounded_channel::<LogEntry>();
                        let itx = tx.clone();
                        tokio::spawn(async move {
                            while let Some(e) = lrx.recv().await {
                                if itx.send(Input::Log(e)).is_err() {
                                    break;
                                }
                            }
                        });
                        Some(ltx)
                    } else {
                        None
                    };
                    // Lives as long as the driver: this client's trace lines, from its
                    // first CONNECT, reach its `on_log` handlers.
                    let _trace = trace::install_paho_trace(paho.trace_key(), log_sink);
                    dispatcher.watched_with(&intake);
                    dispatcher.watch_owed(driver_mqtt.client_id(), &driver_mqtt.shared.acks);
                    let session =
                        Session::new(driver_mqtt.clone(), paho, dispatcher, first_outcome);
                    // On a worker thread, not this one: the driver then hands events to
                    // the router (and the router to handlers) on the same thread, instead
                    // of waking a worker for every message.
                    let driving = driver::drive(session, rx, Arc::clone(&intake));
                    supervise(driving, &driver_mqtt).await;
                    intake.close();
                });
            })
            .map_err(Error::Runtime)?;

        let client = Client {
            mqtt,
            thread: Some(thread),
        };
        match first {
            Some(rx) => client.first_connected(&rx),
            None => Ok(client),
        }
    }

    /// Connect mode `required`: waits for the first connection's outcome, which the
    /// driver sends on `rx`, and returns the client if it connected; otherwise stops it
    /// and returns why ([`Error::ConnectRequired`]). The caller is startup code, not a
    /// Paho thread; every broker of the list may take the whole timeout.
    fn first_connected(
        self,
        rx: &std::sync::mpsc::Receiver<std::result::Result<(), ConnectError>>,
    ) -> Result<Client> {
        let timeout = self.mqtt.shared.config.first_connect_budget();
        let uri = crate::error::shown_uri(&self.mqtt.shared.uri);
        let outcome = match rx.recv_timeout(timeout) {
            Ok(outcome) => outcome,
            Err(RecvTimeoutError::Timeout) => Err(ConnectError::Unreachable {
                uri: uri.clone(),
                reason: format!("no answer within {timeout:?}"),
            }),
            // The driver dropped its sender unanswered: it or the client's thread
            // panicked (said, as an error, where a user sees it without a logger too),
            // or the client was stopped meanwhile.
            Err(RecvTimeoutError::Disconnected) => Err(ConnectError::Stopped),
        };
        match outcome {
            Ok(()) => Ok(self),
            Err(source) => {
                let prefix = self.mqtt.shared.config.prefix().to_owned();
                drop(self);
                Err(Error::ConnectRequired {
                    uri,
                    source,
                    prefix,
                })
            }
        }
    }

    /// A handle to the client.
    pub fn handle(&self) -> Mqtt {
        self.mqtt.clone()
    }

    /// Stops the client gracefully (see [`Client`]) and waits for it, bounded by 5 s per
    /// step.
    pub async fn shutdown(mut self) {
        let (tx, rx) = oneshot::channel();
        let sent = self.mqtt.shared.input.send(Input::Shutdown {
            done: Done::Async(tx),
            graceful: true,
        });
        if sent.is_ok() {
            let _ = rx.await;
        }
        if let Some(t) = self.thread.take() {
            // `done` (`Done::Async`) is answered once DISCONNECT went out: the driver still
            // hands what arrived before it to the handlers and waits for them (bounded by
            // `SHUTDOWN_TIMEOUT`) before it returns; then the thread stops its runtime
            // (at most `RUNTIME_STOP`) and ends the client. The join waits for all of it.
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

/// How long dropping a [`Client`] waits for its stop: every step at its bound, and a
/// second's margin.
const STOP_WAIT: Duration = SHUTDOWN_TIMEOUT
    .saturating_mul(SHUTDOWN_STEPS)
    .saturating_add(Duration::from_secs(1));

/// How long the client's thread may take to stop its runtime once the stop is over.
const RUNTIME_STOP: Duration = Duration::from_secs(1);

/// The client's thread: runs `driver` on `rt`, then stops the runtime (at most
/// [`RUNTIME_STOP`]) and ends the client ([`Shared::end`]), if a handle still holds it.
/// Also when `driver` panics outside the driver task (whose own panics `supervise`
/// catches): while dispatch or the session is being set up. That panic is reported as
/// `supervise` reports the driver task's (said visibly, the client closed, its health
/// saying why) and ends there: the thread then stops the runtime and ends the client as
/// after a return, so that what its connection owed is no longer counted and what waits
/// for the end (publishes, requests, SUBSCRIBE answers) returns.
fn run_thread(rt: Runtime, client: Weak<Shared>, driver: impl Future<Output = ()>) {
    // Caught rather than left to unwind the thread: as `supervise` does for the driver
    // task, the panic is reported and disposed of here (`panic_message` drops a payload
    // whose drop panics safely); nothing joins the thread to read its outcome. `driver`
    // is dropped while unwinding, and nothing of it is used afterwards. So nothing
    // unwinds past this call, and `ending` can take the runtime after it.
    let ran = std::panic::catch_unwind(AssertUnwindSafe(|| rt.block_on(driver)));
    // From here on every way out, a panic while reporting one included, drops it.
    let ending = Ending {
        rt: Some(rt),
        client,
    };
    if let Err(payload) = ran {
        thread_panicked(payload, ending.client.upgrade().as_deref());
    }
}

/// Ends a client when dropped, on every way out of its thread once its driver has run (a
/// return, a panic while [`run_thread`] reports one): stops its runtime (at most
/// [`RUNTIME_STOP`]), then calls [`Shared::end`].
struct Ending {
    /// Taken by the drop, which stops it.
    rt: Option<Runtime>,
    client: Weak<Shared>,
}

impl Drop for Ending {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(RUNTIME_STOP);
        }
        if let Some(shared) = self.client.upgrade() {
            shared.end();
        }
    }
}

/// The longest dropping a [`Client`] blocks: its stop, then its runtime's. What waits for
/// clients dropped elsewhere (the actix exit hook) waits at least this long.
pub(crate) const STOP_BOUND: Duration = STOP_WAIT.saturating_add(RUNTIME_STOP);

impl Drop for Client {
    fn drop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        // Runs on ordinary threads (actix workers shutting down, `main`), never on a Paho
        // callback thread: blocks until the client has stopped, bounded by `STOP_BOUND`.
        let deadline = Instant::now() + STOP_BOUND;
        let (tx, rx) = std::sync::mpsc::channel();
        if self
            .mqtt
            .shared
            .input
            .send(Input::Shutdown {
                done: Done::Blocking(tx),
                graceful: true,
            })
            .is_ok()
        {
            match rx.recv_timeout(STOP_WAIT) {
                // `done` (`Done::Blocking`) is answered as the stop's last step, the
                // handlers drained: the driver returns right after it (dropping its
                // session), then the thread stops its runtime (at most `RUNTIME_STOP`)
                // and ends the client.
                Ok(()) => join_by(thread, deadline),
                // The driver task died without answering (a panic drops `done`): the
                // thread still reports it, stops its runtime and ends the client.
                Err(RecvTimeoutError::Disconnected) => join_by(thread, deadline),
                // The stop took longer than `STOP_WAIT`: the thread is not waited for,
                // it stops its runtime and ends the client on its own.
                Err(RecvTimeoutError::Timeout) => {}
            }
        } else {
            // The driver no longer reads its inputs: a shutdown is already under way
            // (`Mqtt::disconnect()`, maybe from inside a handler), or the driver is gone
            // (it returned or panicked). Wait, bounded, for the thread to finish: to
            // drain the handlers too, or to stop its runtime and end the client.
            join_by(thread, deadline);
        }
    }
}

/// Joins the client's `thread` once it has finished, if it does by `deadline`; otherwise
/// leaves it to end on its own.
fn join_by(thread: std::thread::JoinHandle<()>, deadline: Instant) {
    while !thread.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    if thread.is_finished() {
        let _ = thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::shutdown::{shutdown, Link};
    use crate::client::test_support::test_session;
    use crate::handle::health::ConnectionState;
    use crate::handle::outbound::fake::{client_and_input, connected_with_request, Fake};
    use crate::sync::lock;

    /// A panic on the client's thread outside the driver task (setting up dispatch or
    /// the session, which `supervise` does not catch) is reported as `supervise` reports
    /// the driver task's: said where a user sees it without a logger, the client closed
    /// (a publish fails at once, sending nothing) and its health saying why. And the
    /// client still ends: what its connection owed is no longer counted, and what waits
    /// for the end (here a request waiting for its reply) returns. Before, the panic
    /// skipped `Shared::end`: `unacknowledged_messages()` stayed 2 and the request waited
    /// until its own timeout; then it ended the client but said nothing, and the client
    /// was neither closed nor faulted.
    #[tokio::test]
    async fn a_panic_on_the_clients_thread_still_ends_the_client() {
        const DEADLINE: Duration = Duration::from_secs(10);
        let fake = Fake::default();
        let sent = fake.sent();
        let (mqtt, request) = connected_with_request(fake, None, DEADLINE * 60);
        for id in 1..=2 {
            let token = paho_mqtt::AckToken::from_parts(id, paho_mqtt::QoS::AtLeastOnce, 1);
            mqtt.shared.acks.wait(token);
        }
        assert_eq!(mqtt.unacknowledged_messages(), 2);
        tokio::time::timeout(DEADLINE, async {
            while mqtt.pending_requests() == 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the request is pending (waits for its reply)");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let client = Arc::downgrade(&mqtt.shared);
        let thread = std::thread::spawn(move || {
            run_thread(rt, client, async {
                panic!("setting up the driver failed: thread-panic-test");
            });
        });
        let joined = tokio::task::spawn_blocking(move || thread.join());
        let joined = tokio::time::timeout(DEADLINE, joined)
            .await
            .expect("the client's thread ends")
            .unwrap();
        // Seen without a logger (these tests install none): on stderr.
        assert_eq!(
            crate::visible::said::containing("thread-panic-test"),
            ["ERROR flask_mqtt::client: the MQTT client stopped: its thread panicked: setting up the driver failed: thread-panic-test"]
        );
        let health = mqtt.health();
        assert_eq!(health.state(), ConnectionState::Closed);
        assert_eq!(
            health.fault(),
            Some("the MQTT client stopped: its thread panicked: setting up the driver failed: thread-panic-test")
        );
        assert!(!mqtt.is_connected());
        let published = tokio::time::timeout(DEADLINE, mqtt.publish("after/panic", "x"))
            .await
            .expect("a publish on a closed client returns at once");
        assert!(matches!(published, Err(Error::Closed)), "{published:?}");
        assert!(
            !lock(&sent)
                .published
                .iter()
                .any(|m| m.topic() == "after/panic"),
            "a closed client hands no publish to Paho"
        );
        let answer = tokio::time::timeout(DEADLINE, request)
            .await
            .expect("the request still waits for a client whose thread is gone")
            .unwrap();
        assert!(matches!(answer, Err(Error::Closed)), "{answer:?}");
        assert_eq!(
            mqtt.unacknowledged_messages(),
            0,
            "owed by a connection that ended with the client's thread"
        );
        assert!(*mqtt.shared.ended.borrow());
        assert!(
            joined.is_ok(),
            "the panic, reported, does not go on unwinding the thread"
        );
    }

    /// Dropping a client whose driver task dies without answering the stop (a panic drops
    /// its `done`) waits, bounded, for the client's thread: when `drop` returns, the
    /// thread has stopped its runtime and ended the client. Before, `drop` returned at
    /// once, the client not ended yet.
    #[tokio::test]
    async fn dropping_a_client_whose_driver_panics_at_the_stop_waits_for_its_end() {
        // How long the thread takes, after the panic, to stop its runtime and end the
        // client, unless the test has already looked: far longer than `drop` takes
        // without waiting, far shorter than its bound (`STOP_BOUND`).
        const SLOW_STOP: Duration = Duration::from_secs(1);
        let (mqtt, mut inputs) = client_and_input(Fake::default(), Config::default(), &[]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (looked, slow_stop) = std::sync::mpsc::channel::<()>();
        let (client, driver_mqtt) = (Arc::downgrade(&mqtt.shared), mqtt.clone());
        let thread = std::thread::spawn(move || {
            run_thread(rt, client, async move {
                let driving = async move {
                    // Dropped with the panic: what `drop` waits for never comes.
                    let _stop = inputs.recv().await;
                    panic!("stopping failed: driver-panic-at-stop-test");
                };
                supervise(driving, &driver_mqtt).await;
                // The thread goes on slowly (a runtime slow to stop): until the test has
                // looked, or `SLOW_STOP` has passed.
                let _ = slow_stop.recv_timeout(SLOW_STOP);
            });
        });
        let client = Client {
            mqtt: mqtt.clone(),
            thread: Some(thread),
        };
        tokio::task::spawn_blocking(move || drop(client))
            .await
            .unwrap();
        let ended = *mqtt.shared.ended.borrow();
        let _ = looked.send(());
        assert!(
            ended,
            "dropping the client returned before its thread had ended the client"
        );
        assert_eq!(
            crate::visible::said::containing("driver-panic-at-stop-test"),
            ["ERROR flask_mqtt::client: the MQTT client stopped: its driver task panicked: stopping failed: driver-panic-at-stop-test"]
        );
    }

    /// The outcome of a first connection a driver never answers.
    type FirstOutcome = std::sync::mpsc::Sender<std::result::Result<(), ConnectError>>;

    /// A required start (`Client::first_connected`, what connect mode `required` waits
    /// on) of `mqtt`, whose client's thread runs `driver` (given the first outcome's
    /// sender and the client's inputs) instead of the real driver, after `meanwhile`
    /// (run once the thread is started): the error the start failed with, or a failure
    /// of the test if it did not fail with `ConnectRequired` within 10 s.
    async fn start_cut_short<D, F>(
        mqtt: &Mqtt,
        inputs: mpsc::UnboundedReceiver<Input>,
        driver: D,
        meanwhile: impl Future<Output = ()>,
    ) -> ConnectError
    where
        D: FnOnce(FirstOutcome, mpsc::UnboundedReceiver<Input>) -> F + Send + 'static,
        F: Future<Output = ()>,
    {
        const DEADLINE: Duration = Duration::from_secs(10);
        let (outcome, first) = std::sync::mpsc::channel();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let client = Arc::downgrade(&mqtt.shared);
        let thread = std::thread::spawn(move || {
            run_thread(rt, client, async move { driver(outcome, inputs).await })
        });
        let client = Client {
            mqtt: mqtt.clone(),
            thread: Some(thread),
        };
        meanwhile.await;
        let started = tokio::task::spawn_blocking(move || client.first_connected(&first));
        let started = tokio::time::timeout(DEADLINE, started)
            .await
            .expect("the start returns once the client has stopped")
            .unwrap();
        let Err(Error::ConnectRequired { source, .. }) = started else {
            panic!("the start did not fail with `ConnectRequired`: {started:?}");
        };
        source
    }

    /// A required start, the client's thread panicking before the first connection's
    /// outcome (setting up the driver, which holds the outcome's sender): the start fails
    /// at once and says the client stopped. Before, it said "no answer within" the whole
    /// first-connect budget, which it had not waited.
    #[tokio::test]
    async fn a_required_start_cut_short_by_a_panic_says_so() {
        let (mqtt, inputs) = client_and_input(Fake::default(), Config::default(), &[]);
        let source = start_cut_short(
            &mqtt,
            inputs,
            |outcome, inputs| async move {
                // Dropped with the panic, unanswered.
                let _driver = (outcome, inputs);
                panic!("setting up the driver failed: first-outcome-test");
            },
            async {},
        )
        .await;
        assert!(
            matches!(&source, ConnectError::Stopped),
            "not `ConnectError::Stopped`: {source}"
        );
        assert_eq!(
            crate::visible::said::containing("first-outcome-test"),
            ["ERROR flask_mqtt::client: the MQTT client stopped: its thread panicked: setting up the driver failed: first-outcome-test"]
        );
    }

    /// A required start, the client stopped by `Mqtt::disconnect()` before the first
    /// connection's outcome (the stop drops the session, which holds the outcome's
    /// sender, unanswered): the start fails with `ConnectError::Stopped`, whose message
    /// says the client was disconnected. Before, it spoke of a panic only ("a panic while
    /// it started is logged as an error"), and nothing had panicked: the driver here
    /// tells that it took the stop and that the stop returned.
    #[tokio::test]
    async fn a_required_start_cut_short_by_a_disconnect_says_so() {
        const DEADLINE: Duration = Duration::from_secs(10);
        let (mqtt, inputs) = client_and_input(Fake::default(), Config::default(), &[]);
        let (stopped_tx, stopped) = std::sync::mpsc::channel();
        let driver_mqtt = mqtt.clone();
        let source = start_cut_short(
            &mqtt,
            inputs,
            move |outcome, mut inputs| async move {
                let mut session = test_session(&driver_mqtt, Vec::new(), None);
                session.first_outcome = Some(outcome);
                // The driver, still waiting for its first connection's outcome, takes
                // the stop as it takes any.
                let Some(Input::Shutdown { done, graceful }) = inputs.recv().await else {
                    panic!("the driver's first input was not the stop");
                };
                let link = Link {
                    up: false,
                    connecting: false,
                };
                shutdown(session, inputs, link, done, graceful).await;
                let _ = stopped_tx.send(());
            },
            async {
                tokio::time::timeout(DEADLINE, mqtt.disconnect())
                    .await
                    .expect("the disconnect is answered");
            },
        )
        .await;
        stopped
            .recv_timeout(DEADLINE)
            .expect("the driver took the stop and the stop returned");
        assert!(
            matches!(&source, ConnectError::Stopped),
            "not `ConnectError::Stopped`: {source}"
        );
        assert!(
            source
                .to_string()
                .contains("it was disconnected (`Mqtt::disconnect()`)"),
            "the message does not say the client was disconnected: {source}"
        );
    }
}
