//! `configure`: one client per broker per process, shared by every actix worker.

use std::collections::{BTreeMap, BTreeSet};
use std::future::{ready, Ready};
use std::sync::{Arc, Condvar, Mutex, Once, Weak};
use std::time::{Duration, Instant};

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use flask_mqtt_core::__actix::report;
use flask_mqtt_core::{Client, Config, ConnectMode, Error, Mqtt, MqttUnavailable, DEFAULT_PREFIX};

use crate::exit::at_exit;

const TARGET: &str = "flask_mqtt::actix";

/// Every MQTT client of the process by name (`MQTT`, `MQTT2`, ...): an actix extractor
/// for HTTP handlers that talk to more than the default broker.
///
/// ```no_run
/// use flask_mqtt_actix as mqtt;
///
/// async fn forward(clients: mqtt::Clients) -> actix_web::HttpResponse {
///     if let Some(second) = clients.get("MQTT2") {
///         second.publish("bridge/in", "hello").await.ok();
///     }
///     actix_web::HttpResponse::Ok().finish()
/// }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Clients {
    by_name: Arc<BTreeMap<String, Mqtt>>,
    /// Why each client that did not start did not; only its users answer 503.
    failed: Arc<BTreeMap<String, MqttUnavailable>>,
}

impl Clients {
    /// The client configured with keys prefixed `name` (`MQTT` is the default client);
    /// `None` when it is not running ([`require`](Clients::require) says why).
    pub fn get(&self, name: &str) -> Option<&Mqtt> {
        self.by_name.get(name)
    }

    /// The client named `name`, or why it is not running, as an error an HTTP handler
    /// returns with `?`: 503 Service Unavailable with the reason, e.g. ``MQTT client MQTT2
    /// not started: invalid MQTT2_BROKER_PORT `abc`: ...``.
    ///
    /// ```no_run
    /// use flask_mqtt_actix as mqtt;
    ///
    /// async fn forward(clients: mqtt::Clients) -> actix_web::Result<&'static str> {
    ///     clients.require("MQTT2")?.publish("bridge/in", "hello").await.ok();
    ///     Ok("sent")
    /// }
    /// ```
    pub fn require(&self, name: &str) -> Result<&Mqtt, MqttUnavailable> {
        if let Some(client) = self.by_name.get(name) {
            return Ok(client);
        }
        Err(self.failed.get(name).cloned().unwrap_or_else(|| {
            MqttUnavailable(format!(
                "no MQTT client {}: no handler names it (`broker = \"..\"`) and no `mqtt::init*` configured it",
                escape(name)
            ))
        }))
    }

    /// The names of every running client.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    /// Every client that did not start, with why (a configuration error, reported once
    /// when it happened): `("MQTT2", "MQTT client MQTT2 not started: ...")`.
    pub fn not_started(&self) -> impl Iterator<Item = (&str, &str)> {
        self.failed.iter().map(|(n, e)| (n.as_str(), e.0.as_str()))
    }
}

/// `name` as a message shows it: control characters escaped.
fn escape(name: &str) -> String {
    name.chars().flat_map(char::escape_debug).collect()
}

impl FromRequest for Clients {
    type Error = MqttUnavailable;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.app_data::<Clients>().cloned().ok_or_else(|| {
            MqttUnavailable(
                "the MQTT clients are not available: configure the app with `App::new().configure(mqtt::configure)`".to_owned(),
            )
        }))
    }
}

/// Held by every worker's app; the clients stop when the last one is dropped, or when
/// the process exits, whichever comes first.
struct Guard {
    clients: Mutex<Vec<Client>>,
}

impl Guard {
    fn new(clients: Vec<Client>) -> Guard {
        if !clients.is_empty() {
            *lock(&OWNING.0) += 1;
            hook_exit();
        }
        Guard {
            clients: Mutex::new(clients),
        }
    }

    /// Stops the clients (gracefully, blocking this thread, bounded) unless someone did.
    fn stop(clients: Vec<Client>, why: &str) {
        if clients.is_empty() {
            return;
        }
        log::info!(target: TARGET, "{why}; stopping MQTT clients");
        // Each drop blocks until its client has stopped: handlers finished, publishes
        // sent, DISCONNECT (bounded).
        drop(clients);
        let (count, stopped) = &OWNING;
        let mut n = lock(count);
        *n = n.saturating_sub(1);
        stopped.notify_all();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let clients = match self.clients.get_mut() {
            Ok(c) => std::mem::take(c),
            Err(p) => std::mem::take(p.into_inner()),
        };
        Guard::stop(clients, "last actix worker stopped");
    }
}

/// Guards whose clients are not stopped yet, and a signal when that count drops.
static OWNING: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());
static AT_EXIT: Once = Once::new();

/// Makes sure [`stop_at_exit`] runs when the process exits: once a client runs.
fn hook_exit() {
    AT_EXIT.call_once(|| {
        if !at_exit(stop_at_exit) {
            log::debug!(target: TARGET, "no exit hook: clients stop with the workers only");
        }
    });
}

/// The longest a client's graceful stop takes: the bound of `Client`'s drop (four steps
/// of at most 5 s one after the other: leaving shared groups or the connect attempt under
/// way, handlers and publishes, DISCONNECT, the calls of what came before it; a second's
/// margin; a second for its runtime). At least `__actix::CLIENT_STOP_BOUND`
/// (`exit_hook_outlasts_a_clients_stop`).
const STOP_BOUND: Duration = Duration::from_secs(22);

/// At process exit: `HttpServer::run` has returned, but the worker threads that own the
/// clients may still be stopping them (or, after `std::process::exit`, never will). Stop
/// what is still running and wait for stops under way, so the running handlers finish,
/// pending publishes go out and the broker sees a DISCONNECT (no last will). Clients
/// `init` started that no server took (`main` returned an error after `init`, say) stop
/// here too.
extern "C" fn stop_at_exit() {
    let (live, unused) = match SLOT.try_lock() {
        Ok(mut s) => taken_at_exit(&mut s),
        Err(std::sync::TryLockError::Poisoned(p)) => taken_at_exit(&mut p.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => (None, BTreeMap::new()),
    };
    if !unused.is_empty() {
        log::info!(target: TARGET, "process exiting; stopping MQTT clients no server used");
        // Each drop blocks until its client has stopped (DISCONNECT sent, bounded).
        drop(unused);
    }
    if let Some(guard) = live {
        let clients = std::mem::take(&mut *lock(&guard.clients));
        Guard::stop(clients, "process exiting");
    }
    let deadline = Instant::now() + STOP_BOUND;
    let (count, stopped) = &OWNING;
    let mut n = lock(count);
    while *n > 0 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        n = match stopped.wait_timeout(n, left) {
            Ok((n, _)) => n,
            Err(p) => p.into_inner().0,
        };
    }
}

/// What the exit hook stops: the running set, and the clients `init` started that no
/// server took (taken out of the slot, to be stopped without holding its lock).
fn taken_at_exit(slot: &mut Option<Slot>) -> (Option<Arc<Guard>>, BTreeMap<String, Client>) {
    let Some(s) = slot.as_mut() else {
        return (None, BTreeMap::new());
    };
    let live = s.running.as_ref().and_then(|(g, _)| g.upgrade());
    (live, std::mem::take(&mut s.started))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Default)]
struct Slot {
    /// Settings given by `init*` for clients not started yet.
    configs: BTreeMap<String, Config>,
    /// Clients started by `init*` (connect mode `required`), not yet handed to a server.
    started: BTreeMap<String, Client>,
    /// The running set, shared by the workers of the current server.
    running: Option<(Weak<Guard>, Clients)>,
}

static SLOT: Mutex<Option<Slot>> = Mutex::new(None);

fn with_slot<R>(f: impl FnOnce(&mut Slot) -> R) -> R {
    let mut guard = SLOT.lock().unwrap_or_else(|p| p.into_inner());
    f(guard.get_or_insert_with(Slot::default))
}

/// Reads the configuration of every client the app uses now (the environment, and the
/// TOML file named by `MQTT_CONFIG_FILE`), so that a bad value stops the program before
/// the server starts: the default client (`MQTT_*`, always read again) and each client a
/// handler names with `broker = "..."` (`MQTT2_*`, ...), except one whose settings
/// [`init_named`] or [`init_with`] already gave. A client with connect mode `required`
/// (`MQTT_CONNECT_MODE=required`) also connects now, and `init` fails if the broker
/// cannot be reached, after at most the connection timeout (rounded up to whole
/// seconds) per broker of the list plus 1 s; a client started so that no server
/// takes (`main` returns an error after `init`, say) still disconnects gracefully when
/// the process exits, so the broker publishes no last will. The first error is returned;
/// clients that `init` started before it keep running.
///
/// Without `init`, [`configure`] reads the settings itself, and cannot fail startup:
/// there, `required` connects in the background like `background` (and says so once).
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// flask_mqtt_actix::init()?; // e.g. "invalid MQTT_BROKER_PORT `abc`: expected a port number from 1 to 65535"
/// # Ok(()) }
/// ```
pub fn init() -> Result<(), Error> {
    init_named(DEFAULT_PREFIX)?;
    let declared = flask_mqtt_core::__actix::declared_brokers();
    for name in declared.into_iter().filter(|n| *n != DEFAULT_PREFIX) {
        if !with_slot(|s| s.configs.contains_key(name)) {
            init_named(name)?;
        }
    }
    Ok(())
}

/// [`init`] for the client whose keys start with `prefix` (`MQTT2_BROKER_URL`, ...).
pub fn init_named(prefix: &str) -> Result<(), Error> {
    let config = Config::from_env_prefix(prefix)?;
    start_or_keep(config)
}

/// Uses `config` for the client named `config.prefix()` (`MQTT` unless built with
/// [`ConfigBuilder::with_prefix`](flask_mqtt_core::ConfigBuilder::with_prefix)) instead of
/// the environment. With connect mode `required` it connects now; other errors cannot
/// happen, since the config is already validated. Has no effect on a running client.
pub fn init_with(config: Config) -> Result<(), Error> {
    start_or_keep(config)
}

fn start_or_keep(config: Config) -> Result<(), Error> {
    let name = config.prefix().to_owned();
    let running = with_slot(|s| {
        s.running
            .as_ref()
            .is_some_and(|(g, c)| g.strong_count() > 0 && c.get(&name).is_some())
    });
    if running {
        // The new settings are not used: a program without a logger must see that too.
        report(
            TARGET,
            log::Level::Warn,
            &format_args!("init for {name} ignored: that MQTT client is already running"),
        );
        return Ok(());
    }
    if config.connect_mode() == ConnectMode::Required {
        // Blocks until connected or the first connect failed (at most the connection
        // timeout per broker of the list, plus 1 s): this is startup code.
        // Paused until the first app is built (crate::ready).
        let client = Client::start_paused(config.clone())?;
        // Stopped gracefully at exit even if no server ever takes it.
        hook_exit();
        let replaced = with_slot(|s| {
            // The settings stay for a server started again later in this process.
            s.configs.insert(name.clone(), config);
            s.started.insert(name, client)
        });
        // An earlier `init` of the same client: stopped, outside the slot's lock.
        drop(replaced);
    } else {
        with_slot(|s| {
            s.configs.insert(name, config);
        });
    }
    Ok(())
}

/// Adds the MQTT clients to an actix-web app: `App::new().configure(mqtt::configure)`.
///
/// The first call in a process starts the default client, every client named by a
/// handler's `broker = "..."` and every client given to `init*`, and shares them with
/// every worker: one broker connection per client per process. `Mqtt` (the default
/// client), [`Clients`] and `web::Data<Mqtt>` become available to HTTP handlers.
///
/// Each client starts on its own. If one cannot start (a bad setting), the others run,
/// the server still serves, and only what needs that client answers 503 with the reason
/// (the `Mqtt` extractor for the default client, [`Clients::require`] for any;
/// [`readiness`](crate::readiness) lists it as `not_started`); the reason is reported
/// once per process (not once per worker): logged as an error under
/// `flask_mqtt::actix`, or written to stderr when no logger would show it. Later
/// workers share the outcome of the first: they neither try the failed client again nor
/// start the others again. Serving on is the plugin's contract (the broker may be away
/// too, and HTTP keeps working); making the mistake impossible to miss is what stderr is
/// for. To fail at startup instead, call [`init`] before building the server.
///
/// `configure` never blocks on the broker: a client with connect mode `required` that
/// [`init`] did not start connects in the background like `background`, and a warning
/// (once per process) says that `required` only takes effect through [`init`].
///
/// No MQTT handler runs (and no message is acknowledged) before the app of the first
/// worker is built: state the same factory registers after `configure`
/// (`.configure(mqtt::manage(data))`) is there for the first message, also for the
/// messages a persistent session kept while the app was away. They wait in the client
/// meanwhile, in order.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let (guard, clients) = acquire();
    match clients.require(DEFAULT_PREFIX) {
        Ok(default) => {
            cfg.app_data(web::Data::new(default.clone()))
                .app_data(default.clone());
        }
        // What the `Mqtt` extractor answers.
        Err(why) => {
            cfg.app_data(why);
        }
    }
    // Handlers run once this app is built: after the rest of the factory.
    cfg.service(crate::ready::ReadyWhenBuilt::new(
        clients.by_name.values().cloned().collect(),
    ));
    cfg.app_data(clients).app_data(web::Data::from(guard));
}

/// What the extractors and endpoints answer (503) when a client did not start: `why` is
/// [`fail`]'s text, which shows configuration errors as they are (never a password).
fn unavailable(why: &str) -> MqttUnavailable {
    MqttUnavailable(format!("the MQTT client is not available: {why}"))
}

/// The running set of the current server, or a new one: every client started on its
/// own, those that cannot start recorded with why. Later workers get the same set.
fn acquire() -> (Arc<Guard>, Clients) {
    let mut slot = SLOT.lock().unwrap_or_else(|p| p.into_inner());
    let s = slot.get_or_insert_with(Slot::default);
    if let Some((weak, clients)) = &s.running {
        if let Some(guard) = weak.upgrade() {
            return (guard, clients.clone());
        }
    }
    let mut names: Vec<String> = vec![DEFAULT_PREFIX.to_owned()];
    names.extend(
        flask_mqtt_core::__actix::declared_brokers()
            .into_iter()
            .map(str::to_owned),
    );
    names.extend(s.configs.keys().cloned());
    names.extend(s.started.keys().cloned());
    names.sort();
    names.dedup();

    let mut clients = Vec::new();
    let mut by_name = BTreeMap::new();
    let mut failed = BTreeMap::new();
    for name in names {
        match start(s, &name) {
            Ok(client) => {
                crate::state::hand_to(&client.handle());
                by_name.insert(name, client.handle());
                clients.push(client);
            }
            Err(why) => {
                failed.insert(name, unavailable(&why));
            }
        }
    }
    let guard = Arc::new(Guard::new(clients));
    let clients = Clients {
        by_name: Arc::new(by_name),
        failed: Arc::new(failed),
    };
    s.running = Some((Arc::downgrade(&guard), clients.clone()));
    (guard, clients)
}

/// The client `name`: the one `init` started, or a new one (paused until the first app
/// is built, crate::ready) from the settings `init*` gave or the environment. Never
/// blocks on the broker; the error is [`fail`]'s text.
fn start(s: &mut Slot, name: &str) -> Result<Client, String> {
    if let Some(client) = s.started.remove(name) {
        return Ok(client);
    }
    // Kept (not taken): a server started again in this process uses the same settings.
    let config = match s.configs.get(name).cloned() {
        // `init*` honoured `required` already (a server started again reconnects in
        // the background).
        Some(c) => c,
        None => {
            let c = Config::from_env_prefix(name).map_err(|e| fail(name, &e))?;
            if c.connect_mode() == ConnectMode::Required {
                say_once(
                    log::Level::Warn,
                    format!(
                        "MQTT client {name}: connect mode `required` ({name}_CONNECT_MODE) only takes effect through `mqtt::init()`, called before the server starts; `configure` alone cannot fail startup, so this client connects in the background and keeps retrying, like `background`"
                    ),
                );
            }
            c
        }
    };
    let config = flask_mqtt_core::__actix::in_background(config);
    Client::start_paused(config).map_err(|e| fail(name, &e))
}

/// The handles of the running clients (none before the first `configure`): for
/// `manage` called after it.
pub(crate) fn running_clients() -> Vec<Mqtt> {
    with_slot(|s| match &s.running {
        Some((guard, clients)) if guard.strong_count() > 0 => {
            clients.by_name.values().cloned().collect()
        }
        _ => Vec::new(),
    })
}

/// Why a client did not start, reported once per process: every worker of a server
/// builds its app and would say it again.
fn fail(name: &str, e: &dyn std::fmt::Display) -> String {
    let why = format!("MQTT client {name} not started: {e}");
    say_once(
        log::Level::Error,
        format!("{why}; serving without it (its handlers answer 503)"),
    );
    why
}

/// Reports `message` (logged, or on stderr without a logger) unless it was already,
/// in this process.
fn say_once(level: log::Level, message: String) {
    static REPORTED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    if lock(&REPORTED).insert(message.clone()) {
        report(TARGET, level, &message);
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{body::MessageBody, test, web, App, HttpResponse};

    use super::*;

    const SECRET: &str = "hunter2secret";

    async fn publish(_: Mqtt) -> HttpResponse {
        HttpResponse::Ok().finish()
    }

    /// A client that did not start because of a setting holding the password: no 503
    /// body (the `Mqtt` extractor, readiness, metrics) shows the password.
    #[actix_web::test]
    async fn no_503_body_shows_the_password() {
        let errors = [
            Config::from_toml_str(
                "[MQTT]\nusername = \"u\"\npassword = hunter2secret\n",
                "MQTT",
            ),
            Config::from_toml_str("[MQTT]\npassword = \"hunter2secret\n", "MQTT"),
            Config::from_toml_str("[MQTT]\npassword = [\"hunter2secret\"]\n", "MQTT"),
            Config::from_toml_str("password = \"hunter2secret\"\n", "MQTT"),
            Config::from_toml_str(
                "[MQTT]\nbroker_url = \"mqtt://u:hunter2secret@host:1883\"\n",
                "MQTT",
            ),
            Config::builder()
                .broker_url("mqtts://u:hunter2secret@host,backup")
                .build(),
            Config::builder()
                .credentials("u", "hunter2\0secret")
                .build(),
        ];
        for error in errors {
            let error = error.unwrap_err();
            let app = test::init_service(
                App::new()
                    .app_data(unavailable(&fail(DEFAULT_PREFIX, &error)))
                    .route("/publish", web::post().to(publish))
                    .route("/ready", web::get().to(crate::health::readiness))
                    .route("/metrics", web::get().to(crate::metrics::metrics)),
            )
            .await;
            for (method, path) in [
                (test::TestRequest::post(), "/publish"),
                (test::TestRequest::get(), "/ready"),
                (test::TestRequest::get(), "/metrics"),
            ] {
                let res = test::call_service(&app, method.uri(path).to_request()).await;
                assert_eq!(res.status(), 503, "{path}: {error}");
                let body = res.into_body().try_into_bytes().unwrap_or_default();
                let body = String::from_utf8_lossy(&body);
                assert!(body.contains("not started"), "{path}: {body}");
                assert!(!body.contains(SECRET), "{path}: {body}");
                assert!(!body.contains("hunter2"), "{path}: {body}");
            }
        }
    }
}

#[cfg(test)]
mod exit_hook_tests {
    use super::STOP_BOUND;

    /// The exit hook waits for the stops under way on the workers, each as long as a
    /// `Client`'s drop may block: a stop step made longer (or added, with
    /// `SHUTDOWN_STEPS`) without raising the hook's bound would let the process exit
    /// before the DISCONNECT, and the broker publish the last will.
    #[test]
    fn exit_hook_outlasts_a_clients_stop() {
        let client = flask_mqtt_core::__actix::CLIENT_STOP_BOUND;
        assert!(
            STOP_BOUND >= client,
            "the exit hook waits {STOP_BOUND:?}, a client's stop may take {client:?}"
        );
    }
}
