use flask_mqtt_actix as mqtt;

// One missing topic, one error.
mqtt::publisher! {
    static COMMAND: String = , qos = 1;
}

fn main() {}
