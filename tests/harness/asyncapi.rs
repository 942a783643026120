//! The official AsyncAPI parser (npm `@asyncapi/parser`, installed once by
//! `scripts/setup-asyncapi` into a cache outside the work tree), run with the machine's
//! Node.js through `scripts/asyncapi-validate.cjs`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::setup_script::installed_by;

/// The parser's verdict on `doc`, as `scripts/asyncapi-validate.cjs` prints it: its
/// `diagnostics` (severity 0 an error, 1 a warning, 2 information, 3 a hint), whether
/// it `parsed` a document, and what it read (`servers`, `channels`, `operations`).
pub fn asyncapi_verdict(doc: &Value) -> Value {
    let dir = installed_by("setup-asyncapi");
    let file = tempfile::Builder::new()
        .prefix("asyncapi-")
        .suffix(".json")
        .tempfile()
        .unwrap();
    std::fs::write(file.path(), serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/asyncapi-validate.cjs");
    let out = Command::new("node")
        .arg(script)
        .arg(&dir)
        .arg(file.path())
        .output()
        .expect("cannot run node (scripts/setup-asyncapi installs it)");
    assert!(
        out.status.success(),
        "the validator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The diagnostics of `verdict` of severity 0 (errors) and 1 (warnings).
pub fn asyncapi_problems(verdict: &Value) -> Vec<Value> {
    verdict["diagnostics"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter(|d| d["severity"] == 0 || d["severity"] == 1)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}
