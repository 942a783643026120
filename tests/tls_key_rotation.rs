//! A client key file replaced, after start, by an encrypted key (a certificate rotation
//! gone wrong), against a real Mosquitto with mutual TLS (docs/paho-fork.md, "no password
//! prompt for an encrypted key").
//!
//! flask-mqtt refuses an encrypted key at start (`MQTT_TLS_KEYFILE`), but Paho C reads
//! the key file again at every connect. Unpatched, it left OpenSSL's default password
//! callback in place, which asks for the password on the process's terminal (`/dev/tty`;
//! without one, on stdin) and waits for an answer, on a Paho thread that holds Paho's
//! process-wide mutex: every Paho client of the process stopped until someone typed. Now
//! the key fails to load at once: the connect fails ("TCP/TLS connect failure"), Paho
//! says why in a warning (`on_log`), the client retries as after any TLS failure, and
//! connects again once the key file is fixed.
//!
//! The clients run in a child process (this binary again, with only this test), so that
//! a client stuck at the prompt fails the test after a deadline instead of hanging it.
//! The child has no controlling terminal (its own session) and, as stdin, a pipe the
//! test holds open and never writes: unpatched, OpenSSL's prompt reads that pipe and
//! waits, whether or not the tests run in a terminal. The broker belongs to the parent,
//! which restarts it to make the clients connect again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{say, unique, wait_until, without_terminal, AppProcess, Broker, Recorder};
use mqtt::{Client, Config, ConfigBuilder, QoS};

const T: Duration = Duration::from_secs(15);

/// The test's name, for the child's command line.
const NAME: &str =
    "a_key_file_replaced_by_an_encrypted_key_fails_each_connect_at_once_and_other_clients_go_on";

/// Set in the child: `plain port,mutual TLS port`, and the harness PKI's files.
const CHILD_PORTS: &str = "TLS_KEY_ROTATION_PORTS";
const CHILD_CA: &str = "TLS_KEY_ROTATION_CA";
const CHILD_CERT: &str = "TLS_KEY_ROTATION_CERT";
const CHILD_KEY: &str = "TLS_KEY_ROTATION_KEY";

/// Paho C's reason for a connect that failed before or during the TLS handshake.
const PAHO_TLS_FAILURE: &str = "TCP/TLS connect failure";
/// The start of Paho's warning when the key file holds an encrypted key.
const ENCRYPTED_KEY_WARNING: &str = "the private key in ";

/// `(client id, text)` of the `on_log` warnings and errors.
static WARNINGS: Recorder<(String, String)> = Recorder::new();
/// The client ids of every connect.
static CONNECTS: Recorder<String> = Recorder::new();

#[mqtt::on_log]
fn log_entry(entry: mqtt::LogEntry, client: mqtt::Mqtt) {
    if matches!(entry.level(), mqtt::LogLevel::Warning | mqtt::LogLevel::Err) {
        WARNINGS.push((client.client_id().to_owned(), entry.message().to_owned()));
    }
}

#[mqtt::on_connect]
fn connected(client: mqtt::Mqtt) {
    CONNECTS.push(client.client_id().to_owned());
}

fn config(url: String) -> ConfigBuilder {
    Config::builder()
        .broker_url(url)
        .client_id(unique("keyrot"))
        .connect_timeout(Duration::from_secs(3))
        .reconnect_delay(Duration::from_millis(100), Duration::from_millis(500))
}

fn start(builder: ConfigBuilder) -> Client {
    Client::start(builder.build().expect("valid config")).expect("client starts")
}

fn connects_of(id: &str) -> usize {
    CONNECTS.count(|c| c == id)
}

fn key_warnings_of(id: &str) -> usize {
    WARNINGS.count(|(c, text)| c == id && text.starts_with(ENCRYPTED_KEY_WARNING))
}

/// Waits for client `m`'s `n`th connect.
fn wait_connects(m: &mqtt::Mqtt, n: usize) {
    let id = m.client_id();
    assert!(
        wait_until(T, || connects_of(id) >= n && m.is_connected()),
        "{id} did not connect {n} times ({} so far): {:?}",
        connects_of(id),
        m.last_connect_error()
    );
}

/// A QoS 1 publish from `m`, acknowledged by the broker.
fn publish_acked(m: &mqtt::Mqtt, what: &str) {
    futures::executor::block_on(
        m.publish(format!("keyrot/{}", m.client_id()), what)
            .qos(QoS::AtLeastOnce)
            .send(),
    )
    .unwrap_or_else(|e| panic!("{} could not publish {what}: {e}", m.client_id()));
}

/// Writes `pem` to `path` as a rotation does: a new file renamed over the old one.
fn replace(path: &std::path::Path, pem: &[u8]) {
    let new = path.with_extension("new");
    std::fs::write(&new, pem).unwrap();
    std::fs::rename(&new, path).unwrap();
}

/// The child: two clients, `rotated` (mutual TLS, its own copy of the client certificate
/// and key) and `other` (plain TCP); the key file replaced by the same key encrypted; the
/// parent restarts the broker; `rotated` must fail each connect at once, saying why,
/// while `other` goes on; with the key file fixed, `rotated` connects again.
fn child(ports: &str) {
    let (plain, mutual) = ports.split_once(',').unwrap();
    let var = |k: &str| std::env::var_os(k).unwrap();
    let dir = std::env::temp_dir();
    let (cert, key) = (dir.join("client.crt"), dir.join("client.key"));
    std::fs::copy(var(CHILD_CERT), &cert).unwrap();
    std::fs::copy(var(CHILD_KEY), &key).unwrap();
    let plain_key = std::fs::read(&key).unwrap();

    let rotated = start(
        config(format!("mqtts://127.0.0.1:{mutual}"))
            .tls_ca_certs(var(CHILD_CA))
            .tls_client_cert(&cert, &key),
    );
    let other = start(config(format!("mqtt://127.0.0.1:{plain}")));
    let (r, o) = (rotated.handle(), other.handle());
    wait_connects(&r, 1);
    wait_connects(&o, 1);
    publish_acked(&r, "before");

    // The rotation gone wrong: the same key, encrypted (PKCS#8, as `openssl pkey
    // -aes256` writes it). flask-mqtt checked the file at start only.
    let pkey = openssl::pkey::PKey::private_key_from_pem(&plain_key).unwrap();
    let encrypted = pkey
        .private_key_to_pem_pkcs8_passphrase(openssl::symm::Cipher::aes_256_cbc(), b"rotation")
        .unwrap();
    assert!(String::from_utf8_lossy(&encrypted).contains("BEGIN ENCRYPTED PRIVATE KEY"));
    replace(&key, &encrypted);
    say("key file rotated");

    // (libtest's "test ... " line is not ended yet: the first line printed ends it, so
    // the parent looks at the ends of lines.)
    // The parent restarts the broker: `rotated` connects again, with the encrypted key.
    let id = r.client_id().to_owned();
    let started = Instant::now();
    assert!(
        wait_until(T, || key_warnings_of(&id) >= 1),
        "no connect of {id} failed on the encrypted key within {T:?}: {:?}, warnings {:?}",
        r.last_connect_error(),
        WARNINGS.snapshot()
    );
    say(&format!("a connect failed after {:?}", started.elapsed()));
    assert!(!r.is_connected(), "{id} connected with an encrypted key");
    let err = r.last_connect_error().expect("a failed connect");
    match &err {
        mqtt::ConnectError::Unreachable { reason, .. } => {
            assert_eq!(reason, PAHO_TLS_FAILURE, "{err}");
        }
        other => panic!("expected ConnectError::Unreachable, got {other:?}"),
    }
    let warning = WARNINGS
        .snapshot()
        .into_iter()
        .find(|(c, text)| *c == id && text.starts_with(ENCRYPTED_KEY_WARNING))
        .unwrap()
        .1;
    assert!(warning.contains(&key.display().to_string()), "{warning}");
    say(&format!("on_log: {warning}"));

    // It retries as after any TLS failure, and each attempt says why.
    assert!(
        wait_until(T, || key_warnings_of(&id) >= 2),
        "{id} did not try again: {:?}",
        WARNINGS.snapshot()
    );
    // The other client of the process goes on meanwhile.
    wait_connects(&o, 2);
    publish_acked(&o, "while the key is encrypted");
    assert!(!r.is_connected(), "{id} connected with an encrypted key");

    // The key file fixed: the next attempt connects.
    replace(&key, &plain_key);
    wait_connects(&r, 2);
    publish_acked(&r, "after");
    say("went on");
}

#[test]
fn a_key_file_replaced_by_an_encrypted_key_fails_each_connect_at_once_and_other_clients_go_on() {
    if let Some(ports) = std::env::var_os(CHILD_PORTS) {
        child(ports.to_str().unwrap());
        return;
    }
    let broker = Broker::builder().mutual_tls().start();
    let pki = broker.pki();
    let tmp = tempfile::Builder::new()
        .prefix("tls-key-rotation-")
        .tempdir()
        .unwrap();
    let stderr_path = tmp.path().join("stderr");
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", NAME, "--test-threads=1", "--nocapture"])
        .env(
            CHILD_PORTS,
            format!("{},{}", broker.port(), broker.mutual_tls_port()),
        )
        .env(CHILD_CA, &pki.ca_cert)
        .env(CHILD_CERT, &pki.client_cert)
        .env(CHILD_KEY, &pki.client_key)
        .env("TMPDIR", tmp.path())
        // Its writing end stays open in `child` below and is never written: a password
        // prompt would wait on it.
        .stdin(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap());
    // No `/dev/tty`: OpenSSL's prompt goes to stderr and reads stdin.
    without_terminal(&mut command);
    let mut child = AppProcess::spawn(NAME, command);
    let stderr = || std::fs::read_to_string(&stderr_path).unwrap_or_default();

    let rotated = wait_until(T, || child.count(|l| l.ends_with("key file rotated")) == 1);
    assert!(
        rotated,
        "the child did not rotate the key: {:#?}\nstderr: {}",
        child.lines(),
        stderr()
    );
    broker.restart();
    let failed = wait_until(T, || {
        child.count(|l| l.contains("a connect failed after ")) == 1
    });
    assert!(
        failed,
        "no connect failed within {T:?} of the broker's restart (stuck at a password \
         prompt?): the child printed {:#?}\nits stderr: {}\nbroker log:\n{}",
        child.lines(),
        stderr(),
        broker.log_tail(12)
    );
    let status = child.wait_exit(T);
    let summed_up = wait_until(T, || child.count(|l| l.starts_with("test result: ")) > 0);
    let passed = child.count(|l| l.starts_with("test result: ok. 1 passed;")) == 1;
    assert!(
        status.is_some_and(|s| s.success())
            && summed_up
            && passed
            && child.count(|l| l.ends_with("went on")) == 1,
        "the child: {status:?}, printed {:#?}\nits stderr: {}\nbroker log:\n{}",
        child.lines(),
        stderr(),
        broker.log_tail(12)
    );
    println!("the child printed: {:#?}", child.lines());
    assert!(
        !stderr().contains("pass phrase"),
        "OpenSSL asked for a password: {}",
        stderr()
    );
}
