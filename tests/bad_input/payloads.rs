//! Payloads: empty, 1 MiB, invalid UTF-8, 100,000 nested arrays, JSON of the wrong
//! shape, into `Text`, `Message::payload_str`, `Payload` and `Json`.

use super::*;

#[mqtt::on_message("bi/+/text")]
fn text(c: mqtt::Mqtt, topic: mqtt::Topic, text: mqtt::Text) {
    record(&c, "text", &topic, format!("{} bytes", text.len()));
}

#[mqtt::on_message("bi/+/text")]
fn raw_str(c: mqtt::Mqtt, m: mqtt::Message) -> Result<(), std::str::Utf8Error> {
    let text = m.payload_str()?;
    record(&c, "raw_str", m.topic(), format!("{} bytes", text.len()));
    Ok(())
}

/// FNV-1a, to compare 1 MiB payloads without storing them.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[mqtt::on_message("bi/+/bytes")]
fn bytes(c: mqtt::Mqtt, topic: mqtt::Topic, payload: mqtt::Payload) {
    let detail = format!("{} bytes, fnv {:016x}", payload.len(), fnv(&payload));
    record(&c, "bytes", &topic, detail);
}

#[derive(serde::Deserialize)]
struct Reading {
    celsius: f64,
}

#[mqtt::on_message("bi/+/json")]
async fn json_struct(c: mqtt::Mqtt, topic: mqtt::Topic, mqtt::Json(r): mqtt::Json<Reading>) {
    record(&c, "json_struct", &topic, r.celsius.to_string());
}

#[mqtt::on_message("bi/+/json")]
fn json_value(c: mqtt::Mqtt, topic: mqtt::Topic, mqtt::Json(v): mqtt::Json<serde_json::Value>) {
    record(&c, "json_value", &topic, v.to_string());
}

fn kind<T>(r: &Result<T, mqtt::JsonRejection>) -> String {
    match r {
        Ok(_) => "ok".to_owned(),
        Err(mqtt::JsonRejection::InvalidUtf8 { offset, len }) => {
            format!("InvalidUtf8 at {offset} of {len}")
        }
        Err(mqtt::JsonRejection::Syntax { message, .. }) => format!("Syntax: {message}"),
        Err(mqtt::JsonRejection::Data { message, .. }) => format!("Data: {message}"),
        Err(other) => format!("other: {other}"),
    }
}

/// Takes the rejections as values, to check they are typed.
#[mqtt::on_message("bi/+/json")]
fn json_typed(
    c: mqtt::Mqtt,
    topic: mqtt::Topic,
    r: Result<mqtt::Json<Reading>, mqtt::JsonRejection>,
    v: Result<mqtt::Json<serde_json::Value>, mqtt::JsonRejection>,
) {
    record(
        &c,
        "json_typed",
        &topic,
        format!("{} | {}", kind(&r), kind(&v)),
    );
}

#[tokio::test]
async fn bad_payloads_are_handled_or_rejected_with_a_typed_error_and_one_warning() {
    let broker = Broker::start();
    let (_client, _m) = start(&broker);
    let obs = Observer::connect(&broker);
    let run = unique("pay");
    let topic = |case: &str, kind: &str| format!("bi/{run}-{case}/{kind}");

    // Empty: text is fine, JSON is a syntax error.
    let t = topic("empty", "text");
    obs.publish(&t, "", 1);
    expect_outcome(&t, &[("raw_str", "0 bytes"), ("text", "0 bytes")], &[]);
    let t = topic("empty", "bytes");
    obs.publish(&t, "", 1);
    expect_outcome(
        &t,
        &[("bytes", &format!("0 bytes, fnv {:016x}", fnv(b"")))],
        &[],
    );
    let t = topic("empty", "json");
    obs.publish(&t, "", 1);
    let eof = "the payload is not valid JSON: EOF while parsing a value at line 1 column 0";
    expect_outcome(
        &t,
        &[(
            "json_typed",
            "Syntax: EOF while parsing a value | Syntax: EOF while parsing a value",
        )],
        &[
            warning(
                "payloads::json_struct",
                &t,
                &format!("argument `r` rejected: {eof}"),
            ),
            warning(
                "payloads::json_value",
                &t,
                &format!("argument `v` rejected: {eof}"),
            ),
        ],
    );

    // 1 MiB, as bytes and as text, arrives whole.
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    let t = topic("big", "bytes");
    obs.publish(&t, big.clone(), 1);
    let detail = format!("1048576 bytes, fnv {:016x}", fnv(&big));
    expect_outcome(&t, &[("bytes", &detail)], &[]);
    let t = topic("big", "text");
    obs.publish(&t, vec![b'a'; 1 << 20], 1);
    expect_outcome(
        &t,
        &[("raw_str", "1048576 bytes"), ("text", "1048576 bytes")],
        &[],
    );

    // Invalid UTF-8: `Text` and `Json` reject it (typed, with the offset);
    // `payload_str` gives the error to the handler, which returns it.
    let t = topic("utf8", "text");
    obs.publish(&t, b"ok\xff\xfe".to_vec(), 1);
    expect_outcome(
        &t,
        &[],
        &[
            warning("payloads::raw_str",
                &t,
                "returned an error: invalid utf-8 sequence of 1 bytes from index 2",
            ),
            warning("payloads::text",
                &t,
                "argument `text` rejected: the payload is not valid UTF-8 (invalid byte at offset 2 of 4)",
            ),
        ],
    );
    let t = topic("utf8", "json");
    obs.publish(&t, b"{\"celsius\": \"\xc3\x28\"}".to_vec(), 1);
    let bad = "the payload is not JSON: invalid UTF-8 at byte offset 13 of 17";
    expect_outcome(
        &t,
        &[(
            "json_typed",
            "InvalidUtf8 at 13 of 17 | InvalidUtf8 at 13 of 17",
        )],
        &[
            warning(
                "payloads::json_struct",
                &t,
                &format!("argument `r` rejected: {bad}"),
            ),
            warning(
                "payloads::json_value",
                &t,
                &format!("argument `v` rejected: {bad}"),
            ),
        ],
    );

    // 100,000 nested arrays: serde_json's recursion limit turns this into a typed
    // rejection (a `Value` stops at depth 128; a struct fails on the first element).
    let t = topic("deep", "json");
    obs.publish(&t, "[".repeat(100_000), 1);
    let too_deep = "the payload is not valid JSON: recursion limit exceeded at line 1 column 128";
    let not_f64 = "the payload JSON does not fit `bad_input::payloads::Reading`: invalid type: sequence, expected f64 at line 1 column 1";
    expect_outcome(
        &t,
        &[(
            "json_typed",
            "Data: invalid type: sequence, expected f64 | Syntax: recursion limit exceeded",
        )],
        &[
            warning(
                "payloads::json_struct",
                &t,
                &format!("argument `r` rejected: {not_f64}"),
            ),
            warning(
                "payloads::json_value",
                &t,
                &format!("argument `v` rejected: {too_deep}"),
            ),
        ],
    );

    // JSON of the wrong shape: a `Value` takes it, the struct rejects it (typed `Data`).
    let t = topic("shape", "json");
    obs.publish(&t, r#"{"celsius": "hot"}"#, 1);
    let shape = "the payload JSON does not fit `bad_input::payloads::Reading`: invalid type: string \"hot\", expected f64 at line 1 column 17";
    expect_outcome(
        &t,
        &[
            (
                "json_typed",
                "Data: invalid type: string \"hot\", expected f64 | ok",
            ),
            ("json_value", r#"{"celsius":"hot"}"#),
        ],
        &[warning(
            "payloads::json_struct",
            &t,
            &format!("argument `r` rejected: {shape}"),
        )],
    );
    let t = topic("missing", "json");
    obs.publish(&t, r#"{"fahrenheit": 70}"#, 1);
    let missing = "the payload JSON does not fit `bad_input::payloads::Reading`: missing field `celsius` at line 1 column 18";
    expect_outcome(
        &t,
        &[
            ("json_typed", "Data: missing field `celsius` | ok"),
            ("json_value", r#"{"fahrenheit":70}"#),
        ],
        &[warning(
            "payloads::json_struct",
            &t,
            &format!("argument `r` rejected: {missing}"),
        )],
    );

    // A 100 kB string where a number belongs: serde_json quotes the value in its
    // message; the rejection keeps 200 bytes of it, so the warning stays short.
    let t = topic("quoted", "json");
    let value = "x".repeat(100_000);
    obs.publish(&t, format!(r#"{{"celsius": "{value}"}}"#), 1);
    let quoted = format!("invalid type: string \"{}...", &value[..178]);
    assert_eq!(quoted.len(), 203);
    expect_outcome(
        &t,
        &[
            ("json_typed", &format!("Data: {quoted} | ok")),
            ("json_value", &format!(r#"{{"celsius":"{value}"}}"#)),
        ],
        &[warning(
            "payloads::json_struct",
            &t,
            &format!(
                "argument `r` rejected: the payload JSON does not fit \
                 `bad_input::payloads::Reading`: {quoted} at line 1 column 100014"
            ),
        )],
    );
    assert!(warnings(&t).iter().all(|w| w.len() < 500));

    // And a good one, through every JSON handler.
    let t = topic("good", "json");
    obs.publish(&t, r#"{"celsius": 21.5}"#, 1);
    expect_outcome(
        &t,
        &[
            ("json_struct", "21.5"),
            ("json_typed", "ok | ok"),
            ("json_value", r#"{"celsius":21.5}"#),
        ],
        &[],
    );
    still_serving(&obs, &run);
}
