//! Prometheus metrics: what each client records, and how it is written.
//!
//! | family | type | labels | what |
//! |---|---|---|---|
//! | `mqtt_messages_received_total` | counter | `broker`, `qos` | messages received from the broker |
//! | `mqtt_handler_calls_total` | counter | `handler`, `outcome` | handler calls that ended: `ok`, `error`, `rejected`, `panic` |
//! | `mqtt_handler_duration_seconds` | histogram | `handler` | from the worker taking the event to the end of the call |
//! | `mqtt_handler_queue_depth` | gauge | `handler` | events waiting in the handler's queue |
//! | `mqtt_connected` | gauge | `broker` | 1 while connected, 0 otherwise |
//! | `mqtt_connects_total` | counter | `broker` | successful connects (first and reconnects) |
//! | `mqtt_connection_losses_total` | counter | `broker` | connections lost or closed by the broker |
//! | `mqtt_messages_published_total` | counter | `broker`, `qos`, `outcome` | publishes that ended: `ok`, `error` |
//! | `mqtt_buffered_publishes` | gauge | `broker` | publishes handed over and not confirmed yet |
//! | `mqtt_unacknowledged_messages` | gauge | `broker` | QoS 1/2 messages received and not acknowledged yet (waiting for `ready()` among them) |
//! | `mqtt_released_messages` | gauge | `broker` | QoS 1/2 messages of the connection released without an acknowledgement |
//!
//! `broker` is the client's configuration prefix (`MQTT`, `MQTT2`, ...), `handler` the
//! handler's name as its log lines and spans write it: `module::function`, and for
//! handlers sharing one (one function under two attributes, functions of one name in
//! two blocks of a module) `module::function#2`, ... in the order of their filters, then
//! of their attributes' places in the source, numbered over every handler linked in
//! (`registry::numbered`), so that no label set repeats in a family, whichever clients
//! one exposition holds. Two clients of one prefix would repeat every series: a
//! `MetricsCollector` refuses them (`Error::RepeatedPrefix`).
//!
//! # Why prometheus-client
//! [`prometheus-client`](https://docs.rs/prometheus-client) is the Prometheus
//! organisation's own Rust client (github.com/prometheus/client_rust): it writes
//! OpenMetrics (what Prometheus asks for first) and the classic text format, has no
//! global registry (each client owns its metrics; several clients in one process are
//! written as one exposition, and an app with its own registry can add ours as a
//! collector), and forbids unsafe code. The `metrics` facade with its Prometheus
//! exporter would put a process-global recorder under a library, and every recording
//! through it looks its label set up in a map.
//!
//! # Cost
//! Every label set is resolved when the client starts (per QoS and outcome for a broker,
//! per handler and outcome for a handler), so recording a message is three relaxed adds
//! per handler call (its outcome, its duration's bucket and sum: see `histogram`,
//! lock-free): plain loads and stores for a handler that runs one call at a time (the
//! default), whose calls are recorded one after the other; atomic adds for one with
//! `concurrency` above 1. No label string is hashed or allocated per message, nothing
//! is locked. The clock is read once per handler call when calls follow each other (the
//! end of one is the start of the next), twice otherwise. The gauges are read from the
//! client when Prometheus scrapes.
//! With `MQTT_METRICS=false` nothing is recorded at all: the client has no
//! `ClientMetrics` and each recording site is one branch on `None`.

mod exposition;
pub(crate) mod families;
mod format;
mod histogram;
pub(crate) mod recorder;

pub(crate) use self::exposition::{encode, Scrape};
pub use self::format::MetricsFormat;
