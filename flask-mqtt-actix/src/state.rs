//! `manage`: one `web::Data<T>` for HTTP handlers and MQTT handlers alike.

use actix_web::web;

/// Shares `data` with HTTP handlers (as `web::Data<T>`, like `App::app_data`) and with
/// MQTT handlers (as `web::Data<T>` or `mqtt::State<T>`): one `Arc`, whatever reads it.
///
/// ```no_run
/// use std::sync::Mutex;
/// use actix_web::{web, App, HttpServer};
/// use flask_mqtt_actix as mqtt;
///
/// #[derive(Default)]
/// struct AppState {
///     last: Mutex<Option<String>>,
/// }
///
/// #[mqtt::on_message("home/status")]
/// async fn status(state: web::Data<AppState>, text: mqtt::Text) {
///     *state.last.lock().unwrap() = Some(text.into_string());
/// }
///
/// async fn last(state: web::Data<AppState>) -> String {
///     state.last.lock().unwrap().clone().unwrap_or_default()
/// }
///
/// #[actix_web::main]
/// async fn main() -> std::io::Result<()> {
///     let state = web::Data::new(AppState::default());
///     HttpServer::new(move || {
///         App::new()
///             .configure(mqtt::configure)
///             .configure(mqtt::manage(state.clone()))
///             .route("/last", web::get().to(last))
///     })
///     .bind(("127.0.0.1", 8080))?
///     .run()
///     .await
/// }
/// ```
///
/// The value is shared with MQTT handlers as soon as `manage` is called, so register
/// it before messages it is needed for can arrive (in the `HttpServer` factory, as
/// above, is early enough for handlers of messages that need a connection first). One
/// value per type and process: a later `manage` of the same type replaces it for MQTT
/// handlers. A client's own [`Mqtt::insert_state`](crate::Mqtt::insert_state) for the
/// same type takes precedence.
pub fn manage<T: Send + Sync + 'static>(
    data: web::Data<T>,
) -> impl Fn(&mut web::ServiceConfig) + Clone + 'static {
    flask_mqtt_core::__actix::share_with_every_client(data.clone().into_inner());
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(data.clone());
    }
}
