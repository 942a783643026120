//! Ready gating (issue 15): the clients `configure` starts dispatch nothing until the
//! app of the first worker is built, so that state registered later in the same
//! factory (`App::new().configure(mqtt::configure).configure(mqtt::manage(data))`) is
//! there before the first handler runs. Until then what arrives waits in the client, in
//! order, unacknowledged.
//!
//! How "built" is seen: `configure` adds a service that registers nothing. actix-web
//! registers an app's services when it turns the app into a service, which happens once
//! the factory closure has returned (every `.configure(..)` of it done), on whatever
//! runtime the server uses (an actix `System`, plain Tokio, `actix_web::test`).

use actix_web::dev::{AppService, HttpServiceFactory};
use flask_mqtt_core::Mqtt;

/// Marks the clients ready when the app it is added to is built.
pub(crate) struct ReadyWhenBuilt {
    clients: Vec<Mqtt>,
}

impl ReadyWhenBuilt {
    pub(crate) fn new(clients: Vec<Mqtt>) -> ReadyWhenBuilt {
        ReadyWhenBuilt { clients }
    }
}

impl HttpServiceFactory for ReadyWhenBuilt {
    fn register(self, _: &mut AppService) {
        // Idempotent: every worker's app does this; the first one counts.
        for client in self.clients {
            client.ready();
        }
    }
}
