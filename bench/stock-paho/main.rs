//! Consumer "2s" of the end-to-end benchmark: the raw paho consumer
//! (`bench/src/paho_consumer.rs`, the same source file) linked against the stock Paho C
//! of `paho-mqtt-sys` from crates.io instead of our fork, which the main workspace uses.
//! The bench spawns it exactly like `flask-mqtt-bench child-paho`: settings from the
//! environment, progress lines on stdout, exit when stdin closes.

// The shared modules carry helpers only the main bench binary uses.
#![allow(dead_code)]

#[path = "../src/child.rs"]
mod child;
#[path = "../src/paho_consumer.rs"]
mod paho_consumer;
#[path = "../src/wire.rs"]
mod wire;

use std::process::ExitCode;

fn main() -> ExitCode {
    child::exit_code("stock-paho-consumer", paho_consumer::run())
}
