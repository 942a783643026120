use flask_mqtt_actix as mqtt;

// Neither derives `JsonSchema`: a `Json<T>` argument compiles all the same (the
// document says JSON without a schema).
#[derive(serde::Deserialize)]
struct Plain {
    n: u8,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Described {
    n: u8,
}

#[mqtt::on_message("plain/{id}")]
fn plain(mqtt::Json(p): mqtt::Json<Plain>, _id: mqtt::Path<u32>) {
    let _ = p.n;
}

#[mqtt::on_message("maybe")]
fn maybe(p: Option<mqtt::Json<Plain>>, d: Result<mqtt::Json<Described>, mqtt::JsonRejection>) {
    let _ = (p.map(|p| p.0.n), d.map(|d| d.0.n));
}

fn main() {}
