//! The AsyncAPI page (`mqtt::asyncapi_page`) in headless Chromium, against a real
//! Mosquitto: the page, served in-process by an actix server, shows every channel of the
//! document served by `mqtt::asyncapi` (address, parameters), each operation with its
//! action, QoS and shared group, payload schemas with their properties, and the servers;
//! the browser fetches nothing else (no CDN: the page is one response).
//!
//! `ASYNCAPI_SCREENSHOT=path.png` saves a screenshot of the page.

// Test code: a failed step panics with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use actix_web::{web, App};
use fantoccini::Client;
use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{blocking, http, serve, unique, Broker, Chromedriver};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const T: Duration = Duration::from_secs(20);

/// A temperature reading.
#[derive(Deserialize, Serialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct Reading {
    /// Degrees Celsius.
    celsius: f64,
    /// The sensor's battery, in percent.
    battery: Option<u8>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct Command {
    on: bool,
}

#[mqtt::on_message("page/sensors/{sensor_id}/temperature", qos = 1)]
fn temperature(_id: mqtt::Path<u32>, _r: mqtt::Json<Reading>) {}

#[mqtt::on_message("page/jobs/#", shared = "workers", qos = 1)]
fn jobs(_text: mqtt::Text) {}

mqtt::publisher! {
    /// Switches a device on or off.
    #[allow(dead_code)]
    static COMMAND: Command = "page/devices/{device_id}/command", qos = 1;
}

/// Runs `script` until it returns something other than null/false; fails after `T`.
async fn wait(c: &Client, what: &str, script: &str) -> Value {
    let deadline = Instant::now() + T;
    loop {
        let v = c
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script for {what:?} failed: {e}"));
        if !matches!(v, Value::Null | Value::Bool(false)) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {T:?} waiting for {what}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn the_page_shows_every_channel_of_the_document() {
    let _ = env_logger::builder().is_test(true).try_init();
    let broker = Broker::start();
    mqtt::init_with(broker.config(unique("asyncapi-page")).build().unwrap()).unwrap();
    let server = serve(1, || {
        App::new()
            .configure(mqtt::configure)
            .app_data(mqtt::AsyncApi::new("Page test", "2.0.0"))
            .route("/asyncapi.json", web::get().to(mqtt::asyncapi))
            .route("/asyncapi", web::get().to(mqtt::asyncapi_page))
    });
    let addr = server.addr;

    let (status, body) = blocking(move || http(addr, "GET", "/asyncapi.json", "")).await;
    assert_eq!(status, 200, "{body}");
    let doc: Value = serde_json::from_str(&body).unwrap();
    let mut expected: Vec<String> = doc["channels"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["address"].as_str().unwrap().to_owned())
        .collect();
    expected.sort();
    assert_eq!(
        expected,
        [
            "page/devices/{device_id}/command",
            "page/jobs/{rest}",
            "page/sensors/{sensor_id}/temperature"
        ]
    );

    let driver = blocking(Chromedriver::start).await;
    let c = driver.session(1280, 1600).await;
    c.goto(&format!("http://{addr}/asyncapi")).await.unwrap();
    wait(
        &c,
        "the page to render",
        "return document.body.dataset.rendered === 'true';",
    )
    .await;

    // Every channel of the document, by address, in the page.
    let shown = c
        .execute(
            "return [...document.querySelectorAll('[data-channel]')].map(e => e.dataset.address).sort();",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(shown, json!(expected));
    let title = c
        .execute(
            "return document.getElementById('title').textContent;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(title, "Page test");

    // A channel's parameter, operation and payload schema, as a reader sees them.
    let sensors = c
        .execute(
            "const ch = [...document.querySelectorAll('[data-channel]')]
                 .find(e => e.dataset.address === 'page/sensors/{sensor_id}/temperature');
             const op = ch.querySelector('[data-operation]');
             return {
                 text: ch.innerText,
                 parameters: [...ch.querySelectorAll('[data-parameter]')].map(e => e.dataset.parameter),
                 action: op.dataset.action,
                 props: [...op.querySelectorAll('[data-prop]')].map(e => e.dataset.prop),
             };",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(sensors["parameters"], json!(["sensor_id"]));
    assert_eq!(sensors["action"], "receive");
    assert_eq!(sensors["props"], json!(["battery", "celsius"]));
    let text = sensors["text"].as_str().unwrap();
    for needle in [
        "QoS 1",
        "asyncapi_page::temperature",
        "Degrees Celsius.",
        "required",
    ] {
        assert!(text.contains(needle), "{needle:?} not in {text}");
    }
    let jobs = wait(
        &c,
        "the shared group",
        "const e = document.querySelector('[data-shared]'); return e && e.dataset.shared;",
    )
    .await;
    assert_eq!(jobs, "workers");
    let command = c
        .execute(
            "const op = document.querySelector('[data-action=send]');
             return op && { title: op.querySelector('.op-title').textContent, text: op.innerText };",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(command["title"], "asyncapi_page::COMMAND");
    assert!(command["text"]
        .as_str()
        .unwrap()
        .contains("Switches a device on or off."));
    let servers = c
        .execute(
            "return [...document.querySelectorAll('[data-server]')].map(e => e.innerText);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(servers.as_array().unwrap().len(), 1, "{servers}");
    assert!(
        servers[0]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{}", broker.port())),
        "{servers}"
    );
    // One response, nothing fetched from elsewhere.
    let resources = c
        .execute(
            "return performance.getEntriesByType('resource').map(e => e.name);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(resources, json!([]));

    if let Some(path) = std::env::var_os("ASYNCAPI_SCREENSHOT") {
        std::fs::write(path, c.screenshot().await.unwrap()).unwrap();
    }
    c.close().await.unwrap();
    drop(driver);
    server.stop().await;
}
