// flask-mqtt: declarations of the functions and types our Paho C fork adds (docs/paho-fork.md),
// written in bindgen's style and appended by build.rs to the target's pre-generated
// bindings. As there, every `pub fn` / `pub static` in an `extern "C"` block that the
// library defines gets the fork's `#[link_name = "flask_mqtt_..."]`; a declaration of a
// function the library does not define fails at link time.
