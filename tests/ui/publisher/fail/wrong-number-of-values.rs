use flask_mqtt_actix as mqtt;

mqtt::publisher! {
    static COMMAND: u8 = "sites/{site}/devices/{id}/command";
}

// The template names two levels: `publish` takes exactly two values.
async fn send(client: mqtt::Mqtt) -> mqtt::Result<()> {
    COMMAND.publish(&client, [&"site-1"], &1).await
}

fn main() {
    let _ = send;
}
