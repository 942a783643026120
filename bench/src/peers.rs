//! The consumers that are not built into this binary: programs with dependencies of
//! their own, which must never mix with the workspace's.
//!
//! - Rust crates with their own `[workspace]` and `Cargo.lock`, outside this workspace:
//!   `bench/stock-paho` (the raw paho consumer on the stock Paho C of `paho-mqtt-sys` from
//!   crates.io; this workspace's `paho-mqtt` is our fork), `bench/rumqttc` (raw rumqttc)
//!   and `bench/ruststream` (ruststream with ruststream-rumqttc). The bench builds each once
//!   per run (`cargo build --locked`, `--release` in `full` mode) into
//!   `<target dir>/peers`; the first build compiles their dependencies.
//! - Python apps in `bench/python/`, each in a virtual environment of its own that
//!   `scripts/setup-peers` makes once (pinned requirements, outside the work tree).
//!
//! A peer that cannot be built or installed is left out of the run with the reason
//! (the tail of the failing command's output); the run goes on without it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::consumers::Kind;

/// Where a peer comes from.
enum Origin {
    /// A crate in `bench/<dir>` whose binary `bin` speaks the child protocol; `report`
    /// names the packages of its `Cargo.lock` whose versions the report shows.
    Crate {
        dir: &'static str,
        bin: &'static str,
        report: &'static [&'static str],
    },
    /// `bench/python/<app>` in the environment `scripts/setup-peers <env>` makes;
    /// `report` names the packages whose versions the report shows.
    Python {
        env: &'static str,
        app: &'static str,
        report: &'static [&'static str],
    },
}

fn origin(kind: Kind) -> Option<Origin> {
    Some(match kind {
        Kind::PahoStock => Origin::Crate {
            dir: "stock-paho",
            bin: "stock-paho-consumer",
            report: &["paho-mqtt", "paho-mqtt-sys"],
        },
        Kind::Rumqttc => Origin::Crate {
            dir: "rumqttc",
            bin: "rumqttc-consumer",
            report: &["rumqttc", "tokio"],
        },
        Kind::RustStream => Origin::Crate {
            dir: "ruststream",
            bin: "ruststream-consumer",
            report: &["ruststream", "ruststream-rumqttc", "rumqttc", "tokio"],
        },
        Kind::Flask => Origin::Python {
            env: "flask-mqtt",
            app: "flask_app.py",
            report: &["flask", "flask-mqtt", "paho-mqtt", "werkzeug"],
        },
        Kind::FastStream => Origin::Python {
            env: "faststream",
            app: "faststream_app.py",
            report: &["faststream", "zmqtt", "fast-depends", "pydantic"],
        },
        Kind::MosquittoSub
        | Kind::Paho
        | Kind::Framework
        | Kind::FrameworkNoMetrics
        | Kind::FrameworkAckFirst => return None,
    })
}

/// A peer ready to run.
pub(crate) struct Peer {
    program: PathBuf,
    /// The Python app, for the Python peers.
    script: Option<PathBuf>,
    /// What it runs on, for the report: `rumqttc 0.25.1, tokio 1.48.0`.
    pub(crate) versions: String,
}

impl Peer {
    /// The command that starts it (the environment is the caller's to add).
    pub(crate) fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.script);
        cmd
    }
}

/// Builds or installs the peer of `kind` (`None`: `kind` is built into this binary or is
/// `mosquitto_sub`). `release`: a release build of the Rust peers.
pub(crate) fn prepare(kind: Kind, release: bool) -> Option<Result<Peer, String>> {
    let bench = Path::new(env!("CARGO_MANIFEST_DIR"));
    Some(match origin(kind)? {
        Origin::Crate { dir, bin, report } => build(bench, dir, bin, report, release),
        Origin::Python { env, app, report } => python(bench, env, app, report),
    })
}

fn build(
    bench: &Path,
    dir: &str,
    bin: &str,
    report: &[&str],
    release: bool,
) -> Result<Peer, String> {
    let root = bench
        .parent()
        .ok_or_else(|| format!("{}: no workspace root above it", bench.display()))?;
    let manifest = bench.join(dir).join("Cargo.toml");
    let target = target_dir(root).join("peers");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.arg("build");
    if release {
        cmd.arg("--release");
    }
    // `--locked`: the versions of its committed Cargo.lock.
    cmd.arg("--locked")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target);
    let exe = target
        .join(if release { "release" } else { "debug" })
        .join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    run(cmd)?;
    if !exe.is_file() {
        return Err(format!(
            "the build succeeded, but {} is not there",
            exe.display()
        ));
    }
    let lock = std::fs::read_to_string(bench.join(dir).join("Cargo.lock")).unwrap_or_default();
    let versions = report
        .iter()
        .map(|name| format!("{name} {}", locked_version(&lock, name).unwrap_or("?")))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Peer {
        program: exe,
        script: None,
        versions,
    })
}

/// The version of package `name` in a `Cargo.lock` (the first, if several).
fn locked_version<'a>(lock: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!("name = \"{name}\"\nversion = \"");
    let at = lock.find(&needle)? + needle.len();
    lock[at..].split('"').next()
}

fn python(bench: &Path, env: &str, app: &str, report: &[&str]) -> Result<Peer, String> {
    let script = bench.join("..").join("scripts").join("setup-peers");
    let mut cmd = Command::new("bash");
    cmd.arg(&script).arg(env);
    let out = run(cmd)?;
    let python = out
        .lines()
        .find_map(|l| l.strip_prefix(env)?.strip_prefix(' '))
        .map(PathBuf::from)
        .ok_or_else(|| format!("`{} {env}` printed no environment", script.display()))?;
    let versions = Command::new(&python)
        .args(["-m", "pip", "freeze", "--disable-pip-version-check"])
        .stderr(Stdio::null())
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| {
                    let (name, version) = l.split_once("==")?;
                    let lower = name.to_ascii_lowercase().replace('_', "-");
                    report
                        .contains(&lower.as_str())
                        .then(|| format!("{name} {version}"))
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let interpreter = Command::new(&python)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    Ok(Peer {
        program: python,
        script: Some(bench.join("python").join(app)),
        versions: format!("{interpreter}, {versions}"),
    })
}

/// Runs a setup command to completion; its stdout, or why it failed, with the tail of
/// what it printed.
fn run(mut cmd: Command) -> Result<String, String> {
    let shown = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    eprintln!("bench: {shown}");
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("`{shown}` did not start: {e}"))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let from = lines.len().saturating_sub(12);
    Err(if lines.is_empty() {
        format!(
            "`{shown}` failed ({}), without a word on stderr",
            output.status
        )
    } else {
        format!(
            "`{shown}` failed ({}); its stderr ends with:\n    {}",
            output.status,
            lines[from..].join("\n    ")
        )
    })
}

/// The workspace's build directory: `$CARGO_TARGET_DIR` (as cargo reads it, relative to
/// the current directory), or `target` in the workspace root.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            std::env::current_dir().map_or_else(|_| PathBuf::from(&dir), |cwd| cwd.join(&dir))
        }
        _ => root.join("target"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_a_lock_file() {
        let lock = "[[package]]\nname = \"rumqttc\"\nversion = \"0.25.1\"\nsource = \"x\"\n";
        assert_eq!(locked_version(lock, "rumqttc"), Some("0.25.1"));
        assert_eq!(locked_version(lock, "tokio"), None);
    }
}
