//! Shared by the examples (included with `#[path]`): with no broker configured, use the
//! embedded development broker, so that an example runs with nothing else installed.

/// Sets `MQTT_BROKER_URL=embedded` when neither `MQTT_BROKER_URL` nor `MQTT_CONFIG_FILE`
/// is set: the client then starts an MQTT broker inside the process, on a free
/// `127.0.0.1` port that it logs (feature `embedded-broker` of `flask-mqtt-actix`, enabled
/// for the examples). Set `MQTT_BROKER_URL` to use a real broker.
///
/// Call it first thing in `main`, before any other thread exists (it changes the
/// environment). Returns whether it did.
pub(crate) fn default_to_embedded() -> bool {
    let unset = std::env::var_os("MQTT_BROKER_URL").is_none()
        && std::env::var_os("MQTT_CONFIG_FILE").is_none();
    if unset {
        std::env::set_var("MQTT_BROKER_URL", "embedded");
    }
    unset
}

/// Says which broker the example uses, once logging is set up.
pub(crate) fn log_choice(embedded: bool) {
    if embedded {
        log::info!(
            "no MQTT_BROKER_URL set: using the embedded development broker; \
             set MQTT_BROKER_URL (and MQTT_BROKER_PORT) to use your own"
        );
    }
}
