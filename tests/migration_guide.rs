//! Keeps `docs/migrating-from-flask-mqtt.md` complete and compiled.
//!
//! Its Rust snippets are doc tests: `docs/doctests.rs` includes the guide as the crate
//! documentation of the examples package's library, so `cargo test --doc` compiles
//! every snippet and runs those not marked `no_run`. This test makes sure that wiring
//! stays in place, that no snippet escapes it (`ignore`, or a fence rustdoc would not
//! treat as Rust), and that every configuration key, method, attribute and decorator of
//! Flask-MQTT 1.3 is covered.

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

const GUIDE: &str = include_str!("../docs/migrating-from-flask-mqtt.md");
const DOCTESTS: &str = include_str!("../docs/doctests.rs");
const EXAMPLES_MANIFEST: &str = include_str!("../examples/Cargo.toml");
const README: &str = include_str!("../README.md");

/// Everything Flask-MQTT 1.3 offers (`flask_mqtt/__init__.py` and its documentation).
const CONFIG_KEYS: &[&str] = &[
    "MQTT_BROKER_URL",
    "MQTT_BROKER_PORT",
    "MQTT_USERNAME",
    "MQTT_PASSWORD",
    "MQTT_KEEPALIVE",
    "MQTT_CLIENT_ID",
    "MQTT_CLEAN_SESSION",
    "MQTT_TRANSPORT",
    "MQTT_PROTOCOL_VERSION",
    "MQTT_CONNECTION_TIMEOUT",
    "MQTT_TLS_ENABLED",
    "MQTT_TLS_CA_CERTS",
    "MQTT_TLS_CERTFILE",
    "MQTT_TLS_KEYFILE",
    "MQTT_TLS_CERT_REQS",
    "MQTT_TLS_VERSION",
    "MQTT_TLS_CIPHERS",
    "MQTT_TLS_INSECURE",
    "MQTT_LAST_WILL_TOPIC",
    "MQTT_LAST_WILL_MESSAGE",
    "MQTT_LAST_WILL_QOS",
    "MQTT_LAST_WILL_RETAIN",
    "MQTT_REFRESH_TIME",
];

const METHODS_AND_ATTRIBUTES: &[&str] = &[
    "Mqtt(app)",
    "init_app",
    "connect_async",
    "mqtt_logging",
    "config_prefix",
    "mqtt.subscribe(",
    "mqtt.unsubscribe(",
    "mqtt.unsubscribe_all()",
    "mqtt.publish(",
    "mqtt.topics",
    "mqtt.connected",
    "mqtt.client",
    "TopicQos",
    "MQTT_LOG_INFO",
    "MQTT_LOG_NOTICE",
    "MQTT_LOG_WARNING",
    "MQTT_LOG_ERR",
    "MQTT_LOG_DEBUG",
];

const DECORATORS: &[&str] = &[
    "@mqtt.on_connect()",
    "@mqtt.on_disconnect()",
    "@mqtt.on_message()",
    "@mqtt.on_topic(",
    "@mqtt.on_publish()",
    "@mqtt.on_subscribe()",
    "@mqtt.on_unsubscribe()",
    "@mqtt.on_log()",
];

/// The sections of the Flask-MQTT documentation the guide translates.
const SECTIONS: &[&str] = &[
    "## Connect to a broker",
    "## The factory pattern",
    "## Configure the MQTT client",
    "## TLS for cloud brokers",
    "## Subscribe to a topic",
    "## Subscribe in `on_connect`",
    "## Multiple topics and wildcards",
    "## Topic-specific handlers",
    "## Unsubscribe",
    "## Publish a message",
    "## Logging",
    "## Interact with SocketIO: the dashboard",
    "## Connect to multiple MQTT servers",
    "## Connect return codes",
    "## Application servers and several workers",
    "## Debugging",
];

/// The info strings of the guide's fenced code blocks, in order.
fn fences(markdown: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut open = false;
    for (n, line) in markdown.lines().enumerate() {
        if let Some(info) = line.trim_start().strip_prefix("```") {
            if !open {
                out.push((n + 1, info.trim().to_owned()));
            }
            open = !open;
        }
    }
    assert!(!open, "an unclosed code fence");
    out
}

#[test]
fn the_guide_is_the_doctest_crate() {
    assert!(
        DOCTESTS.contains(r#"#![doc = include_str!("migrating-from-flask-mqtt.md")]"#),
        "docs/doctests.rs must include the guide as crate docs"
    );
    assert!(
        EXAMPLES_MANIFEST.contains(r#"path = "../docs/doctests.rs""#),
        "examples/Cargo.toml must build docs/doctests.rs as its library"
    );
}

#[test]
fn every_rust_snippet_is_compiled() {
    let fences = fences(GUIDE);
    let mut rust = 0;
    for (line, info) in &fences {
        assert!(
            !info.is_empty(),
            "line {line}: give every code block a language (`rust`, `python`, `sh`, ...)"
        );
        let words: Vec<&str> = info.split([',', ' ']).filter(|w| !w.is_empty()).collect();
        if words.first() != Some(&"rust") {
            assert!(
                !words.contains(&"rust"),
                "line {line}: `rust` must come first in {info:?}"
            );
            continue;
        }
        rust += 1;
        for w in &words[1..] {
            assert!(
                ["no_run", "compile_fail"].contains(w),
                "line {line}: {info:?}: only `no_run` (needs a broker) and `compile_fail` are \
                 allowed; `{w}` would let the snippet rot"
            );
        }
    }
    assert!(rust >= 20, "only {rust} Rust snippets: was the guide cut?");
}

#[test]
fn every_flask_mqtt_feature_is_covered() {
    let missing: Vec<&&str> = CONFIG_KEYS
        .iter()
        .chain(METHODS_AND_ATTRIBUTES)
        .chain(DECORATORS)
        .chain(SECTIONS)
        .filter(|needle| !GUIDE.contains(**needle))
        .collect();
    assert!(
        missing.is_empty(),
        "not in the migration guide: {missing:?}"
    );
}

#[test]
fn every_config_key_has_a_row() {
    for key in CONFIG_KEYS {
        let row = format!("| `{key}`");
        assert!(
            GUIDE.lines().any(|l| l.starts_with(&row)),
            "no row for {key} in the configuration table"
        );
    }
}

/// Every key of ours (the README's configuration table, itself held to the key table by
/// flask-mqtt-core's tests) is mentioned, so a key added later reaches the guide too.
#[test]
fn every_key_of_ours_is_mentioned() {
    let section = &README[README.find("## Configuration").unwrap()..];
    let keys: Vec<&str> = section
        .lines()
        .skip_while(|l| !l.starts_with("| key"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .collect();
    assert!(keys.len() >= 25, "the README's table: {keys:?}");
    let missing: Vec<&&str> = keys.iter().filter(|k| !GUIDE.contains(**k)).collect();
    assert!(
        missing.is_empty(),
        "not in the migration guide: {missing:?}"
    );
}

#[test]
fn the_return_code_table_warns_about_mosquitto() {
    assert!(GUIDE.contains("Mosquitto answers a wrong password on MQTT 3.1.1 with **5**"));
    for rc in 0..=5 {
        assert!(
            GUIDE.lines().any(|l| l.starts_with(&format!("| {rc} |"))),
            "return code {rc} missing from the table"
        );
    }
}

/// The guide's TLS advice does not promise checks that a setting turns off: where it says
/// the broker's certificate and host name are checked, it names `MQTT_TLS_INSECURE` (host
/// name check off) and `MQTT_TLS_VERIFY_CERTIFICATE=false` (both off) with it.
#[test]
fn the_guide_does_not_promise_tls_checks_that_settings_turn_off() {
    assert!(
        !GUIDE.contains("always checked"),
        "the guide says the checks are always made"
    );
    let said = GUIDE
        .find("The system trust store is used unless")
        .expect("the TLS paragraph");
    let paragraph = &GUIDE[said..];
    let paragraph = &paragraph[..paragraph.find("\n\n").unwrap_or(paragraph.len())];
    for key in ["MQTT_TLS_INSECURE", "MQTT_TLS_VERIFY_CERTIFICATE=false"] {
        assert!(paragraph.contains(key), "{key} not named in: {paragraph}");
    }
}
