use flask_mqtt_actix as mqtt;

#[derive(serde::Deserialize)]
struct Sensor {
    site: String,
    sensor_id: u32,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Temperature,
    Humidity,
}

// One parameter, typed.
#[mqtt::on_message("sensors/{sensor_id}/temperature", qos = 1)]
async fn one(mqtt::Path(sensor_id): mqtt::Path<u32>) {
    let _: u32 = sensor_id;
}

// A tuple, in filter order, next to other extractors and an unnamed wildcard.
#[mqtt::on_message("sites/{site}/+/{sensor_id}/{kind}")]
fn tuple(text: mqtt::Text, mqtt::Path((site, id, kind)): mqtt::Path<(String, u32, Kind)>) {
    let _ = (
        text,
        site,
        id,
        matches!(kind, Kind::Temperature | Kind::Humidity),
    );
}

// A struct by name.
#[mqtt::on_message("sites/{site}/sensors/{sensor_id}/state")]
fn by_name(sensor: mqtt::Path<Sensor>) {
    let _ = (&sensor.site, sensor.sensor_id);
}

// The remaining levels, as a string or as levels; in a shared subscription.
#[mqtt::on_message("$share/workers/files/{path:#}")]
fn rest(mqtt::Path(path): mqtt::Path<String>) {
    let _ = path;
}

#[mqtt::on_message("archive/{year}/{rest:#}")]
fn levels(mqtt::Path((year, rest)): mqtt::Path<(u16, Vec<String>)>) {
    let _ = (year, rest);
}

// Optional, or the rejection handled by hand.
#[mqtt::on_message("devices/{id}/ping")]
fn fallible(id: Result<mqtt::Path<u32>, mqtt::PathRejection>, maybe: Option<mqtt::Path<u64>>) {
    let _ = (id.map(mqtt::Path::into_inner), maybe);
}

fn main() {}
