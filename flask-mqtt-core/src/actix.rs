//! `Mqtt` as an actix-web extractor (feature `actix`): the one impl the orphan rule keeps
//! in this crate. Everything else the actix plugin does lives in `flask-mqtt-actix`.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};

use crate::handle::Mqtt;

/// Why the `Mqtt` extractor failed: the app was not configured with the MQTT plugin, or
/// the client could not start. Answers 503 Service Unavailable.
///
/// The plugin stores one as app data when a client cannot start, with the reason; the
/// extractor answers with it.
#[derive(Clone, Debug, thiserror::Error)]
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
        let why = match req.app_data::<MqttUnavailable>() {
            Some(e) => e.clone(),
            None => MqttUnavailable("the MQTT client is not available: configure the app with `App::new().configure(mqtt::configure)`".to_owned()),
        };
        ready(Err(why))
    }
}
