//! `manage`: one `web::Data<T>` for HTTP handlers and MQTT handlers alike.
//!
//! The values live here, in the plugin, which owns the process's clients: each is handed
//! to the running clients at once and to every client started later (`hand_to`), as
//! state the client's own `Mqtt::insert_state` still takes precedence over.

use std::any::TypeId;
use std::sync::{Arc, Mutex};

use actix_web::web;
use flask_mqtt_core::Mqtt;

/// Hands one managed value to a client.
type Hand = Box<dyn Fn(&Mqtt) + Send + Sync>;

/// What `manage` registered, one entry per type (a later `manage` replaces it).
static MANAGED: Mutex<Vec<(TypeId, Hand)>> = Mutex::new(Vec::new());

fn managed() -> std::sync::MutexGuard<'static, Vec<(TypeId, Hand)>> {
    // Every critical section is one push, replace or iteration.
    MANAGED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Gives `client` every value `manage` registered so far (the plugin calls it for each
/// client it starts).
pub(crate) fn hand_to(client: &Mqtt) {
    for (_, hand) in managed().iter() {
        hand(client);
    }
}

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
/// The value is shared with MQTT handlers as soon as `manage` is called, before or after
/// [`configure`](crate::configure): with the clients already running, and with every
/// client started later in the process. Register it before messages it is needed for
/// can arrive (in the `HttpServer` factory, as above, is early enough for handlers of
/// messages that need a connection first). One value per type and process: a later
/// `manage` of the same type replaces it for MQTT handlers. A client's own
/// [`Mqtt::insert_state`](crate::Mqtt::insert_state) for the same type takes precedence.
pub fn manage<T: Send + Sync + 'static>(
    data: web::Data<T>,
) -> impl Fn(&mut web::ServiceConfig) + Clone + 'static {
    let value: Arc<T> = data.clone().into_inner();
    let hand = move |client: &Mqtt| {
        flask_mqtt_core::__actix::share_state(client, Arc::clone(&value));
    };
    // First for the clients started from now on, then for the running ones: a client
    // the plugin starts meanwhile (it calls `hand_to` holding its own lock, which
    // `running_clients` waits for) gets the value either way, at worst twice. Never
    // both locks at once from here.
    {
        let mut all = managed();
        let id = TypeId::of::<T>();
        let boxed: Hand = Box::new(hand.clone());
        match all.iter_mut().find(|(t, _)| *t == id) {
            Some((_, h)) => *h = boxed,
            None => all.push((id, boxed)),
        }
    }
    for client in crate::plugin::running_clients() {
        hand(&client);
    }
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(data.clone());
    }
}
