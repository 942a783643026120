//! Attribute macros that register MQTT handlers with flask-mqtt.
//!
//! Don't depend on this crate directly: use the macros through `flask-mqtt-actix`, which
//! re-exports them next to the types handlers take.
//!
//! ```
//! use flask_mqtt_actix as mqtt;
//!
//! #[mqtt::on_connect]
//! async fn connected(client: mqtt::Mqtt) {
//!     client.subscribe("home/mytopic", mqtt::QoS::AtMostOnce).await.ok();
//! }
//!
//! #[mqtt::on_message("home/+/temperature", qos = 1)]
//! async fn temperature(msg: mqtt::Message) { /* ... */ }
//!
//! #[mqtt::on_message]
//! fn other(msg: mqtt::Message) {}
//!
//! #[mqtt::on_log]
//! fn log_line(entry: mqtt::LogEntry) {}
//! # fn main() {}
//! ```
//!
//! # What the attributes do
//!
//! Each attribute leaves the function exactly as written (it stays an ordinary, callable
//! function) and registers, next to it, a wrapper that extracts every argument from the event
//! (`Message`, `Mqtt`, `LogEntry`, ... : anything implementing the runtime's `FromEvent`)
//! and converts the return value (`()`, `Result<(), E>`, ...: anything implementing
//! `IntoOutcome`). Handlers may be `async` or not, and take any number of arguments in any
//! order. They are collected at startup, wherever they are in the crate. An `#[on_message]`
//! handler may return `Reply` (or `Option<Reply>`, `Result<Reply, E>`) to answer an MQTT 5
//! request on its response topic.
//!
//! What could never work is a compile error on the type, read from the types themselves
//! (so through aliases, renamed imports and `Option`/`Result`): an argument not available
//! in the handler's kind (a `Message` in `#[on_connect]`, a `LogEntry` in `#[on_message]`:
//! the runtime's `FromEvent::AVAILABLE_IN`), an `Ack` in a handler without
//! `ack = "manual"`, and a `Reply` returned by any handler but `#[on_message]`:
//!
//! ```compile_fail
//! use flask_mqtt_actix as mqtt;
//!
//! #[mqtt::on_connect]
//! async fn connected(msg: mqtt::Message) {}
//! # fn main() {}
//! ```
//!
//! ```text
//! error[E0080]: evaluation panicked: `mqtt::Message` is only available in `#[on_message]` handlers, not in `#[on_connect]`; an `#[on_connect]` handler takes `mqtt::Connected` (the event), `mqtt::Mqtt` or `mqtt::State<T>`
//!  --> src/main.rs:4:25
//!   |
//! 4 | async fn connected(msg: mqtt::Message) {}
//!   |                         ^^^^^^^^^^^^^ evaluation of `_::__FLASK_MQTT_ARGUMENT_1` failed here
//! ```
//!
//! A handler can't be generic, take `self`, or be `const`, `unsafe`, `extern` or variadic,
//! and must be a free function or one declared in a block: an `impl` block can't hold one
//! (the compiler then says "`const` items in this context need a name", on the attribute).
//! An argument can't carry `#[cfg(...)]`, nor a `#[cfg_attr(...)]` adding anything but lint
//! attributes (`allow`, `expect`, `warn`, `deny`, `forbid`) or `doc`: the handler is
//! registered with every argument written, so put `#[cfg]` on whole handler functions
//! instead.
//!
//! The topic filter (a publisher's topic) is read when the macro expands, so it must be a
//! string literal: not a constant, `concat!(...)` or a byte string (a first argument one or
//! two characters off a key, `nack_on_eror`, is reported as that key misspelt). No literal
//! argument may have a suffix (`"a/b"x`, `qos = 1u8`).
//!
//! # Arguments
//!
//! | Argument | Attributes | Meaning |
//! |---|---|---|
//! | `"home/+/temperature"` | `on_message`, first | Topic filter to subscribe to and match; checked at compile time. Without one the handler is a catch-all for messages no filter matched. Levels may be named: `"sensors/{sensor_id}/temperature"` subscribes to `sensors/+/temperature`, `"files/{path:#}"` to `files/#`, and the handler reads them with `Path<T>`. |
//! | `qos = 0`, `1` or `2` | `on_message`, with a filter | Quality of service of the subscription; 0 if not given. |
//! | `shared = "workers"` | `on_message`, with a filter | Makes it a shared subscription: the client subscribes to `$share/workers/<filter>`, so each message goes to one subscriber of the group `workers` (one replica of the app) instead of all. Exactly the same as writing the filter `"$share/workers/<filter>"`. The handler still matches, and `Message::topic()` and `Path` still see, the real topic (`jobs/42`). The share name is one level: not empty, no `/`, `+`, `#`. |
//! | `concurrency = N` | all | How many calls of the handler may run at once, up to 536,870,911 (the most Tokio allows on every target, 32-bit ones included); 1 if not given (one at a time, in arrival order). With more, calls start in arrival order (each begun, its arguments extracted, only once the call before it has reached its handler) and then run in parallel: their statements, the first ones too, may interleave. |
//! | `queue = N` | all | How many events may wait for the handler; 1024 if not given. When it is full, dispatch waits for room (nothing is dropped). |
//! | `ack = "after"`, `"first"` or `"manual"` | `on_message` | When the QoS 1/2 messages the handler takes are acknowledged to the broker: once its call has finished (`after`), when they arrive (`first`), or when it calls `ack()` on its `mqtt::Ack` argument (`manual`: the argument is required, and only `manual` takes one; with a filter, `qos = 1` or 2 too, since QoS 0 messages are not acknowledged). The configuration's `MQTT_ACK_POLICY` (default `after`) if not given. |
//! | `nack_on_error` | `on_message` | A call that returns `Err`, panics or rejects its arguments leaves the message unacknowledged, so that the broker delivers it again with the next session; without it the message is acknowledged and the failure logged. A `Reply` not sent after the handler succeeded is logged, and the message acknowledged. Also `nack_on_error = true`; not with `ack = "first"`, and with a filter only with `qos = 1` or 2. |
//! | `broker = "MQTT2"` | all | The client the handler belongs to, by the prefix of its configuration keys (`MQTT2_BROKER_URL`, ...); the default client (`MQTT`) if not given. |
//! | `crate = "path"` | all | Where the runtime lives, when the macro can't find `flask-mqtt-actix` in your `Cargo.toml` (e.g. you re-export it). |
//!
//! # Named levels and `Path`
//!
//! `{name}` names one level and `{name:#}` the remaining levels (last only); names are
//! identifiers, each used once, and a name fills its whole level. A `Path<T>` argument
//! reads them: one value (`Path<u32>`), a tuple in filter order (`Path<(String, u32)>`),
//! or a struct by name. A `Path` in a handler whose filter names no level, or a tuple
//! with the wrong number of elements, is a compile error on the argument:
//!
//! ```compile_fail
//! use flask_mqtt_actix as mqtt;
//!
//! #[mqtt::on_message("sites/{site}/sensors/{sensor_id}")]
//! async fn sensor(mqtt::Path((site, id, kind)): mqtt::Path<(String, u32, String)>) {}
//! # fn main() {}
//! ```
//!
//! ```text
//! error: this tuple has 3 elements but the filter `sites/{site}/sensors/{sensor_id}` has 2 topic parameters (`site`, `sensor_id`); use one element per parameter, in order
//!  --> src/main.rs:4:61
//!   |
//! 4 | async fn sensor(mqtt::Path((site, id, kind)): mqtt::Path<(String, u32, String)>) {}
//!   |                                                             ^^^^^^^^^^^^^^^^^^^^^
//! ```
//!
//! Mistakes are reported at compile time on the offending token, e.g.
//!
//! ```compile_fail
//! use flask_mqtt_actix as mqtt;
//!
//! #[mqtt::on_message("home/#/temperature")]
//! fn temperature(msg: mqtt::Message) {}
//! # fn main() {}
//! ```
//!
//! ```text
//! error: invalid topic filter `home/#/temperature`: `#` must be the last level (it is level 2); move it to the end or use `+` for a single level
//!  --> src/main.rs:3:20
//!   |
//! 3 | #[mqtt::on_message("home/#/temperature")]
//!   |                    ^^^^^^^^^^^^^^^^^^^^
//! ```

mod args;
mod expand;
mod krate;
mod publisher;
mod typecheck;

use args::Kind;
use proc_macro::TokenStream;

/// Runs the function each time the client (re)connects to the broker.
///
/// The place to subscribe to topics that no `#[on_message("...")]` covers.
///
/// ```
/// # use flask_mqtt_actix as mqtt;
/// #[mqtt::on_connect]
/// async fn connected(client: mqtt::Mqtt) {
///     client.subscribe("home/mytopic", mqtt::QoS::AtMostOnce).await.ok();
/// }
/// # fn main() {}
/// ```
///
/// Takes `concurrency = N`, `queue = N`, `broker = "NAME"` and `crate = "path"`.
#[proc_macro_attribute]
pub fn on_connect(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::handler(Kind::Connect, args.into(), item.into()).into()
}

/// Runs the function each time the connection to the broker is lost or closed.
///
/// ```
/// # use flask_mqtt_actix as mqtt;
/// #[mqtt::on_disconnect]
/// fn disconnected(why: mqtt::Disconnected) {
///     eprintln!("lost the broker: {:?}", why.reason());
/// }
/// # fn main() {}
/// ```
///
/// Takes `concurrency = N`, `queue = N`, `broker = "NAME"` and `crate = "path"`.
#[proc_macro_attribute]
pub fn on_disconnect(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::handler(Kind::Disconnect, args.into(), item.into()).into()
}

/// Runs the function for each message received on a topic matching its filter.
///
/// With a topic filter, the client subscribes to it (with `qos`, 0 by default) on each
/// connect and runs the handler for messages whose topic matches it. The filter is checked
/// at compile time. Without a filter, the handler is a catch-all: it runs for messages no
/// filtered handler matched, and subscribes to nothing.
///
/// ```
/// # use flask_mqtt_actix as mqtt;
/// # #[derive(serde::Deserialize)]
/// # struct Reading {}
/// #[mqtt::on_message("home/+/temperature", qos = 1)]
/// async fn temperature(msg: mqtt::Message) {
///     println!("{}: {:?}", msg.topic(), msg.payload_str());
/// }
///
/// // Each job goes to one replica of the app: the replicas share `jobs/#`.
/// #[mqtt::on_message("jobs/#", shared = "workers", qos = 1, concurrency = 4)]
/// fn job(msg: mqtt::Message, client: mqtt::Mqtt) { /* msg.topic() is `jobs/...` */ }
///
/// // The same, with the share prefix written out.
/// #[mqtt::on_message("$share/workers/jobs/#", qos = 1, concurrency = 4)]
/// fn same_job(msg: mqtt::Message, client: mqtt::Mqtt) { /* ... */ }
///
/// #[mqtt::on_message("sensors/{sensor_id}/temperature", qos = 1)]
/// async fn reading(mqtt::Path(sensor_id): mqtt::Path<u32>, mqtt::Json(r): mqtt::Json<Reading>) {}
///
/// #[mqtt::on_message]
/// fn other(msg: mqtt::Message) {}
/// # fn main() {}
/// ```
///
/// # Shared subscriptions
///
/// `shared = "group"`, or a filter written `"$share/group/<filter>"`, subscribes to the
/// filter as a shared subscription (MQTT 5, and MQTT 3.1.1 on brokers that accept it:
/// Mosquitto, EMQX, VerneMQ, HiveMQ): the broker hands each matching message to one
/// subscriber of `group` instead of to every subscriber, which is how N replicas of an
/// app split a stream of jobs. Matching, `Message::topic()` and `Path` use the topic the
/// message was published to (`jobs/42`), never the `$share/...` filter. `shared` can't be
/// combined with a filter already starting with `$share/`, nor used on the catch-all.
/// See `docs/scaling.md` for what the brokers guarantee.
///
/// Takes an optional topic filter string literal first (levels may be named, see the
/// crate docs), then `qos = 0 | 1 | 2` and `shared = "group"` (only with a filter),
/// `concurrency = N`, `queue = N`, `broker = "NAME"` and `crate = "path"`.
#[proc_macro_attribute]
pub fn on_message(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::handler(Kind::Message, args.into(), item.into()).into()
}

/// Runs the function for each log line of the MQTT client library.
///
/// ```
/// # use flask_mqtt_actix as mqtt;
/// #[mqtt::on_log]
/// fn log_line(entry: mqtt::LogEntry) {
///     println!("{entry:?}");
/// }
/// # fn main() {}
/// ```
///
/// Takes `concurrency = N`, `queue = N`, `broker = "NAME"` and `crate = "path"`.
#[proc_macro_attribute]
pub fn on_log(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::handler(Kind::Log, args.into(), item.into()).into()
}

/// Runs the function each time a message published through the client has been delivered
/// to the broker (as far as its QoS promises).
///
/// ```
/// # use flask_mqtt_actix as mqtt;
/// #[mqtt::on_publish]
/// fn published(p: mqtt::Published) {
///     println!("{} delivered at qos {}", p.topic(), p.qos());
/// }
/// # fn main() {}
/// ```
///
/// Takes `concurrency = N`, `queue = N`, `broker = "NAME"` and `crate = "path"`.
#[proc_macro_attribute]
pub fn on_publish(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::handler(Kind::Publish, args.into(), item.into()).into()
}

/// Runs the function each time the broker acknowledges a subscription.
///
/// ```
/// # use flask_mqtt_actix as mqtt;
/// #[mqtt::on_subscribe]
/// fn subscribed(s: mqtt::Subscribed) {
///     println!("subscribed to {} at qos {}", s.filter(), s.granted_qos());
/// }
/// # fn main() {}
/// ```
///
/// Takes `concurrency = N`, `queue = N`, `broker = "NAME"` and `crate = "path"`.
#[proc_macro_attribute]
pub fn on_subscribe(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::handler(Kind::Subscribe, args.into(), item.into()).into()
}

/// Runs the function each time the broker acknowledges an unsubscription.
///
/// ```
/// # use flask_mqtt_actix as mqtt;
/// #[mqtt::on_unsubscribe]
/// fn unsubscribed(u: mqtt::Unsubscribed) {
///     println!("unsubscribed from {}", u.filter());
/// }
/// # fn main() {}
/// ```
///
/// Takes `concurrency = N`, `queue = N`, `broker = "NAME"` and `crate = "path"`.
#[proc_macro_attribute]
pub fn on_unsubscribe(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::handler(Kind::Unsubscribe, args.into(), item.into()).into()
}

/// Declares publishers: statics of type `Publisher<T, N>` that publish `T` as JSON to the
/// topics of a template, with a fixed QoS and retain flag, and appear in the AsyncAPI
/// document as `send` operations.
///
/// ```text
/// mqtt::publisher! {
///     /// Switches a device on or off.
///     pub static COMMAND: Command = "devices/{device_id}/command", qos = 1;
///     static STATE: State = "devices/{device_id}/state", qos = 1, retain = true;
/// }
///
/// COMMAND.publish(&client, [&device_id], &Command { on: true }).await?;
/// ```
///
/// The topic follows the grammar of `#[on_message]` filters, checked at compile time, less
/// what cannot be published to: every level that varies is named (`{name}` one level,
/// `{name:#}` the rest), no `+`, `#` or `$share/`. `publish` takes one value per named
/// level, in order. Takes `qos = 0 | 1 | 2`, `retain = true | false`, `broker = "NAME"`
/// and `crate = "path"`.
#[proc_macro]
pub fn publisher(input: TokenStream) -> TokenStream {
    publisher::publishers(input.into()).into()
}
