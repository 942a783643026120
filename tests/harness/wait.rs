//! Polling helpers for conditions that have no event to wait on, and for an app
//! client's connection.

use std::time::{Duration, Instant};

use flask_mqtt_actix::Mqtt;

/// How long [`wait_until`] sleeps between two checks.
const POLL: Duration = Duration::from_millis(10);

/// Calls `cond` every few milliseconds until it returns `true` (then returns
/// `true`) or `timeout` has elapsed (then returns `false`).
///
/// `cond` is always called at least once, and once more at the deadline,
/// so a zero timeout still checks the condition. Blocks the calling thread;
/// inside a single-threaded async runtime prefer [`wait_until_async`].
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// assert!(flask_mqtt_tests::wait_until(Duration::from_secs(5), || {
///     start.elapsed() > Duration::from_millis(30)
/// }));
/// assert!(!flask_mqtt_tests::wait_until(Duration::from_millis(30), || false));
/// ```
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep(POLL.min(deadline - now));
    }
}

/// Async version of [`wait_until`]: sleeps with `tokio::time::sleep`, so it
/// does not block the runtime thread (needed in `#[actix_web::test]` and
/// other current-thread runtimes, where the code under test runs on the
/// same thread). Must be awaited inside a Tokio runtime with the time
/// driver enabled.
pub async fn wait_until_async(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        tokio::time::sleep(POLL.min(deadline - now)).await;
    }
}

/// Runs `f`, a blocking test step (a [`wait_until`], an HTTP request), on Tokio's
/// blocking pool, off a single-threaded runtime's thread (`#[actix_web::test]`), where
/// the code under test runs; panics when `f` does.
pub async fn blocking<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// Waits until `m` is connected; panics after `timeout` with its last connect error.
#[track_caller]
pub fn wait_connected(m: &Mqtt, timeout: Duration) {
    assert!(
        wait_until(timeout, || m.is_connected()),
        "{} did not connect: {:?}",
        m.client_id(),
        m.last_connect_error()
    );
}

/// Waits until `m` is ready (connected, with the CONNACK's limits taken: Paho says
/// connected a moment before); panics after `timeout` with its last connect error.
#[track_caller]
pub fn wait_ready(m: &Mqtt, timeout: Duration) {
    assert!(
        wait_until(timeout, || m.health().is_ready()),
        "{} not ready: {:?}",
        m.client_id(),
        m.last_connect_error()
    );
}
