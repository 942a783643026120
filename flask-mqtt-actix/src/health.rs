//! `readiness`: an HTTP endpoint for Kubernetes-style readiness probes.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use flask_mqtt_core::{Health, MqttUnavailable};

use crate::Clients;

/// An actix-web handler answering `200 OK` when every MQTT client of the process is
/// connected and `503 Service Unavailable` otherwise, with a JSON body saying, per client,
/// its state (`connecting`, `connected`, `reconnecting`, `closed`), for how long, the
/// broker, the last connection error, for a client that stopped by itself (its driver
/// panicked) why (`fault`), for how long dispatch has been held up by handlers that
/// block their threads, once it has been for a second (`dispatch_stalled_secs`), and
/// the filters the broker refused to subscribe, whose handlers receive nothing
/// (`refused_subscriptions`); neither of the last two makes the client unready. A client
/// that could not start (a bad setting) is listed as `{"state":"not_started","error":..}`
/// with the reason, and makes the answer 503. Use it as a readiness probe; a liveness
/// probe should not depend on the broker.
///
/// ```no_run
/// use actix_web::{web, App, HttpServer};
/// use flask_mqtt_actix as mqtt;
///
/// # async fn run() -> std::io::Result<()> {
/// HttpServer::new(|| {
///     App::new()
///         .configure(mqtt::configure)
///         .route("/ready", web::get().to(mqtt::readiness))
/// })
/// .bind(("127.0.0.1", 8080))?
/// .run()
/// .await
/// # }
/// ```
///
/// ```text
/// HTTP/1.1 503 Service Unavailable
/// {"ready":false,"clients":{"MQTT":{"state":"reconnecting","since_secs":3.2,
///  "broker":"tcp://localhost:1883","connects":1,
///  "last_error":"could not reach the broker at tcp://localhost:1883: TCP/TLS connect failure",
///  "fault":null,"dispatch_stalled_secs":null,"refused_subscriptions":[]}}}
/// ```
pub async fn readiness(req: HttpRequest) -> HttpResponse {
    let Some(clients) = req.app_data::<Clients>() else {
        let why = match req.app_data::<MqttUnavailable>() {
            Some(e) => e.0.clone(),
            None => "the app is not configured with `mqtt::configure`".to_owned(),
        };
        return HttpResponse::ServiceUnavailable()
            .content_type("application/json")
            .body(serde_json::json!({ "ready": false, "error": why }).to_string());
    };
    let mut ready = true;
    let mut body = serde_json::Map::new();
    for name in clients.names() {
        let Some(client) = clients.get(name) else {
            continue;
        };
        let health = client.health();
        ready &= health.is_ready();
        body.insert(name.to_owned(), to_json(&health));
    }
    for (name, why) in clients.not_started() {
        ready = false;
        body.insert(
            name.to_owned(),
            serde_json::json!({ "state": "not_started", "error": why }),
        );
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    HttpResponse::build(status)
        .content_type("application/json")
        .insert_header(("Cache-Control", "no-store"))
        .body(serde_json::json!({ "ready": ready, "clients": body }).to_string())
}

fn to_json(h: &Health) -> serde_json::Value {
    serde_json::json!({
        "state": h.state().as_str(),
        "since_secs": (h.since().as_secs_f64() * 10.0).round() / 10.0,
        "broker": h.broker(),
        "connects": h.connects(),
        "last_error": h.last_error().map(|e| e.to_string()),
        "fault": h.fault(),
        "dispatch_stalled_secs": h
            .dispatch_stalled()
            .map(|d| (d.as_secs_f64() * 10.0).round() / 10.0),
        "refused_subscriptions": h.refused_subscriptions(),
    })
}
