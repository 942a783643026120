use flask_mqtt_actix as mqtt;

#[mqtt::on_message("home/+/temperature")]
async fn temperature(_msg: mqtt::Message) {
    let not_send = std::rc::Rc::new(0);
    std::future::ready(()).await;
    drop(not_send);
}

fn main() {}
