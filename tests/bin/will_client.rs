//! A child process for the last-will tests: connects with a last will, prints
//! `connected` once on_connect ran, then either waits to be killed (`wait`) or
//! disconnects cleanly and exits (`clean`). `early`: drops the client 300 ms after
//! starting it, whether connected or not (a stop while the connect attempt is under way),
//! prints `dropped` and exits; `early-disconnect`: the same, calling `Mqtt::disconnect()`
//! first.
//!
//! Usage: `will_client PORT CLIENT_ID WILL_TOPIC wait|clean|early|early-disconnect`

use std::io::Write;
use std::time::Duration;

use flask_mqtt_actix as mqtt;

static CONNECTED: std::sync::Mutex<Option<std::sync::mpsc::Sender<()>>> =
    std::sync::Mutex::new(None);

#[mqtt::on_connect]
fn connected() {
    if let Some(tx) = CONNECTED.lock().ok().and_then(|mut g| g.take()) {
        let _ = tx.send(());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, port, id, topic, mode] = args.as_slice() else {
        eprintln!("usage: will_client PORT CLIENT_ID WILL_TOPIC wait|clean|early|early-disconnect");
        std::process::exit(2);
    };
    let (tx, rx) = std::sync::mpsc::channel();
    *CONNECTED.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
    let config = mqtt::Config::builder()
        .broker_url("127.0.0.1")
        .port(port.parse().unwrap_or(1883))
        .client_id(id.as_str())
        .keepalive(Duration::from_secs(5))
        .last_will(topic.as_str(), "gone", mqtt::QoS::AtLeastOnce, false)
        .build();
    let client = match config
        .map_err(mqtt::Error::from)
        .and_then(mqtt::Client::start)
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("will_client: {e}");
            std::process::exit(1);
        }
    };
    if mode.starts_with("early") {
        std::thread::sleep(Duration::from_millis(300));
        if mode == "early-disconnect" {
            let rt = tokio::runtime::Builder::new_current_thread().build();
            if let Ok(rt) = rt {
                rt.block_on(client.handle().disconnect());
            }
        }
        drop(client); // a graceful stop: must end any connection with DISCONNECT
        println!("dropped");
        let _ = std::io::stdout().flush();
        return;
    }
    if rx.recv_timeout(Duration::from_secs(15)).is_err() {
        eprintln!("will_client: not connected");
        std::process::exit(1);
    }
    println!("connected");
    let _ = std::io::stdout().flush();
    if mode == "clean" {
        drop(client); // sends DISCONNECT
        println!("disconnected");
        return;
    }
    loop {
        std::thread::park();
    }
}
