use flask_mqtt_actix as mqtt;

#[mqtt::on_message("rpc/time")]
fn time() -> mqtt::Reply {
    mqtt::Reply::new("12:00")
}

#[mqtt::on_message("rpc/maybe")]
async fn maybe(text: mqtt::Text) -> Option<mqtt::Reply> {
    (!text.is_empty()).then(|| mqtt::Reply::new(text.as_str()))
}

#[derive(serde::Deserialize)]
struct Sum {
    a: i64,
    b: i64,
}

#[mqtt::on_message("rpc/sum", qos = 1)]
async fn sum(mqtt::Json(sum): mqtt::Json<Sum>) -> Result<mqtt::Reply, serde_json::Error> {
    Ok(mqtt::Reply::json(&(sum.a + sum.b))?.qos(mqtt::QoS::AtLeastOnce))
}

#[mqtt::on_message("rpc/optional")]
fn optional() -> Result<Option<mqtt::Reply>, String> {
    Ok(None)
}

fn main() {}
