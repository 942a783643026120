// Hosts docs/migrating-from-flask-mqtt.md as crate documentation, and README.md and
// docs/scaling.md as modules' docs, so that `cargo test --doc` compiles every Rust
// snippet of them (and runs those not marked `no_run`). A library target of the
// examples package, whose dependencies (actix-web, flask-mqtt-actix, serde, tokio, ...)
// the snippets use. No code here.
#![doc = include_str!("migrating-from-flask-mqtt.md")]
#![forbid(unsafe_code)]

/// docs/scaling.md: its Rust snippets are compiled here too.
#[doc = include_str!("scaling.md")]
pub mod scaling {}

/// README.md: its Rust snippets are compiled here too.
#[doc = include_str!("../README.md")]
pub mod readme {}
