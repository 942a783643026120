use flask_mqtt_actix as mqtt;

struct Thermostat;

impl Thermostat {
    #[mqtt::on_message("home/+/temperature")]
    fn temperature(&self, _msg: mqtt::Message) {}
}

fn main() {}
