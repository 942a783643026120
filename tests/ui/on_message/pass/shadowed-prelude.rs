//! The generated code names every primitive and prelude item by its full path: a module
//! may define types with those names.

#[derive(serde::Deserialize)]
struct Reading {
    value: f64,
}

#[allow(non_camel_case_types, dead_code)]
mod handlers {
    use flask_mqtt_actix as mqtt;

    struct bool;
    struct char;
    struct str;
    struct u8;
    struct u16;
    struct u32;
    struct u64;
    struct usize;
    struct Option;
    struct Some;
    struct None;
    struct Result;
    struct Ok;
    struct Err;
    struct String;
    struct Vec;
    struct Box;
    struct Send;
    struct Sync;
    struct Sized;
    struct Fn;
    struct Into;
    struct From;
    struct Default;
    struct Clone;
    struct Drop;

    #[mqtt::on_message("sensors/{id}/temperature", qos = 1, ack = "manual", shared = "g")]
    async fn reading(
        client: mqtt::Mqtt,
        mqtt::Path(id): mqtt::Path<::std::string::String>,
        reading: mqtt::Json<super::Reading>,
        ack: mqtt::Ack,
    ) {
        let _ = (client, id, reading.value, ack);
    }

    #[mqtt::on_message(concurrency = 2, queue = 8)]
    fn other(msg: ::core::option::Option<mqtt::Message>) {
        let _ = msg;
    }

    #[mqtt::on_connect]
    fn connected(_client: mqtt::Mqtt) {}

    #[mqtt::on_log]
    fn log(entry: mqtt::LogEntry) {
        let _ = entry;
    }

    mqtt::publisher! {
        static COMMAND: ::std::string::String = "devices/{id}/command", qos = 1, retain = true;
    }
}

fn main() {}
