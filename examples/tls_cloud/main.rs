//! Run with: `cargo run -p flask-mqtt-examples --bin tls_cloud` and the `MQTT_*`
//! variables of your cloud broker (TLS on port 8883, a CA file, a user and a password).
//! To try it locally, make a CA and a broker certificate, and start a TLS-only
//! Mosquitto with a password file (Debian: `apt-get install mosquitto openssl`):
//!
//! ```sh
//! mkdir -p /tmp/tls-cloud && cd /tmp/tls-cloud
//! # A CA, and a certificate for the broker signed by it, valid for `localhost`.
//! openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
//!     -subj '/CN=tls-cloud test CA' -keyout ca.key -out ca.crt
//! openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
//!     -subj '/CN=localhost' -keyout server.key -out server.csr
//! printf 'subjectAltName = DNS:localhost, IP:127.0.0.1\n' > server.ext
//! openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 \
//!     -extfile server.ext -out server.crt
//! # The broker's one user.
//! mosquitto_passwd -c -b passwd app 'change-me'
//! cat > mosquitto.conf <<EOF
//! listener 8883 127.0.0.1
//! tls_version tlsv1.2
//! cafile /tmp/tls-cloud/ca.crt
//! certfile /tmp/tls-cloud/server.crt
//! keyfile /tmp/tls-cloud/server.key
//! allow_anonymous false
//! password_file /tmp/tls-cloud/passwd
//! EOF
//! # Started as root, Mosquitto switches to the user `mosquitto`, which must be able
//! # to read the key and the password file (as another user, skip this line).
//! chown mosquitto server.key passwd
//! mosquitto -c mosquitto.conf
//! ```
//!
//! then, in another shell:
//!
//! ```sh
//! MQTT_BROKER_URL=mqtts://localhost:8883 \
//! MQTT_TLS_CA_CERTS=/tmp/tls-cloud/ca.crt \
//! MQTT_USERNAME=app MQTT_PASSWORD='change-me' \
//!     cargo run -p flask-mqtt-examples --bin tls_cloud
//! ```
//!
//! It logs `connected to ssl://localhost:8883 as ...`; try
//! `curl -X POST 'http://127.0.0.1:8080/publish?topic=devices/lamp/status&payload=on'` and
//! `curl http://127.0.0.1:8080/health`.
//!
//! Flask-MQTT's cloud broker setup, key for key:
//!
//! | Flask-MQTT (`app.config[...]`) | here (environment) |
//! |---|---|
//! | `MQTT_BROKER_URL = 'broker.example.com'`, `MQTT_BROKER_PORT = 8883`, `MQTT_TLS_ENABLED = True` | `MQTT_BROKER_URL=mqtts://broker.example.com` (port 8883 and TLS follow from `mqtts`) |
//! | `MQTT_TLS_CA_CERTS = 'ca.crt'` | `MQTT_TLS_CA_CERTS=ca.crt` (unset: the system's trust store, right for public cloud brokers) |
//! | `MQTT_USERNAME`, `MQTT_PASSWORD` | the same (the password is never logged) |
//! | `MQTT_TLS_VERSION = ssl.PROTOCOL_TLSv1_2` | `MQTT_TLS_VERSION=tlsv1.2`, the default: TLS 1.2 or newer |
//!
//! The broker's certificate and host name are checked. `MQTT_TLS_INSECURE=true` skips the
//! host name check only (as in Flask-MQTT: the certificate must still come from a trusted
//! CA); `MQTT_TLS_VERIFY_CERTIFICATE=false` accepts any certificate. Each logs a warning at
//! every connect.

use actix_web::{web, App, HttpResponse, HttpServer};
use flask_mqtt_actix as mqtt;
use serde::Deserialize;

#[mqtt::on_connect]
fn handle_connect(connected: mqtt::Connected) {
    let how = if connected.is_reconnect() {
        "reconnected"
    } else {
        "connected"
    };
    log::info!("{how} to {} over TLS", connected.server_uri());
}

#[mqtt::on_message("devices/+/status", qos = 1)]
fn device_status(msg: mqtt::Message) {
    log::info!(
        "{} = {}",
        msg.topic(),
        msg.payload_str().unwrap_or("<binary>")
    );
}

#[derive(Deserialize)]
struct PublishQuery {
    topic: String,
    payload: String,
}

async fn publish(client: mqtt::Mqtt, q: web::Query<PublishQuery>) -> HttpResponse {
    match client
        .publish(q.topic.as_str(), q.payload.as_str())
        .qos(mqtt::QoS::AtLeastOnce)
        .await
    {
        Ok(()) => HttpResponse::Ok().body("published\n"),
        Err(e @ mqtt::Error::InvalidTopic { .. }) => {
            HttpResponse::BadRequest().body(format!("{e}\n"))
        }
        Err(e) => HttpResponse::ServiceUnavailable().body(format!("{e}\n")),
    }
}

/// `200 connected`, or `503` with the reason of the last failed connection attempt
/// (a TLS failure reads `could not reach the broker at ssl://...: TCP/TLS connect failure`).
async fn health(client: mqtt::Mqtt) -> HttpResponse {
    if client.is_connected() {
        return HttpResponse::Ok().body(format!("connected to {}\n", client.server_uri()));
    }
    let why = client
        .last_connect_error()
        .map_or_else(|| "connecting".to_owned(), |e| e.to_string());
    HttpResponse::ServiceUnavailable().body(format!("{why}\n"))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    // Fail fast on a bad MQTT_* value (a missing CA file, say) instead of serving without MQTT.
    mqtt::init().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let port: u16 = std::env::var("HTTP_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    log::info!(
        "listening on http://127.0.0.1:{port}; POST /publish?topic=..&payload=.., GET /health"
    );
    HttpServer::new(|| {
        App::new()
            .configure(mqtt::configure)
            .route("/publish", web::post().to(publish))
            .route("/health", web::get().to(health))
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
