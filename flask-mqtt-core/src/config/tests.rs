use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use super::*;
use crate::ack::policy::AckPolicy;

fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup("MQTT", |k| Ok(map.get(k).cloned()))
}

fn pem_file() -> (tempfile_dir::Dir, String) {
    let dir = tempfile_dir::Dir::new();
    let path = dir.path.join("x.pem");
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "-----BEGIN CERTIFICATE-----").unwrap();
    (dir, path.display().to_string())
}

/// A temporary directory without a dev-dependency.
mod tempfile_dir {
    pub(super) struct Dir {
        pub(super) path: std::path::PathBuf,
    }
    impl Dir {
        pub(super) fn new() -> Dir {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "flask-mqtt-config-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::create_dir_all(&path).unwrap();
            Dir { path }
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[test]
fn defaults() {
    let c = from(&[]).unwrap();
    assert_eq!(c.prefix(), "MQTT");
    assert_eq!(c.host(), "localhost");
    assert_eq!(c.port(), 1883);
    assert_eq!(c.keepalive(), Duration::from_secs(60));
    assert!(c.clean_session());
    assert!(c.client_id().starts_with("flask-mqtt-"));
    assert_eq!(c.client_id().len(), 23);
    assert_eq!(c.server_uri(), "tcp://localhost:1883");
    assert_eq!(c.transport(), Transport::Tcp);
    assert_eq!(c.protocol_version(), ProtocolVersion::V311);
    assert_eq!(c.connect_mode(), ConnectMode::Background);
    assert!(c.tls().is_none());
    assert!(c.last_will().is_none());
    assert_eq!(c.publish_timeout(), Duration::from_secs(10));
    assert_eq!(c.ack_policy(), AckPolicy::After);
    assert_eq!(c.receive_maximum(), 100);
    assert!(
        c.metrics(),
        "metrics are recorded unless MQTT_METRICS=false"
    );
    assert_ne!(
        Config::default().client_id(),
        Config::default().client_id(),
        "ids differ"
    );
}

#[test]
fn reads_every_key() {
    let (_dir, pem) = pem_file();
    let c = from(&[
        ("MQTT_BROKER_URL", "broker.example"),
        ("MQTT_BROKER_PORT", "8884"),
        ("MQTT_USERNAME", "user"),
        ("MQTT_PASSWORD", "hunter2"),
        ("MQTT_KEEPALIVE", "30"),
        ("MQTT_CLIENT_ID", "me"),
        ("MQTT_CLEAN_SESSION", "False"),
        ("MQTT_CONNECTION_TIMEOUT", "2.5"),
        ("MQTT_PUBLISH_TIMEOUT", "0.75"),
        ("MQTT_TRANSPORT", "websockets"),
        ("MQTT_WEBSOCKET_PATH", "/ws"),
        ("MQTT_PROTOCOL_VERSION", "5"),
        ("MQTT_SESSION_EXPIRY", "120"),
        ("MQTT_TLS_ENABLED", "yes"),
        ("MQTT_TLS_CA_CERTS", &pem),
        ("MQTT_TLS_CERTFILE", &pem),
        ("MQTT_TLS_KEYFILE", &pem),
        ("MQTT_TLS_VERSION", "tlsv1.2"),
        ("MQTT_TLS_INSECURE", "on"),
        ("MQTT_TLS_VERIFY_CERTIFICATE", "off"),
        ("MQTT_TLS_CIPHERS", "ECDHE-RSA-AES256-GCM-SHA384"),
        ("MQTT_LAST_WILL_TOPIC", "status/me"),
        ("MQTT_LAST_WILL_MESSAGE", "gone"),
        ("MQTT_LAST_WILL_QOS", "1"),
        ("MQTT_LAST_WILL_RETAIN", "true"),
        ("MQTT_RECONNECT_MIN_DELAY", "0.1"),
        ("MQTT_RECONNECT_MAX_DELAY", "2"),
        ("MQTT_MAX_BUFFERED_MESSAGES", "7"),
        ("MQTT_CONNECT_MODE", "required"),
        ("MQTT_ACK_POLICY", " First "),
        ("MQTT_RECEIVE_MAXIMUM", "65535"),
        ("MQTT_METRICS", "off"),
    ])
    .unwrap();
    assert_eq!(c.server_uri(), "wss://broker.example:8884/ws");
    assert_eq!(c.username(), Some("user"));
    assert_eq!(c.password.as_ref().unwrap().expose(), "hunter2");
    assert_eq!(c.keepalive(), Duration::from_secs(30));
    assert_eq!(c.client_id(), "me");
    assert!(!c.clean_session());
    assert_eq!(c.session_expiry(), Duration::from_secs(120));
    assert_eq!(c.connect_timeout(), Duration::from_millis(2500));
    assert_eq!(c.publish_timeout(), Duration::from_millis(750));
    assert_eq!(c.protocol_version(), ProtocolVersion::V5);
    let tls = c.tls().unwrap();
    assert_eq!(tls.ca_certs().unwrap().display().to_string(), pem);
    assert!(tls.insecure());
    assert!(!tls.verify_certificate());
    assert_eq!(tls.version(), TlsVersion::Tls12);
    assert_eq!(tls.ciphers(), Some("ECDHE-RSA-AES256-GCM-SHA384"));
    let will = c.last_will().unwrap();
    assert_eq!(
        (will.topic(), will.message(), will.qos(), will.retain()),
        (
            "status/me",
            &b"gone"[..],
            crate::qos::QoS::AtLeastOnce,
            true
        )
    );
    assert_eq!(
        c.reconnect_delay(),
        (Duration::from_millis(100), Duration::from_secs(2))
    );
    assert_eq!(c.max_buffered_messages(), 7);
    assert_eq!(c.connect_mode(), ConnectMode::Required);
    assert_eq!(c.ack_policy(), AckPolicy::First);
    assert_eq!(c.receive_maximum(), 65535);
    assert!(!c.metrics());
}

#[test]
fn metrics_switch() {
    for (value, on) in [("true", true), ("1", true), ("No", false), ("false", false)] {
        let c = from(&[("MQTT_METRICS", value)]).unwrap();
        assert_eq!(c.metrics(), on, "MQTT_METRICS={value}");
    }
    let err = from(&[("MQTT_METRICS", "sometimes")]).unwrap_err();
    assert_eq!(err.key(), "MQTT_METRICS");
    assert!(err.to_string().contains("`sometimes`"), "{err}");
    assert!(!Config::builder().metrics(false).build().unwrap().metrics());
    let toml = "[MQTT2]\nmetrics = false\n";
    assert!(!Config::from_toml_str(toml, "MQTT2").unwrap().metrics());
    assert!(Config::from_toml_str(toml, "MQTT").unwrap().metrics());
}

#[test]
fn url_forms() {
    for (url, uri) in [
        ("127.0.0.1", "tcp://127.0.0.1:1883"),
        ("tcp://127.0.0.1:1999", "tcp://127.0.0.1:1999"),
        ("mqtt://example.org", "tcp://example.org:1883"),
        ("mqtts://example.org", "ssl://example.org:8883"),
        ("ssl://example.org:8884", "ssl://example.org:8884"),
        ("ws://example.org", "ws://example.org:80/mqtt"),
        (
            "ws://example.org:9001/custom",
            "ws://example.org:9001/custom",
        ),
        ("wss://example.org", "wss://example.org:443/mqtt"),
        ("TCP://[::1]:1900", "tcp://[::1]:1900"),
        ("::1", "tcp://[::1]:1883"),
    ] {
        let c = from(&[("MQTT_BROKER_URL", url)]).unwrap();
        assert_eq!(c.server_uri(), uri, "{url}");
    }
    // An explicit port key wins over the URL's port.
    let c = from(&[
        ("MQTT_BROKER_URL", "tcp://h:1999"),
        ("MQTT_BROKER_PORT", "2000"),
    ])
    .unwrap();
    assert_eq!(c.port(), 2000);
    // Websockets by key.
    let c = from(&[("MQTT_BROKER_URL", "h"), ("MQTT_TRANSPORT", "websockets")]).unwrap();
    assert_eq!(c.server_uri(), "ws://h:80/mqtt");
}

#[test]
fn bad_values_name_the_key_the_value_and_what_is_accepted() {
    let (_dir, pem) = pem_file();
    let missing = "/nonexistent/ca.pem";
    let cases: Vec<(Vec<(&str, &str)>, String)> = vec![
        (vec![("MQTT_BROKER_PORT", "abc")], "invalid MQTT_BROKER_PORT `abc`: expected a port number from 1 to 65535".into()),
        (vec![("MQTT_BROKER_PORT", "0")], "invalid MQTT_BROKER_PORT `0`: expected a port number from 1 to 65535".into()),
        (vec![("MQTT_BROKER_PORT", "70000")], "invalid MQTT_BROKER_PORT `70000`: expected a port number from 1 to 65535".into()),
        (vec![("MQTT_KEEPALIVE", "-1")], "invalid MQTT_KEEPALIVE `-1`: expected whole seconds from 0 to 65535".into()),
        (vec![("MQTT_CLEAN_SESSION", "maybe")], "invalid MQTT_CLEAN_SESSION `maybe`: expected `true` or `false` (also 1/0, yes/no, on/off)".into()),
        (vec![("MQTT_BROKER_URL", "http://h")], "invalid MQTT_BROKER_URL `http://h`: expected a host name or address, or a URI `scheme://host[:port][/path]` with scheme `mqtt`, `tcp`, `mqtts`, `ssl`, `ws` or `wss`".into()),
        (vec![("MQTT_BROKER_URL", "tcp://h:x")], "invalid MQTT_BROKER_URL `tcp://h:x`: expected a port number from 1 to 65535 after the host".into()),
        (vec![("MQTT_BROKER_URL", "")], "invalid MQTT_BROKER_URL ``: expected a host name or address, or a URI `scheme://host[:port][/path]` with scheme `mqtt`, `tcp`, `mqtts`, `ssl`, `ws` or `wss`".into()),
        (vec![("MQTT_TRANSPORT", "udp")], "invalid MQTT_TRANSPORT `udp`: expected `tcp` or `websockets`".into()),
        (vec![("MQTT_BROKER_URL", "ws://h"), ("MQTT_TRANSPORT", "tcp")], "invalid MQTT_TRANSPORT `tcp`: expected `websockets` to match the scheme of MQTT_BROKER_URL (or drop one of the two)".into()),
        (vec![("MQTT_PROTOCOL_VERSION", "3")], "invalid MQTT_PROTOCOL_VERSION `3`: expected `3.1.1` (also `4`, `311`) or `5`".into()),
        (vec![("MQTT_TLS_ENABLED", "true"), ("MQTT_TLS_VERSION", "sslv3")], "invalid MQTT_TLS_VERSION `sslv3`: expected `tlsv1.2` or `tlsv1.3`".into()),
        (vec![("MQTT_TLS_VERSION", "tlsv1.3")], "invalid MQTT_TLS_VERSION: expected no value while TLS is off (the connection would not be encrypted); set MQTT_TLS_ENABLED=true or use an `mqtts://` / `wss://` URL".into()),
        (vec![("MQTT_TLS_ENABLED", "true"), ("MQTT_TLS_CA_CERTS", missing)], format!("invalid MQTT_TLS_CA_CERTS `{missing}`: expected an existing PEM file (No such file or directory (os error 2))")),
        (vec![("MQTT_TLS_ENABLED", "true"), ("MQTT_TLS_CERTFILE", missing)], format!("invalid MQTT_TLS_CERTFILE `{missing}`: expected an existing PEM file (No such file or directory (os error 2))")),
        (vec![("MQTT_TLS_ENABLED", "true"), ("MQTT_TLS_CERTFILE", &pem), ("MQTT_TLS_KEYFILE", missing)], format!("invalid MQTT_TLS_KEYFILE `{missing}`: expected an existing PEM file (No such file or directory (os error 2))")),
        (vec![("MQTT_TLS_ENABLED", "true"), ("MQTT_TLS_KEYFILE", &pem)], "invalid MQTT_TLS_CERTFILE: expected a client certificate file whenever MQTT_TLS_KEYFILE is set".into()),
        (vec![("MQTT_TLS_CA_CERTS", &pem)], "invalid MQTT_TLS_CA_CERTS: expected no value while TLS is off (the connection would not be encrypted); set MQTT_TLS_ENABLED=true or use an `mqtts://` / `wss://` URL".into()),
        (vec![("MQTT_TLS_ENABLED", "false"), ("MQTT_TLS_CIPHERS", "AES")], "invalid MQTT_TLS_CIPHERS: expected no value while TLS is off (the connection would not be encrypted); set MQTT_TLS_ENABLED=true or use an `mqtts://` / `wss://` URL".into()),
        (vec![("MQTT_LAST_WILL_QOS", "1")], "invalid MQTT_LAST_WILL_TOPIC: expected a topic whenever MQTT_LAST_WILL_QOS is set".into()),
        (vec![("MQTT_LAST_WILL_RETAIN", "true")], "invalid MQTT_LAST_WILL_TOPIC: expected a topic whenever MQTT_LAST_WILL_RETAIN is set".into()),
        (vec![("MQTT_BROKER_URL", "mqtts://h"), ("MQTT_TLS_ENABLED", "false")], "invalid MQTT_TLS_ENABLED `false`: expected `true` (or no value): MQTT_BROKER_URL uses a TLS scheme".into()),
        (vec![("MQTT_LAST_WILL_TOPIC", "t"), ("MQTT_LAST_WILL_QOS", "3")], "invalid MQTT_LAST_WILL_QOS `3`: expected 0, 1 or 2".into()),
        (vec![("MQTT_LAST_WILL_TOPIC", "a/+")], "invalid MQTT_LAST_WILL_TOPIC `a/+`: expected a valid topic name: topic names cannot contain wildcards (level 2 is `+`); `+` and `#` are only for subscribing".into()),
        (vec![("MQTT_LAST_WILL_MESSAGE", "bye")], "invalid MQTT_LAST_WILL_TOPIC: expected a topic whenever MQTT_LAST_WILL_MESSAGE is set".into()),
        (vec![("MQTT_SESSION_EXPIRY", "60")], "invalid MQTT_SESSION_EXPIRY `60`: expected no value unless MQTT_PROTOCOL_VERSION is `5` (MQTT 3.1.1 has no session expiry)".into()),
        (vec![("MQTT_WEBSOCKET_PATH", "ws")], "invalid MQTT_WEBSOCKET_PATH `ws`: expected an HTTP path starting with `/`, without spaces".into()),
        (vec![("MQTT_WEBSOCKET_PATH", "/mq:tt")], "invalid MQTT_WEBSOCKET_PATH `/mq:tt`: expected an HTTP path without `:` (Paho would read what follows it as the port and never connect; write it as `%3A`)".into()),
        (vec![("MQTT_CONNECT_MODE", "eager")], "invalid MQTT_CONNECT_MODE `eager`: expected `background` or `required`".into()),
        (vec![("MQTT_CONNECTION_TIMEOUT", "0")], "invalid MQTT_CONNECTION_TIMEOUT `0`: expected a positive number of seconds (decimals allowed, at most 86400)".into()),
        (vec![("MQTT_PUBLISH_TIMEOUT", "0")], "invalid MQTT_PUBLISH_TIMEOUT `0`: expected a positive number of seconds (decimals allowed, at most 86400)".into()),
        (vec![("MQTT_PUBLISH_TIMEOUT", "86401")], "invalid MQTT_PUBLISH_TIMEOUT `86401`: expected a positive number of seconds (decimals allowed, at most 86400)".into()),
        (vec![("MQTT_RECONNECT_MIN_DELAY", "5"), ("MQTT_RECONNECT_MAX_DELAY", "1")], "invalid MQTT_RECONNECT_MAX_DELAY `1`: expected at least MQTT_RECONNECT_MIN_DELAY (5 s)".into()),
        (vec![("MQTT_MAX_BUFFERED_MESSAGES", "0")], "invalid MQTT_MAX_BUFFERED_MESSAGES `0`: expected a whole number of messages, at least 1".into()),
        (vec![("MQTT_PASSWORD", "s3cret")], "invalid MQTT_USERNAME: expected a user name whenever MQTT_PASSWORD is set (MQTT sends no password without one)".into()),
        (vec![("MQTT_BROKER_URL", "a,,b")], "invalid MQTT_BROKER_URL `a,,b`: expected a comma-separated list of brokers without empty entries".into()),
        (vec![("MQTT_BROKER_URL", "a:1883,http://b")], "invalid MQTT_BROKER_URL `http://b`: expected a host name or address, or a URI `scheme://host[:port][/path]` with scheme `mqtt`, `tcp`, `mqtts`, `ssl`, `ws` or `wss`".into()),
        (vec![("MQTT_BROKER_URL", "mqtt://a,mqtts://b")], "invalid MQTT_BROKER_URL `mqtt://a,mqtts://b`: expected brokers of one scheme, port aside: every fallback uses the first URL's transport, TLS setting and websocket path".into()),
        (vec![("MQTT_BROKER_URL", "h,embedded")], "invalid MQTT_BROKER_URL `h,embedded`: expected `embedded` alone: the development broker inside the process is not part of a failover list".into()),
        (vec![("MQTT_ACK_POLICY", "later")], "invalid MQTT_ACK_POLICY `later`: expected `after` or `first`".into()),
        (vec![("MQTT_ACK_POLICY", "")], "invalid MQTT_ACK_POLICY ``: expected `after` or `first`".into()),
        (vec![("MQTT_ACK_POLICY", "Manual")], "invalid MQTT_ACK_POLICY `manual`: expected `after` or `first`: `manual` is chosen per handler, with `#[on_message(.., ack = \"manual\")]` and an `mqtt::Ack` argument to acknowledge with, which a default for every handler cannot give".into()),
        (vec![("MQTT_PROTOCOL_VERSION", "5"), ("MQTT_RECEIVE_MAXIMUM", "0")], "invalid MQTT_RECEIVE_MAXIMUM `0`: expected a whole number of messages from 1 to 65535".into()),
        (vec![("MQTT_PROTOCOL_VERSION", "5"), ("MQTT_RECEIVE_MAXIMUM", "65536")], "invalid MQTT_RECEIVE_MAXIMUM `65536`: expected a whole number of messages from 1 to 65535".into()),
        (vec![("MQTT_RECEIVE_MAXIMUM", "-1")], "invalid MQTT_RECEIVE_MAXIMUM `-1`: expected a whole number of messages from 1 to 65535".into()),
        (vec![("MQTT_CLIENT_ID", "app-{host}")], "invalid MQTT_CLIENT_ID `app-{host}`: expected only the placeholders `{pid}` and `{hostname}` (found `{host}`)".into()),
    ];
    for (pairs, msg) in &cases {
        let err = from(pairs).unwrap_err();
        assert_eq!(err.to_string(), *msg, "{pairs:?}");
        assert!(!err.to_string().contains("s3cret"));
    }
}

/// A Flask-style `.env` that lists every key with its default value starts, as with
/// Flask-MQTT: a setting that says what the default says is accepted whatever else is
/// set (TLS off, no will topic, MQTT 3.1.1), and changes nothing.
#[test]
fn keys_at_their_default_values_are_accepted_without_the_setting_they_belong_to() {
    let plain = format!("{:?}", from(&[("MQTT_CLIENT_ID", "fixed")]).unwrap());
    for (key, value) in [
        ("MQTT_TLS_INSECURE", "false"),
        ("MQTT_TLS_VERIFY_CERTIFICATE", "true"),
        ("MQTT_TLS_VERSION", "tlsv1.2"),
        ("MQTT_LAST_WILL_MESSAGE", ""),
        ("MQTT_LAST_WILL_QOS", "0"),
        ("MQTT_LAST_WILL_RETAIN", "false"),
        ("MQTT_SESSION_EXPIRY", "0"),
    ] {
        let c = from(&[("MQTT_CLIENT_ID", "fixed"), (key, value)])
            .unwrap_or_else(|e| panic!("{key}={value} refused: {e}"));
        assert_eq!(format!("{c:?}"), plain, "{key}={value}");
    }
    // All at once, with TLS off said explicitly, and Flask-MQTT's other defaults.
    let c = from(&[
        ("MQTT_CLIENT_ID", "fixed"),
        ("MQTT_TLS_ENABLED", "false"),
        ("MQTT_TLS_INSECURE", "false"),
        ("MQTT_TLS_VERSION", "tlsv1.2"),
        ("MQTT_LAST_WILL_QOS", "0"),
        ("MQTT_LAST_WILL_RETAIN", "false"),
        ("MQTT_SESSION_EXPIRY", "0"),
        ("MQTT_KEEPALIVE", "60"),
        ("MQTT_CLEAN_SESSION", "true"),
    ])
    .unwrap();
    assert_eq!(format!("{c:?}"), plain);
    // The same in code.
    let c = Config::builder()
        .client_id("fixed")
        .tls(false)
        .tls_insecure(false)
        .tls_verify_certificate(true)
        .tls_version(TlsVersion::Tls12)
        .session_expiry(Duration::ZERO)
        .build()
        .unwrap();
    assert_eq!(format!("{c:?}"), plain);
}

/// While TLS is off, a setting that would only weaken TLS has no effect: accepted (with a
/// warning, as Flask-MQTT ignores it); one that asks for protection only TLS gives is
/// refused (tested in `bad_values_name_the_key_the_value_and_what_is_accepted`).
#[test]
fn weakening_tls_settings_without_tls_are_accepted() {
    let plain = format!("{:?}", from(&[("MQTT_CLIENT_ID", "fixed")]).unwrap());
    for (key, value) in [
        ("MQTT_TLS_INSECURE", "true"),
        ("MQTT_TLS_VERIFY_CERTIFICATE", "false"),
    ] {
        let c = from(&[("MQTT_CLIENT_ID", "fixed"), (key, value)])
            .unwrap_or_else(|e| panic!("{key}={value} refused: {e}"));
        assert_eq!(format!("{c:?}"), plain, "{key}={value}");
    }
}

/// `MQTT_TLS_VERSION=tlsv1.3` is accepted with TLS on (Paho C, patched, refuses a broker
/// that offers less), and the error for an unknown version lists exactly what is
/// accepted.
#[test]
fn tls_1_3_is_a_minimum_that_can_be_asked_for() {
    let c = from(&[
        ("MQTT_BROKER_URL", "mqtts://h"),
        ("MQTT_TLS_VERSION", "tlsv1.3"),
    ])
    .unwrap();
    assert_eq!(c.tls().map(TlsConfig::version), Some(TlsVersion::Tls13));
    for accepted in ["tlsv1.2", "tls1.2", "1.2", "tlsv1.3", "tls1.3", "1.3"] {
        from(&[
            ("MQTT_BROKER_URL", "mqtts://h"),
            ("MQTT_TLS_VERSION", accepted),
        ])
        .unwrap_or_else(|e| panic!("{accepted}: {e}"));
    }
    let err = from(&[
        ("MQTT_BROKER_URL", "mqtts://h"),
        ("MQTT_TLS_VERSION", "tlsv1.1"),
    ])
    .unwrap_err();
    assert_eq!(err.expected(), "`tlsv1.2` or `tlsv1.3`");
}

#[test]
fn other_prefix_reads_other_keys() {
    let map: HashMap<&str, &str> =
        [("MQTT2_BROKER_PORT", "1999"), ("MQTT_BROKER_PORT", "1")].into();
    let c = Config::from_lookup("MQTT2", |k| Ok(map.get(k).map(|v| v.to_string()))).unwrap();
    assert_eq!(c.port(), 1999);
    assert_eq!(c.prefix(), "MQTT2");
    let err = Config::from_lookup("MQTT2", |_| Ok(Some("x".into()))).unwrap_err();
    assert_eq!(err.key(), "MQTT2_BROKER_PORT");
    assert!(Config::from_lookup("mqtt", |_| Ok(None)).is_err());
}

#[test]
fn password_is_hidden_from_debug() {
    let c = Config::builder()
        .credentials("u", "hunter2")
        .build()
        .unwrap();
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("hunter2"), "{dbg}");
    assert!(dbg.contains("***"));
    // Nor from the `Debug` of a builder or a file's section whose URL holds credentials
    // (refused by `build`, but printable before it).
    let b = Config::builder()
        .broker_url("mqtt://u:hunter2@host:1883")
        .credentials("u", "hunter2");
    let dbg = format!("{b:?}");
    assert!(!dbg.contains("hunter2"), "{dbg}");
    assert!(dbg.contains("mqtt://***@host:1883"), "{dbg}");
    let file = ConfigFile::from_toml_str(
        "[MQTT]\nbroker_url = \"mqtt://u:hunter2@host\"\npassword = \"hunter2\"\n",
        "t",
    )
    .unwrap();
    let dbg = format!("{file:?}");
    assert!(!dbg.contains("hunter2"), "{dbg}");
    assert!(dbg.contains("mqtt://***@host"), "{dbg}");
}

/// A presigned WebSocket URL carries credentials in its query: `Debug` and errors show
/// the parameters' names, never their values; Paho gets the URL as it is.
#[test]
fn query_values_are_hidden_from_debug_and_errors() {
    const SIG: &str = "deadbeefsignature";
    let url = format!("wss://iot.example.com/mqtt?X-Amz-Credential=AKIDX&X-Amz-Signature={SIG}");
    let b = Config::builder().broker_url(url.clone());
    let dbg = format!("{b:?}");
    assert!(!dbg.contains(SIG), "{dbg}");
    assert!(dbg.contains("X-Amz-Signature=***"), "{dbg}");
    let c = b.build().unwrap();
    assert_eq!(
        c.server_uri(),
        url.replace("iot.example.com", "iot.example.com:443")
    );
    let dbg = format!("{c:?}");
    assert!(!dbg.contains(SIG), "{dbg}");
    let path = format!("/mqtt?X-Amz-Signature={SIG}");
    let dbg = format!("{:?}", Config::builder().websocket_path(path.clone()));
    assert!(!dbg.contains(SIG), "{dbg}");
    let file = ConfigFile::from_toml_str(
        &format!("[MQTT]\nbroker_url = \"{url}\"\nwebsocket_path = \"{path}\"\n"),
        "t",
    )
    .unwrap();
    let dbg = format!("{file:?}");
    assert!(!dbg.contains(SIG), "{dbg}");
    // Errors quoting the URL or the path.
    for err in [
        Config::builder()
            .broker_url(format!("{url},mqtt://other"))
            .build()
            .unwrap_err(),
        Config::builder()
            .broker_url("ws://h")
            .websocket_path(format!("/a b?X-Amz-Signature={SIG}"))
            .build()
            .unwrap_err(),
    ] {
        let text = format!("{err} {err:?}");
        assert!(!text.contains(SIG), "{text}");
        assert!(text.contains("X-Amz-Signature=***"), "{text}");
    }
}

#[test]
fn builder_validates_and_names_keys() {
    assert_eq!(
        Config::builder().port(0).build().unwrap_err().key(),
        "MQTT_BROKER_PORT"
    );
    assert_eq!(
        Config::builder()
            .keepalive(Duration::from_millis(1500))
            .build()
            .unwrap_err()
            .key(),
        "MQTT_KEEPALIVE"
    );
    for bad in [Duration::ZERO, Duration::from_secs(86_401)] {
        assert_eq!(
            Config::builder()
                .publish_timeout(bad)
                .build()
                .unwrap_err()
                .key(),
            "MQTT_PUBLISH_TIMEOUT"
        );
    }
    assert_eq!(
        Config::builder()
            .publish_timeout(Duration::from_secs(3))
            .build()
            .unwrap()
            .publish_timeout(),
        Duration::from_secs(3)
    );
    assert_eq!(
        ConfigBuilder::with_prefix("MQTT3")
            .port(0)
            .build()
            .unwrap_err()
            .key(),
        "MQTT3_BROKER_PORT"
    );
    let c = Config::builder()
        .broker_url("mqtts://h")
        .last_will("a/b", "bye", crate::qos::QoS::ExactlyOnce, false)
        .build()
        .unwrap();
    assert_eq!(c.server_uri(), "ssl://h:8883");
    assert_eq!(c.last_will().unwrap().qos(), crate::qos::QoS::ExactlyOnce);
}

#[test]
fn ack_policy_and_receive_maximum_in_code() {
    let c = Config::builder()
        .ack_policy(AckPolicy::First)
        .protocol_version(ProtocolVersion::V5)
        .receive_maximum(1)
        .build()
        .unwrap();
    assert_eq!((c.ack_policy(), c.receive_maximum()), (AckPolicy::First, 1));
    let err = Config::builder()
        .ack_policy(AckPolicy::Manual)
        .build()
        .unwrap_err();
    assert_eq!(err.key(), "MQTT_ACK_POLICY");
    assert!(err.to_string().contains("per handler"), "{err}");
    let err = ConfigBuilder::with_prefix("MQTT2")
        .protocol_version(ProtocolVersion::V5)
        .receive_maximum(0)
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid MQTT2_RECEIVE_MAXIMUM `0`: expected a whole number of messages from 1 to 65535"
    );
    // MQTT 3.1.1 has no Receive Maximum: set there, it is kept (and warned about), not an
    // error, so that one configuration serves both versions.
    let c = Config::builder().receive_maximum(10).build().unwrap();
    assert_eq!(
        (c.protocol_version(), c.receive_maximum()),
        (ProtocolVersion::V311, 10)
    );
}

#[test]
fn mqtt5_persistent_session_gets_a_session_expiry() {
    let c = from(&[
        ("MQTT_PROTOCOL_VERSION", "5"),
        ("MQTT_CLEAN_SESSION", "false"),
    ])
    .unwrap();
    assert_eq!(c.session_expiry(), Duration::from_secs(86_400));
    let c = from(&[("MQTT_PROTOCOL_VERSION", "5")]).unwrap();
    assert_eq!(c.session_expiry(), Duration::ZERO);
}

#[test]
fn toml_file_sections_and_precedence() {
    let toml = r#"
        [MQTT]
        broker_url = "file-host"
        broker_port = 1884
        clean_session = false
        reconnect_min_delay = 0.25
        ack_policy = "first"
        protocol_version = 5
        receive_maximum = 20

        [MQTT2]
        broker_url = "other"
    "#;
    let c = Config::from_toml_str(toml, "MQTT").unwrap();
    assert_eq!(
        (c.host(), c.port(), c.clean_session()),
        ("file-host", 1884, false)
    );
    assert_eq!(c.reconnect_delay().0, Duration::from_millis(250));
    assert_eq!(
        (c.ack_policy(), c.receive_maximum()),
        (AckPolicy::First, 20)
    );
    assert_eq!(
        Config::from_toml_str(toml, "MQTT2").unwrap().host(),
        "other"
    );
    // A missing section gives the defaults.
    assert_eq!(
        Config::from_toml_str(toml, "MQTT3").unwrap().host(),
        "localhost"
    );

    // Environment over file: exercised through the same lookup the real one uses.
    let file = ConfigFile::from_toml_str(toml, "t").unwrap();
    let section = file.section("MQTT");
    let env: HashMap<&str, &str> = [("MQTT_BROKER_PORT", "1999")].into();
    let c = Config::from_lookup("MQTT", |k| {
        Ok(env
            .get(k)
            .map(|v| v.to_string())
            .or_else(|| section.and_then(|s| s.raw(k, "MQTT"))))
    })
    .unwrap();
    assert_eq!((c.host(), c.port()), ("file-host", 1999));
}

#[test]
fn toml_typos_and_bad_values_are_errors() {
    let err = Config::from_toml_str("[MQTT]\nbroker_prot = 1\n", "MQTT").unwrap_err();
    assert_eq!(err.key(), "MQTT_CONFIG_FILE");
    assert!(err.to_string().contains("broker_prot"), "{err}");
    let err = Config::from_toml_str("[MQTT]\nbroker_port = \"x\"\n", "MQTT").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid MQTT_BROKER_PORT `x`: expected a port number from 1 to 65535"
    );
    let err =
        Config::from_file_and_env(std::path::Path::new("/nonexistent.toml"), "MQTT").unwrap_err();
    assert_eq!(err.key(), "MQTT_CONFIG_FILE");
}

#[test]
fn broker_url_lists_name_fallbacks_in_order() {
    let c = from(&[("MQTT_BROKER_URL", "mqtt://a:1884, b ,[::1]:1999")]).unwrap();
    assert_eq!(c.host(), "a");
    assert_eq!(c.port(), 1884);
    assert_eq!(
        c.server_uris(),
        ["tcp://a:1884", "tcp://b:1883", "tcp://[::1]:1999"]
    );
    // As for one broker, a port key wins over the ports in the URLs.
    let c = from(&[("MQTT_BROKER_URL", "a,b:7"), ("MQTT_BROKER_PORT", "5")]).unwrap();
    assert_eq!(c.server_uris(), ["tcp://a:5", "tcp://b:5"]);
    // Fallbacks take the first entry's scheme.
    let c = from(&[("MQTT_BROKER_URL", "wss://a/m,b:444")]).unwrap();
    assert_eq!(c.server_uris(), ["wss://a:443/m", "wss://b:444/m"]);
    // One broker: one URI.
    assert_eq!(from(&[]).unwrap().server_uris(), ["tcp://localhost:1883"]);
}

#[test]
fn client_id_placeholders_expand_per_process() {
    let c = from(&[("MQTT_CLIENT_ID", "app-{hostname}-{pid}")]).unwrap();
    let host = hostname_for_test();
    assert_eq!(
        c.client_id(),
        format!("app-{host}-{}", std::process::id()),
        "placeholders expanded"
    );
    // Text without placeholders, and an unclosed brace, are kept as written.
    assert_eq!(
        from(&[("MQTT_CLIENT_ID", "plain")]).unwrap().client_id(),
        "plain"
    );
    assert_eq!(
        from(&[("MQTT_CLIENT_ID", "a{pid")]).unwrap().client_id(),
        "a{pid"
    );
    // The builder expands them too.
    let c = Config::builder().client_id("x-{pid}").build().unwrap();
    assert_eq!(c.client_id(), format!("x-{}", std::process::id()));
}

fn hostname_for_test() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn embedded_is_checked_when_the_config_is_built() {
    let built = from(&[("MQTT_BROKER_URL", "embedded")]);
    #[cfg(not(feature = "embedded-broker"))]
    {
        let err = built.unwrap_err();
        assert_eq!(err.key(), "MQTT_BROKER_URL");
        assert!(
            err.to_string().contains("feature `embedded-broker`"),
            "{err}"
        );
    }
    #[cfg(feature = "embedded-broker")]
    {
        let c = built.unwrap();
        assert!(!c.port_given);
        let c = from(&[
            ("MQTT_BROKER_URL", "embedded"),
            ("MQTT_BROKER_PORT", "1883"),
        ])
        .unwrap();
        assert!(c.port_given, "an explicit 1883 is a request for that port");
        let err = from(&[
            ("MQTT_BROKER_URL", "embedded"),
            ("MQTT_PROTOCOL_VERSION", "5"),
        ])
        .unwrap_err();
        assert_eq!(err.key(), "MQTT_PROTOCOL_VERSION", "{err}");
    }
}

#[test]
fn a_kept_session_under_a_client_id_new_in_every_process_is_warned_about() {
    let warning = |vars: &[(&str, &str)]| from(vars).unwrap().session_warning();
    // A clean session: nothing to take up.
    assert_eq!(warning(&[]), None);
    assert_eq!(warning(&[("MQTT_CLIENT_ID", "app-{pid}")]), None);
    // A kept session under a stable id (`{hostname}` included).
    for id in ["orders", "orders-{hostname}"] {
        assert_eq!(
            warning(&[("MQTT_CLEAN_SESSION", "false"), ("MQTT_CLIENT_ID", id)]),
            None,
            "{id}"
        );
    }
    // The default id, and `{pid}`.
    let default = warning(&[("MQTT_CLEAN_SESSION", "false")]).unwrap();
    assert!(
        default.contains("is the default, new in every process"),
        "{default}"
    );
    let pid = warning(&[
        ("MQTT_CLEAN_SESSION", "false"),
        ("MQTT_CLIENT_ID", "orders-{pid}"),
    ])
    .unwrap();
    assert!(pid.contains("holds this process's id (`{pid}`)"), "{pid}");
    assert!(
        pid.contains(&format!("`orders-{}`", std::process::id())),
        "{pid}"
    );
}

/// A will topic deeper than Mosquitto takes: it refuses the CONNECT that carries it, so
/// the client could never connect. Refused with the settings, naming the key.
#[test]
fn a_will_topic_deeper_than_mosquitto_takes_is_refused() {
    let fits = vec!["x"; flask_mqtt_topic::MAX_TOPIC_LEVELS].join("/");
    assert!(from(&[("MQTT_LAST_WILL_TOPIC", fits.as_str())]).is_ok());
    let over = format!("{fits}/x");
    let err = from(&[("MQTT_LAST_WILL_TOPIC", over.as_str())]).unwrap_err();
    assert_eq!(err.key(), "MQTT_LAST_WILL_TOPIC");
    assert!(
        err.expected().starts_with(
            "a valid topic name: it has 202 levels, more than the 201 Mosquitto accepts"
        ),
        "{err}"
    );
}

/// An empty client id asks the broker to assign one, new at every connect: a session
/// kept under it (`MQTT_CLEAN_SESSION=false`) is never taken up again, so every reconnect
/// would leave an orphan session with the messages it holds (MQTT 5; an MQTT 3.1.1
/// broker refuses the CONNECT). Refused with the settings, naming both keys; with a
/// clean session an empty id is fine.
#[test]
fn an_empty_client_id_with_a_kept_session_is_refused() {
    for protocol in ["3.1.1", "5"] {
        let err = from(&[
            ("MQTT_CLIENT_ID", ""),
            ("MQTT_CLEAN_SESSION", "false"),
            ("MQTT_PROTOCOL_VERSION", protocol),
        ])
        .unwrap_err();
        assert_eq!(err.key(), "MQTT_CLIENT_ID", "{protocol}: {err}");
        assert_eq!(err.value(), Some(""), "{protocol}: {err}");
        assert!(err.expected().contains("MQTT_CLEAN_SESSION"), "{err}");
        let c = from(&[("MQTT_CLIENT_ID", ""), ("MQTT_PROTOCOL_VERSION", protocol)]).unwrap();
        assert_eq!(
            c.client_id(),
            "",
            "{protocol}: a clean session may have one"
        );
    }
    // MQTT 5 with no session expiry keeps nothing after the connection, clean start
    // or not: nothing to take up, so an empty id is fine (as with a clean session).
    let c = from(&[
        ("MQTT_CLIENT_ID", ""),
        ("MQTT_CLEAN_SESSION", "false"),
        ("MQTT_PROTOCOL_VERSION", "5"),
        ("MQTT_SESSION_EXPIRY", "0"),
    ])
    .unwrap();
    assert_eq!((c.client_id(), c.session_expiry()), ("", Duration::ZERO));
    // A session expiry set is what keeps it.
    let err = from(&[
        ("MQTT_CLIENT_ID", ""),
        ("MQTT_CLEAN_SESSION", "false"),
        ("MQTT_PROTOCOL_VERSION", "5"),
        ("MQTT_SESSION_EXPIRY", "60"),
    ])
    .unwrap_err();
    assert_eq!(err.key(), "MQTT_CLIENT_ID", "{err}");
    // The same in code, under another prefix: its own keys are named.
    let err = ConfigBuilder::with_prefix("ALERTS")
        .client_id("")
        .clean_session(false)
        .build()
        .unwrap_err();
    assert_eq!(err.key(), "ALERTS_CLIENT_ID");
    assert!(err.expected().contains("ALERTS_CLEAN_SESSION"), "{err}");
}

/// A section whose name is no key prefix (`[mqtt]`, `[MQTT-2]`) is read by no client:
/// every setting in it would fall back to its default without a word. Refused, naming
/// the file's key, with the prefix it may have meant: the reading client's own when the
/// name is it spelled otherwise, never a section the file already has.
#[test]
fn a_section_no_client_can_use_is_refused() {
    for (toml, prefix, hint) in [
        (
            "[mqtt]\nbroker_url = \"b\"\n",
            "MQTT",
            Some("did you mean `[MQTT]`?"),
        ),
        (
            "[MQTT-2]\nbroker_url = \"b\"\n",
            "MQTT2",
            Some("did you mean `[MQTT2]`?"),
        ),
        (
            "[MQTT-2]\nbroker_url = \"b\"\n",
            "MQTT",
            Some("did you mean `[MQTT_2]` or `[MQTT2]`?"),
        ),
        (
            "[Mqtt2]\nkeepalive = 5\n",
            "MQTT",
            Some("did you mean `[MQTT2]`?"),
        ),
        ("[2MQTT]\nkeepalive = 5\n", "MQTT", None),
        (
            "[MQTT]\n[\"MQTT 2\"]\n",
            "MQTT",
            Some("did you mean `[MQTT_2]` or `[MQTT2]`?"),
        ),
        (
            "[\"mqtt.tls\"]\nkeepalive = 5\n",
            "MQTT",
            Some("did you mean `[MQTT]`?"),
        ),
        // The name it would suggest is there already: say so, not "did you mean" it.
        (
            "[MQTT]\n[mqtt]\nkeepalive = 5\n",
            "MQTT",
            Some("the file also has `[MQTT]`"),
        ),
        (
            "[MQTT_2]\n[MQTT-2]\n",
            "MQTT_2",
            Some("the file also has `[MQTT_2]`"),
        ),
    ] {
        let err = Config::from_toml_str(toml, prefix).unwrap_err();
        assert_eq!(err.key(), "MQTT_CONFIG_FILE", "{toml:?}: {err}");
        assert!(err.expected().contains("no key prefix"), "{toml:?}: {err}");
        match hint {
            Some(h) => assert!(err.expected().contains(h), "{toml:?}: {err}"),
            None => assert!(!err.expected().contains("did you mean"), "{err}"),
        }
        if toml.starts_with("[MQTT") && toml.contains("[mqtt]") {
            assert!(!err.expected().contains("did you mean"), "{err}");
        }
    }
    // Without a client (ConfigFile alone), never a section the file has.
    let err = ConfigFile::from_toml_str("[MQTT2]\n[MQTT-2]\n", "t").unwrap_err();
    assert!(err.expected().contains("did you mean `[MQTT_2]`?"), "{err}");
    assert!(
        err.expected().contains("the file also has `[MQTT2]`"),
        "{err}"
    );
    // Every section of a well-formed file is a prefix, used or not.
    let c = Config::from_toml_str("[MQTT]\nkeepalive = 5\n[MQTT2]\nkeepalive = 6\n", "MQTT");
    assert_eq!(c.unwrap().keepalive(), Duration::from_secs(5));
}

/// A client reading a file that has sections but none for it reads none of the file:
/// said visibly (these tests install no logger: stderr), naming the closest section
/// (`[FILEWARN_2]` for a client `FILEWARN2`), once per process.
#[test]
fn a_file_without_the_clients_section_is_said() {
    let toml = "[MQTT]\nkeepalive = 5\n[FILEWARN_2]\nkeepalive = 6\n";
    let c = Config::from_toml_str(toml, "FILEWARN2").unwrap();
    assert_eq!(c.keepalive(), Duration::from_secs(60));
    let said = crate::visible::said::containing("no section `[FILEWARN2]`");
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("`[FILEWARN_2]`"), "{said:?}");
    Config::from_toml_str(toml, "FILEWARN2").unwrap();
    assert_eq!(
        crate::visible::said::containing("no section `[FILEWARN2]`").len(),
        1
    );
    // A file with the client's section, or with none at all, is no news.
    Config::from_toml_str("[FILEWARN3]\n", "FILEWARN3").unwrap();
    Config::from_toml_str("", "FILEWARN4").unwrap();
    assert!(crate::visible::said::containing("no section `[FILEWARN3]`").is_empty());
    assert!(crate::visible::said::containing("no section `[FILEWARN4]`").is_empty());
}

/// Warnings about a client's settings name that client's keys (`ALERTS_...` for prefix
/// `ALERTS`), as the README promises, not the default client's.
#[test]
fn the_session_warning_names_the_clients_own_keys() {
    let c = ConfigBuilder::with_prefix("ALERTS")
        .clean_session(false)
        .build()
        .unwrap();
    let warning = c.session_warning().unwrap();
    assert!(warning.contains("ALERTS_CLEAN_SESSION"), "{warning}");
    assert!(warning.contains("ALERTS_CLIENT_ID"), "{warning}");
    assert!(!warning.contains("MQTT_"), "{warning}");
}
