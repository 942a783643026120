//! What a readiness probe needs: the connection state, since when, and the last error.

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use crate::error::ConnectError;

/// Where a client's connection stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Started; the first connection attempt has not succeeded yet.
    Connecting,
    /// Connected to a broker.
    Connected,
    /// The connection was lost or refused after an earlier success; retrying with backoff.
    Reconnecting,
    /// Disconnected on purpose ([`Mqtt::disconnect`](crate::Mqtt::disconnect), shutdown),
    /// or stopped by itself ([`Health::fault`] says why): no more attempts.
    Closed,
}

impl ConnectionState {
    /// `connecting`, `connected`, `reconnecting` or `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Connecting => "connecting",
            ConnectionState::Connected => "connected",
            ConnectionState::Reconnecting => "reconnecting",
            ConnectionState::Closed => "closed",
        }
    }
}

impl fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What tells a client's [`Health`] whether its dispatch is held up (the dispatch
/// watchdog, a layer above).
pub(crate) trait Stalls: Send + Sync {
    /// How long dispatch has been held up, once that was reported.
    fn stalled_for(&self) -> Option<Duration>;
}

/// How many refused filters subscribed at run time [`Health::refused_subscriptions`]
/// keeps (the last ones).
pub(crate) const MAX_REFUSED_AT_RUN_TIME: usize = 32;

/// A snapshot of a client's connection, from [`Mqtt::health`](crate::Mqtt::health): for
/// readiness probes (`flask_mqtt_actix::readiness` serves it over HTTP) and dashboards.
///
/// ```
/// # fn probe(client: &flask_mqtt_core::Mqtt) {
/// let health = client.health();
/// if !health.is_ready() {
///     eprintln!(
///         "MQTT {} for {:?}: {}",
///         health.state(),
///         health.since(),
///         health.last_error().map(|e| e.to_string()).unwrap_or_default()
///     );
/// }
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Health {
    pub(crate) state: ConnectionState,
    pub(crate) changed_at: Instant,
    pub(crate) changed_at_wall: SystemTime,
    pub(crate) broker: Option<String>,
    pub(crate) last_error: Option<ConnectError>,
    pub(crate) connects: u64,
    pub(crate) fault: Option<String>,
    pub(crate) dispatch_stalled: Option<Duration>,
    pub(crate) refused_subscriptions: Vec<String>,
}

impl Health {
    pub(crate) fn new() -> Health {
        Health {
            state: ConnectionState::Connecting,
            changed_at: Instant::now(),
            changed_at_wall: SystemTime::now(),
            broker: None,
            last_error: None,
            connects: 0,
            fault: None,
            dispatch_stalled: None,
            refused_subscriptions: Vec::new(),
        }
    }

    /// Lists `filter` among the refused subscriptions; `false` if it was listed already.
    /// Of the filters subscribed at run time (`declared` says no), only the last
    /// [`MAX_REFUSED_AT_RUN_TIME`] stay listed: an app that subscribes filters its users
    /// choose, refused by the broker's ACL, would otherwise grow the list (and the
    /// readiness body) without bound. Each such `subscribe` returned its refusal already;
    /// the handlers' declared filters, a number the code fixes, always stay listed.
    pub(crate) fn list_refused(&mut self, filter: &str, declared: impl Fn(&str) -> bool) -> bool {
        let listed = &mut self.refused_subscriptions;
        if listed.iter().any(|f| f == filter) {
            return false;
        }
        if !declared(filter)
            && listed.iter().filter(|f| !declared(f)).count() >= MAX_REFUSED_AT_RUN_TIME
        {
            if let Some(oldest) = listed.iter().position(|f| !declared(f)) {
                listed.remove(oldest);
            }
        }
        listed.push(filter.to_owned());
        true
    }

    pub(crate) fn set(&mut self, state: ConnectionState) {
        if self.state != state {
            self.state = state;
            self.changed_at = Instant::now();
            self.changed_at_wall = SystemTime::now();
        }
    }

    /// The connection state.
    pub fn state(&self) -> ConnectionState {
        self.state
    }

    /// Whether the client is connected: what a readiness probe should check.
    pub fn is_ready(&self) -> bool {
        self.state == ConnectionState::Connected
    }

    /// How long the client has been in its current state.
    pub fn since(&self) -> Duration {
        self.changed_at.elapsed()
    }

    /// When the client entered its current state (wall clock).
    pub fn changed_at(&self) -> SystemTime {
        self.changed_at_wall
    }

    /// The broker the client is (or was last) connected to: with several brokers in
    /// `MQTT_BROKER_URL`, the one that answered.
    pub fn broker(&self) -> Option<&str> {
        self.broker.as_deref()
    }

    /// Why the last connection attempt failed, if it did and none succeeded since. A lost
    /// connection is not an error here: the failed attempts to restore it are.
    pub fn last_error(&self) -> Option<&ConnectError> {
        self.last_error.as_ref()
    }

    /// Why the client stopped by itself, if it did (its driver task panicked): it then
    /// stays [`ConnectionState::Closed`].
    pub fn fault(&self) -> Option<&str> {
        self.fault.as_deref()
    }

    /// How long dispatch has been held up, once it has been for a second (and reported):
    /// an async handler blocking its thread in a call made on the dispatching task, or
    /// async handlers blocking both threads of the client's runtime (README, "Guarantees").
    /// `None` while dispatch runs. It does not change [`is_ready`](Health::is_ready): a
    /// liveness probe may check it.
    pub fn dispatch_stalled(&self) -> Option<Duration> {
        self.dispatch_stalled
    }

    /// The filters the broker refused to subscribe (its ACL, a shared subscription it
    /// does not support), in the order it did, until one is subscribed again or
    /// unsubscribed: their handlers receive nothing. A handler's filter stays recorded
    /// and is asked for again at every connect (the ACL may change, a failover broker
    /// may allow it), leaving the list once granted; a filter subscribed at run time is
    /// no longer recorded ([`Mqtt::topics`](crate::Mqtt::topics)) and not asked for
    /// again. Of the filters subscribed at run time only the last 32 are listed (each
    /// `subscribe` returned its refusal). It does not change
    /// [`is_ready`](Health::is_ready): the connection is up and the other handlers
    /// receive; a probe may check it.
    pub fn refused_subscriptions(&self) -> &[String] {
        &self.refused_subscriptions
    }

    /// How many times the client has connected (1 after the first connect; more after
    /// reconnects).
    pub fn connects(&self) -> u64 {
        self.connects
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Filters refused at run time are kept to the last `MAX_REFUSED_AT_RUN_TIME`; the
    /// handlers' declared filters always stay; a filter is listed once.
    #[test]
    fn refused_filters_subscribed_at_run_time_are_bounded() {
        let mut health = Health::new();
        let declared = |f: &str| f.starts_with("declared/");
        assert!(health.list_refused("declared/a", declared));
        for i in 0..1000 {
            assert!(health.list_refused(&format!("user/{i}"), declared));
        }
        assert!(health.list_refused("declared/b", declared));
        assert!(!health.list_refused("declared/a", declared));
        assert!(!health.list_refused("user/999", declared));
        let listed = health.refused_subscriptions();
        assert_eq!(listed.len(), MAX_REFUSED_AT_RUN_TIME + 2, "{listed:?}");
        assert_eq!(listed[0], "declared/a");
        assert_eq!(
            listed[1],
            format!("user/{}", 1000 - MAX_REFUSED_AT_RUN_TIME)
        );
        assert_eq!(listed[MAX_REFUSED_AT_RUN_TIME], "user/999");
        assert_eq!(
            MAX_REFUSED_AT_RUN_TIME, 32,
            "the docs of refused_subscriptions say 32"
        );
        assert_eq!(listed[MAX_REFUSED_AT_RUN_TIME + 1], "declared/b");
    }
}
