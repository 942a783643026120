//! `asyncapi` and `asyncapi_page`: the app's MQTT interface as an AsyncAPI 3.0 document,
//! and a page that shows it (compiled into the binary: no CDN, works offline).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use flask_mqtt_core::{AsyncApi, MqttUnavailable};

use crate::Clients;

const PAGE_HTML: &str = include_str!("asyncapi/page.html");
const PAGE_CSS: &str = include_str!("asyncapi/page.css");
const PAGE_JS: &str = include_str!("asyncapi/page.js");

/// An actix-web handler serving the AsyncAPI 3.0 document of the app's MQTT interface
/// (`application/json`), generated from the handlers and declared publishers (see
/// [`AsyncApi`]): a channel per topic filter and publisher topic, a `receive` operation
/// per handler, a `send` operation per [`publisher!`](crate::publisher!), the JSON
/// Schema of `Json<T>` payloads whose `T` derives `schemars::JsonSchema`, and the
/// running clients' brokers as servers, without credentials.
///
/// The title and version come from an [`AsyncApi`] in the app data, if there is one, else
/// from [`AsyncApi::default`]. Answers 503 with the reason when the MQTT clients did not
/// start.
///
/// ```no_run
/// use actix_web::{web, App, HttpServer};
/// use flask_mqtt_actix as mqtt;
///
/// # async fn run() -> std::io::Result<()> {
/// HttpServer::new(|| {
///     App::new()
///         .configure(mqtt::configure)
///         .app_data(mqtt::AsyncApi::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")))
///         .route("/asyncapi.json", web::get().to(mqtt::asyncapi))
///         .route("/asyncapi", web::get().to(mqtt::asyncapi_page))
/// })
/// .bind(("127.0.0.1", 8080))?
/// .run()
/// .await
/// # }
/// ```
pub async fn asyncapi(req: HttpRequest) -> HttpResponse {
    match document(&req) {
        Ok(doc) => HttpResponse::Ok()
            .content_type("application/json")
            .insert_header(("Cache-Control", "no-store"))
            .body(doc.to_string()),
        Err(why) => unavailable(why),
    }
}

/// An actix-web handler serving a page that shows the same document as [`asyncapi`]:
/// servers, channels with their parameters, the operations on each (who receives or
/// sends, QoS, retain, shared group, a publisher's doc comment), message payloads with
/// their schemas, and the raw document. The page is one HTML response with its style, script
/// and the document inlined: it fetches nothing.
pub async fn asyncapi_page(req: HttpRequest) -> HttpResponse {
    match document(&req) {
        Ok(doc) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .insert_header((
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:",
            ))
            .body(page(&doc)),
        Err(why) => unavailable(why),
    }
}

/// 503, with why the MQTT clients are not there.
fn unavailable(why: String) -> HttpResponse {
    HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE)
        .content_type("application/json")
        .body(serde_json::json!({ "error": why }).to_string())
}

/// The page with the style, script and `doc` inlined.
fn page(doc: &serde_json::Value) -> String {
    // In a `<script>` element only `</script` and `<!--` could end or confuse it; JSON
    // has `<` only inside strings, where `\u003c` means the same.
    let json = doc.to_string().replace('<', "\\u003c");
    PAGE_HTML
        .replace("/*{{STYLE}}*/", PAGE_CSS)
        .replace("/*{{SCRIPT}}*/", PAGE_JS)
        .replace("{{DOCUMENT}}", &json)
}

/// The document, or why the MQTT clients are not available.
fn document(req: &HttpRequest) -> Result<serde_json::Value, String> {
    let Some(clients) = req.app_data::<Clients>() else {
        return Err(match req.app_data::<MqttUnavailable>() {
            Some(e) => e.0.clone(),
            None => "the app is not configured with `mqtt::configure`".to_owned(),
        });
    };
    let info = req
        .app_data::<AsyncApi>()
        .cloned()
        .or_else(|| {
            req.app_data::<web::Data<AsyncApi>>()
                .map(|d| d.as_ref().clone())
        })
        .unwrap_or_default();
    let running = clients.names().filter_map(|name| clients.get(name));
    Ok(info.document(running))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_cannot_end_the_script_element() {
        let doc =
            serde_json::json!({ "info": { "description": "</script><script>alert(1)</script>" } });
        let html = page(&doc);
        assert!(!html.contains("</script><script>alert"));
        assert!(html.contains(r"\u003c/script>\u003cscript>alert(1)\u003c/script>"));
        assert!(!html.contains("{{DOCUMENT}}"));
        assert!(!html.contains("{{STYLE}}"));
        assert!(!html.contains("{{SCRIPT}}"));
    }
}
