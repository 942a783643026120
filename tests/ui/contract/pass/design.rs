// The user-facing contract of ../shared/DESIGN.md, verbatim but for the name of `main`
// (trybuild runs pass cases, and a server would never return): code outside the
// repository is written against these names, so this file must keep compiling.
use actix_web::{web, App, HttpServer};
use flask_mqtt_actix as mqtt;          // the one dependency users add

#[mqtt::on_connect]                    // every successful (re)connect
async fn connected(client: mqtt::Mqtt) { client.subscribe("home/mytopic", mqtt::QoS::AtMostOnce).await.ok(); }

#[mqtt::on_message("home/+/temperature", qos = 1)]   // subscribed automatically at each connect
async fn temperature(msg: mqtt::Message) {
    log::info!("{} = {}", msg.topic(), msg.payload_str().unwrap_or("<binary>"));
}

#[mqtt::on_message]                    // catch-all: messages that no filter handler matched
fn other(msg: mqtt::Message) {}        // sync fns are fine too

#[mqtt::on_log]
fn log_line(entry: mqtt::LogEntry) {}  // entry.level(): Info 0x01 Notice 0x02 Warning 0x04 Err 0x08 Debug 0x10

async fn webhook(client: mqtt::Mqtt) -> &'static str {   // Mqtt is also an actix extractor
    client.publish("device/command", "on").await.ok();
    "OK"
}

#[actix_web::main]
async fn server_main() -> std::io::Result<()> {
    HttpServer::new(|| App::new().configure(mqtt::configure).route("/hook", web::post().to(webhook)))
        .bind(("127.0.0.1", 8080))?
        .run()
        .await
}

fn main() {
    let _ = server_main;
}
