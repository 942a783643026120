//! Headless Chromium (Debian's `chromium`) behind `chromedriver` (Debian's
//! `chromium-driver`), for tests that check pages in a real browser.
//!
//! [`Chromedriver::start`] runs chromedriver on a free loopback port in its own process
//! group, killed with every Chromium it started when the value is dropped (also on a
//! failed test). [`Chromedriver::session`] starts a Chromium for a test, with
//! `--headless --no-sandbox --disable-gpu --disable-background-networking` and friends,
//! and a profile in the driver's temporary directory. `CHROMEDRIVER` and
//! `CHROMIUM` override the binaries' paths. Never skipped: without them, it fails and
//! says what to install (`scripts/setup` installs both).

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long chromedriver may take to listen.
const START: Duration = Duration::from_secs(20);

/// `chromedriver` on a free port; see the module docs.
pub struct Chromedriver {
    child: Child,
    url: String,
    log: PathBuf,
    profile: tempfile::TempDir,
}

fn binary(env: &str, default: &str) -> PathBuf {
    let path = PathBuf::from(std::env::var_os(env).unwrap_or_else(|| default.into()));
    assert!(
        path.exists(),
        "{} not found (set {env} to override); run `bash scripts/setup` to install \
         Debian's chromium and chromium-driver",
        path.display()
    );
    path
}

impl Chromedriver {
    /// Starts chromedriver and waits (bounded) until it listens.
    pub fn start() -> Chromedriver {
        use std::os::unix::process::CommandExt;

        let driver = binary("CHROMEDRIVER", "/usr/bin/chromedriver");
        let profile = tempfile::Builder::new()
            .prefix("chromium-")
            .tempdir()
            .unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = profile.path().join("chromedriver.log");
        let child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver.display()));
        let mut me = Chromedriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
            profile,
        };
        let deadline = Instant::now() + START;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = me.child.try_wait() {
                panic!("chromedriver exited ({status}): {}", me.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen within {START:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        me
    }

    /// A WebDriver session on a new headless Chromium whose window is `width` x `height`.
    pub async fn session(&self, width: u32, height: u32) -> fantoccini::Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({
                "binary": binary("CHROMIUM", "/usr/bin/chromium"),
                "args": self.chromium_args(width, height),
            }),
        );
        fantoccini::ClientBuilder::native()
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("no Chromium session: {e}\n{}", self.log_tail()))
    }

    /// The flags a session should start Chromium with (headless, no sandbox, no GPU, no
    /// background networking, a private profile), plus the window size.
    fn chromium_args(&self, width: u32, height: u32) -> Vec<String> {
        let profile = self.profile.path().join("profile");
        [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
            "--disable-dev-shm-usage",
        ]
        .into_iter()
        .map(str::to_owned)
        .chain([
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.display()),
        ])
        .collect()
    }

    /// The last lines of chromedriver's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The whole process group: chromedriver and every Chromium process.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
