//! [`ConfigBuilder`]: settings in code. Its setters only record; `build` (in `validate`)
//! checks everything, whatever the source.

use std::path::PathBuf;
use std::time::Duration;

use super::prefix::DEFAULT_PREFIX;
use super::tls::TlsVersion;
use super::values::{ConnectMode, GivenUrl, ProtocolVersion, Secret, Transport, WebSocketPath};
use crate::ack::policy::AckPolicy;
use crate::qos::QoS;

/// Builds a [`Config`](crate::Config) in code. Every setter's default is the one of the
/// `MQTT_*` key it mirrors, and so are its limits: setters only record,
/// [`ConfigBuilder::build`] validates everything exactly as for the environment, and never
/// panics. Errors name the key the setting corresponds to.
#[derive(Clone, Debug)]
pub struct ConfigBuilder {
    pub(crate) prefix: String,
    pub(crate) broker_url: Option<GivenUrl>,
    pub(crate) port: Option<u16>,
    pub(crate) transport: Option<Transport>,
    pub(crate) websocket_path: Option<WebSocketPath>,
    pub(crate) protocol: Option<ProtocolVersion>,
    pub(crate) tls_enabled: Option<bool>,
    pub(crate) ca_certs: Option<PathBuf>,
    pub(crate) certfile: Option<PathBuf>,
    pub(crate) keyfile: Option<PathBuf>,
    pub(crate) tls_version: Option<TlsVersion>,
    pub(crate) tls_insecure: Option<bool>,
    pub(crate) tls_verify_certificate: Option<bool>,
    pub(crate) tls_ciphers: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Secret>,
    pub(crate) keepalive: Option<Duration>,
    pub(crate) client_id: Option<String>,
    pub(crate) clean_session: Option<bool>,
    pub(crate) session_expiry: Option<Duration>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) publish_timeout: Option<Duration>,
    pub(crate) reconnect_min_delay: Option<Duration>,
    pub(crate) reconnect_max_delay: Option<Duration>,
    pub(crate) max_buffered_messages: Option<usize>,
    pub(crate) will_topic: Option<String>,
    pub(crate) will_message: Option<Vec<u8>>,
    pub(crate) will_qos: Option<u8>,
    pub(crate) will_retain: Option<bool>,
    pub(crate) connect_mode: Option<ConnectMode>,
    pub(crate) ack_policy: Option<AckPolicy>,
    pub(crate) receive_maximum: Option<u16>,
    pub(crate) metrics: Option<bool>,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        ConfigBuilder::with_prefix(DEFAULT_PREFIX)
    }
}

impl ConfigBuilder {
    /// A builder for the client named `prefix` (its keys are `{prefix}_BROKER_URL`, ...).
    pub fn with_prefix(prefix: impl Into<String>) -> Self {
        ConfigBuilder {
            prefix: prefix.into(),
            broker_url: None,
            port: None,
            transport: None,
            websocket_path: None,
            protocol: None,
            tls_enabled: None,
            ca_certs: None,
            certfile: None,
            keyfile: None,
            tls_version: None,
            tls_insecure: None,
            tls_verify_certificate: None,
            tls_ciphers: None,
            username: None,
            password: None,
            keepalive: None,
            client_id: None,
            clean_session: None,
            session_expiry: None,
            connect_timeout: None,
            publish_timeout: None,
            reconnect_min_delay: None,
            reconnect_max_delay: None,
            max_buffered_messages: None,
            will_topic: None,
            will_message: None,
            will_qos: None,
            will_retain: None,
            connect_mode: None,
            ack_policy: None,
            receive_maximum: None,
            metrics: None,
        }
    }

    /// Broker host, or a URI such as `mqtts://broker.example:8883`, or a comma-separated
    /// list of them: the first broker and its fallbacks (`MQTT_BROKER_URL`; default
    /// `localhost`).
    pub fn broker_url(mut self, url: impl Into<String>) -> Self {
        self.broker_url = Some(GivenUrl(url.into()));
        self
    }

    /// Broker port (`MQTT_BROKER_PORT`; default 1883, 8883 with TLS, 80/443 for
    /// websockets; 0 is rejected).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Transport (`MQTT_TRANSPORT`; default TCP).
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Websocket HTTP path (`MQTT_WEBSOCKET_PATH`; default `/mqtt`; starts with `/`, no
    /// spaces or control characters).
    pub fn websocket_path(mut self, path: impl Into<String>) -> Self {
        self.websocket_path = Some(WebSocketPath(path.into()));
        self
    }

    /// MQTT version (`MQTT_PROTOCOL_VERSION`; default 3.1.1).
    pub fn protocol_version(mut self, version: ProtocolVersion) -> Self {
        self.protocol = Some(version);
        self
    }

    /// TLS on or off (`MQTT_TLS_ENABLED`; default off, on for `mqtts://`/`wss://`).
    pub fn tls(mut self, enabled: bool) -> Self {
        self.tls_enabled = Some(enabled);
        self
    }

    /// CA certificate file (`MQTT_TLS_CA_CERTS`; default: the system trust store).
    pub fn tls_ca_certs(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_certs = Some(path.into());
        self
    }

    /// Client certificate and key for mutual TLS (`MQTT_TLS_CERTFILE`,
    /// `MQTT_TLS_KEYFILE`; default none).
    pub fn tls_client_cert(
        mut self,
        certfile: impl Into<PathBuf>,
        keyfile: impl Into<PathBuf>,
    ) -> Self {
        self.certfile = Some(certfile.into());
        self.keyfile = Some(keyfile.into());
        self
    }

    /// Lowest TLS version (`MQTT_TLS_VERSION`; default [`TlsVersion::Tls12`]): a broker
    /// that offers only older versions is refused during the handshake.
    /// [`TlsVersion::Tls13`] refuses a broker that offers at most TLS 1.2.
    pub fn tls_version(mut self, version: TlsVersion) -> Self {
        self.tls_version = Some(version);
        self
    }

    /// Skip the host name check (`MQTT_TLS_INSECURE`; default `false`), as Flask-MQTT's
    /// `tls_insecure_set(True)`: the server certificate must still come from a trusted
    /// CA (`MQTT_TLS_CA_CERTS`, or the system's), but may name another host, e.g. a
    /// broker reached by its IP address. Logged as a warning at every connect.
    pub fn tls_insecure(mut self, insecure: bool) -> Self {
        self.tls_insecure = Some(insecure);
        self
    }

    /// Check the server certificate (`MQTT_TLS_VERIFY_CERTIFICATE`; default `true`).
    /// `false` accepts any certificate, from any CA, for any host name (Flask-MQTT's
    /// `MQTT_TLS_CERT_REQS = ssl.CERT_NONE`): the connection is encrypted but anyone on
    /// the path can read and change it. Logged as a warning at every connect.
    pub fn tls_verify_certificate(mut self, verify: bool) -> Self {
        self.tls_verify_certificate = Some(verify);
        self
    }

    /// OpenSSL cipher list for TLS 1.2 (`MQTT_TLS_CIPHERS`; default OpenSSL's; no NUL).
    pub fn tls_ciphers(mut self, ciphers: impl Into<String>) -> Self {
        self.tls_ciphers = Some(ciphers.into());
        self
    }

    /// User name and password (`MQTT_USERNAME`, `MQTT_PASSWORD`; default none; each
    /// without NUL, at most 65535 bytes).
    pub fn credentials(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self.password = Some(Secret::new(password));
        self
    }

    /// User name without a password (`MQTT_USERNAME`; default none; no NUL, at most
    /// 65535 bytes).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Keep-alive interval (`MQTT_KEEPALIVE`; default 60 s; whole seconds up to 65535).
    pub fn keepalive(mut self, keepalive: Duration) -> Self {
        self.keepalive = Some(keepalive);
        self
    }

    /// Client identifier (`MQTT_CLIENT_ID`; default `flask-mqtt-` and 12 characters
    /// unique to the process). `{pid}` and `{hostname}` in it are replaced; the result
    /// has no NUL and at most 65535 bytes.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// Clean session / clean start (`MQTT_CLEAN_SESSION`; default `true`).
    pub fn clean_session(mut self, clean: bool) -> Self {
        self.clean_session = Some(clean);
        self
    }

    /// MQTT 5 session expiry (`MQTT_SESSION_EXPIRY`; default 0, or one day when clean
    /// session is off; whole seconds up to 4294967295; MQTT 5 only).
    pub fn session_expiry(mut self, expiry: Duration) -> Self {
        self.session_expiry = Some(expiry);
        self
    }

    /// Time one connection attempt may take (`MQTT_CONNECTION_TIMEOUT`; default 5 s;
    /// positive, at most 86400 s). Paho counts it in whole seconds: a fraction rounds up.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// How long `publish` waits while the client is disconnected before it fails
    /// (`MQTT_PUBLISH_TIMEOUT`; default 10 s; positive, at most 86400 s).
    pub fn publish_timeout(mut self, timeout: Duration) -> Self {
        self.publish_timeout = Some(timeout);
        self
    }

    /// Retry delays after a failed or lost connection (`MQTT_RECONNECT_MIN_DELAY`,
    /// `MQTT_RECONNECT_MAX_DELAY`; default 0.5 s doubling up to 30 s; both positive, at
    /// most 86400 s, `max` at least `min`). The delay goes back to `min` only when a
    /// connection that lasted at least 1 s is lost.
    pub fn reconnect_delay(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min_delay = Some(min);
        self.reconnect_max_delay = Some(max);
        self
    }

    /// Publishes the client holds that are not yet sent, while disconnected or queued
    /// while connected; past it `publish` fails with `Error::BufferFull`
    /// (`MQTT_MAX_BUFFERED_MESSAGES`; default 10000; from 1 to 2147483647).
    pub fn max_buffered_messages(mut self, n: usize) -> Self {
        self.max_buffered_messages = Some(n);
        self
    }

    /// The last will (`MQTT_LAST_WILL_TOPIC`, `_MESSAGE`, `_QOS`, `_RETAIN`; default
    /// none). The topic is a topic name (no wildcards, no NUL); the message at most 65535
    /// bytes.
    pub fn last_will(
        mut self,
        topic: impl Into<String>,
        message: impl Into<Vec<u8>>,
        qos: QoS,
        retain: bool,
    ) -> Self {
        self.will_topic = Some(topic.into());
        self.will_message = Some(message.into());
        self.will_qos = Some(qos.as_u8());
        self.will_retain = Some(retain);
        self
    }

    /// Startup behaviour while the broker is away (`MQTT_CONNECT_MODE`; default
    /// background).
    pub fn connect_mode(mut self, mode: ConnectMode) -> Self {
        self.connect_mode = Some(mode);
        self
    }

    /// When QoS 1/2 messages are acknowledged to the broker, for the handlers whose
    /// attribute chooses no `ack = "..."` (`MQTT_ACK_POLICY`; default
    /// [`AckPolicy::After`]). `build` rejects [`AckPolicy::Manual`]: it is a per-handler
    /// choice, since only a handler with an `Ack` argument can acknowledge.
    pub fn ack_policy(mut self, policy: AckPolicy) -> Self {
        self.ack_policy = Some(policy);
        self
    }

    /// MQTT 5 Receive Maximum: how many QoS 1/2 messages the broker may send before
    /// earlier ones are acknowledged (`MQTT_RECEIVE_MAXIMUM`; default 100; from 1 to
    /// 65535). MQTT 3.1.1 has no such setting: `build` logs a warning when it is set there.
    pub fn receive_maximum(mut self, n: u16) -> Self {
        self.receive_maximum = Some(n);
        self
    }

    /// Whether the client records Prometheus metrics (`MQTT_METRICS`; default `true`).
    /// `false`: nothing is recorded on the message path and the client is left out of
    /// `flask_mqtt_actix::metrics` (see the `metrics` module of `flask-mqtt-core`).
    pub fn metrics(mut self, on: bool) -> Self {
        self.metrics = Some(on);
        self
    }
}
