use flask_mqtt_actix as mqtt;

#[mqtt::on_message("sites/{site}/sensors/{sensor_id}")]
async fn sensor(mqtt::Path((_site, _id, _kind)): mqtt::Path<(String, u32, String)>) {}

fn main() {}
