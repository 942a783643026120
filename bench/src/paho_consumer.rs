//! Consumer 2, raw paho-mqtt: what a user hand-writes without a framework. One
//! `AsyncClient`, an unbounded message stream, a loop that counts.

use std::sync::Arc;

use crate::child::{self, Progress, Settings, Tally};

pub(crate) fn run() -> Result<(), String> {
    let settings = Settings::from_env()?;
    child::exit_when_stdin_closes();
    let progress = Arc::new(Progress::default());
    child::report_progress(Arc::clone(&progress));

    let create = paho_mqtt::CreateOptionsBuilder::new()
        .server_uri(format!("tcp://{}:{}", settings.host, settings.port))
        .client_id(&settings.client_id)
        .persistence(None)
        .finalize();
    let mut client = paho_mqtt::AsyncClient::new(create).map_err(|e| e.to_string())?;
    // Unbounded: a bounded stream loses messages when the loop falls behind.
    let stream = client.get_stream(None);
    let mut tally = Tally::new(&settings, progress);
    futures::executor::block_on(async {
        let opts = paho_mqtt::ConnectOptionsBuilder::new()
            .clean_session(true)
            .finalize();
        client.connect(opts).await.map_err(|e| e.to_string())?;
        client
            .subscribe("bench/#", 1)
            .await
            .map_err(|e| e.to_string())?;
        while let Ok(msg) = stream.recv().await {
            let Some(msg) = msg else {
                return Err("connection lost".to_owned());
            };
            tally.message(msg.payload());
        }
        Ok(())
    })
}
