// flask-mqtt: declarations of the functions and types our Paho C fork adds (docs/paho-fork.md),
// written in bindgen's style and appended by build.rs to the target's pre-generated
// bindings. As there, every `pub fn` / `pub static` in an `extern "C"` block that the
// library defines gets the fork's `#[link_name = "flask_mqtt_..."]`; a declaration of a
// function the library does not define fails at link time.

// Deferred acknowledgements (docs/paho-fork.md, "deferred acknowledgements"; MQTTAsync.h).
pub const MQTTASYNC_ACK_CONNECTION_GONE: i32 = -100;
pub const MQTTASYNC_ACK_UNKNOWN: i32 = -101;
#[repr(C)]
#[derive(Debug, Default, Copy, Clone, PartialEq, Eq, Hash)]
pub struct MQTTAsync_ackToken {
    pub msgid: ::std::os::raw::c_int,
    pub qos: ::std::os::raw::c_int,
    pub connection: ::std::os::raw::c_uint,
}
extern "C" {
    pub fn MQTTAsync_setManualAcks(
        handle: MQTTAsync,
        manual: ::std::os::raw::c_int,
    ) -> ::std::os::raw::c_int;
}
extern "C" {
    pub fn MQTTAsync_getAckToken(
        handle: MQTTAsync,
        message: *const MQTTAsync_message,
        token: *mut MQTTAsync_ackToken,
    ) -> ::std::os::raw::c_int;
}
extern "C" {
    pub fn MQTTAsync_acknowledge(
        handle: MQTTAsync,
        token: *const MQTTAsync_ackToken,
    ) -> ::std::os::raw::c_int;
}
extern "C" {
    pub fn MQTTAsync_release(
        handle: MQTTAsync,
        token: *const MQTTAsync_ackToken,
    ) -> ::std::os::raw::c_int;
}
extern "C" {
    pub fn MQTTAsync_getUnackedCount(handle: MQTTAsync) -> ::std::os::raw::c_int;
}

// Trace lines with their client (docs/paho-fork.md, "trace lines with their client").
pub type MQTTAsync_clientTraceCallback = ::std::option::Option<
    unsafe extern "C" fn(
        level: MQTTASYNC_TRACE_LEVELS,
        message: *mut ::std::os::raw::c_char,
        client: MQTTAsync,
        clientID: *const ::std::os::raw::c_char,
    ),
>;
extern "C" {
    pub fn MQTTAsync_setClientTraceCallback(callback: MQTTAsync_clientTraceCallback);
}

// TLS 1.3 as the lowest version accepted (docs/paho-fork.md, "the requested TLS version is
// the minimum"; MQTTAsync.h).
pub const MQTT_SSL_VERSION_TLS_1_3: u32 = 4;
