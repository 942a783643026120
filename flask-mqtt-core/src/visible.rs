//! Messages a user must see whether or not the program installed a logger: a setting
//! that disables MQTT, an unknown key, a broker that refuses the first connect.
//!
//! They go to the `log` facade like everything else. When that would show nothing (no
//! logger installed, which is what a program copied from the README's `main` has, or a
//! filter that hides the target), they are written to stderr instead, one line each,
//! so that a mistake is never silent. Callers say each message once per process (or per
//! client), not once per actix worker.

use std::fmt::Display;
use std::io::Write;

/// Logs `message` at `level` under `target` if a logger would show it, and otherwise
/// writes it to stderr. Returns whether it went to stderr.
// `pub` for the actix plugin (`__actix::report`), which only exists with `actix`.
#[cfg_attr(not(feature = "actix"), allow(unreachable_pub))]
pub fn report(target: &str, level: log::Level, message: &dyn Display) -> bool {
    if log::log_enabled!(target: target, level) {
        log::log!(target: target, level, "{message}");
        false
    } else {
        to_stderr(target, level, message)
    }
}

/// Writes `message` to stderr when a logger would not show it at `level` under
/// `target`; for a message already logged (a logger that shows it has it). Returns
/// whether it was written.
pub(crate) fn stderr_unless_logged(target: &str, level: log::Level, message: &dyn Display) -> bool {
    !log::log_enabled!(target: target, level) && to_stderr(target, level, message)
}

fn to_stderr(target: &str, level: log::Level, message: &dyn Display) -> bool {
    #[cfg(test)]
    said::add(format!("{level} {target}: {message}"));
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "[flask-mqtt {level} {target}] {message} (on stderr: no logger shows this target)"
    )
    .is_ok()
}

/// What went to stderr, for this crate's tests (which install no logger).
#[cfg(test)]
pub(crate) mod said {
    use std::sync::Mutex;

    use crate::sync::lock;

    static SAID: Mutex<Vec<String>> = Mutex::new(Vec::new());

    pub(super) fn add(line: String) {
        lock(&SAID).push(line);
    }

    /// The lines so far (`LEVEL target: message`) that contain `text`.
    pub(crate) fn containing(text: &str) -> Vec<String> {
        lock(&SAID)
            .iter()
            .filter(|l| l.contains(text))
            .cloned()
            .collect()
    }
}
