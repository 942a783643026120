//! Attribute macros that register MQTT handlers with flask-mqtt.
//!
//! Don't depend on this crate directly: use the macros through `flask-mqtt-actix`, which
//! re-exports them next to the types handlers take.
//!
//! ```text
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
//! ```
//!
//! # What the attributes do
//!
//! Each attribute leaves the function exactly as written (it stays an ordinary, callable
//! function) and registers, next to it, a wrapper that extracts every argument from the event
//! (`Message`, `Mqtt`, `LogEntry`, ... : anything implementing the runtime's `FromEvent`)
//! and converts the return value (`()`, `Result<(), E>`, ...: anything implementing
//! `IntoOutcome`). Handlers may be `async` or not, and take any number of arguments in any
//! order. They are collected at startup, wherever they are in the crate.
//!
//! A handler can't be generic, take `self`, or be `const`, `unsafe`, `extern` or variadic,
//! and must be a free function or one declared in a block: an `impl` block can't hold one.
//!
//! # Arguments
//!
//! | Argument | Attributes | Meaning |
//! |---|---|---|
//! | `"home/+/temperature"` | `on_message`, first | Topic filter to subscribe to and match; checked at compile time. Without one the handler is a catch-all for messages no filter matched. |
//! | `qos = 0`, `1` or `2` | `on_message`, with a filter | Quality of service of the subscription; 0 if not given. |
//! | `crate = "path"` | all | Where the runtime lives, when the macro can't find `flask-mqtt-actix` in your `Cargo.toml` (e.g. you re-export it). |
//!
//! Mistakes are reported at compile time on the offending token, e.g.
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

use args::Kind;
use proc_macro::TokenStream;

/// Runs the function each time the client (re)connects to the broker.
///
/// The place to subscribe to topics that no `#[on_message("...")]` covers.
///
/// ```text
/// #[mqtt::on_connect]
/// async fn connected(client: mqtt::Mqtt) {
///     client.subscribe("home/mytopic", mqtt::QoS::AtMostOnce).await.ok();
/// }
/// ```
///
/// Takes only `crate = "path"`.
#[proc_macro_attribute]
pub fn on_connect(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::handler(Kind::Connect, args.into(), item.into()).into()
}

/// Runs the function each time the connection to the broker is lost or closed.
///
/// ```text
/// #[mqtt::on_disconnect]
/// fn disconnected() {
///     log::warn!("lost the broker");
/// }
/// ```
///
/// Takes only `crate = "path"`.
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
/// ```text
/// #[mqtt::on_message("home/+/temperature", qos = 1)]
/// async fn temperature(msg: mqtt::Message) {
///     println!("{}: {}", msg.topic(), msg.payload_str());
/// }
///
/// #[mqtt::on_message("$share/workers/jobs/#")]
/// fn job(msg: mqtt::Message, client: mqtt::Mqtt) { /* ... */ }
///
/// #[mqtt::on_message]
/// fn other(msg: mqtt::Message) {}
/// ```
///
/// Takes an optional topic filter string literal first, then `qos = 0 | 1 | 2` (only with a
/// filter) and `crate = "path"`.
#[proc_macro_attribute]
pub fn on_message(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::handler(Kind::Message, args.into(), item.into()).into()
}

/// Runs the function for each log line of the MQTT client library.
///
/// ```text
/// #[mqtt::on_log]
/// fn log_line(entry: mqtt::LogEntry) {
///     println!("{entry:?}");
/// }
/// ```
///
/// Takes only `crate = "path"`.
#[proc_macro_attribute]
pub fn on_log(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::handler(Kind::Log, args.into(), item.into()).into()
}

/// Runs the function each time a message published through the client has been delivered
/// to the broker (as far as its QoS promises).
///
/// ```text
/// #[mqtt::on_publish]
/// fn published() {}
/// ```
///
/// Takes only `crate = "path"`.
#[proc_macro_attribute]
pub fn on_publish(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::handler(Kind::Publish, args.into(), item.into()).into()
}

/// Runs the function each time the broker acknowledges a subscription.
///
/// ```text
/// #[mqtt::on_subscribe]
/// fn subscribed() {}
/// ```
///
/// Takes only `crate = "path"`.
#[proc_macro_attribute]
pub fn on_subscribe(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::handler(Kind::Subscribe, args.into(), item.into()).into()
}

/// Runs the function each time the broker acknowledges an unsubscription.
///
/// ```text
/// #[mqtt::on_unsubscribe]
/// fn unsubscribed() {}
/// ```
///
/// Takes only `crate = "path"`.
#[proc_macro_attribute]
pub fn on_unsubscribe(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::handler(Kind::Unsubscribe, args.into(), item.into()).into()
}
