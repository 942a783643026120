//! The AsyncAPI document served by `mqtt::asyncapi`, checked by the official parser
//! (npm `@asyncapi/parser`, run by the harness's `asyncapi_verdict`): zero diagnostics
//! of severity error, and the parser reads the channels, parameters, operations and
//! payloads we meant. Also checked on the JSON itself: schemas from `schemars`, `+`/`#`
//! levels as parameters, the shared group, the second broker's servers, declared
//! publishers, and that no credential appears.
//!
//! The app runs in-process with two clients (`MQTT`, `MQTT2`) against a real Mosquitto
//! that requires a password. One test per binary: the actix plugin's clients are per
//! process.

// Test code: a failed expectation panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use actix_web::{test, web, App};
use flask_mqtt_actix as mqtt;
use flask_mqtt_tests::{asyncapi_verdict, unique, Broker, Observer};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

const USER: &str = "asyncapi-doc-user";
const PASSWORD: &str = "s3cret-asyncapi-pw";
const T: Duration = Duration::from_secs(20);

/// A temperature reading.
#[derive(Deserialize, Serialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct Reading {
    /// Degrees Celsius.
    celsius: f64,
    /// Where the sensor is, if it says.
    room: Option<String>,
}

/// Has no JSON Schema: still a valid `Json<T>`.
#[derive(Deserialize)]
#[allow(dead_code)]
struct Opaque {
    anything: u8,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Command {
    on: bool,
}

/// A device's state: received and sent on one channel. Its `Option` field gives it
/// different deserialize and serialize schemas (`State`, `StateSent`).
#[derive(Deserialize, Serialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct State {
    on: bool,
    level: Option<u8>,
}

#[mqtt::on_message("doc/devices/{id}/state")]
fn on_state(_id: mqtt::Path<String>, _s: mqtt::Json<State>) {}

/// Readings of one sensor.
#[mqtt::on_message("doc/sensors/{sensor_id}/temperature", qos = 1)]
fn temperature(_id: mqtt::Path<u32>, _r: mqtt::Json<Reading>) {}

#[mqtt::on_message("doc/home/+/light/#", qos = 2)]
fn lights(_text: mqtt::Text) {}

#[mqtt::on_message("doc/jobs/{kind}/{rest:#}", shared = "workers")]
fn jobs(_m: mqtt::Message) {}

#[mqtt::on_message("doc/opaque", qos = 1)]
fn opaque(_o: Option<mqtt::Json<Opaque>>) {}

#[mqtt::on_message("doc/second/+", broker = "MQTT2")]
fn second(_m: mqtt::Message) {}

mqtt::publisher! {
    /// Switches a device on or off.
    pub static COMMAND: Command = "doc/devices/{device_id}/command", qos = 1;
    /// A device's state, as the app sets it.
    #[allow(dead_code)] // registered for the document; never published here
    static STATE: State = "doc/devices/{id}/state", qos = 1;
    /// The last reading, for late subscribers.
    #[allow(dead_code)] // registered for the document; never published here
    static LATEST: Reading = "doc/latest", qos = 1, retain = true;
}

fn find<'a>(list: &'a Value, key: &str, value: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|item| item[key] == value)
        .unwrap_or_else(|| panic!("no {key} = {value} in {list:#}"))
}

#[actix_web::test]
async fn the_document_passes_the_official_parser_and_says_what_the_app_does() {
    let _ = env_logger::builder().is_test(true).try_init();
    let broker = Broker::builder().password(USER, PASSWORD).start();
    for prefix in ["MQTT", "MQTT2"] {
        let mut b = mqtt::ConfigBuilder::with_prefix(prefix)
            .broker_url("127.0.0.1")
            .port(broker.port())
            .client_id(unique(&prefix.to_lowercase()))
            .credentials(USER, PASSWORD);
        if prefix == "MQTT2" {
            b = b.protocol_version(mqtt::ProtocolVersion::V5);
        }
        mqtt::init_with(b.build().unwrap()).unwrap();
    }
    let app = test::init_service(
        App::new()
            .configure(mqtt::configure)
            .app_data(mqtt::AsyncApi::new("doc-test", "1.2.3").description("The test app."))
            .route("/asyncapi.json", web::get().to(mqtt::asyncapi))
            .route("/command/{id}", web::post().to(command)),
    )
    .await;
    let resp = test::call_service(
        &app,
        test::TestRequest::get().uri("/asyncapi.json").to_request(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers().get("content-type").unwrap(),
        "application/json"
    );
    let text = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();

    // No credential, anywhere; that one is needed, yes.
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(!text.contains(USER), "{text}");
    assert_eq!(
        doc["components"]["securitySchemes"]["userPassword"]["type"],
        "userPassword"
    );

    // The official parser: no error; what it read.
    let verdict = asyncapi_verdict(&doc);
    let diagnostics = verdict["diagnostics"].as_array().unwrap();
    for d in diagnostics {
        println!("parser diagnostic: {d}");
    }
    // Severity 0 is an error, 1 a warning (2 information, 3 a hint: e.g. that AsyncAPI
    // 3.1 exists).
    let errors: Vec<&Value> = diagnostics.iter().filter(|d| d["severity"] == 0).collect();
    assert!(
        errors.is_empty(),
        "the parser reports errors: {errors:#?}\n{doc:#}"
    );
    let warnings: Vec<&Value> = diagnostics.iter().filter(|d| d["severity"] == 1).collect();
    assert!(
        warnings.is_empty(),
        "the parser warns: {warnings:#?}\n{doc:#}"
    );
    assert_eq!(verdict["parsed"], true, "{verdict:#}");
    assert_eq!(verdict["version"], "3.0.0");
    assert_eq!(verdict["title"], "doc-test");
    let servers = &verdict["servers"];
    let first = find(servers, "id", "MQTT");
    assert_eq!(first["host"], format!("127.0.0.1:{}", broker.port()));
    assert_eq!(first["protocol"], "mqtt");
    assert_eq!(first["protocolVersion"], "3.1.1");
    assert_eq!(find(servers, "id", "MQTT2")["protocolVersion"], "5");

    let channels = &verdict["channels"];
    let sensors = find(channels, "address", "doc/sensors/{sensor_id}/temperature");
    assert_eq!(sensors["parameters"], json!(["sensor_id"]));
    assert_eq!(sensors["servers"], json!(["MQTT"]));
    assert_eq!(sensors["messages"][0]["id"], "Reading");
    assert_eq!(sensors["messages"][0]["payloadType"], "object");
    let lights = find(channels, "address", "doc/home/{level3}/light/{rest}");
    assert_eq!(lights["parameters"], json!(["level3", "rest"]));
    assert_eq!(lights["messages"][0]["contentType"], "text/plain");
    assert_eq!(lights["messages"][0]["payloadType"], "string");
    let jobs = find(channels, "address", "doc/jobs/{kind}/{rest}");
    assert_eq!(
        jobs["messages"][0]["contentType"],
        "application/octet-stream"
    );
    let opaque = find(channels, "address", "doc/opaque");
    assert_eq!(opaque["messages"][0]["contentType"], "application/json");
    assert_eq!(opaque["messages"][0]["payloadType"], Value::Null);
    assert_eq!(
        find(channels, "address", "doc/second/{level3}")["servers"],
        json!(["MQTT2"])
    );
    let command = find(channels, "address", "doc/devices/{device_id}/command");
    assert_eq!(command["messages"][0]["id"], "Command");

    let operations = &verdict["operations"];
    assert_eq!(find(operations, "id", "temperature")["action"], "receive");
    assert_eq!(find(operations, "id", "COMMAND")["action"], "send");
    assert_eq!(
        find(operations, "id", "LATEST")["channels"],
        json!(["doc/latest"])
    );

    // What the parser does not model, on the JSON.
    let schema = &doc["components"]["schemas"]["Reading"];
    assert_eq!(schema["properties"]["celsius"]["type"], "number");
    assert_eq!(
        schema["properties"]["celsius"]["description"],
        "Degrees Celsius."
    );
    assert_eq!(schema["required"], json!(["celsius"]));
    let ops = &doc["operations"];
    // A type received and sent on one channel: each operation's message has its own
    // schema (the handler's is the deserialize one).
    let message_of = |op: &str| {
        let path = ops[op]["messages"][0]["$ref"].as_str().unwrap();
        doc.pointer(path.strip_prefix('#').unwrap())
            .unwrap()
            .clone()
    };
    assert_eq!(
        message_of("on_state")["payload"],
        json!({ "$ref": "#/components/schemas/State" }),
        "{doc:#}"
    );
    assert_eq!(
        message_of("STATE")["payload"],
        json!({ "$ref": "#/components/schemas/StateSent" }),
        "{doc:#}"
    );
    assert_eq!(
        doc["components"]["schemas"]["State"]["required"],
        json!(["on"])
    );
    assert_eq!(ops["temperature"]["bindings"]["mqtt"]["qos"], 1);
    assert_eq!(ops["temperature"]["summary"], Value::Null);
    assert_eq!(ops["lights"]["bindings"]["mqtt"]["qos"], 2);
    assert_eq!(ops["jobs"]["x-mqtt-shared-group"], "workers");
    assert_eq!(ops["LATEST"]["bindings"]["mqtt"]["retain"], true);
    assert_eq!(ops["COMMAND"]["summary"], "Switches a device on or off.");
    assert_eq!(ops["COMMAND"]["title"], "asyncapi_document::COMMAND");
    let lights_channel = doc["channels"]
        .as_object()
        .unwrap()
        .values()
        .find(|c| c["address"] == "doc/home/{level3}/light/{rest}")
        .unwrap();
    assert_eq!(lights_channel["x-mqtt-filter"], "doc/home/+/light/#");
    assert_eq!(
        doc["servers"]["MQTT2"]["bindings"]["mqtt"]["sessionExpiryInterval"],
        0
    );
    assert_eq!(
        doc["servers"]["MQTT"]["bindings"]["mqtt"]["cleanSession"],
        true
    );

    // The declared publisher publishes what the document says, where it says, from an
    // HTTP handler.
    let observer = Observer::connect_with(&broker, USER, PASSWORD);
    observer.subscribe("doc/devices/+/command", 1);
    let resp = test::call_service(
        &app,
        test::TestRequest::post().uri("/command/7").to_request(),
    )
    .await;
    assert_eq!(resp.status(), 200, "{:?}", test::read_body(resp).await);
    let msg = observer.expect_message("doc/devices/7/command", T);
    assert_eq!(msg.payload_str(), r#"{"on":true}"#);
    assert_eq!(msg.qos(), flask_mqtt_tests::paho_mqtt::QoS::AtLeastOnce);
    // A value that cannot fill its level is a typed error, and nothing is sent.
    let resp = test::call_service(
        &app,
        test::TestRequest::post().uri("/command/a%2Fb").to_request(),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let body = test::read_body(resp).await;
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        "cannot publish with `doc/devices/{device_id}/command`: invalid value `a/b` for the topic parameter `device_id`: it contains `/`, and `{device_id}` is one level (name it `{device_id:#}` for several)"
    );
}

/// Publishes a command through the declared publisher.
async fn command(client: mqtt::Mqtt, id: web::Path<String>) -> actix_web::HttpResponse {
    match COMMAND
        .publish(&client, [&*id], &Command { on: true })
        .await
    {
        Ok(()) => actix_web::HttpResponse::Ok().finish(),
        Err(e @ mqtt::Error::TopicParameter { .. }) => {
            actix_web::HttpResponse::BadRequest().body(e.to_string())
        }
        Err(e) => actix_web::HttpResponse::InternalServerError().body(e.to_string()),
    }
}
