//! `MQTT_BROKER_URL=embedded`, as far as settings go: which host selects the development
//! broker inside the process, and which settings it cannot serve. Checked when the
//! configuration is built, so a mistake stops startup instead of the first connect. The
//! broker itself is `crate::embedded` (feature `embedded-broker`).

use super::keys;
use super::Config;
use crate::error::ConfigError;

/// The broker host that selects the embedded broker.
pub(crate) const HOST: &str = "embedded";

/// Whether `host` selects the embedded broker.
pub(crate) fn is_embedded(host: &str) -> bool {
    host.eq_ignore_ascii_case(HOST)
}

/// Whether the embedded broker can serve `config`, when its host is `embedded`: without
/// the feature it cannot; with it, not TLS, websockets, MQTT 5 or a keep-alive of 0.
/// Other configs are fine. The error names the key to change.
pub(crate) fn check(config: &Config) -> Result<(), ConfigError> {
    if !is_embedded(&config.host) {
        return Ok(());
    }
    #[cfg(feature = "embedded-broker")]
    {
        servable(config)
    }
    #[cfg(not(feature = "embedded-broker"))]
    {
        Err(feature_missing(config.prefix()))
    }
}

/// The error for `embedded` without the feature.
#[cfg_attr(feature = "embedded-broker", allow(dead_code))]
fn feature_missing(prefix: &str) -> ConfigError {
    ConfigError::new(
        &keys::BROKER_URL.full(prefix),
        Some(HOST),
        "a broker host or URI; `embedded` (an MQTT broker inside the process, for development) \
         needs the cargo feature `embedded-broker` of flask-mqtt-actix (or flask-mqtt-core): \
         `cargo add flask-mqtt-actix --features embedded-broker`",
    )
}

/// Settings the embedded broker cannot serve.
#[cfg(feature = "embedded-broker")]
fn servable(config: &Config) -> Result<(), ConfigError> {
    use super::values::{ProtocolVersion, Transport};
    let key = |k: &keys::Key| k.full(config.prefix());
    if config.tls.is_some() {
        return Err(ConfigError::new(
            &key(&keys::TLS_ENABLED),
            Some("true"),
            "`false` (and no `mqtts://`): the embedded broker listens on loopback without TLS",
        ));
    }
    if config.transport == Transport::WebSockets {
        return Err(ConfigError::new(
            &key(&keys::TRANSPORT),
            Some("websockets"),
            "`tcp` (and no `ws://`): the embedded broker has no websocket listener",
        ));
    }
    if config.protocol == ProtocolVersion::V5 {
        return Err(ConfigError::new(
            &key(&keys::PROTOCOL_VERSION),
            Some("5"),
            "`3.1.1`: the embedded broker speaks MQTT 3.1.1 only",
        ));
    }
    if config.keepalive.is_zero() {
        return Err(ConfigError::new(
            &key(&keys::KEEPALIVE),
            Some("0"),
            "1 to 65535: the embedded broker (rumqttd) closes connections that ask for no keep-alive",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_is_recognised_in_any_case() {
        assert!(is_embedded("embedded"));
        assert!(is_embedded("EMBEDDED"));
        assert!(!is_embedded("embedded.example"));
        assert!(!is_embedded("localhost"));
    }

    #[test]
    fn missing_feature_error_names_the_key_and_the_feature() {
        let e = feature_missing("MQTT2");
        assert_eq!(e.key(), "MQTT2_BROKER_URL");
        assert_eq!(e.value(), Some("embedded"));
        assert!(e.to_string().contains("`embedded-broker`"), "{e}");
    }

    #[cfg(feature = "embedded-broker")]
    #[test]
    fn settings_the_broker_cannot_serve_are_refused_when_built() {
        use crate::config::{Config, ProtocolVersion};
        let cases = [
            (
                Config::builder().broker_url("mqtts://embedded"),
                "MQTT_TLS_ENABLED",
            ),
            (
                Config::builder().broker_url("ws://embedded"),
                "MQTT_TRANSPORT",
            ),
            (
                Config::builder()
                    .broker_url("embedded")
                    .protocol_version(ProtocolVersion::V5),
                "MQTT_PROTOCOL_VERSION",
            ),
            (
                Config::builder()
                    .broker_url("embedded")
                    .keepalive(std::time::Duration::ZERO),
                "MQTT_KEEPALIVE",
            ),
        ];
        for (builder, key) in cases {
            // Refused when the config is built, so `init()` fails before serving.
            let e = builder.build().unwrap_err();
            assert_eq!(e.key(), key, "{e}");
        }
        let ok = Config::builder().broker_url("embedded").build().unwrap();
        assert!(check(&ok).is_ok());
    }
}
