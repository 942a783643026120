//! Consumer 2s: the raw paho consumer (`paho_consumer.rs`) against the stock Paho C of
//! `paho-mqtt-sys` from crates.io. The workspace patches `paho-mqtt-sys`
//! (`[patch.crates-io]`, `vendor/paho-mqtt-sys`) for every member, this bench included,
//! so consumer 2 runs on the patched Paho C; a user who hand-writes a paho consumer gets
//! the stock one. `bench/stock-paho` is a crate of its own (its own workspace and
//! Cargo.lock, excluded from this one) that builds the same source file unpatched; the
//! bench builds it once per run and spawns it like `child-paho`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds `bench/stock-paho` (with `--release` when `release`) into
/// `<workspace target dir>/stock-paho` and returns the consumer binary.
pub(crate) fn build(release: bool) -> Result<PathBuf, String> {
    let bench = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = bench
        .parent()
        .ok_or_else(|| format!("{}: no workspace root above it", bench.display()))?;
    let manifest = bench.join("stock-paho").join("Cargo.toml");
    let target = target_dir(root).join("stock-paho");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut args = vec!["build".into()];
    if release {
        args.push("--release".into());
    }
    // `--locked`: the versions of its committed Cargo.lock, the same as the workspace's.
    args.extend([
        "--locked".into(),
        "--manifest-path".into(),
        manifest.into_os_string(),
        "--target-dir".into(),
        target.clone().into_os_string(),
    ]);
    let shown = std::iter::once(&cargo)
        .chain(&args)
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ");
    eprintln!("bench: building consumer 2s (raw paho, stock Paho C from crates.io): {shown}");
    let why = |what: String| {
        format!(
            "consumer 2s (raw paho, stock Paho C) could not be built (leave it out with \
             --consumers to run without it): `{shown}` {what}"
        )
    };
    let output = Command::new(&cargo)
        .args(&args)
        .output()
        .map_err(|e| why(format!("did not start: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        let from = lines.len().saturating_sub(30);
        return Err(why(if lines.is_empty() {
            format!("failed ({}), without a word on stderr", output.status)
        } else {
            format!(
                "failed ({}); its stderr ends with:\n    {}",
                output.status,
                lines[from..].join("\n    ")
            )
        }));
    }
    let exe = target
        .join(if release { "release" } else { "debug" })
        .join(format!(
            "stock-paho-consumer{}",
            std::env::consts::EXE_SUFFIX
        ));
    if !exe.is_file() {
        return Err(why(format!(
            "succeeded, but {} is not there",
            exe.display()
        )));
    }
    Ok(exe)
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
