//! The MQTT 5 failure data Paho C passes when it fails a publish on its own
//! (docs/paho-fork.md, "initialised callback data"), at the paho layer, against a real
//! Mosquitto. Unpatched, Paho declared it without its initializer in several places and
//! set only a few fields; paho-mqtt's callback reads the reason code and, when that is
//! 0x80 or more, copies the properties: from whatever was on the stack. When that was a
//! count and a bad pointer the process died (SIGSEGV in `MQTTProperties_add`); otherwise
//! the token failed with a made-up reason code, or by chance with the right error.
//!
//! - A QoS 0 publish whose pending write fails. The client connects through a
//!   [`HoldProxy`], which stops reading what it sends: a 4 MiB publish fills the client's
//!   socket and the rest of it stays a pending write. Then the connection breaks under it:
//!   the proxy makes the client's writes fail (`EPIPE`) and throws away what it held, so
//!   the socket has room again and the pending write goes on, and fails
//!   (`MQTTAsync_writeComplete`). The stack held a reason code of 0xFFFFFFFF and no
//!   properties: paho-mqtt took it for a failure with a reason code (its debug line says
//!   so) and turned it, by chance, into the right `Error::Failure`.
//! - A publish buffered while disconnected, dropped for a newer one from a full buffer
//!   (`delete_oldest_messages`, `MQTTAsync_addCommand`). Unpatched, the child died with
//!   SIGSEGV in most runs, and the others failed with a made-up reason code.
//!
//! Debug builds compile Paho C with `-ftrivial-auto-var-init=pattern`
//! (`vendor/paho-mqtt-sys/build.rs`), so what was left unset reads 0xFE bytes, a reason code
//! of 0xFEFEFEFE: without the patch both tests fail in every run, not by the stack's chance.
//!
//! Each checks the token's error, that paho-mqtt saw the failure's return code and no
//! reason code (its debug line), and that the client goes on (connects again, publishes).
//! Each runs in a child process (this binary again, with only that test), so that a crash
//! is reported as the test's failure ("the child died with SIGSEGV") rather than taking
//! the test binary down; the broker belongs to the parent, which stops it whatever happens
//! to the child.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::{Duration, Instant};

use flask_mqtt_tests::paho_mqtt as paho;
use flask_mqtt_tests::{
    say, unique, wait_until, AppProcess, Broker, HoldProxy, LogLines, Recorder,
};

const T: Duration = Duration::from_secs(10);

/// Paho C's return codes (`MQTTAsync.h`).
const MQTTASYNC_FAILURE: i32 = -1;
const MQTTASYNC_MAX_BUFFERED_MESSAGES: i32 = -12;

/// Set in the child process: the broker's plain TCP port.
const CHILD_BROKER_PORT: &str = "PAHO_FAILURE_DATA_BROKER_PORT";

/// Paho's "Partial write" trace lines: a write the socket took only in part is pending.
static PARTIAL_WRITES: Recorder<String> = Recorder::new();

fn trace_partial_writes() {
    paho::set_client_trace_callback(paho::ffi_trace_level::MINIMUM, |line| {
        let message = line.message();
        if message.contains("Partial write: ") {
            PARTIAL_WRITES.push(message.to_owned());
        }
    });
}

/// paho-mqtt's debug lines on its tokens; `token_failures` picks those on a failed token.
const TOKEN_LOG: LogLines = LogLines::new("flask_mqtt_paho::token", log::Level::Debug);

/// paho-mqtt's debug lines on a failed token ("Token w ID N failed with reason code: R",
/// "... with return code: C"): how its callback read the failure data Paho C passed.
fn token_failures() -> Vec<String> {
    TOKEN_LOG
        .snapshot()
        .into_iter()
        .filter(|text| text.contains(" failed with "))
        .collect()
}

/// A QoS 0 publish whose pending write fails: Paho fails it from
/// `MQTTAsync_writeComplete`, with MQTT 5 failure data that had four fields set.
fn publish_while_the_connection_breaks(port: u16) {
    trace_partial_writes();
    TOKEN_LOG.install();
    let proxy = HoldProxy::start(port);
    let id = unique("wfail");
    let client = paho::CreateOptionsBuilder::new()
        .server_uri(proxy.uri())
        .client_id(&id)
        .mqtt_version(paho::MQTT_VERSION_5)
        .persistence(paho::PersistenceType::None)
        .create_client()
        .expect("creating the paho client");
    let opts = paho::ConnectOptionsBuilder::new_v5()
        .clean_start(true)
        .keep_alive_interval(Duration::from_secs(30))
        .connect_timeout(T)
        .finalize();
    client
        .connect(opts)
        .wait_for(T)
        .expect("connect through the proxy");

    // A publish far larger than the socket's send buffer, while the proxy reads nothing:
    // the socket takes part of it, the rest stays a pending write.
    proxy.hold();
    let big = client.publish(paho::Message::new(
        format!("{id}/big"),
        vec![0u8; 4 << 20],
        0,
    ));
    assert!(
        PARTIAL_WRITES.wait_for(T, |l| !l.is_empty()),
        "the client's 4 MiB publish was never a pending write ({} bytes held)",
        proxy.held_bytes()
    );
    say(&format!("pending: {}", PARTIAL_WRITES.snapshot()[0]));

    // The connection breaks under the pending write, which goes on and fails.
    let discarded = proxy.fail_client_writes();
    say(&format!(
        "writes fail now, {discarded} held bytes thrown away"
    ));
    let started = Instant::now();
    let outcome = big.wait_for(T);
    say(&format!(
        "publish completed after {:?}: {outcome:?}",
        started.elapsed()
    ));
    assert!(
        matches!(outcome, Err(paho::Error::Failure)),
        "the publish whose write failed: {outcome:?} (expected Err(Failure))"
    );
    expect_one_failure_with_return_code(MQTTASYNC_FAILURE);
    assert!(
        wait_until(T, || !client.is_connected()),
        "the client did not see the connection lost"
    );

    // The client goes on: it connects again and publishes.
    proxy.resume();
    client
        .reconnect()
        .wait_for(T)
        .expect("connect again after the failed write");
    assert_eq!(proxy.connections(), 2, "connections through the proxy");
    client
        .publish(paho::Message::new(format!("{id}/after"), "after", 1))
        .wait_for(T)
        .expect("a QoS 1 publish on the new connection");
    client
        .disconnect(None)
        .wait_for(T)
        .expect("a graceful disconnect");
    say("went on");
}

/// A publish buffered while the client is disconnected, dropped for a newer one when the
/// buffer is full (`delete_oldest_messages`): Paho fails it from `MQTTAsync_addCommand`,
/// with MQTT 5 failure data that had the same four fields set.
fn drop_the_oldest_buffered_publish(port: u16) {
    /// The buffer's size (paho-mqtt's smallest).
    const BUFFER: usize = 4;
    TOKEN_LOG.install();
    let proxy = HoldProxy::start(port);
    let id = unique("wdrop");
    let client = paho::CreateOptionsBuilder::new()
        .server_uri(proxy.uri())
        .client_id(&id)
        .mqtt_version(paho::MQTT_VERSION_5)
        .persistence(paho::PersistenceType::None)
        .send_while_disconnected(true)
        .max_buffered_messages(BUFFER as i32)
        .delete_oldest_messages(true)
        .create_client()
        .expect("creating the paho client");
    let opts = paho::ConnectOptionsBuilder::new_v5()
        .clean_start(true)
        .connect_timeout(T)
        .finalize();
    client
        .connect(opts)
        .wait_for(T)
        .expect("connect through the proxy");
    // The connection is lost (not ended by the application): publishes are buffered.
    proxy.cut();
    assert!(
        wait_until(T, || !client.is_connected()),
        "the client did not see the connection lost"
    );
    let mut publishes: Vec<_> = (0..=BUFFER)
        .map(|n| client.publish(paho::Message::new(format!("{id}/t"), n.to_string(), 1)))
        .collect();
    let oldest = publishes.remove(0);
    let outcome = oldest.wait_for(T);
    say(&format!("the oldest publish: {outcome:?}"));
    assert!(
        matches!(outcome, Err(paho::Error::MaxBufferedMessages)),
        "the publish dropped from the full buffer: {outcome:?} (expected \
         Err(MaxBufferedMessages))"
    );
    expect_one_failure_with_return_code(MQTTASYNC_MAX_BUFFERED_MESSAGES);

    client
        .reconnect()
        .wait_for(T)
        .expect("connect again after the dropped publish");
    for (n, publish) in publishes.into_iter().enumerate() {
        publish
            .wait_for(T)
            .unwrap_or_else(|e| panic!("buffered publish {}, after the reconnect: {e}", n + 1));
    }
    client
        .disconnect(None)
        .wait_for(T)
        .expect("a graceful disconnect");
    say("went on");
}

/// The one token failure paho-mqtt's callback saw came with return code `rc` and no
/// reason code (a reason code there was read from failure data Paho C did not
/// initialise).
fn expect_one_failure_with_return_code(rc: i32) {
    let failures = token_failures();
    let expected = format!(" failed with return code: {rc}");
    assert!(
        failures.len() == 1 && failures[0].ends_with(&expected),
        "paho-mqtt read the failure as {failures:?}, expected one failure with return code \
         {rc} and no reason code (a reason code there was read from failure data Paho C did \
         not initialise)"
    );
}

/// Runs `scenario` (which prints "went on" at its end) in a child process, this binary
/// again with only the test `name`, against a broker of this process's.
fn in_a_child(name: &str, scenario: fn(u16)) {
    if let Some(port) = std::env::var_os(CHILD_BROKER_PORT) {
        scenario(port.to_str().and_then(|p| p.parse().ok()).unwrap());
        return;
    }
    let broker = Broker::start();
    // The child's temporary files (the proxy's socket), removed even when it crashes.
    let tmp = tempfile::Builder::new()
        .prefix("paho-failure-data-")
        .tempdir()
        .unwrap();
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", name, "--test-threads=1", "--nocapture"])
        .env(CHILD_BROKER_PORT, broker.port().to_string())
        .env("TMPDIR", tmp.path());
    // Its libtest prints a failure's message among its lines (stderr is inherited).
    let mut child = AppProcess::spawn(name, command);
    let status = child
        .wait_exit(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("the child did not end in 60 s: {:#?}", child.lines()));
    if let Some(signal) = status.signal() {
        let signal = match signal {
            libc::SIGSEGV => "SIGSEGV".to_owned(),
            libc::SIGABRT => "SIGABRT".to_owned(),
            libc::SIGBUS => "SIGBUS".to_owned(),
            s => format!("signal {s}"),
        };
        panic!(
            "the child died with {signal}; it printed {:#?}\nbroker log:\n{}",
            child.lines(),
            broker.log_tail(12)
        );
    }
    // libtest's summary comes last: once it is read, so are the lines before it (the
    // child's own lines, printed with --nocapture, break libtest's "test ... ok" line).
    let summed_up = wait_until(T, || child.count(|l| l.starts_with("test result: ")) > 0);
    let passed = child.count(|l| l.starts_with("test result: ok. 1 passed;")) == 1;
    assert!(
        status.success() && summed_up && passed && child.count(|l| l == "went on") == 1,
        "the child: {status}, printed {:#?}\nbroker log:\n{}",
        child.lines(),
        broker.log_tail(12)
    );
}

#[test]
fn a_pending_qos_0_write_that_fails_fails_its_publish_and_the_client_goes_on_mqtt_5() {
    in_a_child(
        "a_pending_qos_0_write_that_fails_fails_its_publish_and_the_client_goes_on_mqtt_5",
        publish_while_the_connection_breaks,
    );
}

#[test]
fn the_oldest_buffered_publish_dropped_for_a_newer_one_fails_cleanly_mqtt_5() {
    in_a_child(
        "the_oldest_buffered_publish_dropped_for_a_newer_one_fails_cleanly_mqtt_5",
        drop_the_oldest_buffered_publish,
    );
}
