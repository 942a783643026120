use flask_mqtt_actix as mqtt;

/// An extractor with no optional form: it implements `FromEvent` only.
struct DeviceId(String);

impl mqtt::FromEvent for DeviceId {
    type Rejection = &'static str;

    fn from_event(ctx: &mqtt::EventContext) -> Result<Self, Self::Rejection> {
        let topic = ctx.message().ok_or("not a message")?.topic();
        Ok(DeviceId(topic.to_owned()))
    }
}

#[mqtt::on_message("devices/+")]
fn device(_id: Option<DeviceId>) {}

fn main() {}
