//! The tools the tests need that `scripts/setup-*` install (Prometheus, the RMQTT broker,
//! the AsyncAPI parser): each script installs or builds its tool when it is missing and
//! prints its path last.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Runs `scripts/<script>` and returns the path it printed last; panics with the
/// script's stderr when it fails or prints nothing.
pub fn installed_by(script: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(script);
    let out = Command::new("bash")
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    assert!(
        out.status.success(),
        "scripts/{script} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(
        stdout
            .lines()
            .last()
            .unwrap_or_else(|| panic!("scripts/{script} printed no path"))
            .trim(),
    )
}
