//! Prints which Paho C each MQTT library of this program runs on.
//!
//! Run with: cargo run --manifest-path downstream/Cargo.toml

fn main() {
    println!(
        "flask-mqtt-actix runs on Paho C {}",
        flask_mqtt_actix::paho_version()
    );
    println!(
        "paho-mqtt (crates.io) runs on Paho C {}",
        flask_mqtt_downstream::stock_paho_version()
    );
}
