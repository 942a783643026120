//! Publishing a handler's [`Reply`] to the request's Response Topic.

use flask_mqtt_topic::MAX_TOPIC_LEVELS;
use paho_mqtt::PropertyCode;

use crate::error::truncate;
use crate::extract::context::EventContext;
use crate::handler::{HandlerError, Reply};

/// How much of the requester's Response Topic a refusal quotes: enough to recognize
/// it, short enough to keep the call's warning line short.
const QUOTED: usize = 64;

/// `topic`, the requester's, for a log line: at most [`QUOTED`] bytes of it, escaped.
fn quote(topic: &str) -> String {
    truncate(&flask_mqtt_topic::shortened_to(topic, QUOTED))
}

/// Why the requester's Response Topic is no place for a reply, if it is not: more than
/// [`MAX_TOPIC_LEVELS`] levels (MQTT sets no limit, but Mosquitto disconnects a client
/// that publishes to a deeper topic, as a protocol error: a requester could knock the
/// app off its broker with one, and, with a persistent session and a QoS 1 request that
/// comes again after every reconnect, keep it off for good), or a `$` topic (`$SYS/...`,
/// `$share/...`: the broker's own, or no topic name at all), which brokers refuse or
/// treat apart.
fn refusal(topic: &str) -> Option<String> {
    if topic.starts_with('$') {
        return Some(format!(
            "the response topic `{}` starts with `$` (the broker's own topics)",
            quote(topic)
        ));
    }
    let levels = topic.split('/').count();
    (levels > MAX_TOPIC_LEVELS).then(|| {
        format!(
            "the response topic `{}` has {levels} levels; Mosquitto disconnects a client that publishes to more than {MAX_TOPIC_LEVELS} levels",
            quote(topic)
        )
    })
}

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
    if let Some(why) = refusal(&topic) {
        return Err(HandlerError::Reply(why));
    }
    let (payload, qos) = reply.into_parts();
    let mut publish = ctx.client().publish(topic.as_str(), payload).qos(qos);
    // The requester matches the answer to its request by the Correlation Data.
    if let Some(data) = props.get_binary(PropertyCode::CorrelationData) {
        publish = publish.correlation_data(data);
    }
    // The error names the topic where it matters (shortened: a requester chose it).
    publish.await.map_err(|e| {
        HandlerError::Reply(format!(
            "publishing it to the response topic failed: {}",
            truncate(&e.to_string())
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::testing::{message, TestClient};

    /// The reply of a call for a request with `response_topic`.
    async fn reply_to(response_topic: &str) -> (TestClient, Result<(), HandlerError>) {
        let test = TestClient::new().unwrap();
        let request = message("rpc/ask", "?").response_topic(response_topic);
        let ctx = EventContext::new(test.client().clone(), Event::Message(request.into()));
        let res = send_reply(&ctx, Reply::new("answer")).await;
        (test, res)
    }

    /// Mosquitto disconnects a client that publishes to a topic of more than 201 levels:
    /// a requester must not be able to knock the app off its broker with one.
    #[tokio::test]
    async fn a_response_topic_of_more_than_201_levels_is_refused() {
        let (test, res) = reply_to(&"x/".repeat(201)).await;
        assert!(
            matches!(&res, Err(HandlerError::Reply(why)) if why.contains("has 202 levels")
                && why.contains("more than 201 levels")),
            "{res:?}"
        );
        assert!(test.published().is_empty());
        // 201 levels are fine.
        let (test, res) = reply_to(&["x"; 201].join("/")).await;
        assert!(res.is_ok(), "{res:?}");
        assert_eq!(test.published().len(), 1);
    }

    /// `$SYS/...` and `$share/...` are not topics a client may publish a reply to.
    #[tokio::test]
    async fn a_response_topic_starting_with_a_dollar_is_refused() {
        for topic in ["$SYS/broker/x", "$share/g/replies"] {
            let (test, res) = reply_to(topic).await;
            assert!(
                matches!(&res, Err(HandlerError::Reply(why)) if why.contains('$')),
                "{topic}: {res:?}"
            );
            assert!(test.published().is_empty());
        }
    }

    /// The Response Topic is the requester's: quoted shortened and escaped in the
    /// reason (which the call's warning quotes).
    #[tokio::test]
    async fn a_long_response_topic_is_quoted_shortened() {
        for topic in [
            format!("{}/+\n", "a".repeat(10_000)),
            format!("{}+", "a".repeat(10_000)),
            "x/".repeat(5_000),
            format!("${}", "a".repeat(10_000)),
        ] {
            let (_, res) = reply_to(&topic).await;
            let why = res.unwrap_err().to_string();
            assert!(why.len() <= 300, "{} bytes: {why}", why.len());
            assert!(!why.contains('\n'), "{why}");
        }
    }
}
