use flask_mqtt_actix as mqtt;

#[mqtt::on_message("home/+/temperature")]
struct Temperature {
    celsius: f32,
}

fn main() {}
