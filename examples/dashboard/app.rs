//! The dashboard's routes and MQTT handlers. `main.rs` serves them; the browser test
//! (`tests/browser_dashboard.rs`) includes this file and `hub.rs` to serve the very same
//! app in-process.
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the page (HTML, CSS and JS are compiled into the binary: works offline) |
//! | `GET /events` | the live channel, Server-Sent Events: `status`, `topics`, `message`, `skipped` |
//! | `GET /api/status` | the connection status, subscriptions and live-channel queue as JSON |
//! | `POST /api/subscribe` | `{"filter": "home/#", "qos": 1}`; 400 with the grammar error for a bad filter |
//! | `POST /api/unsubscribe-all` | unsubscribes from everything |
//! | `POST /api/publish` | `{"topic", "payload", "qos", "retain", "hex"}`; 200 once the broker has it |

use std::future::Future;
use std::time::{Duration, SystemTime};

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use flask_mqtt_actix as mqtt;
use serde::{Deserialize, Serialize};

use crate::hub::{Hub, MessageView, Status, TopicView};

/// How long subscribe and publish requests wait for the broker's acknowledgement.
pub(crate) const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// How often the connection status is checked, as a safety net behind the
/// `on_connect`/`on_disconnect` handlers (and for tabs opened before the first event).
const STATUS_POLL: Duration = Duration::from_millis(250);

const INDEX_HTML: &str = include_str!("static/index.html");
const DASHBOARD_JS: &str = include_str!("static/dashboard.js");
const DASHBOARD_CSS: &str = include_str!("static/dashboard.css");

/// The whole app: the MQTT client, the hub shared with the MQTT handlers, the routes.
pub(crate) fn configure(hub: web::Data<Hub>) -> impl Fn(&mut web::ServiceConfig) + Clone {
    // The same `Arc<Hub>` for HTTP handlers and MQTT handlers.
    let manage = mqtt::manage(hub);
    move |cfg: &mut web::ServiceConfig| {
        cfg.configure(mqtt::configure);
        manage(cfg);
        cfg.route("/", web::get().to(index))
            .route("/dashboard.js", web::get().to(script))
            .route("/dashboard.css", web::get().to(style))
            .route("/events", web::get().to(events))
            .route("/api/status", web::get().to(status))
            .route("/api/subscribe", web::post().to(subscribe))
            .route("/api/unsubscribe-all", web::post().to(unsubscribe_all))
            .route("/api/publish", web::post().to(publish));
    }
}

// ---- MQTT handlers: feed the live channel ----

/// Every message: the dashboard declares no filter handlers, so this catch-all sees all
/// messages of the filters subscribed from the page.
#[mqtt::on_message]
async fn forward(hub: web::Data<Hub>, msg: mqtt::Message) {
    hub.message(&MessageView {
        topic: msg.topic(),
        qos: msg.qos().as_u8(),
        retain: msg.retain(),
        payload: msg.payload(),
        received: SystemTime::now(),
    });
}

/// Runs after the subscriptions were renewed: the tabs see `connected` at once.
#[mqtt::on_connect]
async fn connected(hub: web::Data<Hub>, client: mqtt::Mqtt) {
    refresh(&hub, &client);
}

/// A lost connection, and every failed attempt (with its error): the tabs see
/// `reconnecting` and why at once.
#[mqtt::on_disconnect]
async fn disconnected(hub: web::Data<Hub>, client: mqtt::Mqtt) {
    refresh(&hub, &client);
}

/// Sends the client's status and subscriptions to the tabs, if they changed.
fn refresh(hub: &Hub, client: &mqtt::Mqtt) {
    hub.set_status(status_of(client, hub.status().as_ref()));
    hub.set_topics(topics_of(client));
}

fn status_of(client: &mqtt::Mqtt, last: Option<&Status>) -> Status {
    let broker = client.server_uri().to_owned();
    if client.is_connected() {
        return Status {
            state: "connected",
            broker,
            code: None,
            error: None,
        };
    }
    // `connecting` until the first connect, then `reconnecting`.
    let was_up = last.is_some_and(|s| s.state != "connecting");
    let state = if was_up { "reconnecting" } else { "connecting" };
    let (code, error) = match client.last_connect_error() {
        None => (None, None),
        Some(mqtt::ConnectError::Refused(rc)) => {
            (Some(rc.code()), Some(rc.description().to_owned()))
        }
        Some(mqtt::ConnectError::RefusedV5 { code, reason, .. }) => (Some(code), Some(reason)),
        Some(other) => (None, Some(other.to_string())),
    };
    Status {
        state,
        broker,
        code,
        error,
    }
}

fn topics_of(client: &mqtt::Mqtt) -> Vec<TopicView> {
    client
        .topics()
        .into_iter()
        .map(|(filter, qos)| TopicView {
            filter,
            qos: qos.as_u8(),
        })
        .collect()
}

/// Starts (once per process) the task that keeps the hub's status current.
fn watch(hub: &web::Data<Hub>, client: &mqtt::Mqtt) {
    static STARTED: std::sync::Once = std::sync::Once::new();
    refresh(hub, client);
    STARTED.call_once(|| {
        let (hub, client) = (hub.clone(), client.clone());
        actix_web::rt::spawn(async move {
            let mut tick = actix_web::rt::time::interval(STATUS_POLL);
            loop {
                tick.tick().await;
                refresh(&hub, &client);
            }
        });
    });
}

// ---- HTTP handlers ----

async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(INDEX_HTML)
}

async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .body(DASHBOARD_JS)
}

async fn style() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .body(DASHBOARD_CSS)
}

/// `GET /events`: one tab's live channel.
async fn events(hub: web::Data<Hub>, client: mqtt::Mqtt) -> HttpResponse {
    watch(&hub, &client);
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Tells nginx and friends not to buffer the stream.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(hub.subscribe())
}

#[derive(Serialize)]
struct StatusResponse {
    status: Status,
    topics: Vec<TopicView>,
    /// Frames the live channel holds now, and at most.
    queued: usize,
    capacity: usize,
}

/// `GET /api/status`.
async fn status(hub: web::Data<Hub>, client: mqtt::Mqtt) -> HttpResponse {
    watch(&hub, &client);
    HttpResponse::Ok().json(StatusResponse {
        status: status_of(&client, hub.status().as_ref()),
        topics: topics_of(&client),
        queued: hub.queued(),
        capacity: hub.capacity(),
    })
}

#[derive(Deserialize)]
struct SubscribeRequest {
    filter: String,
    #[serde(default)]
    qos: u8,
}

/// `POST /api/subscribe`: the filter is checked with the same grammar as
/// `#[mqtt::on_message("...")]`; the error names the level that is wrong.
async fn subscribe(
    hub: web::Data<Hub>,
    client: mqtt::Mqtt,
    req: web::Json<SubscribeRequest>,
) -> HttpResponse {
    let Some(qos) = mqtt::QoS::from_u8(req.qos) else {
        return rejected("qos", format!("qos must be 0, 1 or 2, found {}", req.qos));
    };
    let outcome = acked(client.subscribe(&req.filter, qos)).await;
    // Recorded even when the broker is away: show it either way.
    hub.set_topics(topics_of(&client));
    match outcome {
        Ok(()) => HttpResponse::Ok().json(topics_of(&client)),
        Err(Failure::Mqtt(mqtt::Error::InvalidFilter { source, .. })) => {
            // Only the grammar's message: the page shows it next to the filter it typed.
            rejected("filter", source.to_string())
        }
        Err(Failure::Mqtt(e @ mqtt::Error::SubscribeRejected { .. })) => {
            rejected("filter", e.to_string())
        }
        Err(Failure::Mqtt(e)) => unavailable(e.to_string()),
        Err(Failure::Timeout) => unavailable(format!(
            "the broker did not acknowledge within {}s; the filter stays recorded and is \
             subscribed at the next connect",
            ACK_TIMEOUT.as_secs()
        )),
    }
}

/// `POST /api/unsubscribe-all`.
async fn unsubscribe_all(hub: web::Data<Hub>, client: mqtt::Mqtt) -> HttpResponse {
    let outcome = acked(client.unsubscribe_all()).await;
    hub.set_topics(topics_of(&client));
    match outcome {
        Ok(()) => HttpResponse::Ok().json(topics_of(&client)),
        Err(Failure::Mqtt(e)) => unavailable(e.to_string()),
        Err(Failure::Timeout) => unavailable(format!(
            "the broker did not acknowledge within {}s",
            ACK_TIMEOUT.as_secs()
        )),
    }
}

#[derive(Deserialize)]
struct PublishRequest {
    topic: String,
    #[serde(default)]
    payload: String,
    #[serde(default)]
    qos: u8,
    #[serde(default)]
    retain: bool,
    /// `payload` is hex digits (spaces allowed): send those bytes.
    #[serde(default)]
    hex: bool,
}

/// `POST /api/publish`: answers once the broker has the message (QoS 1 and 2: its
/// acknowledgement arrived), or says why not.
async fn publish(client: mqtt::Mqtt, req: web::Json<PublishRequest>) -> HttpResponse {
    let req = req.into_inner();
    let Some(qos) = mqtt::QoS::from_u8(req.qos) else {
        return rejected("qos", format!("qos must be 0, 1 or 2, found {}", req.qos));
    };
    let payload = if req.hex {
        match unhex(&req.payload) {
            Some(bytes) => bytes,
            None => return rejected("payload", "not hex digits: write bytes like `00 ff 10`"),
        }
    } else {
        req.payload.into_bytes()
    };
    let send = client
        .publish(req.topic, payload)
        .qos(qos)
        .retain(req.retain);
    match acked(send.send()).await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "published": true })),
        Err(Failure::Mqtt(mqtt::Error::InvalidTopic { source, .. })) => {
            rejected("topic", source.to_string())
        }
        Err(Failure::Mqtt(e)) => unavailable(e.to_string()),
        Err(Failure::Timeout) => unavailable(format!(
            "the broker did not acknowledge within {}s; the message stays buffered and is \
             sent after the reconnect",
            ACK_TIMEOUT.as_secs()
        )),
    }
}

enum Failure {
    Mqtt(mqtt::Error),
    Timeout,
}

/// Waits at most [`ACK_TIMEOUT`] for an MQTT operation.
async fn acked(op: impl Future<Output = mqtt::Result<()>>) -> Result<(), Failure> {
    match actix_web::rt::time::timeout(ACK_TIMEOUT, op).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Failure::Mqtt(e)),
        Err(_) => Err(Failure::Timeout),
    }
}

/// 400, naming the form field the error belongs to.
fn rejected(field: &str, error: impl Into<String>) -> HttpResponse {
    HttpResponse::BadRequest().json(serde_json::json!({ "field": field, "error": error.into() }))
}

/// 503 with the reason.
fn unavailable(error: String) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header((header::RETRY_AFTER, "5"))
        .json(serde_json::json!({ "error": error }))
}

/// `"00 ff10"` to bytes; `None` unless it is pairs of hex digits (spaces ignored).
fn unhex(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::unhex;

    #[test]
    fn hex_payloads() {
        assert_eq!(unhex(""), Some(vec![]));
        assert_eq!(unhex("00 ff10\n"), Some(vec![0x00, 0xff, 0x10]));
        assert_eq!(unhex("DEad"), Some(vec![0xde, 0xad]));
        for bad in ["0", "0g", "+f", "-1", "f f f"] {
            assert_eq!(unhex(bad), None, "{bad:?}");
        }
    }
}
