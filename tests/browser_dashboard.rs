//! The dashboard example in a real browser: headless Chromium (Debian's `chromium`)
//! driven through `chromedriver` (Debian's `chromium-driver`), against a real Mosquitto.
//!
//! The app under test is the example's own code: `examples/dashboard/app.rs` and
//! `hub.rs` are included below with `#[path]` and served in-process, exactly as the
//! example's `main.rs` serves them. (Binaries of the examples package cannot be named
//! with `env!("CARGO_BIN_EXE_...")` from this package, and building one from a test
//! would fight the outer `cargo test` over the build lock; including the modules keeps
//! one build, one process and one MQTT client.)
//!
//! Checked, each by waiting on a DOM condition with a deadline (no fixed sleeps):
//! a message published with `mosquitto_pub` appears in the table (text, and binary as
//! hex); a second tab gets the same messages; publishing from the page reaches an
//! independent subscriber; an invalid filter shows the grammar error next to the input;
//! killing the broker turns the status to `reconnecting` with the connect error, and it
//! returns to `connected` (subscriptions renewed) when the broker is back; the rate
//! chart follows; unsubscribe all empties the list. A screenshot of the page is taken
//! (and checked to be a PNG); it is written only when asked, so that the test leaves the
//! work tree clean: `DASHBOARD_SCREENSHOT=1` writes `docs/dashboard.png` (the README's
//! picture), `DASHBOARD_SCREENSHOT=<path>` writes there.
//!
//! Needs `chromium`, `chromium-driver` and `mosquitto-clients` (`scripts/setup`
//! installs them); `CHROMEDRIVER` and `CHROMIUM` override the binaries' paths. Never
//! skipped: without them the test fails and says what is missing.
//!
//! One test per binary: the MQTT client is per process.

// Test code: a failed step should panic with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpServer};
use fantoccini::{Client, Locator};
use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{blocking, mosquitto_pub, unique, Broker, Chromedriver, Observer};
use serde_json::{json, Value};

#[path = "../examples/dashboard/app.rs"]
mod app;
#[path = "../examples/dashboard/hub.rs"]
mod hub;

/// Deadline for each awaited condition.
const T: Duration = Duration::from_secs(20);
/// How often a DOM condition is checked.
const POLL: Duration = Duration::from_millis(100);

/// The page as seen by the test, for failure messages.
async fn page_state(c: &Client) -> String {
    let script = "return {
        status: document.getElementById('status').dataset.state,
        detail: document.getElementById('status-detail').textContent,
        live: document.getElementById('live').textContent,
        topics: document.getElementById('topics').textContent,
        filterError: document.getElementById('filter-error').textContent,
        publishResult: document.getElementById('publish-result').textContent,
        rows: [...document.querySelectorAll('#messages tbody tr')].slice(0, 10)
            .map(tr => tr.textContent),
    };";
    match c.execute(script, vec![]).await {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap(),
        Err(e) => format!("(page state unavailable: {e})"),
    }
}

/// Polls `script` (a function body returning a value, `arguments` = `args`) until it
/// returns something truthy; fails after `T` with `what` and the page's state.
async fn wait(c: &Client, what: &str, script: &str, args: Vec<Value>) -> Value {
    let deadline = Instant::now() + T;
    loop {
        let v = c
            .execute(script, args.clone())
            .await
            .unwrap_or_else(|e| panic!("script for {what:?} failed: {e}"));
        let truthy = match &v {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::String(s) => !s.is_empty(),
            Value::Number(n) => n.as_f64() != Some(0.0),
            _ => true,
        };
        if truthy {
            return v;
        }
        if Instant::now() >= deadline {
            panic!(
                "timed out after {T:?} waiting for {what}; page: {}",
                page_state(c).await
            );
        }
        actix_web::rt::time::sleep(POLL).await;
    }
}

async fn wait_status(c: &Client, state: &str) {
    wait(
        c,
        &format!("the status to be `{state}`"),
        "return document.getElementById('status').dataset.state === arguments[0];",
        vec![json!(state)],
    )
    .await;
}

/// Waits for a row with this topic and payload text; returns whether it is shown as hex.
async fn wait_row(c: &Client, topic: &str, payload: &str) -> bool {
    let v = wait(
        c,
        &format!("a row `{topic}` = {payload:?}"),
        "const row = [...document.querySelectorAll('#messages tbody tr')].find(tr =>
             tr.dataset.topic === arguments[0] &&
             tr.querySelector('.value').textContent === arguments[1]);
         return row ? { hex: row.querySelector('.payload').classList.contains('hex') } : null;",
        vec![json!(topic), json!(payload)],
    )
    .await;
    v["hex"].as_bool().unwrap()
}

async fn wait_subscribed(c: &Client, filter: &str) {
    wait(
        c,
        &format!("`{filter}` in the subscription list"),
        "return [...document.querySelectorAll('#topics li')]
             .some(li => li.dataset.filter === arguments[0]);",
        vec![json!(filter)],
    )
    .await;
}

async fn fill(c: &Client, id: &str, text: &str) {
    let input = c.find(Locator::Id(id)).await.unwrap();
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

async fn click(c: &Client, id: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

#[actix_web::test]
async fn dashboard_in_headless_chromium() {
    let _ = env_logger::builder().is_test(true).try_init();
    let broker = Arc::new(Broker::start());
    let port = broker.port();
    mqtt::init_with(
        mqtt::Config::builder()
            .broker_url("127.0.0.1")
            .port(port)
            .client_id(unique("dashboard"))
            .reconnect_delay(Duration::from_millis(100), Duration::from_millis(500))
            .build()
            .unwrap(),
    )
    .unwrap();
    let hub = web::Data::new(hub::Hub::new(hub::CAPACITY));
    let app = app::configure(hub.clone());
    let server = HttpServer::new(move || App::new().configure(app.clone()))
        .workers(2)
        // As in the example: live-channel streams never end by themselves.
        .shutdown_timeout(1)
        .bind(("127.0.0.1", 0))
        .unwrap();
    let addr: SocketAddr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    let running = actix_web::rt::spawn(server);

    let driver = blocking(Chromedriver::start).await;
    let c = driver.session(1280, 1000).await;
    let url = format!("http://{addr}/");
    c.goto(&url).await.unwrap();
    wait(
        &c,
        "the live channel to open",
        "return document.getElementById('live').dataset.state === 'open';",
        vec![],
    )
    .await;
    wait_status(&c, "connected").await;

    // Subscribe from the page.
    let p = unique("dash");
    let filter = format!("{p}/#");
    fill(&c, "filter", &filter).await;
    click(&c, "subscribe-btn").await;
    wait_subscribed(&c, &filter).await;

    // mosquitto_pub -> the table; text as text, binary as hex.
    let kitchen = format!("{p}/kitchen/temperature");
    let k = kitchen.clone();
    blocking(move || mosquitto_pub(port, &["-t", &k, "-m", "21.5 °C"], None)).await;
    assert!(!wait_row(&c, &kitchen, "21.5 °C").await);
    let raw = format!("{p}/raw");
    let r = raw.clone();
    blocking(move || mosquitto_pub(port, &["-t", &r, "-s"], Some(&[0x00, 0xff, 0x10, 0x80]))).await;
    assert!(wait_row(&c, &raw, "00 ff 10 80").await);

    // An invalid filter: the grammar's error next to the input, nothing subscribed.
    fill(&c, "filter", &format!("{p}/#/x")).await;
    click(&c, "subscribe-btn").await;
    let error = wait(
        &c,
        "the inline filter error",
        "const e = document.getElementById('filter-error');
         return !e.hidden && document.getElementById('filter').getAttribute('aria-invalid') === 'true'
             ? e.textContent : null;",
        vec![],
    )
    .await;
    assert!(
        error
            .as_str()
            .unwrap()
            .contains("`#` must be the last level"),
        "{error}"
    );
    let listed = c
        .execute(
            "return [...document.querySelectorAll('#topics li')].map(li => li.dataset.filter);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(listed, json!([filter]));

    // Publish from the page -> an independent subscriber gets it.
    let observer = Observer::connect(&broker);
    let out = format!("{p}-out/page");
    observer.subscribe(&out, 1);
    fill(&c, "pub-topic", &out).await;
    fill(&c, "pub-payload", "hello from the browser").await;
    click(&c, "publish-btn").await;
    wait(
        &c,
        "the publish to be acknowledged",
        "return document.getElementById('publish-result').classList.contains('ok');",
        vec![],
    )
    .await;
    let o = out.clone();
    let msg = blocking(move || observer.expect_message(&o, T)).await;
    assert_eq!(msg.payload_str(), "hello from the browser");
    // A topic with a wildcard is refused next to the topic field.
    fill(&c, "pub-topic", &format!("{p}/+")).await;
    click(&c, "publish-btn").await;
    wait(
        &c,
        "the inline topic error",
        "const e = document.getElementById('pub-topic-error');
         return !e.hidden && e.textContent.includes('wildcards');",
        vec![],
    )
    .await;

    // A second tab gets the same messages as the first.
    let first = c.window().await.unwrap();
    let second = c.new_window(true).await.unwrap().handle;
    c.switch_to_window(second).await.unwrap();
    c.goto(&url).await.unwrap();
    wait_subscribed(&c, &filter).await;
    let both = format!("{p}/tabs");
    let b = both.clone();
    blocking(move || mosquitto_pub(port, &["-t", &b, "-m", "to every tab"], None)).await;
    wait_row(&c, &both, "to every tab").await;
    c.close_window().await.unwrap();
    c.switch_to_window(first).await.unwrap();
    wait_row(&c, &both, "to every tab").await;

    // The broker goes away: reconnecting, with the connect error; then back.
    let b = broker.clone();
    blocking(move || b.kill()).await;
    wait_status(&c, "reconnecting").await;
    wait(
        &c,
        "the connect error in the status",
        "return document.getElementById('status-detail').textContent.includes('could not reach the broker');",
        vec![],
    )
    .await;
    let b = broker.clone();
    blocking(move || b.start_again()).await;
    wait_status(&c, "connected").await;
    // The subscription was renewed on reconnect.
    let after = format!("{p}/after-restart");
    let a = after.clone();
    blocking(move || mosquitto_pub(port, &["-t", &a, "-m", "still subscribed"], None)).await;
    wait_row(&c, &after, "still subscribed").await;

    // Traffic on a few topics over a few seconds, for the rate chart.
    let topics = [
        (format!("{p}/kitchen/temperature"), 3),
        (format!("{p}/livingroom/humidity"), 2),
        (format!("{p}/garage/door"), 1),
    ];
    for round in 0..5 {
        let second = wait(
            &c,
            "the chart's clock",
            "return Number(document.getElementById('rate-chart').dataset.second);",
            vec![],
        )
        .await;
        for (topic, n) in &topics {
            let lines: String = (0..n + round).map(|i| format!("{}\n", 20 + i)).collect();
            let t = topic.clone();
            blocking(move || mosquitto_pub(port, &["-t", &t, "-l"], Some(lines.as_bytes()))).await;
        }
        wait(
            &c,
            "the chart to move on a second",
            "return Number(document.getElementById('rate-chart').dataset.second) > arguments[0];",
            vec![second],
        )
        .await;
    }
    for (topic, _) in &topics {
        wait(
            &c,
            &format!("`{topic}` in the chart legend"),
            "return [...document.querySelectorAll('#legend li')]
                 .some(li => li.textContent.startsWith(arguments[0] + ' '));",
            vec![json!(topic)],
        )
        .await;
    }
    // Something other than background was drawn in the first series' colour.
    wait(
        &c,
        "the rate lines on the canvas",
        "const c = document.getElementById('rate-chart');
         const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
         for (let i = 0; i < d.length; i += 4)
             if (d[i] === 0x25 && d[i + 1] === 0x63 && d[i + 2] === 0xeb) return true;
         return false;",
        vec![],
    )
    .await;

    // The newest rows, for the screenshot: a retained text message and a binary one.
    let door = format!("{p}/garage/door");
    let d = door.clone();
    blocking(move || mosquitto_pub(port, &["-t", &d, "-r", "-m", "open"], None)).await;
    wait_row(&c, &door, "open").await;
    let r = raw.clone();
    blocking(move || mosquitto_pub(port, &["-t", &r, "-s"], Some(b"\x89PNG\r\n\x1a\n"))).await;
    assert!(wait_row(&c, &raw, "89 50 4e 47 0d 0a 1a 0a").await);

    let png = c.screenshot().await.unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "the screenshot is not a PNG"
    );
    if let Some(shot) = screenshot_path() {
        std::fs::create_dir_all(shot.parent().unwrap()).unwrap();
        std::fs::write(&shot, &png).unwrap();
        eprintln!("screenshot written to {}", shot.display());
    }

    // Unsubscribe all empties the list (in every tab: the server sends it).
    click(&c, "unsubscribe-all").await;
    wait(
        &c,
        "an empty subscription list",
        "return document.querySelector('#topics li.empty') !== null;",
        vec![],
    )
    .await;

    c.close().await.unwrap();
    drop(driver);
    handle.stop(true).await;
    running.await.unwrap().unwrap();
}

/// Where to write the screenshot: `DASHBOARD_SCREENSHOT=1` is the README's
/// `docs/dashboard.png`, another value a path; unset, nowhere (tests leave the work tree
/// clean).
fn screenshot_path() -> Option<PathBuf> {
    let asked = std::env::var_os("DASHBOARD_SCREENSHOT")?;
    if asked == "1" {
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/dashboard.png"))
    } else {
        Some(PathBuf::from(asked))
    }
}
