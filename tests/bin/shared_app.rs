//! Placeholder: filled in by the change that adds this test process.

fn main() {}
