//! Consumer 3, this framework: an actix-web app with `mqtt::configure` and 100
//! `#[mqtt::on_message]` handlers (the filters of `filters.rs`; 10 match every message
//! the publisher sends), each counting in state shared through `mqtt::manage`, the way
//! an application shares state between HTTP and MQTT handlers.

use std::sync::Arc;

use actix_web::{web, App, HttpServer};
use flask_mqtt_actix as mqtt;

use crate::child::{self, Progress, Settings};
use crate::counters::Counters;
use crate::filters::{with_filters, FILTERS};
use crate::wire;

/// How many calls each handler gets when `messages` messages are published round robin
/// to the [`wire::TOPICS`] topics.
pub(crate) fn expected_calls(messages: u64) -> Vec<u64> {
    let per_topic = |t: u64| messages / wire::TOPICS + u64::from(t < messages % wire::TOPICS);
    FILTERS
        .iter()
        .map(|f| {
            let filter = mqtt::TopicFilter::new(*f).ok();
            (0..wire::TOPICS)
                .filter(|t| filter.as_ref().is_some_and(|f| f.matches(&wire::topic(*t))))
                .map(per_topic)
                .sum()
        })
        .collect()
}

/// Declares a handler per row of the filter table.
macro_rules! handlers {
    ($($(#[$doc:meta])* $index:literal $name:ident $filter:literal;)*) => {
        $(
            $(#[$doc])*
            #[mqtt::on_message($filter, qos = 1)]
            async fn $name(counters: web::Data<Counters>, msg: mqtt::Message) {
                counters.hit($index, msg.payload());
            }
        )*
    };
}

with_filters!(handlers);

/// Runs the app until stdin closes.
pub(crate) fn run() -> Result<(), String> {
    let settings = Settings::from_env()?;
    child::exit_when_stdin_closes();
    let progress = Arc::new(Progress::default());
    child::report_progress(Arc::clone(&progress));
    let counters = web::Data::new(Counters::new(&settings, progress));
    // The broker settings come from the environment, with Flask-MQTT's key names.
    mqtt::init().map_err(|e| e.to_string())?;
    actix_web::rt::System::new()
        .block_on(async move {
            HttpServer::new(move || {
                App::new()
                    .configure(mqtt::manage(counters.clone()))
                    .configure(mqtt::configure)
                    .route("/calls", web::get().to(calls))
            })
            .bind(("127.0.0.1", 0))?
            .run()
            .await
        })
        .map_err(|e| e.to_string())
}

/// `GET /calls`: handler calls so far (the HTTP side of the shared state).
async fn calls(counters: web::Data<Counters>) -> String {
    counters.total().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_of_the_hundred_filters_match_every_message() {
        assert_eq!(FILTERS.len(), 100);
        let unique: std::collections::BTreeSet<_> = FILTERS.iter().collect();
        assert_eq!(unique.len(), 100);
        for t in 0..wire::TOPICS {
            let topic = wire::topic(t);
            let matching = FILTERS
                .iter()
                .filter(|f| mqtt::TopicFilter::new(**f).unwrap().matches(&topic))
                .count();
            assert_eq!(matching, 10, "{topic}");
        }
        let expected = expected_calls(1_005);
        assert_eq!(expected.iter().sum::<u64>(), 10_050);
        assert_eq!(expected[0], 1_005, "`#` sees every message");
        assert_eq!(FILTERS[0], "#");
    }
}
