//! `Mqtt` as an actix-web extractor (feature `actix`).

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};

use crate::Mqtt;

/// Why the `Mqtt` extractor failed: the app was not configured with the MQTT plugin, or
/// the client could not start. Answers 503 Service Unavailable.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MqttUnavailable(pub String);

impl actix_web::ResponseError for MqttUnavailable {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::SERVICE_UNAVAILABLE
    }
}

impl FromRequest for Mqtt {
    type Error = MqttUnavailable;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if let Some(m) = req.app_data::<Mqtt>() {
            return ready(Ok(m.clone()));
        }
        if let Some(m) = req.app_data::<web::Data<Mqtt>>() {
            return ready(Ok(m.get_ref().clone()));
        }
        let why = match req.app_data::<StartError>() {
            Some(e) => format!("the MQTT client is not available: {}", e.0),
            None => "the MQTT client is not available: configure the app with `App::new().configure(mqtt::configure)`".to_owned(),
        };
        ready(Err(MqttUnavailable(why)))
    }
}

/// Stored as app data when the client could not be started, so that extractors can say why.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub struct StartError(pub String);

/// Runs `hook` when the process exits normally (`main` returned, `std::process::exit`),
/// before the process is gone: the actix plugin stops its clients gracefully there,
/// because actix returns from `HttpServer::run` while its worker threads, which own
/// the clients, may still be dropping them. Returns whether the hook was registered.
#[doc(hidden)]
#[cfg(unix)]
#[allow(unsafe_code)]
pub fn at_exit(hook: extern "C" fn()) -> bool {
    // SAFETY: `atexit` only records the function pointer; `hook` is a plain `extern "C"`
    // function with no arguments, as atexit(3) requires.
    unsafe { libc::atexit(hook) == 0 }
}

/// Not available on this platform: the clients are stopped by the worker threads alone.
#[doc(hidden)]
#[cfg(not(unix))]
pub fn at_exit(_hook: extern "C" fn()) -> bool {
    false
}
