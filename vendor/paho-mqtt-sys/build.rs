// flask-mqtt-paho-sys/build.rs
//
// flask-mqtt: this build script is ours. It replaces the one of paho-mqtt-sys 0.11.0
// (Copyright (c) 2017-2025 Frank Pagliughi, EPL-2.0 / EDL-1.0), which ran CMake, could
// link a pre-installed Paho C and could run bindgen. The way it picks the pre-generated
// bindings for the target is upstream's. Why, and what it guarantees:
// docs/paho-fork.md in the flask-mqtt repository.
//
// 1. Compiles Paho C's asynchronous library (what CMake builds as `paho-mqtt3as`) from
//    `paho.mqtt.c/src` with the `cc` crate: no CMake needed. Every `src/*.c` is compiled,
//    except the files listed in `NOT_IN_THE_ASYNC_LIBRARY`, so a new source file needs no
//    change here.
// 2. Gives every global symbol of that library the prefix `SYMBOL_PREFIX`, so that it can
//    be linked into the same program as the stock Paho C (upstream `paho-mqtt-sys`, which
//    a user's project may also depend on) without either side calling the other's code.
//    A first compilation lists the symbols the sources define; the second compiles them
//    with a generated header that renames each one (`#define MQTTAsync_create
//    flask_mqtt_MQTTAsync_create`); then the archive is checked: a defined global symbol
//    without the prefix, or a reference to an unprefixed one, fails the build. New C
//    functions are renamed with no list to maintain.
// 3. Copies the pre-generated Rust bindings for the target (plus `bindings/flask_mqtt.rs`,
//    the declarations of what the fork adds), giving each declared function or static
//    the library defines `#[link_name = "flask_mqtt_..."]`.
// 4. Marks the library's version string (`MQTTAsync_getVersionInfo`, "Version") as this
//    fork's: `1.3.16+flask-mqtt.<this crate's version>`.

// Ours, so linted like our crates (the package allows clippy for upstream's src/).
#![warn(clippy::all)]

use std::collections::BTreeSet;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use object::read::archive::ArchiveFile;
use object::{BinaryFormat, Object, ObjectSymbol};

/// The prefix of every global symbol of our Paho C.
const SYMBOL_PREFIX: &str = "flask_mqtt_";

/// What the version string carries after Paho C's own version (semver build metadata).
const VERSION_MARKER: &str = "+flask-mqtt.";

/// The name of the static library (`libflask_mqtt_paho_c.a`).
const LIB_NAME: &str = "flask_mqtt_paho_c";

/// Sources in `paho.mqtt.c/src` that are not part of the asynchronous library, and why.
const NOT_IN_THE_ASYNC_LIBRARY: &[(&str, &str)] = &[
    (
        "MQTTClient.c",
        "the synchronous client (libpaho-mqtt3c); defines the same globals as MQTTAsync.c",
    ),
    ("MQTTVersion.c", "a command-line program"),
    (
        "StackTrace.c",
        "left out by CMake's PAHO_HIGH_PERFORMANCE, which upstream's build turns on",
    ),
    (
        "Heap.c",
        "left out by CMake's PAHO_HIGH_PERFORMANCE, which upstream's build turns on",
    ),
];

/// Compiled only with the `ssl` feature.
const SSL_ONLY: &str = "SSLSocket.c";

fn main() {
    let c_dir = Path::new("paho.mqtt.c");
    let src_dir = c_dir.join("src");
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));

    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=bindings");
    println!("cargo:rerun-if-changed={}", src_dir.display());
    for part in ["major", "minor", "patch"] {
        println!(
            "cargo:rerun-if-changed={}",
            c_dir.join(format!("version.{part}")).display()
        );
    }

    let c_version = paho_c_version(c_dir);
    let version = format!("{c_version}{VERSION_MARKER}{}", env!("CARGO_PKG_VERSION"));
    let include_dir = out_dir.join("include");
    fs::create_dir_all(&include_dir).expect("cannot create OUT_DIR/include");
    write_version_info(&include_dir, &c_version, &version);

    let sources = sources(&src_dir);
    let build = |pass_dir: &str| {
        let mut b = cc::Build::new();
        b.files(&sources)
            .include(&src_dir)
            .include(&include_dir)
            .out_dir(out_dir.join(pass_dir))
            .warnings(false);
        configure(&mut b);
        b
    };

    // Pass 1: which global symbols do the sources define?
    let mut listing = build("pass1");
    listing.opt_level(0).debug(false);
    let objects = listing.compile_intermediates();
    let format = objects_format(&objects);
    let mut defined = BTreeSet::new();
    for obj in &objects {
        let data = fs::read(obj).unwrap_or_else(|e| panic!("cannot read {}: {e}", obj.display()));
        collect_symbols(&data, format, &mut defined, &mut BTreeSet::new());
    }
    assert!(
        defined.contains("MQTTAsync_create"),
        "no MQTTAsync_create among the symbols of {} objects: is paho.mqtt.c/src complete?",
        objects.len()
    );

    // Pass 2: the library, every global symbol renamed.
    let rename_h = include_dir.join("flask_mqtt_prefix.h");
    write_rename_header(&rename_h, &defined);
    let mut library = build("pass2");
    if library.get_compiler().is_like_msvc() {
        library.flag(format!("/FI{}", rename_h.display()));
    } else {
        library
            .flag("-include")
            .flag(rename_h.display().to_string());
    }
    library.compile(LIB_NAME);
    check_archive(&out_dir.join("pass2"), format, &defined);

    if target_os() == "windows" {
        for lib in ["ws2_32", "crypt32", "rpcrt4"] {
            println!("cargo:rustc-link-lib={lib}");
        }
    }

    write_bindings(&out_dir, &c_version, &defined);
    // For crates that link to this one (`links` in Cargo.toml): DEP_FLASK_MQTT_PAHO_C_*.
    println!("cargo:version={version}");
    println!("cargo:symbol_prefix={SYMBOL_PREFIX}");
}

fn target_os() -> String {
    env::var("CARGO_CFG_TARGET_OS").unwrap_or_default()
}

/// `1.3.16`, from `version.major`/`.minor`/`.patch`, as Paho C's CMakeLists.txt reads it.
fn paho_c_version(c_dir: &Path) -> String {
    let part = |p: &str| {
        let file = c_dir.join(format!("version.{p}"));
        let text = fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        text.trim().to_owned()
    };
    format!("{}.{}.{}", part("major"), part("minor"), part("patch"))
}

/// What CMake generates from `src/VersionInfo.h.in`. `BUILD_TIMESTAMP` ("Build level" in
/// `MQTTAsync_getVersionInfo`) names this crate instead of the build time, so that builds
/// are reproducible.
fn write_version_info(include_dir: &Path, c_version: &str, version: &str) {
    let mut parts = c_version.split('.');
    let mut next = || parts.next().unwrap_or("0").to_owned();
    let (major, minor, patch) = (next(), next(), next());
    let text = format!(
        "/* Generated by flask-mqtt-paho-sys's build.rs (CMake's VersionInfo.h.in). */\n\
         #ifndef VERSIONINFO_H\n\
         #define VERSIONINFO_H\n\
         #define BUILD_TIMESTAMP \"{} {}\"\n\
         #define CLIENT_VERSION  \"{version}\"\n\
         #define PAHO_MQTT_C_VERSION  \"{c_version}\"\n\
         #define PAHO_MQTT_C_VERSION_MAJOR  {major}\n\
         #define PAHO_MQTT_C_VERSION_MINOR  {minor}\n\
         #define PAHO_MQTT_C_VERSION_PATCH  {patch}\n\
         #endif /* VERSIONINFO_H */\n",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION"),
    );
    fs::write(include_dir.join("VersionInfo.h"), text).expect("cannot write VersionInfo.h");
}

/// Every `src/*.c` of the asynchronous library, sorted.
fn sources(src_dir: &Path) -> Vec<PathBuf> {
    let ssl = env::var_os("CARGO_FEATURE_SSL").is_some();
    let entries =
        fs::read_dir(src_dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", src_dir.display()));
    let mut sources: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            !NOT_IN_THE_ASYNC_LIBRARY.iter().any(|(n, _)| *n == name) && (ssl || name != SSL_ONLY)
        })
        .collect();
    sources.sort();
    assert!(
        sources.len() > 20,
        "only {} C sources in {}",
        sources.len(),
        src_dir.display()
    );
    sources
}

/// The definitions and flags of upstream's CMake build (`PAHO_BUILD_STATIC`,
/// `PAHO_HIGH_PERFORMANCE`, `PAHO_WITH_UNIX_SOCKETS` except on Windows, `PAHO_WITH_SSL`
/// with the `ssl` feature).
fn configure(b: &mut cc::Build) {
    let os = target_os();
    b.define("PAHO_MQTT_STATIC", "1")
        .define("HIGH_PERFORMANCE", "1");
    if !b.get_compiler().is_like_msvc() {
        b.std("gnu99");
    }
    match os.as_str() {
        "windows" => {
            b.define("_CRT_SECURE_NO_DEPRECATE", None)
                .define("WIN32_LEAN_AND_MEAN", None);
            if b.get_compiler().is_like_msvc() {
                b.define("WIN32", None);
            }
        }
        "macos" | "ios" => {
            b.define("OSX", None);
        }
        "linux" | "android" => {
            b.define("_GNU_SOURCE", None).flag("-fvisibility=hidden");
        }
        _ => {}
    }
    if os != "windows" {
        b.define("UNIXSOCK", "1");
    }
    // flask-mqtt: in debug builds (tests), a local variable read before it is set reads a
    // fixed pattern (GCC: 0xFE bytes; Clang: 0xAA), not what the stack held, so a test of such
    // a read fails each run, not when the stack happens to hold the wrong bytes (patch 13,
    // docs/paho-fork.md, "initialised callback data"). Release builds are left as upstream's.
    if env::var("PROFILE").as_deref() == Ok("debug") {
        b.flag_if_supported("-ftrivial-auto-var-init=pattern");
    }
    if env::var_os("CARGO_FEATURE_SSL").is_some() {
        b.define("OPENSSL", "1");
        // openssl-sys (`links = "openssl"`) says where the headers it found are.
        if let Some(dir) = env::var_os("DEP_OPENSSL_INCLUDE") {
            for dir in env::split_paths(&dir) {
                b.include(dir);
            }
        }
    }
}

fn objects_format(objects: &[PathBuf]) -> BinaryFormat {
    let first = objects.first().expect("cc compiled no object");
    let data = fs::read(first).unwrap_or_else(|e| panic!("cannot read {}: {e}", first.display()));
    object::File::parse(&*data)
        .unwrap_or_else(|e| panic!("cannot parse {}: {e}", first.display()))
        .format()
}

/// The C name of a symbol as the object file spells it (Mach-O and 32-bit Windows put
/// an underscore in front).
fn c_name(name: &str, format: BinaryFormat) -> &str {
    let underscore = format == BinaryFormat::MachO
        || (format == BinaryFormat::Coff
            && env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86"));
    if underscore {
        name.strip_prefix('_').unwrap_or(name)
    } else {
        name
    }
}

/// Symbols a sanitizer adds beside the code it instruments (`cargo fuzz` builds the C with
/// AddressSanitizer: `__odr_asan.<global>` marks each global for its one-definition check).
/// They are the compiler's, not Paho C's, so they are neither renamed nor checked.
fn is_instrumentation(name: &str) -> bool {
    [
        "__odr_asan",
        "__asan_",
        "__sancov_",
        "__ubsan_",
        "__tsan_",
        "__msan_",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// Adds the object file's defined global symbols to `defined` and its undefined ones to
/// `undefined`, by C name.
fn collect_symbols(
    data: &[u8],
    format: BinaryFormat,
    defined: &mut BTreeSet<String>,
    undefined: &mut BTreeSet<String>,
) {
    let file =
        object::File::parse(data).unwrap_or_else(|e| panic!("cannot parse an object file: {e}"));
    for sym in file.symbols() {
        let Ok(name) = sym.name() else { continue };
        if name.is_empty() || !sym.is_global() || is_instrumentation(c_name(name, format)) {
            continue;
        }
        let name = c_name(name, format).to_owned();
        if sym.is_undefined() {
            undefined.insert(name);
        } else if sym.is_definition() || sym.is_common() {
            defined.insert(name);
        }
    }
}

fn write_rename_header(path: &Path, defined: &BTreeSet<String>) {
    let mut text = String::from(
        "/* Generated by flask-mqtt-paho-sys's build.rs: every global symbol of Paho C gets a\n \
         * prefix, so that this library can share a program with the stock Paho C. */\n\
         #ifndef FLASK_MQTT_PREFIX_H\n#define FLASK_MQTT_PREFIX_H\n",
    );
    for name in defined {
        let _ = writeln!(text, "#define {name} {SYMBOL_PREFIX}{name}");
    }
    text.push_str("#endif\n");
    fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// Fails the build unless every global symbol the library defines has the prefix and no
/// object refers to one by its unprefixed name.
fn check_archive(lib_dir: &Path, format: BinaryFormat, expected: &BTreeSet<String>) {
    let path = [format!("lib{LIB_NAME}.a"), format!("{LIB_NAME}.lib")]
        .iter()
        .map(|n| lib_dir.join(n))
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "cc wrote no lib{LIB_NAME}.a / {LIB_NAME}.lib in {}",
                lib_dir.display()
            )
        });
    let data = fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let archive = ArchiveFile::parse(&*data)
        .unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()));
    let (mut defined, mut undefined) = (BTreeSet::new(), BTreeSet::new());
    for member in archive.members() {
        let member = member.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let bytes = member
            .data(&*data)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if object::File::parse(bytes).is_ok() {
            collect_symbols(bytes, format, &mut defined, &mut undefined);
        }
    }
    let unprefixed: Vec<&String> = defined
        .iter()
        .filter(|s| !s.starts_with(SYMBOL_PREFIX))
        .collect();
    let escaped: Vec<&String> = undefined.iter().filter(|s| expected.contains(*s)).collect();
    let renamed: BTreeSet<String> = expected
        .iter()
        .map(|s| format!("{SYMBOL_PREFIX}{s}"))
        .collect();
    assert!(
        unprefixed.is_empty() && escaped.is_empty() && defined == renamed,
        "{}: Paho C's symbols are not all renamed with the prefix `{SYMBOL_PREFIX}` \
         (docs/paho-fork.md, \"Two Paho C libraries in one program\").\n\
         defined without the prefix: {unprefixed:?}\n\
         referred to without the prefix: {escaped:?}\n\
         defined, but not found by the first pass: {:?}",
        path.display(),
        defined.difference(&renamed).collect::<Vec<_>>()
    );
}

/// Upstream's choice of pre-generated bindings: the target's own, or the default ones for
/// its pointer width.
fn bindings_for_target(c_version: &str) -> PathBuf {
    let target = env::var("TARGET").expect("cargo sets TARGET");
    let own = PathBuf::from(format!(
        "bindings/bindings_paho_mqtt_c_{c_version}-{target}.rs"
    ));
    if own.exists() {
        return own;
    }
    let width = env::var("CARGO_CFG_TARGET_POINTER_WIDTH").unwrap_or_else(|_| "64".to_owned());
    PathBuf::from(format!(
        "bindings/bindings_paho_mqtt_c_{c_version}-default-{width}.rs"
    ))
}

/// `OUT_DIR/bindings.rs`: the target's bindings and `bindings/flask_mqtt.rs`, each
/// `pub fn` / `pub static` of an `extern` block that the library defines with its
/// prefixed `link_name`.
fn write_bindings(out_dir: &Path, c_version: &str, defined: &BTreeSet<String>) {
    let mut out = String::new();
    for path in [
        bindings_for_target(c_version),
        PathBuf::from("bindings/flask_mqtt.rs"),
    ] {
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let _ = writeln!(
            out,
            "// {}, link names prefixed by build.rs",
            path.display()
        );
        out.push_str(&prefix_link_names(&text, defined, &path));
    }
    fs::write(out_dir.join("bindings.rs"), out).expect("cannot write OUT_DIR/bindings.rs");
}

fn prefix_link_names(text: &str, defined: &BTreeSet<String>, path: &Path) -> String {
    let mut out = String::with_capacity(text.len() + 16 * 1024);
    let mut in_extern = false;
    let mut previous = "";
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("extern \"C\"") || trimmed.starts_with("unsafe extern \"C\"") {
            in_extern = true;
        } else if in_extern && line.starts_with('}') {
            in_extern = false;
        } else if in_extern {
            if let Some(name) = declared_name(trimmed).filter(|n| defined.contains(*n)) {
                assert!(
                    !previous.trim_start().starts_with("#[link_name"),
                    "{}: `{name}` already has a link_name; build.rs gives it the fork's",
                    path.display()
                );
                let indent = &line[..line.len() - trimmed.len()];
                let _ = writeln!(out, "{indent}#[link_name = \"{SYMBOL_PREFIX}{name}\"]");
            }
        }
        out.push_str(line);
        out.push('\n');
        previous = line;
    }
    out
}

/// `MQTTAsync_create` in `pub fn MQTTAsync_create(` or `pub static mut x: T;`.
fn declared_name(line: &str) -> Option<&str> {
    let rest = line
        .strip_prefix("pub fn ")
        .or_else(|| line.strip_prefix("pub static mut "))
        .or_else(|| line.strip_prefix("pub static "))?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    Some(&rest[..end]).filter(|n| !n.is_empty())
}
