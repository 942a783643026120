//! `MQTT_BROKER_URL=embedded`: an MQTT broker inside the process, for development and
//! demos (cargo feature `embedded-broker`). The user-facing documentation is on
//! [`EmbeddedBroker`]. Which settings select it, and which it cannot serve, is
//! configuration (`crate::config::embedded`, checked when the settings are built); this
//! module runs it: [`resolve`] starts it when a client asks for it. Without the feature,
//! `embedded` is refused with a [`ConfigError`](crate::error::ConfigError) that says to
//! enable it, instead of being looked up as a host name.
//!
//! Log target: `flask_mqtt::embedded`.

#[cfg(feature = "embedded-broker")]
mod broker;
#[cfg(feature = "embedded-broker")]
mod server;
#[cfg(feature = "embedded-broker")]
mod trace;

#[cfg(feature = "embedded-broker")]
pub use self::broker::EmbeddedBroker;
use crate::config::embedded::check;
#[cfg(feature = "embedded-broker")]
use crate::config::embedded::is_embedded;
use crate::config::Config;
use crate::error::Result;

/// The largest packet the broker of `config` accepts when flask-mqtt knows it without
/// being told: the embedded broker's (MQTT 3.1.1, so it announces no Maximum Packet
/// Size), for a config whose host is `embedded` (before [`resolve`]).
pub(crate) fn max_packet_size(config: &Config) -> Option<u32> {
    #[cfg(feature = "embedded-broker")]
    if is_embedded(&config.host) {
        return Some(server::MAX_PACKET_SIZE);
    }
    #[cfg(not(feature = "embedded-broker"))]
    let _ = config;
    None
}

/// Replaces the host `embedded` by the address of this process's embedded broker,
/// starting it first if needed (what fails: see `config::embedded::check`). Other
/// configs are returned unchanged.
pub(crate) fn resolve(config: Config) -> Result<Config> {
    check(&config)?;
    #[cfg(feature = "embedded-broker")]
    if is_embedded(&config.host) {
        let mut config = config;
        let port = config.port_given.then_some(config.port);
        let broker = EmbeddedBroker::start_for(config.prefix(), port)?;
        config.host = broker.addr.ip().to_string();
        config.port = broker.addr.port();
        return Ok(config);
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_hosts_pass_through() {
        let config = Config::builder()
            .broker_url("broker.example")
            .build()
            .unwrap();
        let resolved = resolve(config).unwrap();
        assert_eq!(resolved.host(), "broker.example");
        assert_eq!(resolved.port(), 1883);
    }

    #[cfg(not(feature = "embedded-broker"))]
    #[test]
    fn without_the_feature_embedded_is_a_config_error() {
        // Refused when the config is built (so `init()` fails fast), and by `resolve`
        // for a config put together some other way.
        let built = Config::builder().broker_url("embedded").build();
        assert!(
            matches!(&built, Err(e) if e.key() == "MQTT_BROKER_URL"),
            "{built:?}"
        );
        let config = Config {
            host: "embedded".to_owned(),
            ..Config::default()
        };
        match resolve(config) {
            Err(crate::error::Error::Config(e)) => {
                assert_eq!(e.key(), "MQTT_BROKER_URL");
                assert!(e.expected().contains("embedded-broker"), "{e}");
            }
            other => panic!("expected a config error, got {other:?}"),
        }
    }
}
