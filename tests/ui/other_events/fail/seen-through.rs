use flask_mqtt_actix as mqtt;
use mqtt::{EventContext, FromEvent, HandlerKind, HandlerKinds};

// The check reads the types: aliases, renamed imports and wrappers don't hide them.
type Incoming = Option<mqtt::Message>;
use mqtt::Published as Delivered;

#[mqtt::on_disconnect]
fn disconnected(_msg: Incoming) {}

#[mqtt::on_connect]
fn connected(_delivered: Delivered) {}

/// An extractor of the user's own, narrowed to two kinds of handler.
struct Session;

impl FromEvent for Session {
    type Rejection = &'static str;
    const AVAILABLE_IN: HandlerKinds =
        HandlerKinds::only(HandlerKind::Connect).with(HandlerKind::Disconnect);

    fn from_event(_ctx: &EventContext) -> Result<Self, Self::Rejection> {
        Ok(Session)
    }
}

#[mqtt::on_log]
fn log_line(_session: Session) {}

fn main() {}
