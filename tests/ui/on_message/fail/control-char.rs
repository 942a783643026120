use flask_mqtt_actix as mqtt;

// A literal split over two lines keeps the line break and the indentation.
#[mqtt::on_message("home/
    temperature")]
async fn temperature(_msg: mqtt::Message) {}

#[mqtt::on_message("home/\tkitchen/+")]
async fn kitchen(_msg: mqtt::Message) {}

fn main() {}
