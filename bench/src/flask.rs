//! Consumer 4, Flask-MQTT 1.3: a virtual environment with Flask-MQTT from PyPI, and the
//! app in `flask_app.py`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What the virtual environment gets from PyPI. Flask-MQTT 1.3 is written for
/// paho-mqtt 1.x.
pub(crate) const REQUIREMENTS: &[&str] = &["flask-mqtt==1.3.*", "paho-mqtt<2", "flask<4"];

/// The app, written next to the virtual environment.
const APP: &str = include_str!("../flask_app.py");

/// How long creating the environment may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(300);

/// A ready virtual environment.
pub(crate) struct Venv {
    python: PathBuf,
    app: PathBuf,
    /// `pip freeze` of the environment, for the report.
    pub(crate) versions: String,
}

impl Venv {
    /// The command that starts the Flask app.
    pub(crate) fn command(&self) -> Command {
        let mut cmd = Command::new(&self.python);
        cmd.arg(&self.app);
        cmd
    }
}

/// Where the environment lives: `$FLASK_MQTT_BENCH_VENV`, or next to the build
/// directory of this binary (`target/flask-mqtt-bench-venv`), so runs reuse it.
fn location() -> PathBuf {
    if let Some(dir) = std::env::var_os("FLASK_MQTT_BENCH_VENV") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("flask-mqtt-bench-venv")))
        .unwrap_or_else(|| std::env::temp_dir().join("flask-mqtt-bench-venv"))
}

/// Creates (once) and returns the environment. `python3` (or `$FLASK_MQTT_BENCH_PYTHON`)
/// makes it; pip installs [`REQUIREMENTS`] from PyPI.
pub(crate) fn prepare() -> Result<Venv, String> {
    let dir = location();
    let python = dir.join("bin").join("python");
    let marker = dir.join("flask-mqtt-bench-requirements");
    let wanted = REQUIREMENTS.join(" ");
    let ready = python.exists() && std::fs::read_to_string(&marker).is_ok_and(|m| m == wanted);
    if !ready {
        eprintln!("bench: creating {} with {wanted} from PyPI", dir.display());
        let base = std::env::var("FLASK_MQTT_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
        run(Command::new(&base)
            .args(["-m", "venv", "--clear"])
            .arg(&dir))?;
        run(Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(REQUIREMENTS))?;
        std::fs::write(&marker, &wanted).map_err(|e| format!("{}: {e}", marker.display()))?;
    }
    let app = dir.join("flask_app.py");
    std::fs::write(&app, APP).map_err(|e| format!("{}: {e}", app.display()))?;
    let versions = Command::new(&python)
        .args(["-m", "pip", "freeze", "--disable-pip-version-check"])
        .stderr(Stdio::null())
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| {
                    let l = l.to_ascii_lowercase();
                    l.starts_with("flask") || l.starts_with("paho") || l.starts_with("werkzeug")
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    Ok(Venv {
        python,
        app,
        versions,
    })
}

/// Runs `cmd` to completion within [`SETUP_TIMEOUT`].
fn run(cmd: &mut Command) -> Result<(), String> {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("{what}: {e}"))?;
    let deadline = Instant::now() + SETUP_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("{what}: {status}")),
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what}: no result after {SETUP_TIMEOUT:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("{what}: {e}")),
        }
    }
}
