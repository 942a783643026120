//! Where the runtime lives, as seen from the crate being compiled.
//!
//! Generated code names everything through `<krate>::__private::...`. The path is, in order:
//!
//! 1. the `crate = "..."` argument, when given;
//! 2. `flask-mqtt-actix` as the calling crate's manifest names it, so a renamed dependency
//!    (`mqtt = { package = "flask-mqtt-actix", .. }`) works; inside `flask-mqtt-actix` itself
//!    (its doctests, tests and examples too) `::flask_mqtt_actix`, which it declares with
//!    `extern crate self as flask_mqtt_actix;`;
//! 3. `flask-mqtt-core` the same way;
//! 4. `::flask_mqtt_actix`, which gives an error naming the crate that is missing.

use proc_macro2::{Span, TokenStream};
use proc_macro_crate::{crate_name, FoundCrate};
use quote::{quote, ToTokens};
use syn::{Ident, Path};

/// The runtime crate users depend on.
const ACTIX: (&str, &str) = ("flask-mqtt-actix", "flask_mqtt_actix");
/// The runtime crate `flask-mqtt-actix` re-exports.
const CORE: (&str, &str) = ("flask-mqtt-core", "flask_mqtt_core");

/// The path of the runtime crate: `explicit` (from `crate = "..."`) or found in the manifest.
pub(crate) fn runtime(explicit: Option<&Path>) -> TokenStream {
    runtime_in(explicit, |package| crate_name(package).ok())
}

/// [`runtime`], with `find` telling how the calling crate's manifest names a package.
fn runtime_in(explicit: Option<&Path>, find: impl Fn(&str) -> Option<FoundCrate>) -> TokenStream {
    if let Some(path) = explicit {
        return path.to_token_stream();
    }
    let ident = [ACTIX, CORE]
        .into_iter()
        .find_map(|(package, itself)| match find(package)? {
            FoundCrate::Name(name) => Some(name),
            FoundCrate::Itself => Some(itself.to_owned()),
        })
        .unwrap_or_else(|| ACTIX.1.to_owned());
    let ident = Ident::new(&ident, Span::call_site());
    quote!(::#ident)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_path_wins() {
        let path: Path = syn::parse_quote!(::my_app::mqtt);
        assert_eq!(
            runtime(Some(&path)).to_string(),
            quote!(::my_app::mqtt).to_string()
        );
    }

    #[test]
    fn falls_back_to_flask_mqtt_actix() {
        // A manifest that names neither runtime crate.
        assert_eq!(
            runtime_in(None, |_| None).to_string(),
            quote!(::flask_mqtt_actix).to_string()
        );
    }

    #[test]
    fn finds_the_runtime_as_the_manifest_names_it() {
        let renamed = |package: &str| {
            (package == "flask-mqtt-actix").then(|| FoundCrate::Name("mqtt".to_owned()))
        };
        assert_eq!(
            runtime_in(None, renamed).to_string(),
            quote!(::mqtt).to_string()
        );
        let core_only = |package: &str| {
            (package == "flask-mqtt-core").then(|| FoundCrate::Name("flask_mqtt_core".to_owned()))
        };
        assert_eq!(
            runtime_in(None, core_only).to_string(),
            quote!(::flask_mqtt_core).to_string()
        );
        let itself = |package: &str| (package == "flask-mqtt-core").then_some(FoundCrate::Itself);
        assert_eq!(
            runtime_in(None, itself).to_string(),
            quote!(::flask_mqtt_core).to_string()
        );
    }
}
