use actix_web::web;
use flask_mqtt_actix as mqtt;
use mqtt::{EventContext, FromEvent, OptionalFromEvent};

// What every kind of handler can take: the client, shared state (and `Option`/`Result`
// of them), the user's own extractors (available everywhere unless they say otherwise),
// and each kind its own event.
struct Counters;

/// A user's extractor, with the default `AVAILABLE_IN` (every kind).
struct Tenant(String);

impl FromEvent for Tenant {
    type Rejection = &'static str;

    fn from_event(ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(Tenant(ctx.client().client_id().to_owned()))
    }
}

impl OptionalFromEvent for Tenant {
    type Rejection = &'static str;

    fn from_event_optional(ctx: &EventContext) -> Result<Option<Self>, Self::Rejection> {
        Self::from_event(ctx).map(Some)
    }
}

type Shared = mqtt::State<Counters>;

#[mqtt::on_connect]
fn connected(
    _: mqtt::Mqtt,
    _: mqtt::State<Counters>,
    _: Option<Shared>,
    _: Result<Shared, mqtt::MissingState>,
    _: web::Data<Counters>,
    _: Tenant,
    _: Option<Tenant>,
    _: Option<mqtt::Mqtt>,
    _: mqtt::Connected,
    _: Option<mqtt::Connected>,
) {
}

#[mqtt::on_disconnect]
async fn disconnected(_: mqtt::Mqtt, _: Shared, _: Tenant, _: Result<mqtt::Disconnected, mqtt::WrongEvent>) {}

#[mqtt::on_log]
fn logged(_: mqtt::Mqtt, _: Option<Shared>, _: Option<Tenant>, _: mqtt::LogEntry) {}

#[mqtt::on_publish]
fn published(_: mqtt::Mqtt, _: Shared, _: Tenant, _: mqtt::Published) -> Result<(), String> {
    Ok(())
}

#[mqtt::on_subscribe]
fn subscribed(_: mqtt::Mqtt, _: Shared, _: Tenant, _: mqtt::Subscribed) {}

#[mqtt::on_unsubscribe]
fn unsubscribed(_: mqtt::Mqtt, _: Shared, _: Tenant, _: Option<mqtt::Unsubscribed>) {}

#[mqtt::on_message("a/b")]
fn message(
    _: mqtt::Mqtt,
    _: Shared,
    _: Tenant,
    _: Option<Tenant>,
    _: mqtt::Message,
    _: Option<mqtt::Text>,
) -> Option<mqtt::Reply> {
    None
}

fn main() {}
