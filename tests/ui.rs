//! Compile tests of the attribute macros: what they accept, and the error each mistake gives.
//!
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test -p flask-mqtt-tests --test ui`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui/*/pass/*.rs");
    t.compile_fail("ui/*/fail/*.rs");
}
