//! Publishing a handler's [`Reply`] to the request's Response Topic.

use paho_mqtt::PropertyCode;

use crate::extract::context::EventContext;
use crate::handler::{HandlerError, Reply};

/// Publishes a handler's reply to the request's Response Topic.
pub(super) async fn send_reply(ctx: &EventContext, reply: Reply) -> Result<(), HandlerError> {
    // The macros refuse a `Reply` in other handlers (`IntoOutcome::REPLIES`): only a
    // handler registered by hand gets here.
    let Some(msg) = ctx.message() else {
        return Err(HandlerError::Reply(format!(
            "only `#[on_message]` handlers can reply (this is `#[{}]`)",
            ctx.event().kind().attribute()
        )));
    };
    let props = msg.as_paho().properties();
    let Some(topic) = props.get_string(PropertyCode::ResponseTopic) else {
        return Err(HandlerError::Reply(
            "the message has no response topic (an MQTT 5 property the requester sets)".to_owned(),
        ));
    };
    let (payload, qos) = reply.into_parts();
    let mut publish = ctx.client().publish(topic.as_str(), payload).qos(qos);
    // The requester matches the answer to its request by the Correlation Data.
    if let Some(data) = props.get_binary(PropertyCode::CorrelationData) {
        publish = publish.correlation_data(data);
    }
    publish
        .await
        .map_err(|e| HandlerError::Reply(format!("publishing it to `{topic}` failed: {e}")))
}
