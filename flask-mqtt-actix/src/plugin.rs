//! `configure`: one client per process, shared by every actix worker.

use std::sync::{Arc, Mutex, Weak};

use actix_web::web;
use flask_mqtt_core::{Client, Config, Mqtt};

const TARGET: &str = "flask_mqtt::actix";

/// The state of the process's client.
enum Slot {
    /// Nothing started yet (or the last server stopped).
    Empty,
    /// Configured by `init`/`init_with`, not yet handed to a server.
    Ready(Config),
    /// Running: workers hold strong references to the guard.
    Running(Weak<Guard>, Mqtt),
}

/// Held by every worker's app; the client stops when the last one is dropped.
struct Guard {
    client: Mutex<Option<Client>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let client = match self.client.get_mut() {
            Ok(c) => c.take(),
            Err(p) => p.into_inner().take(),
        };
        if let Some(client) = client {
            log::info!(target: TARGET, "last actix worker stopped; disconnecting MQTT client");
            // Blocks this (worker) thread until the DISCONNECT was sent, bounded.
            drop(client);
        }
    }
}

static SLOT: Mutex<Slot> = Mutex::new(Slot::Empty);

fn slot() -> std::sync::MutexGuard<'static, Slot> {
    SLOT.lock().unwrap_or_else(|p| p.into_inner())
}

/// Validates the configuration from the environment (`MQTT_*` keys) now, so that a bad
/// value stops the program before the server starts. The client itself starts when the
/// first app is built by [`configure`].
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// flask_mqtt_actix::init()?; // e.g. "invalid MQTT_BROKER_PORT `abc`: expected a port number from 1 to 65535"
/// # Ok(()) }
/// ```
pub fn init() -> Result<(), flask_mqtt_core::ConfigError> {
    let config = Config::from_env()?;
    init_with(config);
    Ok(())
}

/// Uses `config` instead of the environment for the client that [`configure`] starts.
/// Has no effect while a client is running.
pub fn init_with(config: Config) {
    let mut s = slot();
    match &*s {
        Slot::Running(guard, _) if guard.strong_count() > 0 => {
            log::warn!(target: TARGET, "init_with ignored: an MQTT client is already running")
        }
        _ => *s = Slot::Ready(config),
    }
}

/// Adds the MQTT client to an actix-web app: `App::new().configure(mqtt::configure)`.
///
/// Starts the process's client on first use and shares it with every worker. `Mqtt`
/// becomes available to HTTP handlers as an extractor and as `web::Data<Mqtt>`. If the
/// client cannot start (a bad `MQTT_*` value), the error is logged, the server still
/// serves, and handlers that ask for `Mqtt` answer 503 with the reason.
pub fn configure(cfg: &mut web::ServiceConfig) {
    match acquire() {
        Ok((guard, mqtt)) => {
            cfg.app_data(web::Data::new(mqtt.clone()))
                .app_data(mqtt)
                .app_data(web::Data::from(guard));
        }
        Err(why) => {
            cfg.app_data(flask_mqtt_core::__actix::StartError(why));
        }
    }
}

fn acquire() -> Result<(Arc<Guard>, Mqtt), String> {
    let mut s = slot();
    if let Slot::Running(weak, mqtt) = &*s {
        if let Some(guard) = weak.upgrade() {
            return Ok((guard, mqtt.clone()));
        }
    }
    let config = match std::mem::replace(&mut *s, Slot::Empty) {
        Slot::Ready(c) => c,
        _ => Config::from_env().map_err(|e| {
            log::error!(target: TARGET, "MQTT client not started: {e}");
            e.to_string()
        })?,
    };
    let client = Client::start(config).map_err(|e| {
        log::error!(target: TARGET, "MQTT client not started: {e}");
        e.to_string()
    })?;
    let mqtt = client.handle();
    let guard = Arc::new(Guard {
        client: Mutex::new(Some(client)),
    });
    *s = Slot::Running(Arc::downgrade(&guard), mqtt.clone());
    Ok((guard, mqtt))
}
