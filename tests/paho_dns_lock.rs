//! The broker's host name looked up without Paho's lock (docs/paho-fork.md, patch 16;
//! eclipse-paho/paho.mqtt.c#690, #1016, #1125). Unpatched, Paho C's send thread looked the
//! host name of a connect up (`getaddrinfo`) holding `mqttasync_mutex`, which every API call
//! of every client takes: with a slow DNS server, `is_connected()`, a publish of another
//! client, a second client's connect and `MQTTAsync_destroy` all waited for the lookup.
//! With the lookup still on Paho's one send thread (without the lock), those calls returned
//! at once but what they queued (B's publish, C's connect) was sent when the lookup ended:
//! the lookup runs on a thread of its own.
//!
//! A lookup can only be made slow from outside Paho: each test runs its scenario in a child
//! process (this test binary again, `DNS_LOCK_CHILD` in its environment) with `LD_PRELOAD`
//! of a small `getaddrinfo` shim, compiled here with the system's C compiler, that takes
//! `SLOW_DNS_MS` for the made-up host name `slow-dns.invalid` (two thirds of it for
//! `slow-dns-2.invalid`) and then answers 127.0.0.1 (it writes a byte to the file descriptor
//! `SLOW_DNS_NOTIFY_FD` when a slow lookup starts, so the child knows when to measure);
//! `fail-dns.invalid` fails at once, `slow-fail-dns.invalid` after `SLOW_DNS_MS` (a slow
//! lookup too: it writes the byte). Other names go to the
//! real `getaddrinfo`. Only loopback
//! addresses are used. The limits are functional deadlines (a call must not wait for the
//! lookup), not benchmarks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::env;
use std::ffi::CString;
use std::io::Read;
use std::os::raw::c_void;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use flask_mqtt_tests::paho_mqtt as paho;
use flask_mqtt_tests::{compile_c, paho_client, unique, Broker, RawClient};
use paho_mqtt_sys as ffi;

/// The host name the shim answers slowly.
const SLOW_HOST: &str = "slow-dns.invalid";
/// A host name the shim fails to look up at once (`EAI_NONAME`).
const FAILING_HOST: &str = "fail-dns.invalid";
/// How long the shim takes for it.
const LOOKUP: Duration = Duration::from_secs(3);
/// A host name the shim fails to look up (`EAI_NONAME`) after [`LOOKUP`].
const SLOW_FAILING_HOST: &str = "slow-fail-dns.invalid";
/// A second host name the shim answers slowly, in two thirds of [`LOOKUP`] (2 s).
const SLOW_HOST_2: &str = "slow-dns-2.invalid";
/// A call that does not wait for the lookup returns well within this.
const LIMIT: Duration = Duration::from_secs(1);
const T: Duration = Duration::from_secs(15);

const CHILD_ENV: &str = "DNS_LOCK_CHILD";

const SHIM: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef int (*gai_fn)(const char*, const char*, const struct addrinfo*, struct addrinfo**);

int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints,
		struct addrinfo** res)
{
	gai_fn real = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");

	if (node != NULL && strcmp(node, "fail-dns.invalid") == 0)
		return EAI_NONAME;

	if (node != NULL && (strcmp(node, "slow-dns.invalid") == 0 || strcmp(node, "slow-dns-2.invalid") == 0
			|| strcmp(node, "slow-fail-dns.invalid") == 0))
	{
		const char* ms = getenv("SLOW_DNS_MS");
		const char* fd = getenv("SLOW_DNS_NOTIFY_FD");
		long delay = ms ? atol(ms) : 3000;
		if (strcmp(node, "slow-dns-2.invalid") == 0)
			delay = delay * 2 / 3;
		struct timespec left = { delay / 1000, (delay % 1000) * 1000000L };
		struct addrinfo h;

		if (fd != NULL)
		{
			char c = 'L';
			if (write(atoi(fd), &c, 1) != 1)
				return EAI_SYSTEM;
		}
		while (nanosleep(&left, &left) != 0 && errno == EINTR)
			;
		if (strcmp(node, "slow-fail-dns.invalid") == 0)
			return EAI_NONAME;
		if (hints != NULL)
			h = *hints;
		else
			memset(&h, 0, sizeof(h));
		h.ai_flags = (h.ai_flags & ~AI_ADDRCONFIG) | AI_NUMERICHOST;
		h.ai_family = AF_INET;
		return real("127.0.0.1", service, &h, res);
	}
	return real(node, service, hints, res);
}
"#;

/// Compiles the shim into `dir`.
fn build_shim(dir: &Path) -> PathBuf {
    let src = dir.join("slow_dns.c");
    let lib = dir.join("slow_dns.so");
    std::fs::write(&src, SHIM).unwrap();
    compile_c("the getaddrinfo shim", |cc| {
        cc.args(["-shared", "-fPIC", "-O2", "-o"])
            .arg(&lib)
            .arg(&src)
            .arg("-ldl");
    });
    lib
}

/// Runs this binary's test `test` again as a child process with the shim preloaded and
/// `CHILD_ENV=test`, `env` added; fails (killing it) if it has not ended within a minute.
fn run_child(test: &str, env: &[(&str, String)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let shim = build_shim(dir.path());
    let mut cmd = Command::new(env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, test)
        .env("LD_PRELOAD", &shim)
        .env("SLOW_DNS_MS", LOOKUP.as_millis().to_string())
        .env_remove("PAHO_C_CLIENT_USE_HTTP_PROXY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let drain = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the child process hangs (killed after 60 s):\n{}",
                String::from_utf8_lossy(&stdout.join().unwrap())
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// In the parent: runs this binary's test `test` again as a child ([`run_child`], `env`
/// added) and fails unless the child ran that one test and it passed.
fn parent(test: &str, env: &[(&str, String)]) {
    assert_child_passed(test, &run_child(test, env));
}

fn assert_child_passed(test: &str, out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The child's own report, for the parent's output.
    for line in stdout.lines() {
        if let Some(at) = line.find("dns-lock:") {
            println!("{}", &line[at..]);
        }
    }
    assert!(
        out.status.success(),
        "the child process failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    // A name that is no test of this binary runs nothing, and passes.
    assert!(
        stdout.lines().any(|l| l == "running 1 test"),
        "the child process ran no test `{test}`:\n{stdout}"
    );
}

/// In the child: the end of a socket pair the shim writes a byte to when the slow lookup
/// starts (the other end's descriptor is `SLOW_DNS_NOTIFY_FD`, kept open for the process's
/// life). Called before any Paho client exists, so no other thread reads the environment
/// meanwhile.
fn lookup_notifications() -> UnixStream {
    let (shim_end, ours) = UnixStream::pair().unwrap();
    env::set_var("SLOW_DNS_NOTIFY_FD", shim_end.as_raw_fd().to_string());
    std::mem::forget(shim_end);
    ours.set_read_timeout(Some(T)).unwrap();
    ours
}

/// In the child: waits until the shim has started the slow lookup.
fn wait_lookup_started(mut notify: &UnixStream) {
    let mut byte = [0u8; 1];
    notify
        .read_exact(&mut byte)
        .unwrap_or_else(|e| panic!("the slow lookup of {SLOW_HOST} did not start: {e}"));
}

fn child_port() -> u16 {
    env::var("DNS_LOCK_PORT").unwrap().parse().unwrap()
}

/// The connect timeout counts the lookup: longer than it.
fn connect_options() -> paho::ConnectOptions {
    paho::ConnectOptionsBuilder::new()
        .connect_timeout(Duration::from_secs(10))
        .finalize()
}

fn timed<R>(f: impl FnOnce() -> R) -> (R, Duration) {
    let start = Instant::now();
    let r = f();
    (r, start.elapsed())
}

/// A named call to time.
type Call<R> = (&'static str, Box<dyn FnOnce() -> R + Send>);

/// Runs each call on a thread of its own, all at once, and returns how long each took (so
/// that one call waiting for the lookup does not hide another's wait).
fn time_each<R: Send + 'static>(calls: Vec<Call<R>>) -> Vec<(&'static str, R, Duration)> {
    let start = std::sync::Arc::new(std::sync::Barrier::new(calls.len()));
    let threads: Vec<_> = calls
        .into_iter()
        .map(|(what, call)| {
            let start = std::sync::Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                let (r, took) = timed(call);
                (what, r, took)
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

fn assert_quick(what: &str, took: Duration) {
    assert!(
        took < LIMIT,
        "{what} took {took:?} while another connect looked up {SLOW_HOST} ({LOOKUP:?}): \
         it waited for the lookup"
    );
}

/// [`time_each`], its times printed after `dns-lock: during a <LOOKUP> lookup<label>: `.
fn time_each_reported<R: Send + 'static>(
    label: &str,
    calls: Vec<Call<R>>,
) -> Vec<(&'static str, R, Duration)> {
    let results = time_each(calls);
    let report: Vec<String> = results
        .iter()
        .map(|(what, _, took)| format!("{what} {took:?}"))
        .collect();
    println!(
        "dns-lock: during a {LOOKUP:?} lookup{label}: {}",
        report.join(", ")
    );
    results
}

/// In the child: a client of `uri` (id `unique(id_prefix)`), connected; `name` for the
/// failure message.
fn connected(uri: &str, id_prefix: &str, name: &str) -> paho::AsyncClient {
    let cli = paho_client(uri, &unique(id_prefix));
    cli.connect(connect_options())
        .wait_for(T)
        .unwrap_or_else(|e| panic!("{name} connects: {e:?}"));
    cli
}

/// Runs `test`'s child, which destroys its client A (id `DNS_LOCK_A_ID`, made from
/// `id_prefix`) during A's lookup, then checks that A never reached the broker.
fn run_child_destroying_a(test: &str, id_prefix: &str) {
    let broker = Broker::start();
    let a_id = unique(id_prefix);
    parent(
        test,
        &[
            ("DNS_LOCK_PORT", broker.port().to_string()),
            ("DNS_LOCK_A_ID", a_id.clone()),
            // A lookup thread touching what the destroy freed reads garbage.
            ("MALLOC_PERTURB_", "165".into()),
        ],
    );
    // The attempt was dropped: the destroyed client never reached the broker.
    let log = std::fs::read_to_string(broker.log_path()).unwrap();
    assert!(
        !log.contains(&a_id),
        "the client destroyed during its lookup connected anyway:\n{}",
        broker.log_tail(20)
    );
}

/// In the child: creates A (id `DNS_LOCK_A_ID`) for the slow host with Paho C's own API,
/// connects it with `on_failure` and destroys it (`MQTTAsync_destroy`) once its lookup has
/// started; returns A and how long the destroy took.
fn destroy_a_during_its_lookup(
    notify: &UnixStream,
    port: u16,
    on_failure: ffi::MQTTAsync_onFailure,
) -> (RawClient, Duration) {
    let mut a = RawClient::create(
        &format!("tcp://{SLOW_HOST}:{port}"),
        &env::var("DNS_LOCK_A_ID").unwrap(),
    );
    a.connect(10, on_failure, None);
    wait_lookup_started(notify);
    let ((), destroy_took) = timed(|| a.destroy());
    (a, destroy_took)
}

#[test]
fn calls_do_not_wait_for_another_connects_host_name_lookup() {
    if env::var(CHILD_ENV).is_ok() {
        return child_calls_do_not_wait();
    }
    let broker = Broker::start();
    parent(
        "calls_do_not_wait_for_another_connects_host_name_lookup",
        &[("DNS_LOCK_PORT", broker.port().to_string())],
    );
}

fn child_calls_do_not_wait() {
    let notify = lookup_notifications();
    let port = child_port();
    let direct = format!("tcp://127.0.0.1:{port}");

    let b = connected(&direct, "dns-b", "B");

    let a = paho_client(&format!("tcp://{SLOW_HOST}:{port}"), &unique("dns-a"));
    let a_connect = a.connect(connect_options());
    wait_lookup_started(&notify);

    // While A's lookup runs: A's own state, B's publish, a third client's create and connect.
    enum Got {
        Connected(bool),
        Published(paho::DeliveryToken),
        Third(paho::AsyncClient, paho::Token),
    }
    let (a2, b2, direct2) = (a.clone(), b.clone(), direct.clone());
    let calls: Vec<Call<Got>> = vec![
        (
            "A's is_connected()",
            Box::new(move || Got::Connected(a2.is_connected())),
        ),
        (
            "B's publish()",
            Box::new(move || {
                Got::Published(b2.publish(paho::Message::new("dns-lock/test", "lookup", 1)))
            }),
        ),
        (
            "C's create and connect()",
            Box::new(move || {
                let c = paho_client(&direct2, &unique("dns-c"));
                let tok = c.connect(connect_options());
                Got::Third(c, tok)
            }),
        ),
    ];
    let measured = Instant::now();
    let results = time_each_reported("", calls);
    let (mut published, mut third) = (None, None);
    for (what, got, took) in results {
        assert_quick(what, took);
        match got {
            Got::Connected(connected) => {
                assert!(!connected, "A connected before its lookup ended")
            }
            Got::Published(tok) => published = Some(tok),
            Got::Third(c, tok) => third = Some((c, tok)),
        }
    }
    let (published, (c, c_connect)) = (published.unwrap(), third.unwrap());

    // B's publish (its PUBACK) and C's connect (its CONNACK) complete while A's lookup still
    // runs: Paho's one send thread, which sends every client's commands, does not do the
    // lookup (a thread of its own does).
    published.wait_for(T).expect("B's publish completes");
    let b_done = measured.elapsed();
    c_connect.wait_for(T).expect("C connects");
    let c_done = measured.elapsed();
    println!(
        "dns-lock: during a {LOOKUP:?} lookup: B's publish completed after {b_done:?}, \
         C connected after {c_done:?}"
    );
    for (what, done) in [("B's publish", b_done), ("C's connect", c_done)] {
        assert!(
            done < LIMIT,
            "{what} completed {done:?} after it was called, while another connect looked up \
             {SLOW_HOST} ({LOOKUP:?}): it waited for the lookup"
        );
    }
    assert!(c.is_connected());
    assert!(!a.is_connected(), "A connected before its lookup ended");

    // A connects through the address the lookup gave.
    let (a_result, a_took) = timed(|| a_connect.wait_for(T));
    a_result.expect("A connects to the looked-up address");
    assert!(a.is_connected());
    println!("dns-lock: A connected {a_took:?} after the measurements");
    for cli in [&a, &b, &c] {
        cli.disconnect(None).wait_for(T).expect("disconnects");
    }
}

/// The failure code `on_connect_failure` saw, 0 before.
static CONNECT_FAILURE: AtomicI32 = AtomicI32::new(0);

#[allow(unsafe_code)]
unsafe extern "C" fn on_connect_failure(_: *mut c_void, data: *mut ffi::MQTTAsync_failureData) {
    // SAFETY: Paho passes NULL or a pointer to failure data valid for the call.
    let code = if data.is_null() { -9999 } else { (*data).code };
    CONNECT_FAILURE.store(code, Ordering::SeqCst);
}

#[test]
fn a_client_destroyed_during_its_lookup_is_dropped_without_waiting_for_it() {
    if env::var(CHILD_ENV).is_ok() {
        return child_destroyed_during_lookup();
    }
    run_child_destroying_a(
        "a_client_destroyed_during_its_lookup_is_dropped_without_waiting_for_it",
        "dns-destroyed",
    );
}

/// With Paho C's own API: the Rust `AsyncClient` is not destroyed while a connect is in
/// flight (its connect token holds a reference), `MQTTAsync_destroy` is.
fn child_destroyed_during_lookup() {
    let notify = lookup_notifications();
    let port = child_port();
    let direct = format!("tcp://127.0.0.1:{port}");

    let b = connected(&direct, "dns-b", "B");

    let (a, destroy_took) = destroy_a_during_its_lookup(&notify, port, Some(on_connect_failure));
    println!("dns-lock: during a {LOOKUP:?} lookup: MQTTAsync_destroy {destroy_took:?}");
    assert_quick("MQTTAsync_destroy of the client looking up", destroy_took);
    assert!(a.is_null());
    assert_eq!(
        CONNECT_FAILURE.load(Ordering::SeqCst),
        ffi::MQTTASYNC_OPERATION_INCOMPLETE,
        "the destroyed client's connect failed as interrupted"
    );

    // Paho goes on: B publishes (through the send thread, which the lookup does not hold)
    // and a new client connects.
    let (published, publish_took) = timed(|| {
        b.publish(paho::Message::new("dns-lock/test", "after the destroy", 1))
            .wait_for(T)
    });
    published.expect("B's publish completes");
    println!("dns-lock: B's publish completed {publish_took:?} after the destroy");
    let c = connected(&direct, "dns-c", "C");
    for cli in [&b, &c] {
        cli.disconnect(None).wait_for(T).expect("disconnects");
    }
}

#[test]
fn the_last_client_destroyed_during_its_lookup_stops_paho_cleanly() {
    if env::var(CHILD_ENV).is_ok() {
        return child_last_destroyed_during_lookup();
    }
    run_child_destroying_a(
        "the_last_client_destroyed_during_its_lookup_stops_paho_cleanly",
        "dns-last",
    );
}

/// The last client: destroying it stops Paho's threads (`MQTTAsync_terminate`) and frees
/// Paho's globals, without waiting for the lookup thread (before, it waited for the lookup:
/// 3.03 s; as long as the resolver's timeouts with an unreachable DNS server), which touches
/// none of them when the lookup ends. Paho starts again for a new client, C, while the
/// lookup still runs; the lookup ends during C's life (Paho's trace says its result is
/// dropped) and C goes on.
fn child_last_destroyed_during_lookup() {
    let notify = lookup_notifications();
    let port = child_port();
    let (dropped_tx, dropped) = std::sync::mpsc::channel();
    let dropped_tx = std::sync::Mutex::new(dropped_tx);
    paho::set_client_trace_callback(paho::ffi_trace_level::MINIMUM, move |line| {
        if line.message().contains("was looked up: result dropped") {
            let _ = dropped_tx.lock().unwrap().send(line.message().to_owned());
        }
    });
    let (_a, destroy_took) = destroy_a_during_its_lookup(&notify, port, None);
    println!("dns-lock: the last client destroyed during a {LOOKUP:?} lookup: {destroy_took:?}");
    assert_quick("MQTTAsync_destroy of the last client", destroy_took);

    // Paho starts again for a new client.
    let c = connected(&format!("tcp://127.0.0.1:{port}"), "dns-c", "C");
    let line = dropped
        .recv_timeout(T)
        .expect("the destroyed client's lookup ended and its result was dropped");
    println!("dns-lock: during C's life: {line}");
    paho::clear_client_trace_callback();
    c.publish(paho::Message::new("dns-lock/test", "after the lookup", 1))
        .wait_for(T)
        .expect("C's publish completes");
    c.disconnect(None).wait_for(T).expect("C disconnects");
}

#[test]
fn a_tls_connect_checks_the_looked_up_host_name() {
    if env::var(CHILD_ENV).is_ok() {
        return child_tls();
    }
    // The server certificate names only the slow host: the connect succeeds only if Paho
    // checks the certificate against the host name, not the address the lookup gave.
    let broker = Broker::builder()
        .tls()
        .tls_server_san(format!("DNS:{SLOW_HOST}"))
        .build();
    parent(
        "a_tls_connect_checks_the_looked_up_host_name",
        &[
            ("DNS_LOCK_PORT", broker.port().to_string()),
            ("DNS_LOCK_TLS_PORT", broker.tls_port().to_string()),
            ("DNS_LOCK_CA", broker.pki().ca_cert.display().to_string()),
        ],
    );
}

fn child_tls() {
    let notify = lookup_notifications();
    let port = child_port();
    let tls_port: u16 = env::var("DNS_LOCK_TLS_PORT").unwrap().parse().unwrap();
    let ca = env::var("DNS_LOCK_CA").unwrap();

    let b = connected(&format!("tcp://127.0.0.1:{port}"), "dns-b", "B");

    let a = paho_client(&format!("ssl://{SLOW_HOST}:{tls_port}"), &unique("dns-tls"));
    let ssl = paho::SslOptionsBuilder::new()
        .trust_store(&ca)
        .unwrap()
        .enable_server_cert_auth(true)
        .verify(true)
        .finalize();
    let opts = paho::ConnectOptionsBuilder::new()
        .connect_timeout(Duration::from_secs(10))
        .ssl_options(ssl)
        .finalize();
    let a_connect = a.connect(opts);
    wait_lookup_started(&notify);
    let (a2, b2) = (a.clone(), b.clone());
    let calls: Vec<Call<bool>> = vec![
        ("A's is_connected()", Box::new(move || a2.is_connected())),
        ("B's is_connected()", Box::new(move || b2.is_connected())),
    ];
    let results = time_each_reported(" (TLS connect)", calls);
    for (what, _, took) in results {
        assert_quick(what, took);
    }
    a_connect
        .wait_for(T)
        .expect("A connects over TLS, the certificate checked against slow-dns.invalid");
    assert!(a.is_connected());
    for cli in [&a, &b] {
        cli.disconnect(None).wait_for(T).expect("disconnects");
    }
}

#[test]
fn a_second_connect_of_the_client_waits_for_its_lookup() {
    if env::var(CHILD_ENV).is_ok() {
        return child_second_connect();
    }
    let broker = Broker::start();
    // MALLOC_PERTURB_: glibc fills freed memory with a pattern, so a server URI freed under
    // the lookup reads as garbage, not as the old string.
    parent(
        "a_second_connect_of_the_client_waits_for_its_lookup",
        &[
            ("DNS_LOCK_PORT", broker.port().to_string()),
            ("MALLOC_PERTURB_", "165".into()),
        ],
    );
}

/// `MQTTAsync_connect` replaces the client's server URIs, TLS options, user name and
/// properties; the send thread's connect in a lookup uses them when the lookup ends. A
/// second connect of the same client (paho-rs `connect()` again, `reconnect()`) during the
/// lookup waits for it: the first attempt goes on with its own URI, then the second connect
/// proceeds. Unpatched (with `MALLOC_PERTURB_`), the first attempt read its freed URI and
/// failed, the second timed out.
fn child_second_connect() {
    let notify = lookup_notifications();
    let port = child_port();
    let direct = format!("tcp://127.0.0.1:{port}");
    let a = paho_client(&direct, &unique("dns-again"));
    let with_uri = |uri: String, user: &str| {
        paho::ConnectOptionsBuilder::new()
            .connect_timeout(Duration::from_secs(10))
            .server_uris(&[uri])
            .user_name(user)
            .finalize()
    };
    let first = a.connect(with_uri(format!("tcp://{SLOW_HOST}:{port}"), "first"));
    wait_lookup_started(&notify);
    let (second, second_took) = timed(|| a.connect(with_uri(direct.clone(), "second")));
    println!("dns-lock: a second connect during the lookup returned after {second_took:?}");
    assert!(
        second_took > LIMIT,
        "the second connect returned after {second_took:?}, before A's lookup ended: it \
         replaced the options the lookup's connect uses"
    );
    // The CONNACK of the first attempt completes the callbacks the latest connect set (as
    // upstream, for a connect made while another is under way): whichever token that is
    // reports the connection; none fails.
    let (tx, rx) = std::sync::mpsc::channel();
    for (which, tok) in [("first", first), ("second", second)] {
        let tx = tx.clone();
        thread::spawn(move || {
            let _ = tx.send((which, tok.wait_for(T)));
        });
    }
    let (which, got) = rx.recv_timeout(T + T).expect("a connect token completes");
    println!("dns-lock: the {which} connect's token completed first: {got:?}");
    got.unwrap_or_else(|e| panic!("the {which} connect failed: {e}"));
    assert!(a.is_connected());
    let _ = a.disconnect(None).wait_for(T);
}

#[test]
fn lookups_run_side_by_side_and_a_failed_one_fails_over() {
    if env::var(CHILD_ENV).is_ok() {
        return child_side_by_side();
    }
    let broker = Broker::start();
    parent(
        "lookups_run_side_by_side_and_a_failed_one_fails_over",
        &[("DNS_LOCK_PORT", broker.port().to_string())],
    );
}

/// Two clients' connects look the slow host up at the same time: each lookup on a thread of
/// its own, so both connect after one lookup's time, not two (one after the other on Paho's
/// send thread). A's first server URI names a host whose lookup fails: its connect goes on
/// to the next URI, looked up in turn.
fn child_side_by_side() {
    let notify = lookup_notifications();
    let port = child_port();
    let slow = format!("tcp://{SLOW_HOST}:{port}");
    let a = paho_client(&slow, &unique("dns-failover"));
    let d = paho_client(&slow, &unique("dns-side"));
    let a_opts = paho::ConnectOptionsBuilder::new()
        .connect_timeout(Duration::from_secs(10))
        .server_uris(&[format!("tcp://{FAILING_HOST}:{port}"), slow.clone()])
        .finalize();
    let started = Instant::now();
    let a_connect = a.connect(a_opts);
    let d_connect = d.connect(connect_options());
    wait_lookup_started(&notify);
    wait_lookup_started(&notify);
    let both_looking_up = started.elapsed();
    d_connect.wait_for(T).expect("D connects");
    let a_rsp = a_connect
        .wait_for(T)
        .expect("A connects through its second server URI");
    let took = started.elapsed();
    assert_eq!(
        a_rsp.connect_response().map(|r| r.server_uri),
        Some(slow.clone()),
        "A's connect went on to its second server URI"
    );
    println!(
        "dns-lock: two connects each looking up {SLOW_HOST} ({LOOKUP:?}): both lookups \
         started within {both_looking_up:?}, both connected after {took:?}"
    );
    assert!(
        both_looking_up < LIMIT,
        "the second slow lookup started {both_looking_up:?} after the connects: it waited \
         for the first"
    );
    assert!(
        took < LOOKUP + LIMIT,
        "two connects looking {SLOW_HOST} up took {took:?}: their lookups ran one after \
         the other"
    );
    assert!(a.is_connected() && d.is_connected());
    for cli in [&a, &d] {
        cli.disconnect(None).wait_for(T).expect("disconnects");
    }
}

#[test]
fn an_automatic_reconnect_looks_the_host_up_again_and_connects() {
    if env::var(CHILD_ENV).is_ok() {
        return child_reconnect();
    }
    let broker = Broker::start();
    // B's broker, not restarted.
    let other = Broker::start();
    let a_id = unique("dns-reconnect");
    let child = {
        let (port, b_port, a_id) = (
            broker.port().to_string(),
            other.port().to_string(),
            a_id.clone(),
        );
        thread::spawn(move || {
            parent(
                "an_automatic_reconnect_looks_the_host_up_again_and_connects",
                &[
                    ("DNS_LOCK_PORT", port),
                    ("DNS_LOCK_B_PORT", b_port),
                    ("DNS_LOCK_A_ID", a_id),
                ],
            )
        })
    };
    let connected = format!("as {a_id} ");
    assert!(
        broker.wait_for_log(&connected, 1, T),
        "A never connected:\n{}",
        broker.log_tail(20)
    );
    broker.restart();
    let reconnected = broker.wait_for_log(&connected, 2, T + T);
    child
        .join()
        .expect("the child process passes (its failure is above)");
    assert!(
        reconnected,
        "A did not reconnect after the broker's restart:\n{}",
        broker.log_tail(20)
    );
}

/// A (automatic reconnect) connects through the slow host; the parent restarts the broker;
/// A's reconnect looks the host up again (the client `RESOLVING` while
/// `MQTTAsync_checkTimeouts` runs on the send thread meanwhile) and connects. B, connected
/// directly to another broker, publishes during A's reconnect lookup, and its publish
/// completes before the lookup ends.
fn child_reconnect() {
    let notify = lookup_notifications();
    let port = child_port();
    let b_port = env::var("DNS_LOCK_B_PORT").unwrap();
    let b = connected(&format!("tcp://127.0.0.1:{b_port}"), "dns-b", "B");
    let a = paho_client(
        &format!("tcp://{SLOW_HOST}:{port}"),
        &env::var("DNS_LOCK_A_ID").unwrap(),
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let lost = tx.clone();
    a.set_connected_callback(move |_| {
        let _ = tx.send("connected");
    });
    a.set_connection_lost_callback(move |_| {
        let _ = lost.send("lost");
    });
    let opts = paho::ConnectOptionsBuilder::new()
        .connect_timeout(Duration::from_secs(10))
        .automatic_reconnect(Duration::from_millis(200), Duration::from_secs(1))
        .finalize();
    a.connect(opts).wait_for(T).expect("A connects");
    wait_lookup_started(&notify);
    assert_eq!(rx.recv_timeout(T), Ok("connected"));
    assert_eq!(rx.recv_timeout(T + T), Ok("lost"), "A lost its connection");

    // Each reconnect attempt looks the host up: publish from B during one.
    wait_lookup_started(&notify);
    let measured = Instant::now();
    b.publish(paho::Message::new("dns-lock/test", "reconnect", 1))
        .wait_for(T)
        .expect("B's publish completes");
    let b_done = measured.elapsed();
    println!("dns-lock: during A's reconnect lookup: B's publish completed after {b_done:?}");
    assert!(
        b_done < LIMIT,
        "B's publish completed {b_done:?} after it was called, during A's reconnect lookup: \
         it waited for the lookup"
    );
    assert_eq!(
        rx.recv_timeout(T + T),
        Ok("connected"),
        "A reconnects through the looked-up address"
    );
    assert!(a.is_connected());
    for cli in [&a, &b] {
        cli.disconnect(None).wait_for(T).expect("disconnects");
    }
}

/// The client handles and URI the callbacks of the two tests below use (one test per child
/// process).
static OTHER_CLIENT: AtomicPtr<c_void> = AtomicPtr::new(std::ptr::null_mut());
static OTHER_URI: OnceLock<CString> = OnceLock::new();
/// Set when the callback's `MQTTAsync_connect` has returned; its return code.
static CALLBACK_CONNECTED: AtomicBool = AtomicBool::new(false);
static CALLBACK_CONNECT_RC: AtomicI32 = AtomicI32::new(-9999);

/// An `onFailure` that connects `OTHER_CLIENT`, to `OTHER_URI` when set.
#[allow(unsafe_code)]
unsafe extern "C" fn on_failure_connect_other(
    _: *mut c_void,
    data: *mut ffi::MQTTAsync_failureData,
) {
    // SAFETY: Paho passes NULL or a pointer to failure data valid for the call.
    let code = if data.is_null() { -9999 } else { (*data).code };
    CONNECT_FAILURE.store(code, Ordering::SeqCst);
    let uris: Vec<*mut std::os::raw::c_char> = OTHER_URI
        .get()
        .map(|u| u.as_ptr() as *mut _)
        .into_iter()
        .collect();
    let opts = ffi::MQTTAsync_connectOptions {
        connectTimeout: 10,
        serverURIs: if uris.is_empty() {
            std::ptr::null()
        } else {
            uris.as_ptr()
        },
        serverURIcount: uris.len() as i32,
        ..Default::default()
    };
    // SAFETY: a live handle (the test destroys it only after this ran) and options that
    // outlive the call (Paho copies them).
    let rc = ffi::MQTTAsync_connect(OTHER_CLIENT.load(Ordering::SeqCst), &opts);
    CALLBACK_CONNECT_RC.store(rc, Ordering::SeqCst);
    CALLBACK_CONNECTED.store(true, Ordering::SeqCst);
}

/// In the child: waits until `client` is connected (`MQTTAsync_isConnected`), at most `T`.
fn wait_raw_connected(client: &RawClient, name: &str) {
    let deadline = Instant::now() + T;
    // SAFETY: a live handle.
    #[allow(unsafe_code)]
    let is_connected = || unsafe { ffi::MQTTAsync_isConnected(client.handle()) } != 0;
    while !is_connected() {
        assert!(
            Instant::now() < deadline,
            "{name} did not connect within {T:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_connect_from_the_failure_callback_of_a_destroy_does_not_release_the_lock() {
    if env::var(CHILD_ENV).is_ok() {
        return child_connect_from_destroy_callback();
    }
    let broker = Broker::start();
    // MALLOC_PERTURB_: glibc fills freed memory with a pattern, so a lookup record freed
    // under MQTTAsync_destroy's walk reads as garbage (a crash), not as the old record.
    parent(
        "a_connect_from_the_failure_callback_of_a_destroy_does_not_release_the_lock",
        &[
            ("DNS_LOCK_PORT", broker.port().to_string()),
            ("MALLOC_PERTURB_", "165".into()),
        ],
    );
}

/// Y looks up the slow host (3 s), then X another (2 s). The test destroys X during both
/// lookups: X's connect fails (`MQTTAsync_lookupForget`, holding the lock) and its
/// `onFailure` connects Y, whose lookup runs. Before the fix, that connect released the
/// lock the destroy held to wait for Y's lookup: X's lookup thread ended meanwhile and freed
/// X's command, which the destroy then wrote to, and Y's lookup thread freed the record the
/// destroy's walk went on with (AddressSanitizer: heap-use-after-free; a crash with
/// `MALLOC_PERTURB_`). Now the callback's connect does not wait, the destroy returns at once,
/// and Y connects.
fn child_connect_from_destroy_callback() {
    let notify = lookup_notifications();
    let port = child_port();
    let y = RawClient::create(&format!("tcp://{SLOW_HOST}:{port}"), &unique("dns-y"));
    OTHER_CLIENT.store(y.handle(), Ordering::SeqCst);
    y.connect(10, None, None);
    wait_lookup_started(&notify);
    let mut x = RawClient::create(&format!("tcp://{SLOW_HOST_2}:{port}"), &unique("dns-x"));
    x.connect(10, Some(on_failure_connect_other), None);
    wait_lookup_started(&notify);

    let ((), destroy_took) = timed(|| x.destroy());
    println!("dns-lock: during two lookups: MQTTAsync_destroy of X {destroy_took:?}");
    assert!(
        CALLBACK_CONNECTED.load(Ordering::SeqCst),
        "X's onFailure ran"
    );
    assert_eq!(
        CONNECT_FAILURE.load(Ordering::SeqCst),
        ffi::MQTTASYNC_OPERATION_INCOMPLETE,
        "the destroyed client's connect failed as interrupted"
    );
    assert_eq!(
        CALLBACK_CONNECT_RC.load(Ordering::SeqCst),
        0,
        "connect(Y) in X's onFailure"
    );
    assert_quick(
        "MQTTAsync_destroy of X, whose onFailure connects Y",
        destroy_took,
    );
    wait_raw_connected(&y, "Y");
}

#[test]
fn a_connect_replacing_the_uris_during_the_lookup_looks_the_new_host_up_off_the_lock() {
    if env::var(CHILD_ENV).is_ok() {
        return child_uris_replaced_during_lookup();
    }
    let broker = Broker::start();
    parent(
        "a_connect_replacing_the_uris_during_the_lookup_looks_the_new_host_up_off_the_lock",
        &[("DNS_LOCK_PORT", broker.port().to_string())],
    );
}

/// A looks up the slow host; B's connect fails at once (its host cannot be looked up) and
/// its `onFailure`, on Paho's send thread, connects A with another server URI, whose host is
/// slow too: the callback's connect does not wait for A's lookup. When A's lookup ends, its
/// connect goes on with the new URI: the new host is looked up on a lookup thread. Before
/// the fix, `Socket_new` looked it up on the send thread holding `mqttasync_mutex`: C's
/// publish, and every call of every client, waited for that lookup.
fn child_uris_replaced_during_lookup() {
    let notify = lookup_notifications();
    let port = child_port();
    let c = connected(&format!("tcp://127.0.0.1:{port}"), "dns-c", "C");
    let a = RawClient::create(&format!("tcp://{SLOW_HOST}:{port}"), &unique("dns-a"));
    OTHER_CLIENT.store(a.handle(), Ordering::SeqCst);
    OTHER_URI
        .set(CString::new(format!("tcp://{SLOW_HOST_2}:{port}")).unwrap())
        .unwrap();
    a.connect(10, None, None);
    wait_lookup_started(&notify);
    let b = RawClient::create(&format!("tcp://{FAILING_HOST}:{port}"), &unique("dns-b"));
    b.connect(10, Some(on_failure_connect_other), None);
    let deadline = Instant::now() + T;
    while !CALLBACK_CONNECTED.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "B's connect did not fail");
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        CALLBACK_CONNECT_RC.load(Ordering::SeqCst),
        0,
        "connect(A) in B's onFailure"
    );

    // A's lookup ends; its connect looks the new host up.
    wait_lookup_started(&notify);
    let (published, publish_took) = timed(|| {
        c.publish(paho::Message::new("dns-lock/test", "new host", 1))
            .wait_for(T)
    });
    published.expect("C's publish completes");
    println!("dns-lock: during the lookup of A's new host: C's publish {publish_took:?}");
    assert!(
        publish_took < LIMIT,
        "C's publish completed {publish_took:?} after it was called, during the lookup of \
         A's new host {SLOW_HOST_2}: the send thread looked it up holding Paho's lock"
    );
    wait_raw_connected(&a, "A");
    c.disconnect(None).wait_for(T).expect("C disconnects");
}

#[test]
fn a_connect_timeout_shorter_than_the_lookup_fails_the_connect_in_time() {
    if env::var(CHILD_ENV).is_ok() {
        return child_connect_timeout_during_lookup();
    }
    let broker = Broker::start();
    parent(
        "a_connect_timeout_shorter_than_the_lookup_fails_the_connect_in_time",
        &[
            ("DNS_LOCK_PORT", broker.port().to_string()),
            // A lookup thread writing to a connect freed at its timeout reads garbage.
            ("MALLOC_PERTURB_", "165".into()),
        ],
    );
}

/// A port on 127.0.0.1 nothing listens on (free a moment ago): a connect to it is refused.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    listener.local_addr().unwrap().port()
}

/// A's host is looked up slowly (3 s), its broker is up; B's too, nothing listens on its
/// port. Both connects time out after 1 s, during their lookups: before the fix,
/// `MQTTAsync_checkTimeouts` skipped a client looking its host up, so A connected after the
/// 3-s lookup and B failed only then. Each timed-out lookup ends later: its result is
/// dropped (Paho's trace says so), and a new connect of A, started while the old lookup
/// still runs, looks the host up again and connects.
fn child_connect_timeout_during_lookup() {
    let notify = lookup_notifications();
    let port = child_port();
    let (dropped_tx, dropped) = std::sync::mpsc::channel();
    let dropped_tx = std::sync::Mutex::new(dropped_tx);
    paho::set_client_trace_callback(paho::ffi_trace_level::MINIMUM, move |line| {
        if line.message().contains("was looked up: result dropped") {
            let _ = dropped_tx
                .lock()
                .unwrap()
                .send((line.message().to_owned(), line.client()));
        }
    });
    let a = paho_client(
        &format!("tcp://{SLOW_HOST}:{port}"),
        &unique("dns-timeout-a"),
    );
    let b = paho_client(
        &format!("tcp://{SLOW_HOST}:{}", closed_port()),
        &unique("dns-timeout-b"),
    );
    let timeout = Duration::from_secs(1);
    let opts = paho::ConnectOptionsBuilder::new()
        .connect_timeout(timeout)
        .finalize();
    let started = Instant::now();
    let (a_connect, b_connect) = (a.connect(opts.clone()), b.connect(opts));
    wait_lookup_started(&notify);
    wait_lookup_started(&notify);
    let a_result = a_connect.wait_for(T);
    let a_took = started.elapsed();
    let b_result = b_connect.wait_for(T);
    let b_took = started.elapsed();
    println!(
        "dns-lock: connect timeout {timeout:?}, lookup {LOOKUP:?}: A (broker up) ended after \
         {a_took:?} ({:?}), B (port closed) after {b_took:?} ({:?})",
        a_result.as_ref().map(|_| "connected"),
        b_result.as_ref().map(|_| "connected"),
    );
    // Seen at the next check of the send thread, within a fraction of a second.
    let limit = timeout + Duration::from_millis(1500);
    for (what, result, took) in [("A", &a_result, a_took), ("B", &b_result, b_took)] {
        assert!(
            matches!(result, Err(paho::Error::TcpConnectTimeout)),
            "{what}'s connect (timeout {timeout:?}, lookup {LOOKUP:?}) ended after {took:?} \
             with {result:?}, not TcpConnectTimeout"
        );
        assert!(
            took < limit,
            "{what}'s connect timed out after {took:?}, not within {limit:?} of its start: \
             the {timeout:?} connect timeout waited for the {LOOKUP:?} lookup"
        );
    }
    assert!(!a.is_connected() && !b.is_connected());

    // A connects again while its timed-out lookup still runs: a lookup of its own.
    let again = a.connect(connect_options());
    wait_lookup_started(&notify);
    let mut dropped_for = Vec::new();
    for _ in 0..2 {
        let (line, client) = dropped
            .recv_timeout(T)
            .expect("a timed-out lookup ended and its result was dropped");
        println!("dns-lock: {line}");
        dropped_for.push(client);
    }
    // The lines name their clients (alive, their connects timed out).
    dropped_for.sort_by_key(|k| *k == Some(b.trace_key()));
    assert_eq!(
        dropped_for,
        [Some(a.trace_key()), Some(b.trace_key())],
        "the lines about the dropped results do not name A and B"
    );
    assert!(!b.is_connected(), "B connected after its connect timed out");
    again
        .wait_for(T)
        .expect("A connects again after the timed-out attempt");
    assert!(a.is_connected());
    paho::clear_client_trace_callback();
    a.disconnect(None).wait_for(T).expect("A disconnects");
}

#[test]
fn a_connect_queued_during_another_connects_lookup_counts_its_timeout_from_its_own_start() {
    if env::var(CHILD_ENV).is_ok() {
        return child_connect_queued_during_lookup();
    }
    let broker = Broker::start();
    parent(
        "a_connect_queued_during_another_connects_lookup_counts_its_timeout_from_its_own_start",
        &[
            ("DNS_LOCK_PORT", broker.port().to_string()),
            // Longer lookups (6 s, 4 s): see the child.
            ("SLOW_DNS_MS", QUEUED_LOOKUP.as_millis().to_string()),
            // A lookup thread writing to a connect freed at its timeout reads garbage.
            ("MALLOC_PERTURB_", "165".into()),
        ],
    );
}

/// The lookup of [`SLOW_HOST`] in the child below (of [`SLOW_HOST_2`]: two thirds, 4 s).
const QUEUED_LOOKUP: Duration = Duration::from_secs(6);
/// The connect timeout of A's second connect, in seconds: shorter than the first lookup,
/// longer than the second. Paho's connect timeout is the client's, the last connect's.
const QUEUED_TIMEOUT: i32 = 5;

/// How the connects of A ended in the child below: which, the failure code, when.
static QUEUED_FAILURES: OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<(&str, i32)>>> =
    OnceLock::new();

fn queued_failure(which: &'static str, data: *mut ffi::MQTTAsync_failureData) {
    // SAFETY: Paho passes NULL or a pointer to failure data valid for the call.
    #[allow(unsafe_code)]
    let code = if data.is_null() {
        -9999
    } else {
        unsafe { (*data).code }
    };
    if let Some(tx) = QUEUED_FAILURES.get() {
        let _ = tx.lock().unwrap().send((which, code));
    }
}

#[allow(unsafe_code)]
unsafe extern "C" fn on_first_failure(_: *mut c_void, data: *mut ffi::MQTTAsync_failureData) {
    queued_failure("first", data);
}

#[allow(unsafe_code)]
unsafe extern "C" fn on_second_failure(_: *mut c_void, data: *mut ffi::MQTTAsync_failureData) {
    queued_failure("second", data);
}

/// B's `onFailure`: connects `OTHER_CLIENT` (A) to `OTHER_URI`, timeout [`QUEUED_TIMEOUT`],
/// its failure reported as the second connect's.
#[allow(unsafe_code)]
unsafe extern "C" fn on_failure_connect_again(_: *mut c_void, _: *mut ffi::MQTTAsync_failureData) {
    let uris = [OTHER_URI.get().unwrap().as_ptr() as *mut std::os::raw::c_char];
    let opts = ffi::MQTTAsync_connectOptions {
        connectTimeout: QUEUED_TIMEOUT,
        serverURIs: uris.as_ptr(),
        serverURIcount: 1,
        onFailure: Some(on_second_failure),
        ..Default::default()
    };
    // SAFETY: a live handle (the test destroys it only after this ran) and options that
    // outlive the call (Paho copies them).
    let rc = ffi::MQTTAsync_connect(OTHER_CLIENT.load(Ordering::SeqCst), &opts);
    CALLBACK_CONNECT_RC.store(rc, Ordering::SeqCst);
    CALLBACK_CONNECTED.store(true, Ordering::SeqCst);
}

/// A connects to the slow host (6 s); during that lookup, B's `onFailure` (its host cannot
/// be looked up; the callback does not wait for A's lookup) connects A again, to a host
/// looked up in 4 s, with a 5-s timeout. The first connect times out after 5 s, during its
/// lookup; the second then looks its host up and connects, its timeout counted from its own
/// start. Before the fix, a CONNECT queued while its client was connecting kept no start
/// time (upstream's #218 rule): the first check after its lookup started found it older
/// than any timeout and failed it at once ("TCP connect timeout").
fn child_connect_queued_during_lookup() {
    let notify = lookup_notifications();
    let port = child_port();
    let (tx, failures) = std::sync::mpsc::channel();
    QUEUED_FAILURES.set(std::sync::Mutex::new(tx)).unwrap();
    let a = RawClient::create(&format!("tcp://{SLOW_HOST}:{port}"), &unique("dns-queued"));
    OTHER_CLIENT.store(a.handle(), Ordering::SeqCst);
    OTHER_URI
        .set(CString::new(format!("tcp://{SLOW_HOST_2}:{port}")).unwrap())
        .unwrap();
    let started = Instant::now();
    a.connect(10, Some(on_first_failure), None);
    wait_lookup_started(&notify);
    let b = RawClient::create(&format!("tcp://{FAILING_HOST}:{port}"), &unique("dns-b"));
    b.connect(10, Some(on_failure_connect_again), None);

    let (which, code) = failures.recv_timeout(T).expect("A's first connect fails");
    let first_took = started.elapsed();
    assert_eq!(
        CALLBACK_CONNECT_RC.load(Ordering::SeqCst),
        0,
        "connect(A) in B's onFailure"
    );
    assert_eq!(
        (which, code),
        ("first", ffi::MQTTASYNC_FAILURE),
        "the first connect timed out (after {first_took:?})"
    );
    // The second connect's lookup.
    wait_lookup_started(&notify);
    let second_started = started.elapsed();
    let deadline = Instant::now() + T;
    // SAFETY: a live handle.
    #[allow(unsafe_code)]
    let is_connected = || unsafe { ffi::MQTTAsync_isConnected(a.handle()) } != 0;
    while !is_connected() {
        if let Ok((which, code)) = failures.try_recv() {
            panic!(
                "the {which} connect of A failed with {code} after {:?} ({:?} after the \
                 second connect's lookup started; its timeout {QUEUED_TIMEOUT} s, its lookup \
                 4 s): it timed out at once",
                started.elapsed(),
                started.elapsed() - second_started
            );
        }
        assert!(Instant::now() < deadline, "A did not connect within {T:?}");
        thread::sleep(Duration::from_millis(20));
    }
    println!(
        "dns-lock: a connect (timeout {QUEUED_TIMEOUT} s) queued during a {QUEUED_LOOKUP:?} \
         lookup: the first timed out after {first_took:?}, the second connected after {:?}",
        started.elapsed()
    );
}

#[test]
fn a_failed_lookup_is_not_repeated_for_the_mqtt_3_1_retry() {
    if env::var(CHILD_ENV).is_ok() {
        return child_failed_lookup_not_repeated();
    }
    let broker = Broker::start();
    parent(
        "a_failed_lookup_is_not_repeated_for_the_mqtt_3_1_retry",
        &[("DNS_LOCK_PORT", broker.port().to_string())],
    );
}

/// A's first server URI names a host whose lookup fails after 3 s, its second the broker
/// directly; no MQTT version is set. Paho retries a failed URI with MQTT 3.1 (after 3.1.1)
/// before it goes on to the next: a failed lookup is not made again for that retry, so the
/// slow host is looked up once, and A connects after one lookup's time, not two.
fn child_failed_lookup_not_repeated() {
    let notify = lookup_notifications();
    let port = child_port();
    let direct = format!("tcp://127.0.0.1:{port}");
    let a = paho_client(&direct, &unique("dns-retry"));
    let opts = paho::ConnectOptionsBuilder::new()
        .connect_timeout(Duration::from_secs(10))
        .server_uris(&[format!("tcp://{SLOW_FAILING_HOST}:{port}"), direct.clone()])
        .finalize();
    assert_eq!(opts.mqtt_version_raw(), ffi::MQTTVERSION_DEFAULT);
    let started = Instant::now();
    let connect = a.connect(opts);
    wait_lookup_started(&notify);
    let rsp = connect
        .wait_for(T)
        .expect("A connects through its second server URI");
    let took = started.elapsed();
    assert_eq!(
        rsp.connect_response().map(|r| r.server_uri),
        Some(direct),
        "A's connect went on to its second server URI"
    );
    // The shim wrote a byte for each lookup of the slow host, each before its answer: all
    // are in the socket now.
    notify.set_nonblocking(true).unwrap();
    let mut more = [0u8; 16];
    let again = match (&notify).read(&mut more) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
        Err(e) => panic!("reading the lookup notifications: {e}"),
    };
    println!(
        "dns-lock: a failed {LOOKUP:?} lookup, then the next URI: {} lookup(s) of \
         {SLOW_FAILING_HOST}, connected after {took:?}",
        1 + again
    );
    assert_eq!(
        again,
        0,
        "{SLOW_FAILING_HOST}, whose lookup failed, was looked up {} times (connected after \
         {took:?}): its MQTT 3.1 retry looked it up again",
        1 + again
    );
    a.disconnect(None).wait_for(T).expect("A disconnects");
}

#[test]
fn an_ip_address_gets_no_lookup_thread() {
    if env::var(CHILD_ENV).is_ok() {
        return child_ip_address_no_lookup_thread();
    }
    let broker = Broker::start();
    parent(
        "an_ip_address_gets_no_lookup_thread",
        &[("DNS_LOCK_PORT", broker.port().to_string())],
    );
}

/// An IP address in the server URI (`127.0.0.1`, `[::1]`) is parsed by `getaddrinfo`, which
/// asks no resolver for it: patch 16 starts no lookup thread for it (the send thread's
/// `Socket_new` takes it at once, as upstream). The lookup threads are counted by the line
/// each start writes ("Looking up <host> for client <id> on a thread of its own"); a host
/// name (`localhost`) still gets one, which shows the count works.
fn child_ip_address_no_lookup_thread() {
    let port = child_port();
    let starts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&starts);
    paho::set_client_trace_callback(paho::ffi_trace_level::MINIMUM, move |line| {
        let message = line.message();
        if message.contains("Looking up ") && message.contains("on a thread of its own") {
            sink.lock().unwrap().push(message.to_owned());
        }
    });
    let v4 = paho_client(&format!("tcp://127.0.0.1:{port}"), &unique("dns-v4"));
    v4.connect(connect_options())
        .wait_for(T)
        .expect("the client of 127.0.0.1 connects");
    // Connected or refused (the broker may not listen on IPv6, the host may have none): the
    // attempt, and its MQTT 3.1 retry when refused, are over either way.
    let v6 = paho_client(&format!("tcp://[::1]:{port}"), &unique("dns-v6"));
    let v6_result = v6.connect(connect_options()).wait_for(T);
    let named = paho_client(&format!("tcp://localhost:{port}"), &unique("dns-named"));
    let named_result = named.connect(connect_options()).wait_for(T);
    paho::clear_client_trace_callback();
    let starts = starts.lock().unwrap().clone();
    println!(
        "dns-lock: lookup threads started: {starts:?} ([::1]: {:?}, localhost: {:?})",
        v6_result.is_ok(),
        named_result.is_ok()
    );
    let of = |host: &str| {
        starts
            .iter()
            .filter(|l| l.contains(&format!("Looking up {host} for client")))
            .count()
    };
    assert!(
        of("localhost") > 0,
        "no lookup thread for localhost, a host name: {starts:?}"
    );
    assert_eq!(
        (of("127.0.0.1"), of("::1")),
        (0, 0),
        "lookup threads were started for IP addresses (127.0.0.1, ::1), which no resolver \
         needs to answer: {starts:?}"
    );
    v4.disconnect(None).wait_for(T).expect("disconnects");
}

#[test]
fn lines_of_the_lookup_thread_name_their_client() {
    if env::var(CHILD_ENV).is_ok() {
        return child_lookup_lines();
    }
    let broker = Broker::start();
    parent(
        "lines_of_the_lookup_thread_name_their_client",
        &[("DNS_LOCK_PORT", broker.port().to_string())],
    );
}

/// The lookup thread's line about A's lookup (written holding Paho's lock, when the lookup
/// ends) carries A, as the lines the send thread writes for A's connect do (patch 7):
/// before, the lookup thread set no client, and `on_log` of A never saw it.
fn child_lookup_lines() {
    let notify = lookup_notifications();
    let port = child_port();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&lines);
    paho::set_client_trace_callback(paho::ffi_trace_level::MINIMUM, move |line| {
        if line.message().contains(&format!("Looked up {SLOW_HOST}")) {
            sink.lock().unwrap().push((
                line.message().to_owned(),
                line.client(),
                line.client_id().map(str::to_owned),
            ));
        }
    });
    let id = unique("dns-lines");
    let a = paho_client(&format!("tcp://{SLOW_HOST}:{port}"), &id);
    let connect = a.connect(connect_options());
    wait_lookup_started(&notify);
    connect.wait_for(T).expect("A connects");
    paho::clear_client_trace_callback();
    let lines = lines.lock().unwrap().clone();
    println!("dns-lock: the lookup thread's lines: {lines:?}");
    assert!(!lines.is_empty(), "no line about the lookup of {SLOW_HOST}");
    for (message, client, client_id) in &lines {
        assert_eq!(
            (client, client_id.as_deref()),
            (&Some(a.trace_key()), Some(id.as_str())),
            "the lookup thread's line {message:?} does not name A"
        );
    }
    a.disconnect(None).wait_for(T).expect("A disconnects");
}
