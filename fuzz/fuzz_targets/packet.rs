//! Fuzzes Paho C's decoders of the packets a client receives (our fork,
//! `vendor/paho-mqtt-sys`), for MQTT 3.1.1 (version 4) and MQTT 5 alike.
//!
//! The input is one packet as it comes from the network: the fixed header byte, the
//! Remaining Length (a variable byte integer; an invalid one ends the input as a
//! packet), then the rest. Paho C reads the packet's type from the header byte and hands
//! the rest to that type's decoder (`new_packets` in `MQTTPacket.c`); so does this
//! target: `MQTTPacket_connack` (CONNACK), `MQTTPacket_publish` (PUBLISH),
//! `MQTTPacket_ack` (PUBACK, PUBREC, PUBREL, PUBCOMP, DISCONNECT, AUTH),
//! `MQTTPacket_suback` (SUBACK), `MQTTPacket_unsuback` (UNSUBACK). The rest of a type
//! a client never decodes (0, CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, PINGRESP) goes to
//! `MQTTProperties_read` on its own. Each input is decoded as version 4, then as
//! version 5; what a decoder returns is freed with its free function, as Paho C does.
//!
//! The rest is at most what the Remaining Length says (less when the input is short),
//! in an allocation of exactly its size, so that the address sanitizer sees a decoder
//! read past it where it can (Paho C is compiled without the sanitizer: its `memcpy`,
//! `malloc` and `free` are checked, its plain loads are not). A malformed packet must
//! give NULL (Paho C then closes the connection), never a crash, a bad `free` or a leak.
//!
//! Every global symbol of our Paho C carries the prefix `flask_mqtt_`
//! (`vendor/paho-mqtt-sys/build.rs`), hence the `link_name`s.
#![no_main]

use std::os::raw::{c_char, c_int, c_uchar, c_void};
use std::ptr;

use libfuzzer_sys::fuzz_target;

// Linked for its static library (Paho C), which the functions below are in.
use flask_mqtt_paho_sys as _;

/// `MQTTProperties` (`MQTTProperties.h`); `array` points to `MQTTProperty` values,
/// which this target never reads.
#[repr(C)]
struct MqttProperties {
    count: c_int,
    max_count: c_int,
    length: c_int,
    array: *mut c_void,
}

/// The signature of the decoders (`pf` in `MQTTPacket.c`).
type Decoder = unsafe extern "C" fn(c_int, c_uchar, *mut c_char, usize) -> *mut c_void;

extern "C" {
    #[link_name = "flask_mqtt_MQTTPacket_connack"]
    fn connack(version: c_int, header: c_uchar, data: *mut c_char, len: usize) -> *mut c_void;
    #[link_name = "flask_mqtt_MQTTPacket_freeConnack"]
    fn free_connack(pack: *mut c_void);
    #[link_name = "flask_mqtt_MQTTPacket_publish"]
    fn publish(version: c_int, header: c_uchar, data: *mut c_char, len: usize) -> *mut c_void;
    #[link_name = "flask_mqtt_MQTTPacket_freePublish"]
    fn free_publish(pack: *mut c_void);
    #[link_name = "flask_mqtt_MQTTPacket_ack"]
    fn ack(version: c_int, header: c_uchar, data: *mut c_char, len: usize) -> *mut c_void;
    #[link_name = "flask_mqtt_MQTTPacket_freeAck"]
    fn free_ack(pack: *mut c_void);
    #[link_name = "flask_mqtt_MQTTPacket_suback"]
    fn suback(version: c_int, header: c_uchar, data: *mut c_char, len: usize) -> *mut c_void;
    #[link_name = "flask_mqtt_MQTTPacket_freeSuback"]
    fn free_suback(pack: *mut c_void);
    #[link_name = "flask_mqtt_MQTTPacket_unsuback"]
    fn unsuback(version: c_int, header: c_uchar, data: *mut c_char, len: usize) -> *mut c_void;
    #[link_name = "flask_mqtt_MQTTPacket_freeUnsuback"]
    fn free_unsuback(pack: *mut c_void);
    #[link_name = "flask_mqtt_MQTTProperties_read"]
    fn properties_read(
        properties: *mut MqttProperties,
        pptr: *mut *mut c_char,
        enddata: *mut c_char,
    ) -> c_int;
    #[link_name = "flask_mqtt_MQTTProperties_free"]
    fn properties_free(properties: *mut MqttProperties);
}

/// The decoder of a packet type and the function freeing what it returns; `None` for
/// the types a client does not decode.
fn decoder(packet_type: u8) -> Option<(Decoder, unsafe extern "C" fn(*mut c_void))> {
    match packet_type {
        2 => Some((connack, free_connack)),
        3 => Some((publish, free_publish)),
        4..=7 | 14 | 15 => Some((ack, free_ack)),
        9 => Some((suback, free_suback)),
        11 => Some((unsuback, free_unsuback)),
        _ => None,
    }
}

/// The Remaining Length at the start of `bytes` and its size: a variable byte integer
/// of at most 4 bytes (MQTT 5 1.5.5); `None` when it is not one.
fn remaining_length(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0usize;
    for (i, &byte) in bytes.iter().take(4).enumerate() {
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn decode(version: c_int, header: u8, rest: &[u8]) {
    // Exactly the rest, in a fresh allocation each time: a decoder must not write into
    // it, and the sanitizer's red zone starts where it ends.
    let mut data: Box<[u8]> = rest.into();
    let len = data.len();
    let start = data.as_mut_ptr().cast::<c_char>();
    match decoder(header >> 4) {
        Some((decode, free)) => {
            // SAFETY: `start..start + len` is `data`, alive for the call; the packet
            // returned (when not NULL) is freed once, by its free function.
            unsafe {
                let pack = decode(version, header, start, len);
                if !pack.is_null() {
                    free(pack);
                }
            }
        }
        None => {
            let mut properties = MqttProperties {
                count: 0,
                max_count: 0,
                length: 0,
                array: ptr::null_mut(),
            };
            let mut cursor = start;
            // SAFETY: as above; `properties` starts as `MQTTProperties_initializer`,
            // and `MQTTProperties_read` frees what it read when it fails.
            unsafe {
                let rc = properties_read(&mut properties, &mut cursor, start.add(len));
                if rc == 1 {
                    assert!(
                        cursor >= start && cursor <= start.add(len),
                        "MQTTProperties_read moved past the end of the data"
                    );
                    properties_free(&mut properties);
                }
            }
        }
    }
    drop(data);
}

fuzz_target!(|input: &[u8]| {
    let Some((&header, tail)) = input.split_first() else {
        return;
    };
    let Some((length, size)) = remaining_length(tail) else {
        return;
    };
    let rest = tail.get(size..).unwrap_or_default();
    let rest = rest.get(..length).unwrap_or(rest);
    decode(4, header, rest);
    decode(5, header, rest);
});
