//! Paho glue: the Paho client and the callbacks that feed the driver, the outbound side
//! handles publish through, connect attempts and their options.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::mpsc;

use paho_mqtt::{AckOutcome, AckToken};

use super::reaper;
use crate::ack::watermark::Acknowledge;
use crate::config::{Config, ProtocolVersion, TlsVersion, Transport};
use crate::dispatch::Intake;
use crate::error::{shown_uri, ConnectError, Error};
use crate::event::log::{LogLevel, CLIENT_TARGET};
use crate::handle::input::Input;
use crate::handle::outbound::{Delivery, Outbound, Refused};
use crate::handle::Mqtt;
use crate::qos::QoS;

/// Creates the Paho client for `config` (not connected), its callbacks feeding `input`.
pub(super) fn create(
    config: &Config,
    uri: &str,
    input: &mpsc::UnboundedSender<Input>,
    intake: &Arc<Intake>,
) -> Result<paho_mqtt::AsyncClient, Error> {
    let version = match config.protocol_version() {
        ProtocolVersion::V311 => paho_mqtt::MQTT_VERSION_3_1_1,
        ProtocolVersion::V5 => paho_mqtt::MQTT_VERSION_5,
    };
    let create = paho_mqtt::CreateOptionsBuilder::new()
        .server_uri(uri)
        .mqtt_version(version)
        .client_id(config.client_id())
        .persistence(None)
        // QoS 1/2 messages are acknowledged once their handlers are done (crate::ack).
        .manual_acks(true)
        .send_while_disconnected(true)
        .allow_disconnected_send_at_anytime(true)
        .max_buffered_messages(i32::try_from(config.max_buffered_messages).unwrap_or(i32::MAX))
        .finalize();
    let paho = paho_mqtt::AsyncClient::new(create).map_err(Error::Paho)?;
    install_callbacks(&paho, input, intake);
    Ok(paho)
}

fn install_callbacks(
    paho: &paho_mqtt::AsyncClient,
    tx: &mpsc::UnboundedSender<Input>,
    intake: &Arc<Intake>,
) {
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
    let intake = Arc::clone(intake);
    paho.set_message_callback(move |_, msg| {
        if let Some(msg) = msg {
            if t.send(Input::Message(msg)).is_ok() {
                intake.arrived();
            }
        }
    });
}

/// A running client's [`Outbound`]: its Paho client.
pub(super) struct PahoOutbound {
    client: paho_mqtt::AsyncClient,
    v5: bool,
    /// How long the client is kept after the last handle is gone (see `Drop`).
    grace: Duration,
}

impl PahoOutbound {
    pub(super) fn new(client: paho_mqtt::AsyncClient, config: &Config) -> PahoOutbound {
        PahoOutbound {
            client,
            v5: config.protocol_version() == ProtocolVersion::V5,
            grace: config
                .attempt_timeout()
                .saturating_add(Duration::from_secs(10)),
        }
    }
}

impl Outbound for PahoOutbound {
    fn is_connected(&self) -> bool {
        self.client.is_connected()
    }

    fn carries_properties(&self) -> bool {
        self.v5
    }

    fn publish(&self, msg: paho_mqtt::Message) -> Result<Delivery, Box<Refused>> {
        match self.client.try_publish(msg) {
            Ok(token) => Ok(Delivery::Pending(token)),
            Err(paho_mqtt::Error::Publish(rc, msg)) => Err(Box::new(Refused {
                error: paho_mqtt::Error::from(rc),
                msg,
            })),
            // paho-mqtt 0.14's `try_publish` reports every refusal as `Publish(rc,
            // message)` (above); any other error would come without the message, so the
            // one left to hand back has no topic.
            Err(error) => Err(Box::new(Refused {
                error,
                msg: paho_mqtt::Message::default(),
            })),
        }
    }

    fn subscribe(
        &self,
        filters: Vec<String>,
        qos: Vec<QoS>,
    ) -> BoxFuture<'static, Result<Vec<i32>, paho_mqtt::Error>> {
        let qos: Vec<paho_mqtt::QoS> = qos.into_iter().map(QoS::to_paho).collect();
        let token = self.client.subscribe_many(&filters, &qos);
        Box::pin(async move {
            let rsp = token.await?;
            Ok(rsp.subscribe_many_response().unwrap_or_default())
        })
    }

    fn unsubscribe(
        &self,
        filters: Vec<String>,
    ) -> BoxFuture<'static, Result<(), paho_mqtt::Error>> {
        let token = self.client.unsubscribe_many(&filters);
        Box::pin(async move { token.await.map(drop) })
    }
}

impl Acknowledge for PahoOutbound {
    fn acknowledge(&self, token: AckToken) -> Result<AckOutcome, paho_mqtt::Error> {
        // Never waits for Paho's threads (a lock of its own): fine on any thread.
        self.client.acknowledge(token)
    }

    fn release(&self, token: AckToken) -> Result<AckOutcome, paho_mqtt::Error> {
        // Likewise: the acknowledgements' own lock only.
        self.client.release(token)
    }
}

impl Drop for PahoOutbound {
    fn drop(&mut self) {
        // Paho tokens hold a reference to the client; a token completed on a Paho thread
        // after the last handle is gone would destroy the client there, and
        // MQTTAsync_destroy then deadlocks on the mutex that thread holds. Keep a
        // reference on a thread of our own until every operation has had time to end.
        reaper::keep(self.client.clone(), self.grace);
    }
}

/// Starts one connection attempt to broker `uris[i]`; its outcome comes back as
/// `Input::Connected` or `Input::ConnectFailed`.
pub(super) fn start_attempt(mqtt: &Mqtt, paho: &paho_mqtt::AsyncClient, uris: &[String], i: usize) {
    let shared = Arc::clone(&mqtt.shared);
    let paho = paho.clone();
    let uri = uris.get(i).cloned().unwrap_or_else(|| shared.uri.clone());
    // One broker: the URI the Paho client was created with. Several: this attempt's.
    let only = (uris.len() > 1).then_some(uri.as_str());
    let opts = match connect_options(&shared.config, only) {
        Ok(o) => o,
        Err(e) => {
            let err = ConnectError::from_paho(&e, &uri, shared.config.prefix());
            let _ = shared.input.send(Input::ConnectFailed(err));
            return;
        }
    };
    if let Some(tls) = shared.config.tls() {
        if let Some(warning) = tls.weakened(shared.config.prefix(), &shown_uri(&uri)) {
            mqtt.emit_log(LogLevel::Warning, warning);
        }
    }
    log::debug!(target: CLIENT_TARGET, "connecting to {}", shown_uri(&uri));
    let rt = shared.rt.clone();
    rt.spawn(async move {
        match paho.connect(opts).await {
            Ok(rsp) => {
                let v5 = shared.config.protocol_version() == ProtocolVersion::V5;
                shared.limits.connected(v5.then(|| rsp.properties()));
                let shared_subscriptions =
                    (shared.config.protocol_version() == ProtocolVersion::V5).then(|| {
                        // Absent means available (MQTT 5.0 §3.2.2.3.18).
                        rsp.properties()
                            .get_int(paho_mqtt::PropertyCode::SharedSubscriptionAvailable)
                            != Some(0)
                    });
                let session_present = rsp.connect_response().is_some_and(|c| c.session_present);
                let _ = shared.input.send(Input::Connected {
                    broker: uri,
                    shared_subscriptions,
                    session_present,
                });
            }
            Err(e) => {
                let err = ConnectError::from_paho(&e, &uri, shared.config.prefix());
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
        .connect_timeout(c.attempt_timeout());
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
        // How many QoS 1/2 messages the broker may send before earlier ones are
        // acknowledged, and with acknowledgement after handling, how many the app holds.
        props.push_u16(
            paho_mqtt::PropertyCode::ReceiveMaximum,
            c.receive_maximum().max(1),
        )?;
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
        // Paho C: `enableServerCertAuth` checks the chain (SSL_VERIFY_PEER), `verify` the
        // host name (X509_check_host after the handshake). MQTT_TLS_INSECURE skips only
        // the latter, as Flask-MQTT's `tls_insecure_set`; MQTT_TLS_VERIFY_CERTIFICATE=false
        // both.
        let chain = tls.verify_certificate();
        s.enable_server_cert_auth(chain)
            .verify(chain && !tls.insecure())
            // The lowest version accepted (patch 15 of our Paho C, docs/paho-fork.md).
            .ssl_version(match tls.version() {
                TlsVersion::Tls12 => paho_mqtt::SslVersion::Tls_1_2,
                TlsVersion::Tls13 => paho_mqtt::SslVersion::Tls_1_3,
            });
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A turned-off certificate check is said when the client starts, once, where it is
    /// seen without a logger too (these tests install none); each connect logs it again.
    #[test]
    fn turned_off_certificate_checks_are_said_at_start_without_a_logger() {
        let c = Config::builder()
            .broker_url("mqtts://127.0.0.1:1")
            .tls_insecure(true)
            .build()
            .unwrap();
        let client = crate::client::Client::start(c).unwrap();
        let said = crate::visible::said::containing("TLS host name check is OFF");
        drop(client);
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(said[0].contains("MQTT_TLS_INSECURE"), "{said:?}");
    }

    /// Paho C reads `MQTT_C_CLIENT_TRACE*` whatever made the configuration, so the
    /// warning about them comes where every client starts, also for one made in code
    /// (`Config::builder()`, which reads no environment). It came only from `from_env`
    /// and the file readers. Only `_MAX_LINES` is set here: without `MQTT_C_CLIENT_TRACE`
    /// it turns nothing on.
    #[test]
    fn paho_trace_variables_are_said_for_a_client_made_in_code() {
        const NAME: &str = "MQTT_C_CLIENT_TRACE_MAX_LINES";
        std::env::set_var(NAME, "1000");
        let c = Config::builder()
            .broker_url("mqtt://127.0.0.1:1")
            .build()
            .unwrap();
        let client = crate::client::Client::start(c);
        std::env::remove_var(NAME);
        drop(client);
        let said = crate::visible::said::containing(&format!("{NAME} is no flask-mqtt key"));
        assert_eq!(said.len(), 1, "{said:?}");
    }
}
