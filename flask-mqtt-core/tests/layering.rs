//! The crate's layout, checked: no import cycle between the files of `src/`, no import of
//! a crate-root re-export from inside the crate (import from the file that defines a
//! name), and no file over the line budget. See "Layout" in the crate docs.
//!
//! The check reads the source: every `use` tree and every `crate::`, `super::` and
//! `self::` path outside comments, strings and `#[cfg(test)]` modules becomes an edge
//! from the file it is in to the file that defines the module it names.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The most lines of code (not blank, not comments, not tests) a file may have.
const BUDGET: usize = 600;

/// Known violations in files another change is rewriting (the configuration split):
/// `(file, what)`. The test fails when one of them is gone, so that the list only
/// shrinks; remove the entry then.
const KNOWN: &[(&str, &str)] = &[];

type Module = Vec<String>;

/// An inline `mod name { ... }`: the byte span of its body, and its name.
type Inline = ((usize, usize), String);

/// One source file: its module path, its text without comments, strings and tests, and
/// the inline modules it declares (with their brace spans).
struct File {
    rel: String,
    module: Module,
    /// Without comments and strings.
    raw: String,
    /// Without comments, strings and tests.
    code: String,
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn files() -> Vec<File> {
    let mut out = Vec::new();
    let mut stack = vec![src()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(src())
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                let mut module: Module = rel
                    .trim_end_matches(".rs")
                    .split('/')
                    .map(str::to_owned)
                    .collect();
                if module.last().is_some_and(|m| m == "mod" || m == "lib") {
                    module.pop();
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let raw = strip(&text);
                let code = without_tests(&raw);
                out.push(File {
                    rel,
                    module,
                    raw,
                    code,
                });
            }
        }
    }
    // Files that are modules only under `#[cfg(test)]` (`#[cfg(test)] mod tests;`).
    let tests: BTreeSet<Module> = out
        .iter()
        .flat_map(|f| {
            test_module_files(&f.raw)
                .into_iter()
                .map(|name| {
                    let mut m = f.module.clone();
                    m.push(name);
                    m
                })
                .collect::<Vec<_>>()
        })
        .collect();
    out.retain(|f| !tests.contains(&f.module));
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    out
}

/// The names of the `#[cfg(test)] mod name;` declarations of `code`.
fn test_module_files(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices("#[cfg(test)]") {
        let rest = code[at + "#[cfg(test)]".len()..].trim_start();
        if let Some(rest) = rest.strip_prefix("mod ") {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if rest[name.len()..].trim_start().starts_with(';') {
                out.push(name);
            }
        }
    }
    out
}

/// `text` with comments, string and character literals blanked (newlines kept, so that
/// line counts and brace matching still work).
fn strip(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&b, i) {
            // A raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let close = format!("\"{}", "#".repeat(hashes));
            let rest: String = b[j + 1..].iter().collect();
            let end = rest
                .find(&close)
                .map_or(b.len(), |k| j + 1 + k + close.len());
            for &ch in &b[i..end] {
                out.push(blank(ch));
            }
            i = end;
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < b.len() {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' {
            // A character literal ('a', '\n', '\u{..}'), or a lifetime ('a).
            let end = if next == Some('\\') {
                b[i + 2..]
                    .iter()
                    .position(|&ch| ch == '\'')
                    .map(|k| i + 3 + k)
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 3)
            } else {
                None
            };
            match end {
                Some(end) => {
                    for _ in i..end {
                        out.push(' ');
                    }
                    i = end;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
}

/// The index of the `}` that closes the `{` at `open`.
fn closing(code: &str, open: usize) -> usize {
    let mut depth = 0;
    for (i, c) in code[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return open + i;
                }
            }
            _ => {}
        }
    }
    code.len()
}

/// `code` without `#[cfg(test)]` modules (blanked, newlines kept).
fn without_tests(code: &str) -> String {
    let mut code = code.to_owned();
    while let Some(at) = code.find("#[cfg(test)]") {
        let after = at + "#[cfg(test)]".len();
        let rest = code[after..].trim_start();
        let start = code.len() - rest.len();
        let end = if rest.starts_with("mod ") {
            match code[start..].find(['{', ';']) {
                Some(k) if code.as_bytes()[start + k] == b'{' => closing(&code, start + k) + 1,
                Some(k) => start + k + 1,
                None => code.len(),
            }
        } else {
            // Another item (a function, an impl, a `use`): up to its end.
            match code[start..].find(['{', ';']) {
                Some(k) if code.as_bytes()[start + k] == b'{' => closing(&code, start + k) + 1,
                Some(k) => start + k + 1,
                None => code.len(),
            }
        };
        let blanked: String = code[at..end]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        code.replace_range(at..end, &blanked);
    }
    code
}

/// Inline `mod name { ... }` blocks of a file: (byte span of the body, name).
fn inline_modules(code: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(k) = code[from..].find("mod ") {
        let at = from + k;
        from = at + 4;
        let b = code.as_bytes();
        if at > 0 && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_') {
            continue;
        }
        let rest = &code[at + 4..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let after = rest[name.len()..].trim_start();
        if name.is_empty() || !after.starts_with('{') {
            continue;
        }
        let open = code.len() - after.len();
        out.push(((open, closing(code, open)), name));
    }
    out
}

/// Every path of the `use` tree `tree` (`a::{b, c::d as e, f::*}`), as segments.
fn expand_use(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head: Vec<String> = segments(&tree[..open]);
        let mut base = prefix.to_vec();
        base.extend(head);
        let close = tree.rfind('}').unwrap_or(tree.len());
        let inner = &tree[open + 1..close];
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand_use(&base, &inner[start..i], out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand_use(&base, &inner[start..], out);
    } else if !tree.is_empty() {
        let tree = tree.split(" as ").next().unwrap_or(tree);
        let mut path = prefix.to_vec();
        path.extend(segments(tree));
        out.push(path);
    }
}

fn segments(s: &str) -> Vec<String> {
    s.split("::")
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Every `crate::`/`super::`/`self::` path of `code` (from `use` trees and inline), with
/// the byte offset where it starts.
fn paths(code: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < code.len() {
        let is_word_start =
            i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if is_word_start && code[i..].starts_with("use ") {
            let end = code[i..].find(';').map_or(code.len(), |k| i + k);
            let mut found = Vec::new();
            expand_use(&[], &code[i + 4..end], &mut found);
            for p in found {
                if matches!(
                    p.first().map(String::as_str),
                    Some("crate" | "super" | "self")
                ) {
                    out.push((i, p));
                }
            }
            i = end + 1;
            continue;
        }
        let root = ["crate", "super", "self"]
            .into_iter()
            .find(|r| code[i..].starts_with(r));
        let preceded = i > 0 && matches!(bytes[i - 1], b'$' | b':');
        if let (Some(root), true, false) = (root, is_word_start, preceded) {
            let mut j = i + root.len();
            let mut path = vec![root.to_owned()];
            loop {
                let rest = &code[j..];
                let trimmed = rest.trim_start();
                if !trimmed.starts_with("::") {
                    break;
                }
                let after = trimmed[2..].trim_start();
                let seg: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '*')
                    .collect();
                if seg.is_empty() {
                    break;
                }
                j = code.len() - after.len() + seg.len();
                path.push(seg);
            }
            if path.len() > 1 {
                out.push((i, path));
            }
            i = j.max(i + 1);
            continue;
        }
        i += 1;
    }
    out
}

#[derive(Default)]
struct Report {
    edges: BTreeMap<String, BTreeSet<String>>,
    problems: Vec<(String, String)>,
}

fn analyse() -> Report {
    let files = files();
    // Every module, file-backed or inline, and the file it is in.
    let mut modules: BTreeMap<Module, String> = BTreeMap::new();
    let mut inline: BTreeMap<String, Vec<Inline>> = BTreeMap::new();
    for f in &files {
        modules.insert(f.module.clone(), f.rel.clone());
        let found = inline_modules(&f.code);
        for (_, name) in &found {
            let mut m = f.module.clone();
            m.push(name.clone());
            modules.insert(m, f.rel.clone());
        }
        inline.insert(f.rel.clone(), found);
    }
    let mut report = Report::default();
    for f in &files {
        // Lines of code.
        let loc = f.code.lines().filter(|l| !l.trim().is_empty()).count();
        if loc > BUDGET {
            report.problems.push((
                f.rel.clone(),
                format!("{loc} lines of code; the budget is {BUDGET}"),
            ));
        }
        for (at, path) in paths(&f.code) {
            // The module the path is written in: the file's, inside its inline modules.
            let mut here = f.module.clone();
            for ((open, close), name) in &inline[&f.rel] {
                if *open < at && at < *close {
                    here.push(name.clone());
                }
            }
            let mut base: Module = match path[0].as_str() {
                "crate" => Vec::new(),
                _ => here.clone(),
            };
            let mut rest = &path[1..];
            if path[0] == "super" {
                base.pop();
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
            }
            // The longest prefix of `rest` that is a module.
            let mut module = base.clone();
            for seg in rest {
                let mut m = module.clone();
                m.push(seg.clone());
                if !modules.contains_key(&m) {
                    break;
                }
                module = m;
            }
            if module.is_empty() && !f.module.is_empty() {
                if let Some(name) = rest.first() {
                    report.problems.push((
                        f.rel.clone(),
                        format!(
                            "`{}` goes through the crate root's re-exports: import `{name}` from the module that defines it",
                            path.join("::")
                        ),
                    ));
                }
                continue;
            }
            let Some(target) = modules.get(&module) else {
                continue;
            };
            if *target != f.rel {
                report
                    .edges
                    .entry(f.rel.clone())
                    .or_default()
                    .insert(target.clone());
            }
        }
    }
    // Cycles: depth-first search, reporting each cycle once by its smallest file.
    let mut seen_cycles = BTreeSet::new();
    for start in report.edges.keys().cloned().collect::<Vec<_>>() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut visited = BTreeSet::new();
        while let Some((node, trail)) = stack.pop() {
            for next in report.edges.get(&node).into_iter().flatten() {
                if *next == start {
                    let mut cycle = trail.clone();
                    let min = cycle.iter().min().unwrap().clone();
                    let k = cycle.iter().position(|c| *c == min).unwrap();
                    cycle.rotate_left(k);
                    if seen_cycles.insert(cycle.clone()) {
                        report.problems.push((
                            min,
                            format!("import cycle: {} -> {}", cycle.join(" -> "), cycle[0]),
                        ));
                    }
                } else if visited.insert(next.clone()) {
                    let mut t = trail.clone();
                    t.push(next.clone());
                    stack.push((next.clone(), t));
                }
            }
        }
    }
    report
}

#[test]
fn no_import_cycle_no_root_reexport_import_no_file_over_budget() {
    let report = analyse();
    let mut unexpected = Vec::new();
    let mut known_seen = BTreeSet::new();
    for (file, what) in &report.problems {
        match KNOWN.iter().find(|(f, w)| f == file && what.contains(w)) {
            Some(k) => {
                known_seen.insert(*k);
            }
            None => unexpected.push(format!("{file}: {what}")),
        }
    }
    let gone: Vec<_> = KNOWN.iter().filter(|k| !known_seen.contains(*k)).collect();
    assert!(
        unexpected.is_empty() && gone.is_empty(),
        "layout problems:\n  {}\nknown problems no longer found (remove them from KNOWN): {gone:?}",
        unexpected.join("\n  ")
    );
}

/// The checker itself: it sees `use` trees, inline paths, `super` in inline modules, and
/// ignores comments, strings and tests.
#[test]
fn the_checker_reads_paths_as_rustc_does() {
    let code = strip(
        r#"
use crate::a::{b::C, d as e, f::*};
use super::g;
// use crate::commented::Out;
fn x() { let s = "crate::in_string::Out"; crate::h::i(); let c = '"'; }
mod inner { use super::j::K; fn y() -> &'static str { "" } }
#[cfg(test)]
mod tests { use crate::tested::Out; }
"#,
    );
    let code = without_tests(&code);
    let found: Vec<String> = paths(&code)
        .into_iter()
        .map(|(_, p)| p.join("::"))
        .collect();
    assert_eq!(
        found,
        [
            "crate::a::b::C",
            "crate::a::d",
            "crate::a::f::*",
            "super::g",
            "crate::h::i",
            "super::j::K",
        ]
    );
    assert_eq!(inline_modules(&code).len(), 1);
}

/// The layout is as the crate docs draw it: the lower layers import nothing from the
/// higher ones.
#[test]
fn lower_layers_know_nothing_of_higher_ones() {
    let report = analyse();
    let layer = |file: &str| -> usize {
        // The acknowledgement engine sits with the events it settles; the policy, a
        // value settings name, with the settings.
        if file.starts_with("ack/") && !matches!(file, "ack/policy.rs" | "ack/mod.rs") {
            return 3;
        }
        let top = file
            .split('/')
            .next()
            .unwrap_or(file)
            .trim_end_matches(".rs");
        match top {
            "error" | "sync" | "visible" => 0,
            "qos" | "message" => 1,
            "config" | "embedded" | "ack" => 2,
            "event" | "metrics" | "spans" => 3,
            "handle" => 4,
            "extract" => 5,
            "handler" | "handler_future" | "registry" | "describe" | "publisher" => 6,
            "dispatch" => 7,
            "client" | "testing" | "actix" | "paho_version" | "asyncapi" => 8,
            "lib" => 9,
            other => panic!("{file}: no layer for `{other}`; add it to the crate docs and here"),
        }
    };
    let mut upward = Vec::new();
    for (from, tos) in &report.edges {
        for to in tos {
            if layer(to) > layer(from) {
                upward.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports from a higher layer:\n  {}",
        upward.join("\n  ")
    );
}
