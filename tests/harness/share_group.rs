//! [`ShareGroup`]: an embedded broker and the names of one shared subscription group on
//! it, with [`SocketClient`]s as its members; [`fill_window`], a member's inflight window
//! filled; and [`router_cpu_while_idle`], what the embedded broker's router does while no
//! client does anything. For the embedded broker's shared subscription tests
//! (`tests/embedded_shared_*.rs`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use flask_mqtt_actix::EmbeddedBroker;

use crate::naming::unique;
use crate::socket_client::SocketClient;

/// A test's embedded broker and names: `id` (unique: its first client's id and its
/// group's name), `topic` (`<prefix>/<name>/<id>`) and `shared` (`$share/<id>/<topic>`).
pub struct ShareGroup {
    /// Held for the test's length.
    _broker: EmbeddedBroker,
    /// The broker's address.
    pub addr: SocketAddr,
    /// Unique: the first client's id ([`ShareGroup::connect`] with no suffix) and the
    /// group's name.
    pub id: String,
    /// `<prefix>/<name>/<id>`.
    pub topic: String,
    /// `$share/<id>/<topic>`.
    pub shared: String,
}

impl ShareGroup {
    /// A new embedded broker, and the names of the group `name` of a test binary whose
    /// topics start with `prefix`; `id` is a unique `<prefix>-<name>-...`.
    pub fn new(prefix: &str, name: &str) -> ShareGroup {
        let broker = EmbeddedBroker::start(None).unwrap();
        let addr = broker.addr();
        let id = unique(&format!("{prefix}-{name}"));
        let topic = format!("{prefix}/{name}/{id}");
        let shared = format!("$share/{id}/{topic}");
        ShareGroup {
            _broker: broker,
            addr,
            id,
            topic,
            shared,
        }
    }

    /// The group on another filter: `$share/<id>/<filter>`.
    pub fn shared_on(&self, filter: &str) -> String {
        format!("$share/{}/{filter}", self.id)
    }

    /// A topic below `topic`: `<topic>/<level>`.
    pub fn below(&self, level: &str) -> String {
        format!("{}/{level}", self.topic)
    }

    /// A client with the id `id` (`suffix` empty) or a unique `<id>-<suffix>`.
    pub fn connect(&self, suffix: &str, clean: bool, what: &str) -> SocketClient {
        let id = match suffix {
            "" => self.id.clone(),
            _ => unique(&format!("{}-{suffix}", self.id)),
        };
        SocketClient::connect(self.addr, &id, clean, what).0
    }

    /// A clean-session client (as [`connect`](Self::connect)) subscribed to `shared`.
    pub fn member(&self, suffix: &str, what: &str) -> SocketClient {
        let mut member = self.connect(suffix, true, what);
        member.subscribe(&self.shared);
        member
    }

    /// A clean-session client (as [`connect`](Self::connect), suffix `pub`) to publish
    /// with.
    pub fn publisher(&self) -> SocketClient {
        self.connect("pub", true, "publisher")
    }
}

/// CPU time (user + system) the embedded broker's router threads (`router-<id>`, in this
/// process) have used so far, in clock ticks (`/proc/self/task/*/stat`, fields 14 and 15).
fn router_cpu_ticks() -> u64 {
    let mut ticks = 0;
    let mut routers = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let Ok(stat) = std::fs::read_to_string(task.unwrap().path().join("stat")) else {
            continue; // a thread that ended meanwhile
        };
        // "pid (comm) state ...": comm may hold spaces, the fields after it do not
        let (head, rest) = stat.rsplit_once(')').unwrap();
        if !head.contains("(router-") {
            continue;
        }
        routers += 1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // rest starts at field 3 (state): utime is field 14, stime 15
        ticks += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    }
    assert!(routers > 0, "no `router-` thread in this process");
    ticks
}

/// The embedded broker's router's CPU time (its threads in this process) per second of
/// wall time over one second in which no client does anything.
pub fn router_cpu_while_idle() -> f64 {
    let before = router_cpu_ticks();
    let window = Instant::now();
    std::thread::sleep(Duration::from_secs(1)); // measuring: nothing happens meanwhile
    let ticks = router_cpu_ticks() - before;
    // /proc counts in USER_HZ ticks: 100 a second on Linux (what `getconf CLK_TCK` says)
    ticks as f64 / 100.0 / window.elapsed().as_secs_f64()
}

/// Fills `member`'s inflight window (rumqttd's: 100 messages) with the QoS 1 messages
/// `f0` to `f99` (packet identifiers 10 to 109) that `publisher` sends to the plain
/// filter `fill` `member` is subscribed to, acknowledging none. Returns the packet
/// identifier of the first as `member` got it (rumqttd takes acknowledgements in order
/// only).
pub fn fill_window(publisher: &mut SocketClient, member: &mut SocketClient, fill: &str) -> u16 {
    let mut oldest = None;
    for n in 0..100u16 {
        publisher.publish_qos1(fill, &format!("f{n}"), 10 + n);
        let (_, _, pkid) = member.next_publish("a member on plain `fill`, acknowledging none");
        oldest.get_or_insert(pkid);
    }
    oldest.unwrap()
}
