//! The webhook's routes. `main.rs` serves them; `tests/webhook.rs` includes this file to
//! serve the very same routes in-process against a real Mosquitto.
//!
//! `POST /api/webhook` with `{"device": "lamp", "command": "on"}` publishes the command
//! to `devices/lamp/command` at QoS 1 through the process's one MQTT client and answers:
//!
//! | status | when |
//! |---|---|
//! | 200 `{"delivered": true, "topic": ...}` | the broker acknowledged the message (PUBACK) |
//! | 400 `{"error": ...}` | the body is not such a command; the reason says what is wrong |
//! | 503 `{"error": ...}` + `Retry-After` | not connected, the offline buffer is full, or no PUBACK within 5 s |
//!
//! `GET /healthz` answers 200 while connected to the broker and 503 with the reason
//! otherwise.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use flask_mqtt_actix as mqtt;
use serde::{Deserialize, Serialize};

/// How long a request waits for the broker's acknowledgement.
pub(crate) const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest accepted body, in bytes.
const MAX_BODY: usize = 4096;

/// Longest device name and command, in bytes.
const MAX_NAME: usize = 64;

/// The routes (the MQTT client comes from `mqtt::configure`).
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(MAX_BODY))
        .route("/api/webhook", web::post().to(webhook))
        .route("/healthz", web::get().to(health));
}

/// What a caller sends, and what the device receives.
#[derive(Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Command {
    /// One topic level: letters, digits, `-` and `_`.
    pub(crate) device: String,
    /// What to do: letters, digits, `-` and `_` (`on`, `off`, `set-50`, ...).
    pub(crate) command: String,
}

impl Command {
    /// Parses and checks a request body; the error is the reason given to the caller.
    pub(crate) fn parse(body: &[u8]) -> Result<Command, String> {
        let cmd: Command = serde_json::from_slice(body).map_err(|e| {
            if e.is_data() {
                format!(
                    "not a command: {e}; expected {{\"device\": \"lamp\", \"command\": \"on\"}}"
                )
            } else {
                format!("invalid JSON: {e}")
            }
        })?;
        check_name("device", &cmd.device)?;
        check_name("command", &cmd.command)?;
        Ok(cmd)
    }

    /// Where the command is published.
    pub(crate) fn topic(&self) -> String {
        format!("devices/{}/command", self.device)
    }
}

/// Keeps a name to one safe topic level: no `/`, no wildcards, nothing invisible.
fn check_name(field: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("`{field}` is empty"));
    }
    if value.len() > MAX_NAME {
        return Err(format!("`{field}` is longer than {MAX_NAME} bytes"));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "`{field}` may only contain letters, digits, `-` and `_`, found {c:?}"
        ));
    }
    Ok(())
}

/// `POST /api/webhook`.
async fn webhook(client: mqtt::Mqtt, body: web::Bytes) -> HttpResponse {
    let cmd = match Command::parse(&body) {
        Ok(cmd) => cmd,
        Err(reason) => return HttpResponse::BadRequest().json(Reason { error: reason }),
    };
    // While disconnected the client would buffer the message and send it after the
    // reconnect; a webhook caller is better served by a clear "try again".
    if !client.is_connected() {
        return unavailable(not_connected(&client));
    }
    let topic = cmd.topic();
    let payload = match serde_json::to_vec(&cmd) {
        Ok(p) => p,
        Err(e) => return unavailable(format!("cannot encode the command: {e}")),
    };
    let publish = client
        .publish(topic.as_str(), payload)
        .qos(mqtt::QoS::AtLeastOnce)
        .send();
    match actix_web::rt::time::timeout(ACK_TIMEOUT, publish).await {
        Ok(Ok(())) => {
            log::info!("{} -> {topic}", cmd.command);
            HttpResponse::Ok().json(Delivered {
                delivered: true,
                topic,
            })
        }
        Ok(Err(mqtt::Error::NotConnected)) => unavailable(not_connected(&client)),
        Ok(Err(e)) => unavailable(e.to_string()),
        Err(_) => unavailable(format!(
            "the broker did not acknowledge the command within {}s; it may still be \
             delivered when the connection returns",
            ACK_TIMEOUT.as_secs()
        )),
    }
}

/// `GET /healthz`.
async fn health(client: mqtt::Mqtt) -> HttpResponse {
    if client.is_connected() {
        HttpResponse::Ok().body("connected\n")
    } else {
        HttpResponse::ServiceUnavailable().body(format!("{}\n", not_connected(&client)))
    }
}

fn not_connected(client: &mqtt::Mqtt) -> String {
    match client.last_connect_error() {
        Some(e) => format!("not connected to the MQTT broker: {e}"),
        None => "not connected to the MQTT broker".to_owned(),
    }
}

#[derive(Serialize)]
struct Reason {
    error: String,
}

#[derive(Serialize)]
struct Delivered {
    delivered: bool,
    topic: String,
}

fn unavailable(error: String) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header((header::RETRY_AFTER, "5"))
        .json(Reason { error })
}

#[cfg(test)]
mod tests {
    use super::Command;

    #[test]
    fn commands_are_checked() {
        let ok = Command::parse(br#"{"device":"lamp-2","command":"on"}"#).unwrap();
        assert_eq!(ok.topic(), "devices/lamp-2/command");
        for (body, reason) in [
            (&b"{"[..], "invalid JSON"),
            (b"[1]", "not a command"),
            (br#"{"device":"lamp"}"#, "missing field `command`"),
            (
                br#"{"device":"lamp","command":"on","x":1}"#,
                "unknown field `x`",
            ),
            (br#"{"device":"","command":"on"}"#, "`device` is empty"),
            (br#"{"device":"a/b","command":"on"}"#, "found '/'"),
            (br#"{"device":"+","command":"on"}"#, "found '+'"),
            (br#"{"device":"lamp","command":"o n"}"#, "found ' '"),
        ] {
            let err = Command::parse(body).unwrap_err();
            assert!(err.contains(reason), "{err:?} should contain {reason:?}");
        }
        let long = format!(r#"{{"device":"{}","command":"on"}}"#, "d".repeat(65));
        assert!(Command::parse(long.as_bytes())
            .unwrap_err()
            .contains("longer than 64"));
    }
}
