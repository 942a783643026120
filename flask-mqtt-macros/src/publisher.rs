//! `publisher!`: declared publishers.
//!
//! ```text
//! publisher! {
//!     /// Switches a device on or off.
//!     pub static COMMAND: Command = "devices/{device_id}/command", qos = 1;
//! }
//! ```
//!
//! expands to
//!
//! ```text
//! /// Switches a device on or off.
//! pub static COMMAND: <krate>::__private::Publisher<Command, 1usize> = {
//!     static __FLASK_MQTT_PUBLISHER: <krate>::__private::PublisherDescriptor =
//!         <krate>::__private::PublisherDescriptor::new(
//!             "COMMAND",
//!             ::core::module_path!(),
//!             "devices/{device_id}/command",
//!         )
//!         .with_payload({ fn __flask_mqtt_payload(..) {..} __flask_mqtt_payload })
//!         .with_doc("Switches a device on or off.")
//!         .with_qos(1u8);
//!     <krate>::__private::inventory::submit! {
//!         <krate>::__private::PublisherEntry(&__FLASK_MQTT_PUBLISHER)
//!     }
//!     <krate>::__private::Publisher::__new(&__FLASK_MQTT_PUBLISHER)
//! };
//! ```
//!
//! The number of named levels (`1usize`) is part of the type, so `publish` takes exactly
//! that many values. The template follows the grammar of `on_message` filters, less
//! wildcards and `$share/` (`flask_mqtt_topic::TopicNameTemplate`); errors are spanned on
//! the offending token, and the static is still declared so that uses of it don't add
//! errors of their own.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Ident, LitStr, Token, Type, Visibility};

use crate::args::{push_error, Args, Kind};
use crate::expand::payload_setting;
use crate::krate;

/// One `static NAME: T = "template", key = value;` of a `publisher!` block.
struct Declaration {
    attrs: Vec<Attribute>,
    vis: Visibility,
    name: Ident,
    ty: Type,
    eq: Token![=],
    /// Everything after `=` up to the `;`.
    rest: TokenStream,
    /// `static mut`, refused.
    mutability: Option<Token![mut]>,
}

impl Parse for Declaration {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        if !input.peek(Token![static]) {
            return Err(input.error(
                "expected `static NAME: Type = \"topic/{name}\", ...;`, e.g. `pub static COMMAND: Command = \"devices/{id}/command\", qos = 1;`",
            ));
        }
        input.parse::<Token![static]>()?;
        let mutability = input.parse()?;
        let name = input.parse()?;
        input.parse::<Token![:]>()?;
        let ty = input.parse()?;
        let eq = input.parse()?;
        let mut rest = TokenStream::new();
        while !input.is_empty() && !input.peek(Token![;]) {
            rest.extend([input.parse::<TokenTree>()?]);
        }
        if !input.is_empty() {
            input.parse::<Token![;]>()?;
        }
        Ok(Declaration {
            attrs,
            vis,
            name,
            ty,
            eq,
            rest,
            mutability,
        })
    }
}

/// Expands `publisher! { <declarations> }`.
pub(crate) fn publishers(input: TokenStream) -> TokenStream {
    let declarations = match syn::parse::Parser::parse2(
        |input: ParseStream<'_>| {
            let mut all = Vec::new();
            while !input.is_empty() {
                all.push(input.parse::<Declaration>()?);
            }
            Ok(all)
        },
        input,
    ) {
        Ok(declarations) => declarations,
        Err(error) => return error.into_compile_error(),
    };
    if declarations.is_empty() {
        return syn::Error::new(
            Span::call_site(),
            "`publisher!` declares publishers: `publisher! { pub static COMMAND: Command = \"devices/{id}/command\", qos = 1; }`",
        )
        .into_compile_error();
    }
    declarations.iter().map(declaration).collect()
}

fn declaration(d: &Declaration) -> TokenStream {
    let mut errors = None;
    if let Some(token) = &d.mutability {
        push_error(
            &mut errors,
            syn::Error::new_spanned(
                token,
                "a publisher cannot be `static mut`: it is shared, and publishing needs no `mut`",
            ),
        );
    }
    // The topic is missing when nothing, a comma or `key = value` follows the `=`; any
    // other first argument is a topic that `Args` reports if it is no string literal.
    let mut rest = d.rest.clone().into_iter().peekable();
    let first = rest.next();
    let missing = match (&first, rest.peek()) {
        (None, _) => true,
        (Some(TokenTree::Punct(p)), _) if p.as_char() == ',' => true,
        (Some(TokenTree::Ident(_)), Some(TokenTree::Punct(p))) => p.as_char() == '=',
        _ => false,
    };
    // Without its leading comma, so that the one missing topic is reported once.
    let arguments = match &first {
        Some(TokenTree::Punct(p)) if p.as_char() == ',' => rest.collect(),
        _ => d.rest.clone(),
    };
    if missing {
        push_error(
            &mut errors,
            syn::Error::new(
                d.eq.span,
                format!(
                    "expected the topic after `=`, e.g. `static {}: {} = \"devices/{{id}}/command\", qos = 1`",
                    d.name,
                    {
                        let ty = &d.ty;
                        quote!(#ty).to_string().replace(' ', "")
                    }
                ),
            ),
        );
    }
    let args = Args::parse(Kind::Publisher, arguments);
    let args = match args {
        Ok(args) => Some(args),
        Err(error) => {
            push_error(&mut errors, error);
            None
        }
    };
    let tokens = expand(d, args.as_ref());
    match errors {
        Some(errors) => {
            let mut tokens = tokens;
            tokens.extend(errors.into_compile_error());
            tokens
        }
        None => tokens,
    }
}

/// The static and its registration; with `args` `None` (invalid), a stand-in static of
/// the same type, so that its uses type-check and only the macro's errors are reported.
fn expand(d: &Declaration, args: Option<&Args>) -> TokenStream {
    let krate = krate::runtime(args.and_then(|a| a.krate.as_ref()));
    let private = quote!(#krate::__private);
    let Declaration {
        attrs,
        vis,
        name,
        ty,
        ..
    } = d;
    let template = args.and_then(|a| a.filter.as_ref());
    let source = match template {
        Some((lit, _)) => lit.clone(),
        None => LitStr::new("", Span::call_site()),
    };
    let params = template.map_or_else(|| raw_param_count(&d.rest), |(_, t)| t.names().len());
    let descriptor = Ident::new("__FLASK_MQTT_PUBLISHER", Span::call_site());
    let name_text = name.to_string();

    let mut settings = TokenStream::new();
    let json: Type = syn::parse_quote!(#private::Json<#ty>);
    settings.extend(payload_setting(&private, std::iter::once(&json)));
    if let Some(doc) = doc_text(attrs) {
        settings.extend(quote!(.with_doc(#doc)));
    }
    if let Some(args) = args {
        if let Some((_, qos)) = &args.qos {
            settings.extend(quote!(.with_qos(#qos)));
        }
        if let Some(retain) = args.retain {
            settings.extend(quote!(.with_retain(#retain)));
        }
        if let Some(broker) = &args.broker {
            settings.extend(quote!(.with_broker(#broker)));
        }
    }
    let registration = args.map(|_| {
        quote! {
            #private::inventory::submit! {
                #private::PublisherEntry(&#descriptor)
            }
        }
    });
    quote! {
        #(#attrs)*
        #vis static #name: #private::Publisher<#ty, #params> = {
            static #descriptor: #private::PublisherDescriptor =
                #private::PublisherDescriptor::new(#name_text, ::core::module_path!(), #source)
                #settings;
            #registration
            #private::Publisher::__new(&#descriptor)
        };
    }
}

/// The number of `{...}` levels in the topic literal at the start of `rest`, for the
/// stand-in static of an invalid declaration.
fn raw_param_count(rest: &TokenStream) -> usize {
    let Some(TokenTree::Literal(lit)) = rest.clone().into_iter().next() else {
        return 0;
    };
    let Ok(lit) = syn::parse2::<LitStr>(TokenTree::Literal(lit).into()) else {
        return 0;
    };
    lit.value()
        .split('/')
        .filter(|level| level.starts_with('{'))
        .count()
}

/// The doc comment of a declaration, one line per `///` line.
fn doc_text(attrs: &[Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .filter_map(|attr| match &attr.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|line| line.strip_prefix(' ').unwrap_or(&line).to_owned())
        .collect();
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(tokens: TokenStream) -> Vec<String> {
        let file: syn::File = syn::parse2(publishers(tokens)).unwrap();
        file.items
            .iter()
            .filter_map(|item| match item {
                syn::Item::Macro(mac) if mac.mac.path.is_ident("compile_error") => {
                    Some(mac.mac.parse_body::<LitStr>().unwrap().value())
                }
                syn::Item::Macro(mac)
                    if mac
                        .mac
                        .path
                        .segments
                        .last()
                        .is_some_and(|s| s.ident == "compile_error") =>
                {
                    Some(mac.mac.parse_body::<LitStr>().unwrap().value())
                }
                _ => None,
            })
            .collect()
    }

    fn normalized(tokens: TokenStream) -> String {
        tokens.to_string()
    }

    #[test]
    fn expansion() {
        let text = normalized(publishers(quote! {
            /// Switches a device.
            ///
            /// On or off.
            pub static COMMAND: Command = "devices/{id}/command", qos = 1, retain = true, broker = "MQTT2";
        }));
        for expected in [
            quote!(#[doc = r" Switches a device."]),
            quote!(pub static COMMAND: ::flask_mqtt_actix::__private::Publisher<Command, 1usize> =),
            quote!(::flask_mqtt_actix::__private::PublisherDescriptor::new(
                "COMMAND",
                ::core::module_path!(),
                "devices/{id}/command"
            )),
            quote!(.with_doc("Switches a device.\n\nOn or off.")),
            quote!(.with_qos(1u8)),
            quote!(.with_retain(true)),
            quote!(.with_broker("MQTT2")),
            quote!(::flask_mqtt_actix::__private::PublisherEntry(
                &__FLASK_MQTT_PUBLISHER
            )),
            quote!(::flask_mqtt_actix::__private::payload_doc!(
                ::flask_mqtt_actix::__private::Json<Command>,
                __schemas
            )),
        ] {
            let expected = normalized(expected);
            assert!(text.contains(&expected), "{text}\n  lacks {expected}");
        }
        assert!(errors(quote!(
            static A: B = "a";
        ))
        .is_empty());
        // Several declarations; the last `;` is optional.
        let text = normalized(publishers(quote! {
            static A: B = "a";
            static C: D = "c/{x}/{y:#}", crate = "::my::mqtt"
        }));
        assert!(text.contains("Publisher < B , 0usize >"), "{text}");
        assert!(
            text.contains(":: my :: mqtt :: __private :: Publisher < D , 2usize >"),
            "{text}"
        );
    }

    #[test]
    fn mistakes() {
        for (tokens, expected) in [
            (
                quote!(static A: B = "a/+/b";),
                "invalid topic `a/+/b`: a topic to publish to cannot contain the wildcard `+` (level 2); name the level, e.g. `{id}`, and give its value when publishing",
            ),
            (
                quote!(static A: B = "a/#";),
                "invalid topic `a/#`: a topic to publish to cannot contain the wildcard `#` (level 2); name the levels, e.g. `{rest:#}`, and give their value when publishing",
            ),
            (
                quote!(static A: B = "$share/g/a";),
                "invalid topic `$share/g/a`: `$share/...` is a shared subscription, which is subscribed to, not published to; write the topic without `$share/<group>/`",
            ),
            (
                quote!(static A: B = "a/{id";),
                "invalid topic `a/{id`: unclosed `{` in level 2 (`{id`); a topic parameter is written `{name}`",
            ),
            (quote!(static A: B = "";), "a publisher's topic must not be empty"),
            (
                quote!(static A: B = "a", qos = 3;),
                "`qos` must be 0, 1 or 2, found `3`",
            ),
            (
                quote!(static A: B = "a", retain = 1;),
                "`retain` must be `true` or `false`, found `1`",
            ),
            (
                quote!(static A: B = "a", shared = "g";),
                "`publisher!` takes no `shared` argument; expected one of `qos`, `retain`, `broker`, `crate`",
            ),
            (
                quote!(static A: B = "a", queue = 3;),
                "`publisher!` takes no `queue` argument; expected one of `qos`, `retain`, `broker`, `crate`",
            ),
            (
                quote!(static A: B = "a", "b";),
                "a publisher has one topic, first after `=`, e.g. `static COMMAND: Command = \"devices/{id}/command\", qos = 1`",
            ),
            (
                quote!(static A: B = qos = 1;),
                "expected the topic after `=`, e.g. `static A: B = \"devices/{id}/command\", qos = 1`",
            ),
            (
                quote!(static mut A: B = "a";),
                "a publisher cannot be `static mut`: it is shared, and publishing needs no `mut`",
            ),
        ] {
            let found = errors(tokens.clone());
            assert!(
                found.iter().any(|e| e == expected),
                "{tokens}: {found:?}\n  lacks {expected}"
            );
        }
        assert_eq!(
            errors(quote!(const A: B = "a";)),
            ["expected `static NAME: Type = \"topic/{name}\", ...;`, e.g. `pub static COMMAND: Command = \"devices/{id}/command\", qos = 1;`"]
        );
    }

    /// One missing topic is one error, whatever follows the `=`.
    #[test]
    fn a_missing_topic_is_one_error() {
        let expected =
            "expected the topic after `=`, e.g. `static A: B = \"devices/{id}/command\", qos = 1`";
        for tokens in [
            quote!(static A: B = , qos = 1;),
            quote!(
                static A: B = qos = 1;
            ),
            quote!(static A: B = ;),
        ] {
            assert_eq!(errors(tokens.clone()), [expected], "{tokens}");
        }
    }

    #[test]
    fn an_invalid_declaration_still_declares_the_static() {
        let text = normalized(publishers(quote!(
            pub static A: B = "a/{x}/+/{y}";
        )));
        assert!(text.contains("pub static A"), "{text}");
        assert!(text.contains("Publisher < B , 2usize >"), "{text}");
        assert!(!text.contains("submit"), "{text}");
    }
}
