//! A configuration mistake is never silent (issue 13 item 6), in a real process: the
//! README's `main` with 4 workers (`tests/bin/config_app.rs`), with no logger installed
//! and with one, its stderr captured. Each mistake appears exactly once per process, not
//! once per worker: through the logger when there is one, on stderr when there is not.
//! A bad setting, a missing CA file, unknown keys for both prefixes in use (with the
//! closest key named), a wrong password (a connect error, not a configuration error)
//! and a handler's filter that the broker's ACL refuses (the client is connected and
//! ready, and that handler receives nothing) are each covered.
//!
//! Starting: a client that cannot start leaves the others running, started once per
//! process; `MQTT_CONNECT_MODE=required` without `mqtt::init()` says so and connects in
//! the background; `init()` checks every client a handler names; a client `init()`
//! started stops gracefully (no last will) when the server then fails to start.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use flask_mqtt_tests::{dynsec_plugin, http, unique, wait_until, AppProcess, Broker, Observer};

const T: Duration = Duration::from_secs(20);
/// The app's workers: each builds its app and calls `configure`.
const WORKERS: usize = 4;
/// What the fallback to stderr adds to a line.
const ON_STDERR: &str = "(on stderr: no logger shows this target)";

/// The app, the file its stderr goes to, and its address.
struct App {
    process: AppProcess,
    stderr: tempfile::NamedTempFile,
    addr: SocketAddr,
    /// The client id of the default client.
    client1: String,
    /// The client id of the `MQTT2` client.
    client2: String,
}

impl App {
    /// Starts the app with `env` (and `APP_LOGGER=1` when `logger`), and waits until
    /// every worker has built its app (and so called `configure`).
    fn start(env: &[(&str, String)], logger: bool) -> App {
        let mut command = Command::new(env!("CARGO_BIN_EXE_config_app"));
        let client1 = unique("visible");
        let client2 = unique("visible2");
        command.env("MQTT_CLIENT_ID", &client1);
        command.env("MQTT2_CLIENT_ID", &client2);
        for (k, v) in env {
            command.env(k, v);
        }
        if logger {
            command.env("APP_LOGGER", "1");
        }
        let stderr = tempfile::NamedTempFile::new().unwrap();
        command.stderr(stderr.reopen().unwrap());
        let process = AppProcess::spawn("config_app", command);
        let listening = process.expect_line(T, |l| l.starts_with("listening "));
        let addr = listening["listening ".len()..].parse().unwrap();
        process.expect_count(T, "app built", WORKERS);
        App {
            process,
            stderr,
            addr,
            client1,
            client2,
        }
    }

    /// Stops the app (SIGTERM) and returns everything it wrote to stderr.
    fn stop(self) -> Vec<String> {
        self.stop_with_stdout().1
    }

    /// [`stop`](Self::stop), also returning every line the app printed on stdout.
    fn stop_with_stdout(mut self) -> (Vec<String>, Vec<String>) {
        self.process.terminate();
        assert!(
            self.process.wait_exit(T).is_some(),
            "the app did not exit; stdout: {:?}",
            self.process.lines()
        );
        // The child has exited: everything it wrote is in the file.
        let stderr = std::fs::read_to_string(self.stderr.path())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        (self.process.lines(), stderr)
    }
}

/// The lines of `stderr` that contain `text`.
fn lines_with<'a>(stderr: &'a [String], text: &str) -> Vec<&'a String> {
    stderr.iter().filter(|l| l.contains(text)).collect()
}

/// Exactly one line contains `text`: on stderr by the fallback without a logger, through
/// the logger at `level` with one; and no line went to the fallback when a logger is
/// installed.
fn once(stderr: &[String], text: &str, logger: bool, level: &str) {
    let found = lines_with(stderr, text);
    assert_eq!(
        found.len(),
        1,
        "expected `{text}` once (logger: {logger}); stderr was:\n{}",
        stderr.join("\n")
    );
    if logger {
        assert!(
            found[0].starts_with(&format!("LOG {level} ")),
            "not through the logger: {}",
            found[0]
        );
        assert!(
            lines_with(stderr, ON_STDERR).is_empty(),
            "the fallback wrote although a logger is installed:\n{}",
            stderr.join("\n")
        );
    } else {
        assert!(
            found[0].starts_with(&format!("[flask-mqtt {level} ")) && found[0].contains(ON_STDERR),
            "not the stderr fallback: {}",
            found[0]
        );
    }
}

/// Both clients (`MQTT`, `MQTT2`) on `broker`, then `more` (later values win).
fn settings(broker: &Broker, more: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let port = broker.port().to_string();
    let mut env = vec![
        ("MQTT_BROKER_URL", "127.0.0.1".to_owned()),
        ("MQTT_BROKER_PORT", port.clone()),
        ("MQTT2_BROKER_URL", "127.0.0.1".to_owned()),
        ("MQTT2_BROKER_PORT", port),
    ];
    env.extend(more.iter().map(|(k, v)| (*k, (*v).to_owned())));
    env
}

#[test]
fn a_bad_setting_is_reported_once_per_process_with_and_without_a_logger() {
    let broker = Broker::start();
    for logger in [false, true] {
        let app = App::start(&settings(&broker, &[("MQTT_BROKER_PORT", "abc")]), logger);
        // The server serves; what needs the client says why.
        let (code, body) = http(app.addr, "GET", "/mqtt", "");
        assert_eq!(code, 503, "{body}");
        assert!(
            body.contains("invalid MQTT_BROKER_PORT `abc`"),
            "the 503 does not say why: {body}"
        );
        let stderr = app.stop();
        once(
            &stderr,
            "MQTT client MQTT not started: invalid MQTT_BROKER_PORT `abc`: expected a port number from 1 to 65535",
            logger,
            "ERROR",
        );
    }
}

#[test]
fn a_missing_ca_file_is_reported_once_per_process_with_and_without_a_logger() {
    let broker = Broker::start();
    let missing = "/nonexistent/flask-mqtt/ca.pem";
    for logger in [false, true] {
        let env = settings(
            &broker,
            &[("MQTT_TLS_ENABLED", "true"), ("MQTT_TLS_CA_CERTS", missing)],
        );
        let stderr = App::start(&env, logger).stop();
        once(
            &stderr,
            &format!("invalid MQTT_TLS_CA_CERTS `{missing}`: expected an existing PEM file"),
            logger,
            "ERROR",
        );
    }
}

#[test]
fn unknown_keys_of_every_prefix_in_use_get_one_warning_naming_the_closest_key() {
    let broker = Broker::start();
    for logger in [false, true] {
        let env = settings(
            &broker,
            &[("MQTT_BROKER_URI", "typo.example"), ("MQTT2_PASWORD", "x")],
        );
        let app = App::start(&env, logger);
        // The clients run: the typo is a warning, not an error.
        let (code, body) = http(app.addr, "GET", "/mqtt", "");
        assert_eq!(code, 200, "{body}");
        let stderr = app.stop();
        once(
            &stderr,
            "unknown configuration key MQTT_BROKER_URI is ignored; did you mean MQTT_BROKER_URL?",
            logger,
            "WARN",
        );
        once(
            &stderr,
            "unknown configuration key MQTT2_PASWORD is ignored; did you mean MQTT2_PASSWORD?",
            logger,
            "WARN",
        );
    }
}

#[test]
fn a_wrong_password_is_visible_once_without_a_logger() {
    let broker = Broker::builder().password("app", "secret").start();
    for logger in [false, true] {
        let env = settings(
            &broker,
            &[
                ("MQTT_USERNAME", "app"),
                ("MQTT_PASSWORD", "pw-Zq9x"),
                ("MQTT_RECONNECT_MIN_DELAY", "0.05"),
                ("MQTT_RECONNECT_MAX_DELAY", "0.05"),
                ("MQTT2_USERNAME", "app"),
                ("MQTT2_PASSWORD", "secret"),
            ],
        );
        let app = App::start(&env, logger);
        // Several failed rounds, so that a line repeated per attempt would show.
        app.process.expect_count(T, "connect failed", 3);
        let stderr = app.stop();
        let refused = lines_with(&stderr, "not authorised");
        assert!(
            !refused.is_empty(),
            "a refused connect left no trace (logger: {logger}):\n{}",
            stderr.join("\n")
        );
        assert!(
            !stderr.join("\n").contains("pw-Zq9x"),
            "the password reached stderr"
        );
        if logger {
            // The logger has every attempt; the fallback stays quiet.
            assert!(refused.iter().all(|l| l.starts_with("LOG ")), "{refused:?}");
        } else {
            assert_eq!(
                refused.len(),
                1,
                "the first failed connect once, not per attempt:\n{}",
                stderr.join("\n")
            );
            assert!(refused[0].contains(ON_STDERR), "{}", refused[0]);
        }
    }
}

/// The filters of every SUBSCRIBE `client` sent, one list per SUBSCRIBE, from Mosquitto's
/// log: `Received SUBSCRIBE from <client>`, then a line `\t<filter> (QoS <n>)` per filter,
/// each followed by `<client> <qos> <filter>` when the subscription was granted.
fn subscribes_from(log: &str, client: &str) -> Vec<Vec<String>> {
    let header = format!(": Received SUBSCRIBE from {client}");
    let granted = format!(": {client} ");
    let mut subscribes = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in log.lines() {
        if let Some(filters) = current.as_mut() {
            if let Some((_, rest)) = line.split_once(": \t") {
                let filter = rest.rsplit_once(" (QoS ").map_or(rest, |(f, _)| f);
                filters.push(filter.to_owned());
                continue;
            }
            if line.contains(&granted) {
                continue;
            }
        }
        subscribes.extend(current.take());
        if line.ends_with(&header) {
            current = Some(Vec::new());
        }
    }
    subscribes.extend(current);
    subscribes
}

/// Its configuration: anonymous clients may do anything but subscribe to `visible/two`.
const DYNSEC_REFUSING_VISIBLE_TWO: &str = r#"{
  "defaultACLAccess": {"publishClientSend": true, "publishClientReceive": true,
                       "subscribe": true, "unsubscribe": true},
  "clients": [],
  "groups": [{"groupname": "anonymous", "roles": [{"rolename": "refuse"}]}],
  "roles": [{"rolename": "refuse", "acls": [
    {"acltype": "subscribePattern", "topic": "visible/two", "priority": 0, "allow": false}]}],
  "anonymousGroup": "anonymous"
}"#;

#[test]
fn a_filter_the_acl_refuses_is_visible_once_and_in_the_readiness_json() {
    // Mosquitto 2.0's `acl_file` never refuses a SUBSCRIBE (it filters what is delivered);
    // its dynamic-security plugin does: anonymous clients may not subscribe to `MQTT2`'s
    // handler filter `visible/two` (SUBACK 0x80).
    let dir = tempfile::tempdir().unwrap();
    let dynsec = dir.path().join("dynamic-security.json");
    std::fs::write(&dynsec, DYNSEC_REFUSING_VISIBLE_TWO).unwrap();
    let broker = Broker::builder()
        .extra(format!("plugin {}", dynsec_plugin().display()))
        .extra(format!("plugin_opt_config_file {}", dynsec.display()))
        .start();
    for logger in [false, true] {
        let app = App::start(&settings(&broker, &[]), logger);
        let mut body = String::new();
        // The refusal comes with the first connect; readiness lists it, and stays 200.
        let listed = wait_until(T, || {
            let (code, b) = http(app.addr, "GET", "/ready", "");
            body = b;
            code == 200 && body.contains(r#""refused_subscriptions":["visible/two"]"#)
        });
        assert!(listed, "readiness does not list the refused filter: {body}");
        // Another connect (the broker restarts): the refused filter, a handler's, is asked
        // for again (an ACL may have changed), and refused again without a second line
        // on stderr.
        broker.restart();
        let reconnected = wait_until(T, || {
            let (code, b) = http(app.addr, "GET", "/ready", "");
            body = b;
            code == 200 && body.matches(r#""connects":2"#).count() == 2
        });
        assert!(reconnected, "the clients did not reconnect: {body}");
        // The second connect subscribes again (`visible/marker`), and is answered.
        let id = &app.client2;
        let asked = |filter: &str| {
            subscribes_from(&broker.log(), id)
                .iter()
                .flatten()
                .filter(|f| *f == filter)
                .count()
        };
        assert!(
            wait_until(T, || asked("visible/marker") == 2),
            "no SUBSCRIBE for `visible/marker` at the second connect: {}",
            broker.log_tail(30)
        );
        let subscribes = subscribes_from(&broker.log(), id);
        assert!(
            broker.wait_for_log(&format!("Sending SUBACK to {id}"), subscribes.len(), T),
            "{}",
            broker.log_tail(30)
        );
        assert_eq!(
            asked("visible/two"),
            2,
            "`visible/two` not asked for again after the refusal: {subscribes:?}"
        );
        // A message on the refused filter does not reach its handler: the marker, sent
        // after it on an allowed filter of the same client, shows delivery has happened.
        let observer = Observer::connect(&broker);
        observer.publish("visible/two", "refused", 1);
        observer.publish("visible/marker", "after", 1);
        app.process.expect_line(T, |l| l == "marker got after");
        // Stopped gracefully: a handler call under way would finish and print first.
        let (stdout, stderr) = app.stop_with_stdout();
        let second: Vec<_> = stdout
            .iter()
            .filter(|l| l.starts_with("second got"))
            .collect();
        assert!(
            second.is_empty(),
            "the refused filter's handler ran: {second:?}"
        );
        once(
            &stderr,
            "the broker refused the subscription to `visible/two` (code 0x80): nothing is received on it",
            logger,
            "ERROR",
        );
    }
}

#[test]
fn a_client_that_cannot_start_leaves_the_others_running_started_once() {
    let broker = Broker::start();
    let app = App::start(&settings(&broker, &[("MQTT2_BROKER_PORT", "abc")]), false);
    // The default client works in every worker; only what needs `MQTT2` answers 503.
    for _ in 0..WORKERS * 2 {
        let (code, body) = http(app.addr, "GET", "/mqtt", "");
        assert_eq!(code, 200, "the default client is not available: {body}");
    }
    let (code, body) = http(app.addr, "GET", "/mqtt2", "");
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("MQTT client MQTT2 not started: invalid MQTT2_BROKER_PORT `abc`"),
        "the 503 does not say why: {body}"
    );
    let id = app.client1.clone();
    assert!(
        wait_until(T, || broker.connections_from(&id) >= 1),
        "the default client never connected: {}",
        broker.log_tail(30)
    );
    let mut ready = String::new();
    assert!(
        wait_until(T, || {
            let (code, body) = http(app.addr, "GET", "/ready", "");
            ready = body;
            code == 503 && ready.contains(r#""state":"connected""#)
        }),
        "readiness: {ready}"
    );
    assert!(
        ready.contains("invalid MQTT2_BROKER_PORT `abc`"),
        "readiness does not say why MQTT2 is missing: {ready}"
    );
    let stderr = app.stop();
    once(
        &stderr,
        "MQTT client MQTT2 not started: invalid MQTT2_BROKER_PORT `abc`",
        false,
        "ERROR",
    );
    // One connection of the default client for the 4 workers, ended with DISCONNECT.
    let disconnect = format!("Received DISCONNECT from {id}");
    assert!(
        broker.wait_for_log(&disconnect, 1, T),
        "{}",
        broker.log_tail(30)
    );
    assert_eq!(
        broker.connections_from(&id),
        1,
        "the default client connected more than once: {:?}",
        broker.connected_client_ids()
    );
    assert_eq!(broker.count_in_log(&disconnect), 1);
}

#[test]
fn connect_mode_required_without_init_says_so_and_connects_in_the_background() {
    let broker = Broker::start();
    broker.stop();
    let env = settings(
        &broker,
        &[
            ("MQTT_CONNECT_MODE", "required"),
            ("MQTT_CONNECTION_TIMEOUT", "1"),
            ("MQTT_RECONNECT_MIN_DELAY", "0.05"),
            ("MQTT_RECONNECT_MAX_DELAY", "0.2"),
        ],
    );
    let app = App::start(&env, false);
    // No 503 for a client that is only away.
    let (code, body) = http(app.addr, "GET", "/mqtt", "");
    assert_eq!(code, 200, "{body}");
    broker.start_again();
    let id = app.client1.clone();
    assert!(
        wait_until(T, || broker.connections_from(&id) >= 1),
        "the client never connected once the broker was back: {}",
        broker.log_tail(30)
    );
    let stderr = app.stop();
    once(
        &stderr,
        "MQTT client MQTT: connect mode `required` (MQTT_CONNECT_MODE) only takes effect through `mqtt::init()`",
        false,
        "WARN",
    );
    assert_eq!(broker.connections_from(&id), 1);
}

/// `config_app` with `APP_INIT=1`, both clients on `broker`, then `more`; its stderr.
fn init_app(
    broker: &Broker,
    more: &[(&'static str, &str)],
) -> (AppProcess, tempfile::NamedTempFile) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_config_app"));
    command.env("MQTT_CLIENT_ID", unique("init"));
    command.env("MQTT2_CLIENT_ID", unique("init2"));
    for (k, v) in settings(broker, more) {
        command.env(k, v);
    }
    command.env("APP_INIT", "1");
    let stderr = tempfile::NamedTempFile::new().unwrap();
    command.stderr(stderr.reopen().unwrap());
    (AppProcess::spawn("config_app", command), stderr)
}

#[test]
fn init_checks_every_client_a_handler_names() {
    let broker = Broker::start();
    let (mut app, stderr) = init_app(&broker, &[("MQTT2_BROKER_PORT", "abc")]);
    let status = app.wait_exit(T);
    let out = std::fs::read_to_string(stderr.path()).unwrap();
    assert!(
        status.is_some_and(|s| !s.success()),
        "init() accepted a bad setting of MQTT2; stdout: {:?}, stderr: {out}",
        app.lines()
    );
    // `main` returns the error, which Rust prints with `Debug`.
    assert!(out.contains("MQTT2_BROKER_PORT"), "{out}");
    assert!(
        !app.lines().iter().any(|l| l.starts_with("listening")),
        "the server started: {:?}",
        app.lines()
    );
}

#[test]
fn a_client_init_started_stops_gracefully_when_the_server_fails_to_start() {
    let broker = Broker::start();
    let id = unique("initexit");
    let will_topic = format!("visible/{id}/will");
    let observer = Observer::connect(&broker);
    observer.subscribe(&will_topic, 1);
    let (mut app, stderr) = init_app(
        &broker,
        &[
            ("MQTT_CLIENT_ID", id.as_str()),
            ("MQTT_CONNECT_MODE", "required"),
            ("MQTT_LAST_WILL_TOPIC", will_topic.as_str()),
            ("MQTT_LAST_WILL_MESSAGE", "gone"),
            ("MQTT_LAST_WILL_QOS", "1"),
            ("APP_PORT_TAKEN", "1"),
        ],
    );
    app.expect_line(T, |l| l == "init done");
    let status = app.wait_exit(T).expect("the app did not exit");
    let out = std::fs::read_to_string(stderr.path()).unwrap();
    assert!(!status.success(), "bind did not fail: {out}");
    assert!(out.contains("Address already in use"), "{out}");
    // The broker has noticed the end of the connection one way or another.
    assert!(
        broker.wait_for_log(&format!("Client {id} "), 1, T),
        "{}",
        broker.log_tail(20)
    );
    // A marker published now arrives after any will.
    let probe = Observer::connect(&broker);
    probe.publish(&will_topic, "marker", 1);
    let got = observer
        .expect_message(&will_topic, T)
        .payload_str()
        .into_owned();
    assert_eq!(
        got,
        "marker",
        "the broker published the last will: {}",
        broker.log_tail(20)
    );
    assert_eq!(
        broker.count_in_log(&format!("Received DISCONNECT from {id}")),
        1,
        "{}",
        broker.log_tail(20)
    );
}
