//! A child process for tests/publish_timeout.rs: an actix app (2 workers) whose
//! `POST /publish` awaits a QoS 1 publish and answers 200, or 503 with the error. It
//! prints `listening ADDR`, `publishing` when a request starts waiting, `published ok`
//! or `published error: ...` when it ends, and `exited` when the server has stopped.
//!
//! Configured from the environment (`MQTT_BROKER_URL`, `MQTT_BROKER_PORT`,
//! `MQTT_CLIENT_ID`, `MQTT_PUBLISH_TIMEOUT`, ...); without credentials against a broker
//! that wants them, the app is refused and stays disconnected.

use actix_web::{web, App, HttpResponse, HttpServer};
use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::say;

async fn publish(client: mqtt::Mqtt) -> HttpResponse {
    say("publishing");
    let sent = client
        .publish("wait/command", "on")
        .qos(mqtt::QoS::AtLeastOnce)
        .await;
    match sent {
        Ok(()) => {
            say("published ok");
            HttpResponse::Ok().body("ok")
        }
        Err(e) => {
            say(&format!("published error: {e}"));
            HttpResponse::ServiceUnavailable().body(e.to_string())
        }
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    mqtt::init().map_err(std::io::Error::other)?;
    let server = HttpServer::new(|| {
        App::new()
            .configure(mqtt::configure)
            .route("/publish", web::post().to(publish))
    })
    .workers(2)
    .bind(("127.0.0.1", 0))?;
    for addr in server.addrs() {
        say(&format!("listening {addr}"));
    }
    server.run().await?;
    say("exited");
    Ok(())
}
