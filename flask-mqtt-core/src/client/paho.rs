//! Paho glue: the callbacks that feed the driver, connect attempts and their options.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::config::{Config, ProtocolVersion, Transport};
use crate::error::ConnectError;
use crate::event::log::{LogLevel, CLIENT_TARGET};
use crate::handle::input::Input;
use crate::handle::Mqtt;

pub(super) fn install_callbacks(paho: &paho_mqtt::AsyncClient, tx: &mpsc::UnboundedSender<Input>) {
    // Only unbounded, non-blocking sends in here: these run on Paho's threads.
    // No connected callback: a connect succeeds through the token of the attempt the
    // driver started (`driver::start_attempt`), which also carries the CONNACK.
    let t = tx.clone();
    paho.set_connection_lost_callback(move |_| {
        let _ = t.send(Input::ConnectionLost);
    });
    let t = tx.clone();
    paho.set_disconnected_callback(move |_, _props, reason| {
        let _ = t.send(Input::BrokerDisconnect(reason as u8));
    });
    let t = tx.clone();
    paho.set_message_callback(move |_, msg| {
        if let Some(msg) = msg {
            let _ = t.send(Input::Message(msg));
        }
    });
}

/// Starts one connection attempt to broker `uris[i]`; its outcome comes back as
/// `Input::Connected` or `Input::ConnectFailed`.
pub(super) fn start_attempt(mqtt: &Mqtt, uris: &[String], i: usize) {
    let shared = Arc::clone(&mqtt.shared);
    let uri = uris.get(i).cloned().unwrap_or_else(|| shared.uri.clone());
    // One broker: the URI the Paho client was created with. Several: this attempt's.
    let only = (uris.len() > 1).then_some(uri.as_str());
    let opts = match connect_options(&shared.config, only) {
        Ok(o) => o,
        Err(e) => {
            let err = ConnectError::from_paho(&e, &uri);
            let _ = shared.input.send(Input::ConnectFailed(err));
            return;
        }
    };
    if shared.config.tls().is_some_and(|t| t.insecure()) {
        mqtt.emit_log(
            LogLevel::Warning,
            format!(
                "TLS certificate and host name checks are OFF for {uri} (MQTT_TLS_INSECURE); anyone on the path can read and change this connection"
            ),
        );
    }
    log::debug!(target: CLIENT_TARGET, "connecting to {uri}");
    let rt = shared.rt.clone();
    rt.spawn(async move {
        match shared.paho.connect(opts).await {
            Ok(rsp) => {
                let shared_subscriptions =
                    (shared.config.protocol_version() == ProtocolVersion::V5).then(|| {
                        // Absent means available (MQTT 5.0 §3.2.2.3.18).
                        rsp.properties()
                            .get_int(paho_mqtt::PropertyCode::SharedSubscriptionAvailable)
                            != Some(0)
                    });
                let _ = shared.input.send(Input::Connected {
                    broker: uri,
                    shared_subscriptions,
                });
            }
            Err(e) => {
                let err = ConnectError::from_paho(&e, &uri);
                let _ = shared.input.send(Input::ConnectFailed(err));
            }
        }
    });
}

/// Paho's connect options for `c`: version, transport, session, credentials, TLS, will;
/// and the broker, when it is not the one the Paho client was created with.
pub(super) fn connect_options(
    c: &Config,
    server: Option<&str>,
) -> Result<paho_mqtt::ConnectOptions, paho_mqtt::Error> {
    let v5 = c.protocol_version() == ProtocolVersion::V5;
    let mut b = match (c.transport(), v5) {
        (Transport::Tcp, false) => {
            paho_mqtt::ConnectOptionsBuilder::with_mqtt_version(paho_mqtt::MQTT_VERSION_3_1_1)
        }
        (Transport::Tcp, true) => paho_mqtt::ConnectOptionsBuilder::new_v5(),
        (Transport::WebSockets, false) => paho_mqtt::ConnectOptionsBuilder::new_ws(),
        (Transport::WebSockets, true) => paho_mqtt::ConnectOptionsBuilder::new_ws_v5(),
    };
    b.keep_alive_interval(c.keepalive())
        .connect_timeout(c.connect_timeout());
    if let Some(server) = server {
        // A list of one: the driver does the failover itself, because given several
        // Paho C 1.3 also moves on to the next broker by itself after a lost connection
        // without completing any connect token (measured), so nobody would resubscribe.
        b.server_uris(&[server]);
        if c.tls().is_none() {
            // Paho C 1.3 prints "checking <uri>" to stdout for a server list that comes
            // without SSL options (a leftover debug printf in MQTTAsync_connect). Empty
            // SSL options skip that branch; they are only used for `ssl://` URIs, which a
            // configuration without TLS does not produce.
            b.ssl_options(paho_mqtt::SslOptions::default());
        }
    }
    if v5 {
        b.clean_start(c.clean_session());
        let mut props = paho_mqtt::Properties::new();
        let expiry = u32::try_from(c.session_expiry().as_secs()).unwrap_or(u32::MAX);
        if expiry > 0 {
            props.push_u32(paho_mqtt::PropertyCode::SessionExpiryInterval, expiry)?;
        }
        b.properties(props);
    } else {
        b.clean_session(c.clean_session());
    }
    if let Some(user) = c.username() {
        b.user_name(user);
    }
    if let Some(pw) = &c.password {
        b.password(pw.expose());
    }
    if let Some(tls) = c.tls() {
        let mut s = paho_mqtt::SslOptionsBuilder::new();
        if let Some(ca) = tls.ca_certs() {
            s.trust_store(ca)?;
        }
        if let Some(cert) = tls.certfile() {
            s.key_store(cert)?;
        }
        if let Some(key) = tls.keyfile() {
            s.private_key(key)?;
        }
        if let Some(ciphers) = tls.ciphers() {
            s.enabled_cipher_suites(ciphers);
        }
        // Verify the chain and the host name unless explicitly told not to.
        s.enable_server_cert_auth(!tls.insecure())
            .verify(!tls.insecure());
        b.ssl_options(s.finalize());
    }
    if let Some(will) = c.last_will() {
        let msg = paho_mqtt::MessageBuilder::new()
            .topic(will.topic())
            .payload(will.message())
            .qos(will.qos().to_paho())
            .retained(will.retain())
            .finalize();
        b.will_message(msg);
    }
    Ok(b.finalize())
}
