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
    if let Some(path) = explicit {
        return path.to_token_stream();
    }
    let ident = [ACTIX, CORE]
        .into_iter()
        .find_map(|(package, itself)| match crate_name(package) {
            Ok(FoundCrate::Name(name)) => Some(name),
            Ok(FoundCrate::Itself) => Some(itself.to_owned()),
            Err(_) => None,
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
        // This crate's manifest depends on neither runtime crate.
        assert_eq!(
            runtime(None).to_string(),
            quote!(::flask_mqtt_actix).to_string()
        );
    }
}
