//! [`dynsec_plugin`]: Mosquitto's dynamic-security plugin, for a broker that refuses a
//! SUBSCRIBE (Mosquitto 2.0's `acl_file` never does: it only filters what is delivered).

use std::path::{Path, PathBuf};

/// The path of Mosquitto's dynamic-security plugin, from Debian's `mosquitto` package (in
/// the architecture's library directory), for a broker started with
/// `.extra(format!("plugin {}", dynsec_plugin().display()))` and a
/// `plugin_opt_config_file`. Panics when it is not installed.
pub fn dynsec_plugin() -> PathBuf {
    let name = "mosquitto_dynamic_security.so";
    let lib = Path::new("/usr/lib");
    let arch_dirs = std::fs::read_dir(lib)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join(name));
    std::iter::once(lib.join(name))
        .chain(arch_dirs)
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no {name} under /usr/lib: install Debian's mosquitto"))
}
