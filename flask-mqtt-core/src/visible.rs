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
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// A message said again and again (a topic without a handler, a failed call): the first
/// few times visibly ([`report`]), the last of those saying so, later times only logged.
#[derive(Debug, Default)]
pub(crate) struct FirstFew {
    /// Times said so far.
    said: AtomicUsize,
}

impl FirstFew {
    /// Says `message` at `level` under `target`: the first `limit` times visibly
    /// ([`report`]), the `limit`-th with `further` appended (which says where later ones
    /// go), later times only logged, at `later`. Returns whether it was one of the first
    /// `limit`.
    pub(crate) fn report(
        &self,
        limit: usize,
        target: &str,
        level: log::Level,
        later: log::Level,
        message: &dyn Display,
        further: &dyn Display,
    ) -> bool {
        let n = self.said.fetch_add(1, Ordering::Relaxed);
        if n >= limit {
            log::log!(target: target, later, "{message}");
            return false;
        }
        if n + 1 == limit {
            report(target, level, &format_args!("{message}{further}"));
        } else {
            report(target, level, message);
        }
        true
    }
}

/// Whether a growing `count` is to be said: at `first` and at every doubling of it
/// (never when `first` is 0). Depends on `count` alone, so a count that falls back and
/// grows again is said again at the same marks.
pub(crate) fn at_first_or_doubling(count: usize, first: usize) -> bool {
    count >= first && first > 0 && count % first == 0 && (count / first).is_power_of_two()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The first `limit` times are said visibly (these tests install no logger, so
    /// that is stderr), the `limit`-th with the suffix; later ones are only logged.
    #[test]
    fn first_few_are_said_visibly_the_last_of_them_saying_so() {
        let few = FirstFew::default();
        let visible: Vec<bool> = (0..5)
            .map(|i| {
                few.report(
                    3,
                    "visible-test",
                    log::Level::Warn,
                    log::Level::Debug,
                    &format_args!("first-few-test {i}"),
                    &"; further ones are logged only",
                )
            })
            .collect();
        assert_eq!(visible, [true, true, true, false, false]);
        assert_eq!(
            said::containing("first-few-test"),
            [
                "WARN visible-test: first-few-test 0",
                "WARN visible-test: first-few-test 1",
                "WARN visible-test: first-few-test 2; further ones are logged only",
            ]
        );
    }

    /// A limit of 0 says nothing visibly.
    #[test]
    fn none_are_said_with_a_limit_of_0() {
        let few = FirstFew::default();
        let (warn, later) = (log::Level::Warn, log::Level::Warn);
        assert!(!few.report(
            0,
            "visible-test",
            warn,
            later,
            &"first-few-zero-test",
            &"; more"
        ));
        assert!(said::containing("first-few-zero-test").is_empty());
    }

    /// Said at the first mark and at every doubling, also for a first mark that is not a
    /// power of two; never with a first mark of 0.
    #[test]
    fn counts_are_said_at_the_first_mark_and_every_doubling() {
        for (first, expected) in [
            (1, vec![1, 2, 4, 8, 16, 32, 64]),
            (3, vec![3, 6, 12, 24, 48, 96]),
            (10, vec![10, 20, 40, 80]),
            (64, vec![64]),
            (0, vec![]),
        ] {
            let marks: Vec<usize> = (0..100)
                .filter(|&n| at_first_or_doubling(n, first))
                .collect();
            assert_eq!(marks, expected, "first mark {first}");
        }
        assert!(at_first_or_doubling(1024 * 1024, 1024));
        assert!(!at_first_or_doubling(3 * 1024, 1024));
        assert!(!at_first_or_doubling(usize::MAX, 1));
    }
}
