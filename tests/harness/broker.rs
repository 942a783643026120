//! [`Broker`]: a private Mosquitto process for one test (or one test binary).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::sys;
use crate::tls::{Pki, TlsListeners, TlsOptions};

/// The only address the broker ever listens on.
const HOST: &str = "127.0.0.1";
/// How long a starting broker may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `start_again` keeps retrying while the port is still taken.
const PORT_REUSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a fresh port is tried when another process grabs the port
/// between our probe and Mosquitto's bind.
const FRESH_PORT_ATTEMPTS: usize = 5;
/// How long `stop` waits for a graceful exit before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Number of log lines quoted in failure messages.
const TAIL_LINES: usize = 40;
/// Mosquitto's log line prefix for a client whose CONNECT was accepted.
const CONNECTED_MARKER: &str = "New client connected from ";

/// Environment variable overriding the path of the `mosquitto` binary.
const MOSQUITTO_ENV: &str = "MOSQUITTO";
/// Environment variable overriding the path of `mosquitto_passwd`.
const MOSQUITTO_PASSWD_ENV: &str = "MOSQUITTO_PASSWD";

/// Configures a [`Broker`] before starting it; see [`Broker::builder`].
#[derive(Debug, Clone, Default)]
#[must_use = "a BrokerBuilder does nothing until .build() or .start()"]
pub struct BrokerBuilder {
    users: Vec<(String, String)>,
    persistence: bool,
    autosave_on_changes: Option<u32>,
    unlimited_queue: bool,
    parent_dir: Option<PathBuf>,
    extra: Vec<String>,
    tls: TlsOptions,
}

impl BrokerBuilder {
    /// Requires authentication: adds `user` with password `pass` to a
    /// password file (written with `mosquitto_passwd -b`) and sets
    /// `allow_anonymous false`. Can be called several times for several
    /// users.
    pub fn password(mut self, user: impl Into<String>, pass: impl Into<String>) -> Self {
        self.users.push((user.into(), pass.into()));
        self
    }

    /// Enables Mosquitto persistence (`persistence true`,
    /// `autosave_interval 1`, database file in the broker's temporary
    /// directory), so retained messages and persistent sessions survive
    /// [`Broker::stop`] + [`Broker::start_again`] (and, for what was saved
    /// in the last second, [`Broker::kill`]).
    pub fn persistence(mut self, enabled: bool) -> Self {
        self.persistence = enabled;
        self
    }

    /// Enables persistence (as [`persistence(true)`](Self::persistence))
    /// and saves the database after every `changes` changes instead of
    /// every second (`autosave_on_changes true`, `autosave_interval
    /// changes`; Mosquitto counts subscription changes, retained messages
    /// received and messages queued). With `1`, Mosquitto saves at the end
    /// of every pass of its event loop that changed anything, which is as
    /// close to "saved before it matters" as Mosquitto 2.0 gets: it still
    /// sends a PUBACK *before* the save that records the message, so a
    /// SIGKILL in that gap ([`Broker::kill`]) loses a message the broker
    /// acknowledged (unless it was already sent on to every subscriber).
    /// The log shows each save as `Saving in-memory database to ...`.
    pub fn autosave_on_changes(mut self, changes: u32) -> Self {
        self.persistence = true;
        self.autosave_on_changes = Some(changes.max(1));
        self
    }

    /// Sets `max_queued_messages 0` (no limit on messages queued for
    /// offline persistent sessions; Mosquitto's default is 1000).
    pub fn unlimited_queue(mut self) -> Self {
        self.unlimited_queue = true;
        self
    }

    /// Creates the broker's temporary directory (configuration, log,
    /// persistence database) inside `dir` instead of the system's temporary
    /// directory; it must exist. Meant for `/dev/shm` (tmpfs) when the
    /// broker saves its database often: Mosquitto `fsync`s every save, which
    /// on a disk makes [`autosave_on_changes`](Self::autosave_on_changes) the
    /// bottleneck (measured: 3,000 QoS 1 messages in 2 to 8 s on disk,
    /// 0.8 s on tmpfs). A SIGKILL of the broker ([`Broker::kill`]) loses
    /// nothing the kernel already has, so tmpfs changes nothing about what
    /// survives it.
    pub fn dir_in(mut self, dir: impl Into<PathBuf>) -> Self {
        self.parent_dir = Some(dir.into());
        self
    }

    /// Appends a raw line to the configuration file (after the harness's own
    /// lines, so it can override single-valued options).
    pub fn extra(mut self, line: impl Into<String>) -> Self {
        self.extra.push(line.into());
        self
    }

    /// Adds a TLS listener on another free `127.0.0.1` port
    /// ([`Broker::tls_port`]) that does not ask for client certificates
    /// (`require_certificate false`). Its certificate is signed by a CA the
    /// harness generates for this broker with the `openssl` CLI, see
    /// [`Broker::pki`]; clients verify it with `pki().ca_cert`. The plain
    /// listener ([`Broker::port`]) stays; both serve the same clients and
    /// topics. TLS listeners come after [`extra`](Self::extra) lines in the
    /// configuration, so per-listener `extra` options still apply to the
    /// plain listener. The readiness check's bare TCP connect shows in the
    /// log as `Client connection from 127.0.0.1 failed: ... unexpected eof
    /// while reading.` once per TLS listener and start.
    pub fn tls(mut self) -> Self {
        self.tls.server_auth = true;
        self
    }

    /// Adds a mutual-TLS listener on another free `127.0.0.1` port
    /// ([`Broker::mutual_tls_port`]): like [`tls`](Self::tls), but clients
    /// must present a certificate signed by the harness CA
    /// (`require_certificate true`; `use_identity_as_username false`, so the
    /// certificate is not the MQTT user name). `pki().client_cert` +
    /// `client_key` is one.
    pub fn mutual_tls(mut self) -> Self {
        self.tls.mutual = true;
        self
    }

    /// The subject alternative names of the TLS listeners' server
    /// certificate, in OpenSSL's syntax; default
    /// `"IP:127.0.0.1,DNS:localhost"`. With `"DNS:localhost"`, for example,
    /// a client that checks host names accepts `localhost` but refuses
    /// `127.0.0.1`. Only has an effect together with [`tls`](Self::tls) or
    /// [`mutual_tls`](Self::mutual_tls).
    pub fn tls_server_san(mut self, san: impl Into<String>) -> Self {
        self.tls.server_san = Some(san.into());
        self
    }

    /// The newest TLS version the TLS listeners accept, in OpenSSL's syntax
    /// (`"TLSv1.2"`). Mosquitto's `tls_version` sets only the lowest one, so
    /// this is OpenSSL's `MaxProtocol`, from an `openssl.cnf` of the broker's
    /// own (`OPENSSL_CONF` in its environment; it replaces the system's
    /// OpenSSL configuration for that process). A client that requires a
    /// newer version must fail the handshake. Only has an effect together
    /// with [`tls`](Self::tls) or [`mutual_tls`](Self::mutual_tls).
    pub fn tls_max_version(mut self, version: impl Into<String>) -> Self {
        self.tls.max_version = Some(version.into());
        self
    }

    /// Writes the configuration, starts Mosquitto and waits until it accepts
    /// connections. Panics (with the broker log) if it does not.
    pub fn build(self) -> Broker {
        Broker::launch_new(self)
    }

    /// Same as [`build`](Self::build).
    pub fn start(self) -> Broker {
        self.build()
    }
}

/// A real Mosquitto process listening on a free `127.0.0.1` port.
///
/// Its configuration file, log (`mosquitto.log`, `log_type all`,
/// `connection_messages true`), password file and persistence database live
/// in a temporary directory that is deleted when the `Broker` is dropped;
/// dropping it also kills the process. The process is additionally tied to
/// the test process (it gets SIGKILL if the test binary dies), so a broker
/// kept in a `static` does not outlive the tests.
///
/// Readiness is checked with a plain TCP connect, which appears in the log as
/// `New connection from 127.0.0.1:N on port P.` followed by
/// `Client <unknown> closed its connection.` (once per start); it is not an
/// MQTT connection, so [`connections_from`](Self::connections_from) does not
/// count it.
///
/// All methods take `&self`, so a broker can be shared between threads.
/// Methods panic with a message that includes the tail of the broker log when
/// the broker cannot be started.
///
/// When running as root, the configuration contains `user root`: otherwise
/// Mosquitto switches to the `mosquitto` user and can neither write its log
/// into the (root-owned, 0700) temporary directory nor read the files there.
pub struct Broker {
    settings: BrokerBuilder,
    dir: TempDir,
    port: u16,
    config_path: PathBuf,
    log_path: PathBuf,
    stderr_path: PathBuf,
    child: Mutex<Option<Child>>,
    tls: Option<TlsListeners>,
}

/// Why a launch attempt failed.
enum LaunchError {
    Spawn(io::Error),
    AddrInUse,
    Exited(ExitStatus),
    Timeout,
}

impl fmt::Display for LaunchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LaunchError::Spawn(err) => write!(f, "could not spawn mosquitto: {err}"),
            LaunchError::AddrInUse => write!(f, "the port is already in use"),
            LaunchError::Exited(status) => write!(f, "mosquitto exited during startup ({status})"),
            LaunchError::Timeout => write!(
                f,
                "mosquitto did not accept connections within {START_TIMEOUT:?}"
            ),
        }
    }
}

impl Broker {
    /// Starts a broker that allows anonymous clients (see
    /// [`Broker::builder`] for options).
    pub fn start() -> Broker {
        Broker::builder().build()
    }

    /// A builder for a broker with options (password, persistence, raw
    /// configuration lines).
    pub fn builder() -> BrokerBuilder {
        BrokerBuilder::default()
    }

    fn launch_new(settings: BrokerBuilder) -> Broker {
        let mut builder = tempfile::Builder::new();
        builder.prefix("flask-mqtt-broker-");
        let dir = match &settings.parent_dir {
            Some(parent) => builder.tempdir_in(parent),
            None => builder.tempdir(),
        }
        .unwrap_or_else(|err| panic!("cannot create a temporary directory for mosquitto: {err}"));
        let mut broker = Broker {
            config_path: dir.path().join("mosquitto.conf"),
            log_path: dir.path().join("mosquitto.log"),
            stderr_path: dir.path().join("mosquitto.stderr"),
            tls: TlsListeners::create(&settings.tls, dir.path()),
            dir,
            port: 0,
            settings,
            child: Mutex::new(None),
        };
        broker.write_password_file();
        for attempt in 1..=FRESH_PORT_ATTEMPTS {
            broker.port = free_port();
            if let Some(tls) = &mut broker.tls {
                tls.pick_ports(broker.port, free_port);
            }
            broker.write_config();
            match broker.launch() {
                Ok(child) => {
                    *broker.lock_child() = Some(child);
                    return broker;
                }
                Err(LaunchError::AddrInUse) if attempt < FRESH_PORT_ATTEMPTS => {
                    log::debug!(
                        "port {} was taken before mosquitto bound it, retrying",
                        broker.port
                    );
                }
                Err(err) => panic!("{}", broker.failure(&format!("starting mosquitto: {err}"))),
            }
        }
        unreachable!("the last attempt either returns or panics")
    }

    /// A client configuration for this broker's TCP listener (loopback, its
    /// port) with `client_id`; the caller adds the rest and builds it.
    pub fn config(&self, client_id: impl Into<String>) -> flask_mqtt_actix::ConfigBuilder {
        flask_mqtt_actix::Config::builder()
            .broker_url(HOST)
            .port(self.port)
            .client_id(client_id)
    }

    /// [`config`](Self::config) for the client of `prefix` (`MQTT2`, ...: its keys'
    /// prefix, the `broker = ` of its handlers).
    pub fn config_with_prefix(
        &self,
        prefix: &str,
        client_id: impl Into<String>,
    ) -> flask_mqtt_actix::ConfigBuilder {
        flask_mqtt_actix::ConfigBuilder::with_prefix(prefix)
            .broker_url(HOST)
            .port(self.port)
            .client_id(client_id)
    }

    /// The TCP port the broker listens on (fixed for the broker's lifetime,
    /// also across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the TLS listener: the one added by
    /// [`BrokerBuilder::tls`], or else the one added by
    /// [`BrokerBuilder::mutual_tls`]. Panics if the broker has neither.
    pub fn tls_port(&self) -> u16 {
        self.tls
            .as_ref()
            .and_then(|t| t.server_auth_port.or(t.mutual_port))
            .unwrap_or_else(|| {
                panic!("Broker::tls_port: this broker has no TLS listener; build it with .tls()")
            })
    }

    /// The port of the mutual-TLS listener ([`BrokerBuilder::mutual_tls`]).
    /// Panics if the broker has none.
    pub fn mutual_tls_port(&self) -> u16 {
        self.tls
            .as_ref()
            .and_then(|t| t.mutual_port)
            .unwrap_or_else(|| {
                panic!(
                    "Broker::mutual_tls_port: this broker has no mutual-TLS listener; \
                     build it with .mutual_tls()"
                )
            })
    }

    /// The paho server URI of the TLS listener, `"ssl://127.0.0.1:PORT"`
    /// (see [`tls_port`](Self::tls_port)).
    pub fn tls_uri(&self) -> String {
        format!("ssl://{HOST}:{}", self.tls_port())
    }

    /// The CA, server and client certificates of the TLS listeners (in
    /// `<dir>/pki`). Panics if the broker was built without
    /// [`BrokerBuilder::tls`] or [`BrokerBuilder::mutual_tls`].
    pub fn pki(&self) -> &Pki {
        match &self.tls {
            Some(t) => &t.pki,
            None => panic!("Broker::pki: this broker has no TLS listener; build it with .tls()"),
        }
    }

    /// The listening address: always `"127.0.0.1"`.
    pub fn host(&self) -> &'static str {
        HOST
    }

    /// The paho server URI, `"tcp://127.0.0.1:PORT"`.
    pub fn uri(&self) -> String {
        format!("tcp://{HOST}:{}", self.port)
    }

    /// The broker's temporary directory (configuration, log, password file,
    /// persistence database).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Path of the configuration file.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Path of the persistence database (`mosquitto.db` in [`dir`](Self::dir));
    /// it exists once Mosquitto saved it (only with
    /// [`BrokerBuilder::persistence`]).
    pub fn db_path(&self) -> PathBuf {
        self.dir().join("mosquitto.db")
    }

    /// Path of the Mosquitto log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The process id of the running broker, if it is running.
    pub fn pid(&self) -> Option<u32> {
        let mut child = self.lock_child();
        let c = child.as_mut()?;
        matches!(c.try_wait(), Ok(None)).then(|| c.id())
    }

    /// Whether the Mosquitto process is alive.
    pub fn is_running(&self) -> bool {
        self.pid().is_some()
    }

    /// Kills the broker with SIGKILL (no goodbye to clients, no final
    /// persistence save) and waits for the process to exit. Does nothing if
    /// it is not running.
    pub fn kill(&self) {
        let mut child = self.lock_child();
        if let Some(mut c) = child.take() {
            let _ = c.kill(); // fails only if it already exited
            if let Err(err) = c.wait() {
                panic!("waiting for killed mosquitto (pid {}): {err}", c.id());
            }
        }
    }

    /// Stops the broker gracefully with SIGTERM (it saves its persistence
    /// database) and waits for it to exit; falls back to SIGKILL after 10 s.
    /// Does nothing if it is not running.
    pub fn stop(&self) {
        let mut child = self.lock_child();
        let Some(mut c) = child.take() else { return };
        if matches!(c.try_wait(), Ok(None)) && sys::terminate(c.id()).is_ok() {
            let deadline = Instant::now() + STOP_TIMEOUT;
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = c.kill();
        if let Err(err) = c.wait() {
            panic!("waiting for stopped mosquitto (pid {}): {err}", c.id());
        }
    }

    /// Starts the broker again after [`kill`](Self::kill) or
    /// [`stop`](Self::stop), on the same port with the same configuration
    /// (and the same log file, which is appended to). Retries for up to
    /// 10 s while the port is still in use. Panics if the broker is running
    /// or does not come up.
    pub fn start_again(&self) {
        let mut child = self.lock_child();
        if let Some(c) = child.as_mut() {
            if matches!(c.try_wait(), Ok(None)) {
                panic!(
                    "Broker::start_again: the broker on port {} is still running (pid {}); \
                     call kill() or stop() first, or use restart()",
                    self.port,
                    c.id()
                );
            }
        }
        *child = None;
        let deadline = Instant::now() + PORT_REUSE_TIMEOUT;
        loop {
            match self.launch() {
                Ok(c) => {
                    *child = Some(c);
                    return;
                }
                Err(LaunchError::AddrInUse) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(LaunchError::AddrInUse) => panic!(
                    "{}",
                    self.failure(&format!(
                        "restarting mosquitto: port {} still in use after {PORT_REUSE_TIMEOUT:?}",
                        self.port
                    ))
                ),
                Err(err) => panic!("{}", self.failure(&format!("restarting mosquitto: {err}"))),
            }
        }
    }

    /// [`kill`](Self::kill) followed by [`start_again`](Self::start_again).
    pub fn restart(&self) {
        self.kill();
        self.start_again();
    }

    /// The whole broker log so far (all runs of this broker).
    pub fn log(&self) -> String {
        read_lossy(&self.log_path, 0)
    }

    /// The last `lines` lines of the broker log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log(), lines)
    }

    /// How many times `needle` occurs in the broker log.
    pub fn count_in_log(&self, needle: &str) -> usize {
        if needle.is_empty() {
            return 0;
        }
        self.log().matches(needle).count()
    }

    /// Polls the log until `needle` occurs at least `count` times (returns
    /// `true`) or `timeout` elapses (returns `false`).
    pub fn wait_for_log(&self, needle: &str, count: usize, timeout: Duration) -> bool {
        crate::wait_until(timeout, || self.count_in_log(needle) >= count)
    }

    /// Waits until the broker has sent client `client_id` a SUBACK (its log says so);
    /// panics with the log's tail if it has not within `timeout`.
    pub fn expect_suback(&self, client_id: &str, timeout: Duration) {
        assert!(
            self.wait_for_log(&format!("Sending SUBACK to {client_id}"), 1, timeout),
            "no SUBACK sent to {client_id} within {timeout:?}: {}",
            self.log_tail(20)
        );
    }

    /// How many successful MQTT connections were made by clients whose id
    /// starts with `client_id_prefix` (reconnects count again).
    ///
    /// Counts the log lines Mosquitto 2.0 writes once a CONNECT is accepted:
    /// `New client connected from 127.0.0.1:PORT as ID (p2, c1, k60[, u'USER']).`
    /// Refused connections do not produce such a line.
    pub fn connections_from(&self, client_id_prefix: &str) -> usize {
        self.connected_client_ids()
            .iter()
            .filter(|id| id.starts_with(client_id_prefix))
            .count()
    }

    /// The client id of every accepted MQTT connection so far, in log order
    /// (a client that reconnected appears once per connection; clients that
    /// have since disconnected are included).
    pub fn connected_client_ids(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(client_id_of_connect_line)
            .map(str::to_owned)
            .collect()
    }

    /// A failure message: `what`, then the broker log tail and stderr.
    pub(crate) fn failure(&self, what: &str) -> String {
        failure_message(what, &self.log_path, Some(&self.stderr_path))
    }

    fn lock_child(&self) -> MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_password_file(&self) {
        if self.settings.users.is_empty() {
            return;
        }
        let passwd = self.dir().join("passwd");
        let program = find_program("mosquitto_passwd", MOSQUITTO_PASSWD_ENV);
        for (i, (user, pass)) in self.settings.users.iter().enumerate() {
            let mut cmd = Command::new(&program);
            cmd.arg("-b");
            if i == 0 {
                cmd.arg("-c");
            }
            let out = cmd
                .arg(&passwd)
                .arg(user)
                .arg(pass)
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|err| panic!("running {}: {err}", program.display()));
            if !out.status.success() {
                panic!(
                    "`{} -b{} {} {user} ***` failed ({}):\n{}{}",
                    program.display(),
                    if i == 0 { " -c" } else { "" },
                    passwd.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr),
                );
            }
        }
    }

    fn write_config(&self) {
        let dir = self.dir().display().to_string();
        let s = &self.settings;
        let mut lines = vec![
            "# Written by the flask-mqtt-tests harness.".to_owned(),
            format!("listener {} {HOST}", self.port),
            format!("log_dest file {}", self.log_path.display()),
            "log_type all".to_owned(),
            "log_timestamp true".to_owned(),
            "log_timestamp_format %Y-%m-%dT%H:%M:%S".to_owned(),
            "connection_messages true".to_owned(),
            "sys_interval 1".to_owned(),
        ];
        if sys::is_root() {
            // Otherwise mosquitto drops privileges to user `mosquitto`, which
            // cannot write the log into our 0700 directory.
            lines.push("user root".to_owned());
        }
        if s.users.is_empty() {
            lines.push("allow_anonymous true".to_owned());
        } else {
            lines.push("allow_anonymous false".to_owned());
            lines.push(format!("password_file {dir}/passwd"));
        }
        if s.persistence {
            lines.push("persistence true".to_owned());
            lines.push(format!("persistence_location {dir}/"));
            lines.push("persistence_file mosquitto.db".to_owned());
            match s.autosave_on_changes {
                Some(changes) => {
                    lines.push(format!("autosave_interval {changes}"));
                    lines.push("autosave_on_changes true".to_owned());
                }
                None => lines.push("autosave_interval 1".to_owned()),
            }
        }
        if s.unlimited_queue {
            lines.push("max_queued_messages 0".to_owned());
        }
        lines.extend(s.extra.iter().cloned());
        if let Some(tls) = &self.tls {
            lines.extend(tls.config_lines(HOST));
        }
        let mut text = lines.join("\n");
        text.push('\n');
        fs::write(&self.config_path, text).unwrap_or_else(|err| {
            panic!(
                "writing mosquitto config {}: {err}",
                self.config_path.display()
            )
        });
    }

    /// Spawns mosquitto with the current config and waits until it is ready.
    fn launch(&self) -> Result<Child, LaunchError> {
        let log_offset = file_len(&self.log_path);
        let stderr_file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr_path)
            .map_err(LaunchError::Spawn)?;
        let stdout_file = stderr_file.try_clone().map_err(LaunchError::Spawn)?;
        let stderr_offset = file_len(&self.stderr_path);

        let mut cmd = Command::new(find_program("mosquitto", MOSQUITTO_ENV));
        cmd.arg("-c")
            .arg(&self.config_path)
            .current_dir(self.dir())
            .stdin(Stdio::null())
            .stdout(stdout_file)
            .stderr(stderr_file);
        if let Some(conf) = self.tls.as_ref().and_then(|tls| tls.openssl_conf.as_ref()) {
            cmd.env("OPENSSL_CONF", conf);
        }
        let mut child = sys::spawn_tied_to_process(cmd).map_err(LaunchError::Spawn)?;

        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let output = read_lossy(&self.log_path, log_offset)
                    + &read_lossy(&self.stderr_path, stderr_offset);
                return Err(if output.contains("Address already in use") {
                    LaunchError::AddrInUse
                } else {
                    LaunchError::Exited(status)
                });
            }
            // Both checks: the "running" line proves that *our* process bound
            // the port (a stranger could own it), the connect that it listens.
            let log = read_lossy(&self.log_path, log_offset);
            if has_running_line(&log)
                && TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
                // Each TLS listener: its "listen socket" line and a connect.
                && self.tls.as_ref().map_or(true, |tls| tls.ready(&log))
            {
                return Ok(child);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(LaunchError::Timeout);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl fmt::Debug for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broker")
            .field("uri", &self.uri())
            .field("dir", &self.dir())
            .field("pid", &self.pid())
            .finish()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(PoisonError::into_inner);
        let Some(mut c) = child.take() else { return };
        if std::thread::panicking() {
            // Help the failing test: libtest shows this with its output.
            // (Not when starting failed: that panic message has the log.)
            eprintln!(
                "{}",
                failure_message(
                    &format!("(test panicked while the broker {} was alive)", self.uri()),
                    &self.log_path,
                    Some(&self.stderr_path),
                )
            );
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// Builds a failure message with the tail of the log at `log_path` (and the
/// content of `stderr_path`, if any).
pub(crate) fn failure_message(what: &str, log_path: &Path, stderr_path: Option<&Path>) -> String {
    let mut msg = format!(
        "{what}\n--- last {TAIL_LINES} lines of the broker log {} ---\n{}",
        log_path.display(),
        tail(&read_lossy(log_path, 0), TAIL_LINES)
    );
    if let Some(stderr_path) = stderr_path {
        let stderr = read_lossy(stderr_path, 0);
        if !stderr.trim().is_empty() {
            msg.push_str("\n--- mosquitto stdout/stderr ---\n");
            msg.push_str(&tail(&stderr, TAIL_LINES));
        }
    }
    msg.push_str("\n--- end of broker log ---");
    msg
}

/// Extracts ID from `... New client connected from ADDR as ID (p2, c1, k60).`
fn client_id_of_connect_line(line: &str) -> Option<&str> {
    let rest = &line[line.find(CONNECTED_MARKER)? + CONNECTED_MARKER.len()..];
    let rest = &rest[rest.find(" as ")? + " as ".len()..];
    Some(&rest[..rest.find(" (p")?])
}

/// Whether `log` has Mosquitto's `mosquitto version X running` line.
fn has_running_line(log: &str) -> bool {
    log.lines()
        .any(|l| l.contains("mosquitto version") && l.trim_end().ends_with(" running"))
}

/// A port on 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|err| panic!("cannot bind 127.0.0.1:0 to find a free port: {err}"))
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The content of `path` from byte `offset` (lossy UTF-8; empty if missing).
pub(crate) fn read_lossy(path: &Path, offset: u64) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut file) = File::open(path) {
        if file.seek(SeekFrom::Start(offset)).is_ok() {
            let _ = file.read_to_end(&mut bytes);
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Finds `name` via `$env_var`, `PATH`, or the sbin directories that are not
/// in a normal user's `PATH` on Debian (`mosquitto` lives in `/usr/sbin`).
fn find_program(name: &str, env_var: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env_var) {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            [
                "/usr/sbin",
                "/usr/local/sbin",
                "/sbin",
                "/usr/bin",
                "/usr/local/bin",
            ]
            .into_iter()
            .map(PathBuf::from),
        )
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` not found in PATH nor in /usr/sbin, /usr/local/sbin: install Mosquitto \
                 (run scripts/setup) or set {env_var}=/path/to/{name}"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_connect_lines() {
        let line = "2025-01-01T00:00:00: New client connected from 127.0.0.1:56386 as sub-one (p2, c1, k60).";
        assert_eq!(client_id_of_connect_line(line), Some("sub-one"));
        let line = "1795555721: New client connected from 127.0.0.1:58016 as good5 (p5, c1, k60, u'alice').";
        assert_eq!(client_id_of_connect_line(line), Some("good5"));
        assert_eq!(client_id_of_connect_line("1: Client x disconnected."), None);
    }

    #[test]
    fn recognises_running_line() {
        assert!(has_running_line("1: mosquitto version 2.0.11 running\n"));
        assert!(!has_running_line("1: mosquitto version 2.0.11 starting\n"));
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
