use flask_mqtt_actix as mqtt;

struct Reading {
    celsius: f64,
}

#[mqtt::on_message("sensors/+/temperature")]
async fn temperature(mqtt::Json(reading): mqtt::Json<Reading>) {
    let _ = reading.celsius;
}

fn main() {}
