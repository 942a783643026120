//! flask-mqtt and the stock paho-mqtt in one program: each runs on its own Paho C (ours
//! renames every global symbol of its library, docs/paho-fork.md), says so in its version
//! string, and both work side by side against a real Mosquitto.

use std::time::Duration;

use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{unique, Broker};
use mqtt::{Client, Config, QoS};

const T: Duration = Duration::from_secs(20);

#[test]
fn each_library_reports_its_own_paho_c() {
    let ours = mqtt::paho_version();
    let stock = flask_mqtt_downstream::stock_paho_version();
    println!("flask-mqtt: Paho C {ours}; paho-mqtt from crates.io: Paho C {stock}");
    assert!(ours.contains("+flask-mqtt."), "{ours}");
    assert!(stock.starts_with("1.3."), "{stock}");
    assert!(
        !stock.contains("flask-mqtt"),
        "the stock paho-mqtt runs on our Paho C: {stock}"
    );
}

#[test]
fn the_program_says_which_paho_c_each_library_runs_on() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flask-mqtt-downstream"))
        .output()
        .expect("the program runs");
    let out = String::from_utf8_lossy(&out.stdout);
    print!("{out}");
    let ours = format!("flask-mqtt-actix runs on Paho C {}\n", mqtt::paho_version());
    let stock = format!(
        "paho-mqtt (crates.io) runs on Paho C {}\n",
        flask_mqtt_downstream::stock_paho_version()
    );
    assert_eq!(out, format!("{ours}{stock}"));
}

/// Messages from the stock client come back from the app under `.../to-stock`.
#[mqtt::on_message("coexist/+/to-app", qos = 1)]
async fn relay(client: mqtt::Mqtt, msg: mqtt::Message) {
    let reply = msg.topic().replace("/to-app", "/to-stock");
    if let Err(e) = client
        .publish(reply, msg.payload().to_vec())
        .qos(QoS::AtLeastOnce)
        .await
    {
        eprintln!("relay: {e}");
    }
}

#[test]
fn a_message_goes_from_the_stock_client_through_the_app_and_back() {
    let broker = Broker::start();
    let app_id = unique("coexist-app");
    let app = Client::start(
        Config::builder()
            .host("127.0.0.1")
            .port(broker.port())
            .client_id(&app_id)
            .build()
            .expect("config"),
    )
    .expect("the app's client");
    assert!(
        broker.wait_for_log(&format!(": {app_id} 1 coexist/+/to-app"), 1, T),
        "the app did not subscribe: {}",
        broker.log_tail(20)
    );

    let stock = paho_mqtt::CreateOptionsBuilder::new()
        .server_uri(broker.uri())
        .client_id(unique("coexist-stock"))
        .persistence(paho_mqtt::PersistenceType::None)
        .create_client()
        .expect("the stock client");
    let received = stock.start_consuming();
    stock
        .connect(paho_mqtt::ConnectOptionsBuilder::new().finalize())
        .wait_for(T)
        .expect("the stock client connects");
    let base = format!("coexist/{}", unique("m"));
    stock
        .subscribe(format!("{base}/to-stock"), 1)
        .wait_for(T)
        .expect("the stock client subscribes");
    stock
        .publish(paho_mqtt::Message::new(format!("{base}/to-app"), "ping", 1))
        .wait_for(T)
        .expect("the stock client publishes");

    let reply = received
        .recv_timeout(T)
        .expect("a reply within the deadline")
        .expect("a message, not a lost connection");
    assert_eq!(reply.topic(), format!("{base}/to-stock"));
    assert_eq!(reply.payload(), b"ping");
    stock
        .disconnect(None)
        .wait_for(T)
        .expect("the stock client disconnects");
    drop(app);
}
