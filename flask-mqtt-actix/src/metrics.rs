//! `metrics`: the clients' Prometheus metrics over HTTP.

use actix_web::http::header::ACCEPT;
use actix_web::{HttpRequest, HttpResponse};
use flask_mqtt_core::{MetricsCollector, MetricsFormat, MqttUnavailable};

use crate::Clients;

/// An actix-web handler serving the Prometheus metrics of every MQTT client of the
/// process: message, handler, connection and publish counters, handler latency
/// histograms, queue depths (the README's "Metrics" lists every family).
///
/// The format follows the request's `Accept` header ([`MetricsFormat::for_accept`]):
/// OpenMetrics 1.0 (`application/openmetrics-text; version=1.0.0`) when the scraper asks
/// for it, which Prometheus does by default (its scrape `Accept` header puts OpenMetrics
/// first; OpenMetrics also says where a counter's family ends and the exposition is
/// complete, `# EOF`), the Prometheus text format 0.0.4 (`text/plain; version=0.0.4`)
/// otherwise (curl, a browser, older scrapers).
///
/// Clients configured with `MQTT_METRICS=false` record nothing and are left out; when no
/// client records (or none runs), the answer is `404 Not Found`, so a scrape target
/// left configured shows up as down instead of as an app without traffic. When no client
/// runs because they could not start, `503 Service Unavailable` with the reasons.
///
/// ```no_run
/// use actix_web::{web, App, HttpServer};
/// use flask_mqtt_actix as mqtt;
///
/// # async fn run() -> std::io::Result<()> {
/// HttpServer::new(|| {
///     App::new()
///         .configure(mqtt::configure)
///         .route("/metrics", web::get().to(mqtt::metrics))
/// })
/// .bind(("127.0.0.1", 8080))?
/// .run()
/// .await
/// # }
/// ```
pub async fn metrics(req: HttpRequest) -> HttpResponse {
    let Some(clients) = req.app_data::<Clients>() else {
        let why = match req.app_data::<MqttUnavailable>() {
            Some(e) => e.0.clone(),
            None => "the app is not configured with `mqtt::configure`".to_owned(),
        };
        return HttpResponse::ServiceUnavailable()
            .content_type("text/plain; charset=utf-8")
            .body(why);
    };
    // One client per prefix: `Clients` is keyed by it, so the collector takes them.
    let collector = match MetricsCollector::new(
        clients
            .names()
            .filter_map(|name| clients.get(name))
            .cloned(),
    ) {
        Ok(collector) => collector,
        Err(e) => {
            return HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body(format!("{e}\n"))
        }
    };
    if collector.is_empty() && clients.names().next().is_none() {
        let why: Vec<&str> = clients.not_started().map(|(_, why)| why).collect();
        if !why.is_empty() {
            return HttpResponse::ServiceUnavailable()
                .content_type("text/plain; charset=utf-8")
                .body(why.join("\n"));
        }
    }
    if collector.is_empty() {
        return HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("no MQTT client records metrics (MQTT_METRICS=false)\n");
    }
    let accept = req
        .headers()
        .get(ACCEPT)
        .and_then(|value| value.to_str().ok());
    let format = MetricsFormat::for_accept(accept);
    HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header(("Cache-Control", "no-store"))
        .body(collector.render(format))
}
