//! [`RmqttCluster`]: a private cluster of RMQTT brokers (crates.io `rmqttd`, built once by
//! `scripts/setup-rmqtt`) on free loopback ports, joined by the `rmqtt-cluster-raft`
//! plugin, with `rmqtt-shared-subscription` for `$share/GROUP/FILTER`.
//!
//! Each node has its own directory in one temporary directory: `rmqtt.toml` (node id, its
//! gRPC address, its MQTT listener), `plugins/*.toml` (the raft peers and the gRPC
//! addresses of all nodes, the shared-subscription strategy), its log (`rmqtt.log`) and
//! what it printed (`stdout.log`). Every address is `127.0.0.1`.

use std::fs::{self, OpenOptions};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::broker::{read_lossy, tail};
use crate::client::Observer;
use crate::setup_script::installed_by;
use crate::sys;

/// Environment variable naming an `rmqttd` binary to use instead of the one
/// `scripts/setup-rmqtt` builds.
const RMQTTD_ENV: &str = "RMQTTD";
/// Environment variable naming a directory where each cluster's directory (its nodes'
/// logs, and what a test writes into [`RmqttCluster::dir`]) is made and kept after the
/// test, for a failure seen once in many runs; unset, it is removed.
const KEEP_LOGS_ENV: &str = "FLASK_MQTT_KEEP_LOGS";
/// How long a node may take to accept MQTT connections, and the cluster to route a
/// message from every node to every other.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`RmqttCluster::start_again`] keeps trying: the kernel's `TIME_WAIT` (60 s)
/// and a start.
const RESTART_TIMEOUT: Duration = Duration::from_secs(120);
/// Log lines quoted per node in failure messages.
const TAIL_LINES: usize = 30;

/// The `rmqttd` binary: `$RMQTTD`, or what `scripts/setup-rmqtt` built (it builds it the
/// first time, then only prints the path). Panics with the script's output if it fails.
pub fn rmqttd() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os(RMQTTD_ENV) {
            return PathBuf::from(path);
        }
        installed_by("setup-rmqtt")
    })
    .clone()
}

/// One node: its ports, directory and process.
struct Node {
    id: u64,
    port: u16,
    dir: PathBuf,
    child: Mutex<Option<Child>>,
}

impl Node {
    fn lock_child(&self) -> MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("rmqtt.log")
    }
}

/// A cluster of RMQTT nodes on `127.0.0.1` (see the module docs).
///
/// Nodes are numbered from 0 (node ids 1, 2, ...). All methods take `&self`. Dropping the
/// cluster kills every node's process group; each node is also tied to the test process
/// (SIGKILL when it dies).
pub struct RmqttCluster {
    nodes: Vec<Node>,
    bin: PathBuf,
    // Last: removed after the nodes are killed.
    dir: TempDir,
}

impl RmqttCluster {
    /// Starts a cluster of three nodes and waits until it has formed (see
    /// [`wait_formed`](Self::wait_formed)).
    pub fn start() -> RmqttCluster {
        Self::start_nodes(3)
    }

    /// Starts a cluster of `n` nodes and waits until it has formed.
    pub fn start_nodes(n: usize) -> RmqttCluster {
        let bin = rmqttd();
        let keep = std::env::var_os(KEEP_LOGS_ENV);
        let mut builder = tempfile::Builder::new();
        builder
            .prefix("flask-mqtt-rmqtt-")
            .disable_cleanup(keep.is_some());
        let dir = match &keep {
            Some(parent) => {
                fs::create_dir_all(parent)
                    .unwrap_or_else(|e| panic!("cannot create ${KEEP_LOGS_ENV}: {e}"));
                builder.tempdir_in(parent)
            }
            None => builder.tempdir(),
        }
        .unwrap_or_else(|e| panic!("cannot create a temporary directory for rmqtt: {e}"));
        if keep.is_some() {
            eprintln!("RmqttCluster: logs kept in {}", dir.path().display());
        }
        // Three ports per node (MQTT, gRPC, raft), all taken from the kernel at once and
        // held until every one is chosen, so that no two are the same.
        let holders: Vec<std::net::TcpListener> = (0..3 * n)
            .map(|_| std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap())
            .collect();
        let taken: Vec<u16> = holders
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        drop(holders);
        let ports: Vec<[u16; 3]> = taken.chunks(3).map(|c| [c[0], c[1], c[2]]).collect();
        let grpc: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("\"{}@127.0.0.1:{}\"", i + 1, p[1]))
            .collect();
        let raft: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("\"{}@127.0.0.1:{}\"", i + 1, p[2]))
            .collect();
        let nodes = ports
            .iter()
            .enumerate()
            .map(|(i, [mqtt, grpc_port, raft_port])| {
                let id = i as u64 + 1;
                let node_dir = dir.path().join(format!("node{id}"));
                let plugins = node_dir.join("plugins");
                fs::create_dir_all(&plugins)
                    .unwrap_or_else(|e| panic!("cannot create {}: {e}", plugins.display()));
                write(
                    &node_dir.join("rmqtt.toml"),
                    &node_config(id, *mqtt, *grpc_port, &node_dir),
                );
                write(
                    &plugins.join("rmqtt-cluster-raft.toml"),
                    &format!(
                        "node_grpc_addrs = [{}]\nraft_peer_addrs = [{}]\nladdr = \"127.0.0.1:{raft_port}\"\nleader_id = 0\n",
                        grpc.join(", "),
                        raft.join(", ")
                    ),
                );
                write(
                    &plugins.join("rmqtt-shared-subscription.toml"),
                    "strategy = \"round_robin\"\n",
                );
                Node {
                    id,
                    port: *mqtt,
                    dir: node_dir,
                    child: Mutex::new(None),
                }
            })
            .collect();
        let cluster = RmqttCluster { nodes, bin, dir };
        // One after the other: the first node leads, and each other one joins it (two
        // joining at once sometimes left one out of the raft group).
        for i in 0..n {
            cluster.spawn(i);
            assert!(
                cluster.wait_listening(i),
                "rmqttd node {i} did not start:\n{}",
                cluster.logs_tail(TAIL_LINES)
            );
        }
        cluster.wait_formed();
        cluster
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the cluster has no nodes (never: it has at least one).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The MQTT port of node `i`.
    pub fn port(&self, i: usize) -> u16 {
        self.nodes[i].port
    }

    /// The paho server URI of node `i`, `"tcp://127.0.0.1:PORT"`.
    pub fn uri(&self, i: usize) -> String {
        format!("tcp://127.0.0.1:{}", self.port(i))
    }

    /// An `MQTT_BROKER_URL` with node `first` first and the other nodes after it, in
    /// order, as fallbacks: `mqtt://127.0.0.1:P1,mqtt://127.0.0.1:P2,...`.
    pub fn url_list(&self, first: usize) -> String {
        let n = self.nodes.len();
        (0..n)
            .map(|k| format!("mqtt://127.0.0.1:{}", self.port((first + k) % n)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The cluster's directory (one `nodeN` directory per node); kept after the test
    /// when `$FLASK_MQTT_KEEP_LOGS` is set.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The client ids, one per connection, of the connections whose end a node logged
    /// with a failed write (`close io error, ...`: RMQTT's `Session::run` closing the
    /// connection's sink found it broken, e.g. `Broken pipe`), over all nodes' logs.
    ///
    /// RMQTT 0.24 loses a message there: `Session::deliver` puts a PUBLISH in the
    /// session's in-flight window only once its write succeeded, so the one whose write
    /// failed (the connection was reset) is in neither the window nor the queue, and a
    /// resumed session does not send it. `tests/cluster.rs` counts a lost job as the
    /// broker's only against such a line ([`RmqttCluster::failed_writes_of`]).
    pub fn failed_writes(&self) -> Vec<String> {
        self.close_errors().into_iter().map(|(id, _)| id).collect()
    }

    /// The `close io error` lines (as [`RmqttCluster::failed_writes`]) of `client_id`'s
    /// connections whose error is a failed write (`Encoding error`, `Broken pipe`), over
    /// all nodes' logs: one per connection of that client that ended with the write
    /// that RMQTT 0.24 loses.
    pub fn failed_writes_of(&self, client_id: &str) -> Vec<String> {
        self.close_errors()
            .into_iter()
            .filter(|(id, line)| {
                id == client_id && (line.contains("Encoding error") || line.contains("Broken pipe"))
            })
            .map(|(_, line)| line)
            .collect()
    }

    /// Every `close io error, ` line of every node's log, with the client id of its
    /// connection.
    fn close_errors(&self) -> Vec<(String, String)> {
        let mut lines = Vec::new();
        for node in &self.nodes {
            let log = read_lossy(&node.log_path(), 0);
            for line in log.lines().filter(|l| l.contains(" close io error, ")) {
                // `... rmqtt::session: 215: NODE@LISTENER/PEER/CLIENT_ID/USER/N close io error, ...`
                let Some(conn) = line.split(' ').find(|w| w.contains('@') && w.contains('/'))
                else {
                    continue;
                };
                if let Some(id) = conn.split('/').nth(2) {
                    lines.push((id.to_owned(), line.to_owned()));
                }
            }
        }
        lines
    }

    /// The log file of node `i`.
    pub fn log_path(&self, i: usize) -> PathBuf {
        self.nodes[i].log_path()
    }

    /// The last `lines` lines of every node's log and output, for failure messages.
    pub fn logs_tail(&self, lines: usize) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            for file in ["rmqtt.log", "stdout.log"] {
                let path = node.dir.join(file);
                out.push_str(&format!(
                    "--- node {} {} ---\n{}\n",
                    node.id,
                    path.display(),
                    tail(&read_lossy(&path, 0), lines)
                ));
            }
        }
        out
    }

    /// An [`Observer`] (a raw Paho client) connected to node `i`.
    pub fn observer(&self, i: usize) -> Observer {
        Observer::connect_uri(&self.uri(i), &self.log_path(i))
    }

    /// Whether node `i`'s process is alive.
    pub fn is_running(&self, i: usize) -> bool {
        let mut child = self.nodes[i].lock_child();
        child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILLs node `i` (its process group) and waits for it to exit.
    pub fn kill(&self, i: usize) {
        let mut child = self.nodes[i].lock_child();
        if let Some(mut c) = child.take() {
            let _ = sys::kill_group(c.id());
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts node `i` again after [`kill`](Self::kill), on the same ports with the same
    /// configuration, and waits until the cluster has formed again; returns how long the
    /// node took to start.
    ///
    /// RMQTT's raft listener does not set `SO_REUSEADDR` (whatever
    /// `raft.grpc_reuseaddr` says): while the connections the killed process had
    /// accepted are in `TIME_WAIT` (60 s on Linux), binding it fails with "Address
    /// already in use" and the node exits. It is started again until it binds, for up to
    /// `RESTART_TIMEOUT` (120 s).
    pub fn start_again(&self, i: usize) -> Duration {
        assert!(
            !self.is_running(i),
            "RmqttCluster::start_again: node {i} is running"
        );
        let started = Instant::now();
        let deadline = started + RESTART_TIMEOUT;
        loop {
            self.spawn(i);
            if self.wait_listening(i) {
                break;
            }
            self.kill(i);
            assert!(
                Instant::now() < deadline,
                "node {i} did not start again:\n{}",
                self.logs_tail(TAIL_LINES)
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        let took = started.elapsed();
        self.wait_formed();
        took
    }

    /// Starts node `i` (killed with the cluster from now on); [`wait_listening`](Self::wait_listening)
    /// waits for it.
    fn spawn(&self, i: usize) {
        let node = &self.nodes[i];
        let output = OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.join("stdout.log"))
            .unwrap_or_else(|e| panic!("cannot open node {i}'s stdout.log: {e}"));
        let errors = output
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot clone a file handle: {e}"));
        let mut cmd = Command::new(&self.bin);
        cmd.arg("-f")
            .arg(node.dir.join("rmqtt.toml"))
            .current_dir(&node.dir)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors)
            .process_group(0);
        let child = sys::spawn_tied_to_process(cmd)
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        *node.lock_child() = Some(child);
    }

    /// Waits until node `i`'s MQTT port accepts; `false` if the process exited first
    /// (or did not listen within a minute: then it is killed).
    fn wait_listening(&self, i: usize) -> bool {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.nodes[i].port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if !self.is_running(i) {
                return false;
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
                return true;
            }
            if Instant::now() >= deadline {
                self.kill(i);
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the cluster routes: a QoS 1 message published on each running node
    /// reaches a subscriber on every other running node (published again every half
    /// second until it does). Panics with the nodes' logs after a minute.
    pub fn wait_formed(&self) {
        let running: Vec<usize> = (0..self.len()).filter(|i| self.is_running(*i)).collect();
        let deadline = Instant::now() + START_TIMEOUT;
        // Connecting may be refused while the raft group elects its leader.
        let connect = |i: usize| loop {
            match Observer::try_connect_uri(&self.uri(i), &self.log_path(i), None) {
                Ok(o) => break o,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!(
                    "cannot connect to node {i}: {e}\n{}",
                    self.logs_tail(TAIL_LINES)
                ),
            }
        };
        let observers: Vec<(usize, Observer)> = running.iter().map(|i| (*i, connect(*i))).collect();
        let topic = |i: usize| format!("harness/rmqtt/formed/{i}");
        for (_, o) in &observers {
            o.subscribe("harness/rmqtt/formed/+", 1);
        }
        for (from, publisher) in &observers {
            for (to, subscriber) in &observers {
                if from == to {
                    continue;
                }
                loop {
                    publisher.publish(&topic(*from), "formed", 1);
                    let got = subscriber
                        .recv_timeout(Duration::from_millis(500))
                        .is_some_and(|m| m.topic() == topic(*from));
                    if got {
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "node {from} does not route to node {to} after {START_TIMEOUT:?}:\n{}",
                        self.logs_tail(TAIL_LINES)
                    );
                }
            }
        }
    }
}

impl Drop for RmqttCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}

impl std::fmt::Debug for RmqttCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RmqttCluster")
            .field("dir", &self.dir.path())
            .field(
                "ports",
                &self.nodes.iter().map(|n| n.port).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// `rmqtt.toml` of node `id`: its MQTT listener on `127.0.0.1:mqtt` (anonymous clients,
/// shared subscriptions, a session queue large enough that a slow replica's backlog is
/// never dropped), its gRPC server on `127.0.0.1:grpc`, its log in `dir`; the cluster and
/// shared-subscription plugins on, the HTTP API (a fixed port on all interfaces) and the
/// ACL plugin off.
fn node_config(id: u64, mqtt: u16, grpc: u16, dir: &Path) -> String {
    format!(
        r#"node.id = {id}
node.busy.check_enable = false
rpc.server_addr = "127.0.0.1:{grpc}"
log.to = "file"
log.level = "info"
log.dir = "{dir}"
log.file = "rmqtt.log"
plugins.dir = "{plugins}"
plugins.default_startups = ["rmqtt-cluster-raft", "rmqtt-shared-subscription"]
plugins.disabled_default_startups = ["rmqtt-http-api", "rmqtt-acl"]
listener.tcp.external.addr = "127.0.0.1:{mqtt}"
listener.tcp.external.allow_anonymous = true
listener.tcp.external.max_mqueue_len = 1000000
listener.tcp.external.max_inflight = 16
listener.tcp.external.shared_subscription = true
"#,
        dir = dir.display(),
        plugins = dir.join("plugins").display(),
    )
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
