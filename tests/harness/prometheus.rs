//! A real Prometheus server (Debian's `prometheus`, installed by `scripts/setup-prometheus`)
//! scraping one target, queried through its HTTP API.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::http::http;
use crate::setup_script::installed_by;
use crate::sys::spawn_tied_to_process;

/// How long Prometheus may take to start answering `/-/ready`.
const START: Duration = Duration::from_secs(60);

/// One series of an instant query's answer: its labels (`__name__` included) and value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The series' labels, `__name__` included (when the query keeps it).
    pub labels: BTreeMap<String, String>,
    /// Its value at the query's time.
    pub value: f64,
}

/// A Prometheus server on a free `127.0.0.1` port that scrapes one target every second
/// (job `app`). Its configuration, TSDB and log live in a temporary directory that is
/// deleted on drop; dropping it also kills its process group (and the process dies with
/// the test binary).
pub struct Prometheus {
    child: Child,
    addr: SocketAddr,
    dir: TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `http://{target}{metrics_path}` and waits (bounded) until
    /// it is ready. Panics, with its log, when it does not start.
    pub fn start(target: SocketAddr, metrics_path: &str) -> Prometheus {
        let binary = binary();
        let dir = tempfile::Builder::new()
            .prefix("flask-mqtt-prometheus-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory for prometheus: {e}"));
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: app\n    metrics_path: {metrics_path}\n    \
                 static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("cannot find a free port: {e}"));
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let mut command = Command::new(&binary);
        command
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0);
        let child = spawn_tied_to_process(command)
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut me = Prometheus { child, addr, dir };
        let deadline = Instant::now() + START;
        loop {
            if let Ok(Some(status)) = me.child.try_wait() {
                panic!("prometheus exited ({status}):\n{}", me.log_tail());
            }
            if TcpStream::connect(addr).is_ok() && http(addr, "GET", "/-/ready", "").0 == 200 {
                return me;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready within {START:?}:\n{}",
                me.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Where its HTTP API listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its temporary directory (configuration, TSDB, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The answer to the instant query `query` (`/api/v1/query`), one sample per series.
    /// Panics when Prometheus answers with an error.
    pub fn query(&self, query: &str) -> Vec<Sample> {
        let (status, body) = http(
            self.addr,
            "GET",
            &format!("/api/v1/query?query={}", percent_encode(query)),
            "",
        );
        assert_eq!(status, 200, "query `{query}`: {body}");
        let answer: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("query `{query}`: not JSON ({e}): {body}"));
        assert_eq!(answer["status"], "success", "query `{query}`: {body}");
        answer["data"]["result"]
            .as_array()
            .unwrap_or_else(|| panic!("query `{query}`: no result vector: {body}"))
            .iter()
            .map(|series| Sample {
                labels: series["metric"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect(),
                value: series["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(f64::NAN),
            })
            .collect()
    }

    /// The single value of `query`, if its answer is exactly one series.
    pub fn value(&self, query: &str) -> Option<f64> {
        match self.query(query).as_slice() {
            [one] => Some(one.value),
            _ => None,
        }
    }

    /// Polls `query` until its single value is `expected` or `timeout` passes; returns the
    /// last answer (`None`: not exactly one series).
    pub fn wait_for_value(&self, query: &str, expected: f64, timeout: Duration) -> Option<f64> {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.value(query);
            if value == Some(expected) || Instant::now() >= deadline {
                return value;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The scrape target's health as Prometheus sees it (`up`, last error), for failure
    /// messages.
    pub fn targets(&self) -> String {
        http(self.addr, "GET", "/api/v1/targets", "").1
    }

    /// The last lines of Prometheus' log.
    pub fn log_tail(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // The whole process group, then the child itself (reaped).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `prometheus` binary: `scripts/setup-prometheus` installs it if it is missing and
/// prints its path last.
fn binary() -> PathBuf {
    installed_by("setup-prometheus")
}

/// `text` as a URL query value: unreserved characters as they are, every other byte
/// percent-encoded.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn percent_encoding() {
        assert_eq!(
            super::percent_encode("a_total{x=\"y\"} +1"),
            "a_total%7Bx%3D%22y%22%7D%20%2B1"
        );
    }
}
