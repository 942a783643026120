use flask_mqtt_actix as mqtt;

#[derive(serde::Serialize)]
struct Command {
    on: bool,
}

// No `JsonSchema`: still declared; the document says JSON without a schema.
#[derive(serde::Serialize)]
struct State {
    on: bool,
}

mqtt::publisher! {
    /// Switches a device.
    pub static COMMAND: Command = "devices/{device_id}/command", qos = 1;
    static STATE: State = "devices/{device_id}/state", qos = 1, retain = true;
    static FILE: String = "files/{owner}/{path:#}";
    static HELLO: &'static str = "hello", crate = "flask_mqtt_actix"
}

// From an HTTP handler.
async fn switch(client: mqtt::Mqtt) -> Result<&'static str, mqtt::Error> {
    COMMAND.publish(&client, [&7], &Command { on: true }).await?;
    FILE.publish(&client, [&"me", &"a/b.txt"], &"content".to_owned()).await?;
    HELLO.publish(&client, [], &"hi").await?;
    Ok("ok")
}

// From an MQTT handler, with a property added to the message.
#[mqtt::on_message("devices/{device_id}/set", qos = 1)]
async fn set(mqtt::Path(device_id): mqtt::Path<String>, client: mqtt::Mqtt) -> mqtt::Result<()> {
    STATE
        .message(&client, [&device_id], &State { on: true })?
        .user_property("source", "set")
        .await
}

fn main() {
    let _ = switch;
    assert_eq!(STATE.template(), "devices/{device_id}/state");
    assert!(STATE.retain());
    assert_eq!(COMMAND.qos(), mqtt::QoS::AtLeastOnce);
    assert_eq!(COMMAND.broker(), "MQTT");
    assert_eq!(FILE.topic([&"me", &"x/y"]).unwrap().as_str(), "files/me/x/y");
}
