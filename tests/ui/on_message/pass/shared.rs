use flask_mqtt_actix as mqtt;

// `shared = "group"`: a shared subscription to `$share/workers/jobs/#`.
#[mqtt::on_message("jobs/#", shared = "workers", qos = 1)]
async fn job(msg: mqtt::Message) {
    let _ = msg.topic();
}

// With named levels, in any argument order after the filter; `Path` reads the real topic.
#[mqtt::on_message("tasks/{kind}/{id}", qos = 1, shared = "task-runners", concurrency = 4)]
fn task(mqtt::Path((kind, id)): mqtt::Path<(String, u64)>) {
    let _ = (kind, id);
}

// Any share name that is one level without wildcards, `$` included.
#[mqtt::on_message("reports/+", shared = "$reporters_2", broker = "MQTT2")]
fn report(_msg: mqtt::Message) {}

// The same subscription as `job`, spelled out; both spellings may coexist.
#[mqtt::on_message("$share/workers/jobs/#", qos = 1)]
fn job_spelled_out(_msg: mqtt::Message) {}

fn main() {
    let _ = job;
    let _ = task;
    let _ = report;
    let _ = job_spelled_out;
}
