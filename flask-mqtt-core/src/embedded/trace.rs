//! rumqttd logs through `tracing`. With no `tracing` subscriber installed, `tracing`
//! hands every event *and every span* to `log` at its own level, and rumqttd opens an
//! ERROR-level span per connection, per batch and per published message: one ERROR line
//! per message, plus INFO spans per delivery.
//!
//! So the broker's thread (its listener and every connection task) runs with
//! [`LogBridge`] as *its own* default subscriber (`tracing::dispatcher::set_default`),
//! which does what `tracing`'s `log` fallback does, except that spans are not logged and
//! rumqttd's events are one level quieter (info -> debug, debug -> trace; warnings and
//! errors stay what they are). Never a global subscriber: the program must stay free to
//! install its own, at any time (`tracing_subscriber::fmt().init()` panics when one is
//! set, and OpenTelemetry spans go to the global one).
//!
//! What that costs: any scoped subscriber ends `tracing`'s `log` fallback in the whole
//! process, so events and spans of threads without a subscriber (rumqttd's router thread,
//! which rumqttd spawns itself, among them) are dropped until the program installs a
//! global subscriber; they go to it from then on. A program with a global subscriber when
//! the broker starts gets all of rumqttd's events (filter on `rumqttd`).
//!
//! The few rumqttd errors and warnings that normal traffic causes (a client
//! disconnecting, mostly) are logged at debug instead (see [`is_benign`]).

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::NoSubscriber;
use tracing::{Event, Level, Metadata, Subscriber};

/// Makes [`LogBridge`] the default `tracing` subscriber of the calling thread (the
/// broker's, which runs every rumqttd task but the router) until the guard is dropped,
/// unless the program has a global subscriber: rumqttd's events then go to that one.
/// Never sets a global subscriber.
pub(super) fn scoped() -> Option<tracing::dispatcher::DefaultGuard> {
    let has_global = tracing::dispatcher::get_default(|d| !d.is::<NoSubscriber>());
    (!has_global).then(|| tracing::dispatcher::set_default(&tracing::Dispatch::new(LogBridge)))
}

/// Forwards `tracing` events to `log` (see the module documentation).
struct LogBridge;

/// The `log` level an event of `meta` is logged at.
fn level_of(meta: &Metadata<'_>) -> log::Level {
    let level = match *meta.level() {
        Level::ERROR => log::Level::Error,
        Level::WARN => log::Level::Warn,
        Level::INFO => log::Level::Info,
        Level::DEBUG => log::Level::Debug,
        Level::TRACE => log::Level::Trace,
    };
    if is_rumqttd(meta.target()) {
        match level {
            log::Level::Info => log::Level::Debug,
            log::Level::Debug => log::Level::Trace,
            other => other,
        }
    } else {
        level
    }
}

/// rumqttd errors and warnings that normal traffic causes, logged at debug instead:
/// - "no-connection id N is already gone": a client that sends DISCONNECT and then closes
///   its socket (as every client does) is disconnected twice in rumqttd's router, which
///   logs the second time as an error;
/// - "router-drop ...": the network side of a connection notices that the router closed
///   it; after a DISCONNECT that is the normal end, and when the router closes a
///   connection for a reason it logs that reason itself;
/// - "disconnected error=...Io(...)": a client's socket closed (reset, broken pipe) while
///   rumqttd was still writing to it, as when a client disconnects with messages on
///   their way to it: the client's business, which the client logs itself;
/// - "Connection was scheduled multiple times in readyqueue": a self-check that rumqttd
///   runs only when built without optimisations, about its own scheduler.
fn is_benign(text: &str) -> bool {
    (text.starts_with("no-connection id ") && text.ends_with(" is already gone"))
        || text == "router-drop"
        || text.starts_with("router-drop ")
        || text.starts_with("disconnected error=Network(Io(")
        || text.starts_with("disconnected error=Io(")
        || text.starts_with("Connection was scheduled multiple times in readyqueue")
}

fn is_rumqttd(target: &str) -> bool {
    target == "rumqttd" || target.starts_with("rumqttd::")
}

impl Subscriber for LogBridge {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        // Asked again for every event: the `log` logger and its level may change.
        tracing::subscriber::Interest::sometimes()
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        if meta.is_span() {
            return false;
        }
        let level = level_of(meta);
        level <= log::max_level()
            && log::logger().enabled(
                &log::Metadata::builder()
                    .level(level)
                    .target(meta.target())
                    .build(),
            )
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        // Never called for a disabled span; any non-zero id will do.
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        let mut text = Text::default();
        event.record(&mut text);
        let level = match level_of(meta) {
            log::Level::Error | log::Level::Warn
                if is_rumqttd(meta.target()) && is_benign(&text.0) =>
            {
                log::Level::Debug
            }
            level => level,
        };
        let log_meta = log::Metadata::builder()
            .level(level)
            .target(meta.target())
            .build();
        if level > log::max_level() || !log::logger().enabled(&log_meta) {
            return;
        }
        log::logger().log(
            &log::Record::builder()
                .metadata(log_meta)
                .module_path(meta.module_path())
                .file(meta.file())
                .line(meta.line())
                .args(format_args!("{}", text.0))
                .build(),
        );
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// An event's message followed by its other fields, as `tracing`'s `log` fallback writes
/// them: `message key=value ...`.
#[derive(Default)]
struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let rest = std::mem::take(&mut self.0);
            let _ = write!(self.0, "{value:?}{rest}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rumqttd_targets_are_quieter() {
        assert!(is_rumqttd("rumqttd"));
        assert!(is_rumqttd("rumqttd::router::routing"));
        assert!(!is_rumqttd("rumqttd_other"));
        assert!(!is_rumqttd("actix_server::builder"));
    }

    #[test]
    fn a_double_disconnect_is_not_an_error() {
        assert!(is_benign("no-connection id 0 is already gone"));
        assert!(is_benign("router-drop error=Recv(Disconnected)"));
        assert!(is_benign(
            "disconnected error=Network(Io(Os { code: 32, kind: BrokenPipe, message: \"Broken pipe\" }))"
        ));
        assert!(!is_benign(
            "disconnected error=Network(PayloadSizeLimitExceeded(5000000))"
        ));
        assert!(!is_benign("Failed to append to commitlog"));
    }

    #[test]
    fn message_comes_first_then_fields() {
        let mut text = Text::default();
        // Field order as `tracing` visits them: fields, then (here) the message.
        let fields = tracing::field::FieldSet::new(
            &["count", "message"],
            tracing::callsite::Identifier(&CALLSITE),
        );
        let mut it = fields.iter();
        let (count, message) = (it.next().unwrap(), it.next().unwrap());
        text.record_debug(&count, &3);
        text.record_debug(&message, &format_args!("accepted"));
        assert_eq!(text.0, "accepted count=3");
    }

    struct Callsite;
    static CALLSITE: Callsite = Callsite;
    impl tracing::Callsite for Callsite {
        fn set_interest(&self, _: tracing::subscriber::Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            unreachable!("not used by the test")
        }
    }
}
