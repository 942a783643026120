use flask_mqtt_actix as mqtt;

mqtt::publisher! {
    static JOB: u8 = "$share/workers/jobs/{id}";
}

fn main() {}
