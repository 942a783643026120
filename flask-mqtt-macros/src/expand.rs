//! Code generation: the user's function, untouched, plus a registered wrapper.
//!
//! ```text
//! #[on_message("home/+/temperature", qos = 1)]
//! async fn temperature(msg: mqtt::Message) { .. }
//! ```
//!
//! expands to
//!
//! ```text
//! async fn temperature(msg: mqtt::Message) { .. }
//! const _: () = {
//!     static __FLASK_MQTT_ARGUMENT_1: (<krate>::__private::Extractor<mqtt::Message>, bool) = {
//!         let __value: (..) = (
//!             <krate>::__private::extract::<mqtt::Message>,
//!             <krate>::__private::takes_ack::<mqtt::Message>(),
//!         );
//!         // The checks of `typecheck`: a compile-time panic unless `mqtt::Message` is
//!         // available in `#[on_message]` handlers and, without `ack = "manual"`, takes
//!         // no acknowledgement.
//!         __value
//!     };
//!     fn __flask_mqtt_handler(
//!         __ctx: <krate>::__private::Arc<<krate>::__private::EventContext>,
//!     ) -> <krate>::__private::HandlerFuture {
//!         <krate>::__private::HandlerFuture::new(async move {
//!             let __arg0 = <krate>::__private::extract::<mqtt::Message>(&__ctx, "msg")?;
//!             <krate>::__private::IntoOutcome::into_outcome(temperature(__arg0).await)
//!         })
//!     }
//!     <krate>::__private::inventory::submit! {
//!         <krate>::__private::HandlerDescriptor::new(
//!             <krate>::__private::HandlerKind::Message,
//!             "temperature",
//!             ::core::module_path!(),
//!             <krate>::__private::HandlerFn::Async(__flask_mqtt_handler),
//!         )
//!         .with_source(::core::file!(), ::core::line!(), ::core::column!())
//!         .with_filter("home/+/temperature")
//!         .with_qos(1u8)
//!     }
//! };
//! ```
//!
//! Each further argument adds a `with_*` call: `.with_template("sensors/{id}/temperature")`
//! (next to the filter `sensors/+/temperature`) when the filter names levels,
//! `.with_broker("MQTT2")`, `.with_concurrency(4u32)`, `.with_queue(100u32)`,
//! `.with_ack_policy(<krate>::__private::AckPolicy::Manual)` for `ack = "manual"` and
//! `.with_nack_on_error()`.
//!
//! A function that is not `async` gets a wrapper returning `<krate>::__private::Outcome`
//! directly, registered as `HandlerFn::Sync`. When the function has a return type, its
//! value is first bound, `let __result = temperature(__arg0).await;`, and converted by
//! `static __FLASK_MQTT_RETURN: Converter<R>` (`IntoOutcome::into_outcome`, checked in
//! other kinds than `#[on_message]` not to be a `Reply`), spanned on the return type, so a
//! type that is no `IntoOutcome` is reported there (a return type with `impl Trait`,
//! which a `static` can't name, is converted in place, unchecked); likewise the
//! `HandlerFuture::new` of an `async` wrapper is spanned on the user's `async`, where a
//! future that is not `Send` is reported, and each `extract::<T>` on the argument's type,
//! where a `T` that is no `FromEvent` is reported. With `ack = "manual"`,
//! `static __FLASK_MQTT_MANUAL_ACK` checks that an argument takes the acknowledgement.
//!
//! `#[cfg(..)]` attributes of the function are copied onto the `const _` block.
//!
//! `Path<T>` arguments are checked against the filter's named levels where the types
//! show it: a `Path` without named levels, or a tuple with not as many elements as there
//! are levels, is an error on the argument's type.
//!
//! A message handler with a filter that takes a payload extractor (an argument whose type
//! is written `Json<..>` or `Text`, also inside `Option`/`Result`) registers, first among
//! the settings, `.with_payload({ fn __flask_mqtt_payload(..) {..} __flask_mqtt_payload })`:
//! a function describing the payload for the AsyncAPI document, which asks the runtime's
//! `payload_doc!` (autoref specialisation: a schema when `T: JsonSchema`, untyped JSON
//! otherwise) about each such argument type.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{
    FnArg, GenericArgument, Ident, Item, ItemFn, Pat, PathArguments, ReturnType, Signature, Token,
    Type,
};

use crate::args::{push_error, Args, Kind};
use crate::{krate, typecheck};

/// Expands `#[<kind>(<args>)] <item>`.
///
/// On error the item is emitted unchanged next to the errors, so a mistake in the attribute
/// gives exactly one message and no follow-on "cannot find function" errors, and IDEs keep
/// seeing the function.
pub(crate) fn handler(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    match try_handler(kind, args, item.clone()) {
        Ok(expanded) => expanded,
        Err(error) => input_and_compile_error(item, error),
    }
}

fn input_and_compile_error(mut item: TokenStream, error: syn::Error) -> TokenStream {
    item.extend(error.into_compile_error());
    item
}

fn try_handler(kind: Kind, args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args = Args::parse(kind, args);
    let function = parse_function(kind, item.clone()).and_then(|function| {
        check_signature(&function.sig)?;
        Ok(function)
    });
    let (args, function) = match (args, function) {
        (Ok(args), Ok(function)) => (args, function),
        (Err(mut error), Err(more)) => {
            error.combine(more);
            return Err(error);
        }
        (Err(error), _) | (_, Err(error)) => return Err(error),
    };
    check_paths(&args, &function.sig)?;
    let registration = registration(&args, &function);
    Ok(quote! {
        #item
        #registration
    })
}

/// The item as a function, or an error spanned on what it is instead.
fn parse_function(kind: Kind, item: TokenStream) -> syn::Result<ItemFn> {
    let message = format!("`#[{}]` can only be used on functions", kind.attribute());
    match syn::parse2::<Item>(item) {
        Ok(Item::Fn(function)) => Ok(function),
        Ok(other) => Err(syn::Error::new_spanned(item_head(&other), message)),
        // Not even an item syn understands: point at all of it.
        Err(error) => Err(syn::Error::new(error.span(), message)),
    }
}

/// The part of an item that says what it is: `struct Foo`, `impl Foo`, `mod foo`, ...
fn item_head(item: &Item) -> TokenStream {
    match item {
        Item::Const(item) => {
            let (token, ident) = (&item.const_token, &item.ident);
            quote!(#token #ident)
        }
        Item::Enum(item) => {
            let (token, ident) = (&item.enum_token, &item.ident);
            quote!(#token #ident)
        }
        Item::ExternCrate(item) => {
            let (token, ident) = (&item.extern_token, &item.ident);
            quote!(#token #ident)
        }
        Item::ForeignMod(item) => item.abi.to_token_stream(),
        Item::Impl(item) => {
            let (token, ty) = (&item.impl_token, &item.self_ty);
            quote!(#token #ty)
        }
        Item::Macro(item) => item.mac.path.to_token_stream(),
        Item::Mod(item) => {
            let (token, ident) = (&item.mod_token, &item.ident);
            quote!(#token #ident)
        }
        Item::Static(item) => {
            let (token, ident) = (&item.static_token, &item.ident);
            quote!(#token #ident)
        }
        Item::Struct(item) => {
            let (token, ident) = (&item.struct_token, &item.ident);
            quote!(#token #ident)
        }
        Item::Trait(item) => {
            let (token, ident) = (&item.trait_token, &item.ident);
            quote!(#token #ident)
        }
        Item::TraitAlias(item) => {
            let (token, ident) = (&item.trait_token, &item.ident);
            quote!(#token #ident)
        }
        Item::Type(item) => {
            let (token, ident) = (&item.type_token, &item.ident);
            quote!(#token #ident)
        }
        Item::Union(item) => {
            let (token, ident) = (&item.union_token, &item.ident);
            quote!(#token #ident)
        }
        Item::Use(item) => {
            let (token, tree) = (&item.use_token, &item.tree);
            quote!(#token #tree)
        }
        other => other.to_token_stream(),
    }
}

/// Rejects what a handler can't be: the runtime calls it through a plain `fn` pointer with
/// arguments extracted from the event.
fn check_signature(sig: &Signature) -> syn::Result<()> {
    let mut errors = None;
    let mut reject = |tokens: &dyn ToTokens, message: &str| {
        push_error(&mut errors, syn::Error::new_spanned(tokens, message));
    };
    if let Some(token) = &sig.constness {
        reject(token, "handler functions cannot be `const`");
    }
    if let Some(token) = &sig.unsafety {
        reject(token, "handler functions cannot be `unsafe`");
    }
    if let Some(abi) = &sig.abi {
        let abi_text = match &abi.name {
            Some(name) => format!("extern {}", name.token()),
            None => "extern".to_owned(),
        };
        reject(abi, &format!("handler functions cannot be `{abi_text}`"));
    }
    if !sig.generics.params.is_empty() {
        reject(&sig.generics, "handler functions cannot be generic");
    } else if let Some(where_clause) = &sig.generics.where_clause {
        reject(where_clause, "handler functions cannot be generic");
    }
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => reject(receiver, "handler functions cannot take `self`"),
            FnArg::Typed(arg) => {
                // The wrapper extracts and passes every argument it sees: one removed by
                // `#[cfg]` would still be passed, so the call would not match.
                for attr in &arg.attrs {
                    if attr.path().is_ident("cfg") {
                        reject(
                            attr,
                            "`#[cfg]` is not supported on a handler argument: the generated wrapper would still extract and pass it; put `#[cfg(...)]` on the whole handler function instead",
                        );
                    } else if attr.path().is_ident("cfg_attr") {
                        if let Some(added) = cfg_attr_not_harmless(attr) {
                            reject(
                                &added,
                                &format!(
                                    "`#[cfg_attr]` on a handler argument may only add lint attributes (`allow`, `expect`, `warn`, `deny`, `forbid`) or `doc`, not `{}`: the generated wrapper would still extract and pass the argument as written; put `#[cfg(...)]` on the whole handler function instead",
                                    path_text(added.path())
                                ),
                            );
                        }
                    }
                }
                if let Type::ImplTrait(ty) = &*arg.ty {
                    reject(
                        ty,
                        "handler functions cannot be generic: name the argument's type instead of `impl Trait`",
                    );
                }
            }
        }
    }
    if let Some(variadic) = &sig.variadic {
        reject(variadic, "handler functions cannot be variadic");
    }
    match errors {
        Some(errors) => Err(errors),
        None => Ok(()),
    }
}

/// Attributes that neither remove nor change an argument: the lint levels, and `doc`
/// (which rustc refuses on a parameter itself, in its own words).
const HARMLESS_ON_ARGUMENT: [&str; 6] = ["allow", "expect", "warn", "deny", "forbid", "doc"];

/// The first attribute `#[cfg_attr(predicate, attributes..)]` would add that is not
/// [`HARMLESS_ON_ARGUMENT`] (a nested `cfg_attr` is looked into), for example `cfg(..)`,
/// which removes the argument. `None` when every one is harmless, and when the attribute is
/// malformed: rustc reports that itself.
fn cfg_attr_not_harmless(attr: &syn::Attribute) -> Option<syn::Meta> {
    let list = attr.parse_args_with(Punctuated::<syn::Meta, Token![,]>::parse_terminated);
    first_not_harmless(list.ok()?)
}

/// [`cfg_attr_not_harmless`] on the parsed arguments of a `cfg_attr`.
fn first_not_harmless(list: Punctuated<syn::Meta, Token![,]>) -> Option<syn::Meta> {
    list.into_iter().skip(1).find_map(|added| {
        let path = added.path();
        if path.is_ident("cfg_attr") {
            let syn::Meta::List(nested) = &added else {
                return None;
            };
            let list = nested.parse_args_with(Punctuated::<syn::Meta, Token![,]>::parse_terminated);
            return first_not_harmless(list.ok()?);
        }
        let harmless = HARMLESS_ON_ARGUMENT.iter().any(|name| path.is_ident(name));
        (!harmless).then_some(added)
    })
}

/// A path as written in a message: `cfg`, `rustfmt::skip`.
fn path_text(path: &syn::Path) -> String {
    let segments: Vec<String> = path
        .segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect();
    segments.join("::")
}

/// `T` when `ty` is written `Path<T>` (any path ending in `Path` with one type argument).
fn path_argument(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let segment = path.path.segments.last()?;
    if segment.ident != "Path" {
        return None;
    }
    let PathArguments::AngleBracketed(generics) = &segment.arguments else {
        return None;
    };
    let mut types = generics.args.iter().filter_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    });
    match (types.next(), types.next()) {
        (Some(ty), None) => Some(ty),
        _ => None,
    }
}

/// Checks each `Path<T>` argument against the filter's named levels, where the types
/// show what `T` expects: that there are named levels at all, and that a tuple has one
/// element per level. (Struct fields and single values are checked when a message
/// arrives; a mismatch is a rejection naming the parameters.)
fn check_paths(args: &Args, sig: &Signature) -> syn::Result<()> {
    let mut errors = None;
    for input in &sig.inputs {
        let FnArg::Typed(input) = input else { continue };
        let Some(inner) = path_argument(&input.ty) else {
            continue;
        };
        let template = args.filter.as_ref().map(|(_, t)| t);
        let names: Vec<&str> = template.map(|t| t.names().collect()).unwrap_or_default();
        let error = match (template, args.kind) {
            (Some(t), _) if names.is_empty() => Some(syn::Error::new_spanned(
                &input.ty,
                format!(
                    "`Path` reads named levels of the topic, but the filter `{t}` names none; name a level like `sensors/{{sensor_id}}/temperature`"
                ),
            )),
            (None, Kind::Message) => Some(syn::Error::new_spanned(
                &input.ty,
                "`Path` reads named levels of the topic, and a catch-all `#[on_message]` has no filter; give it one like `#[on_message(\"sensors/{sensor_id}/temperature\")]`",
            )),
            (None, kind) => Some(syn::Error::new_spanned(
                &input.ty,
                format!(
                    "`Path` reads named levels of a message's topic; `#[{}]` handlers receive no message",
                    kind.attribute()
                ),
            )),
            (Some(t), _) => match inner {
                Type::Tuple(tuple) if tuple.elems.len() != names.len() => {
                    let list = names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let plural = |n: usize, word: &str| {
                        if n == 1 {
                            format!("{n} {word}")
                        } else {
                            format!("{n} {word}s")
                        }
                    };
                    Some(syn::Error::new_spanned(
                        tuple,
                        format!(
                            "this tuple has {} but the filter `{t}` has {} ({list}); use one element per parameter, in order",
                            plural(tuple.elems.len(), "element"),
                            plural(names.len(), "topic parameter"),
                        ),
                    ))
                }
                _ => None,
            },
        };
        if let Some(error) = error {
            push_error(&mut errors, error);
        }
    }
    match errors {
        Some(errors) => Err(errors),
        None => Ok(()),
    }
}

/// Whether `ty` is written as a payload extractor the AsyncAPI document describes: a path
/// ending in `Json<..>` or `Text`, or `Option`/`Result` of one. (By the written name: a
/// renamed import is documented as any payload.)
pub(crate) fn is_payload_type(ty: &Type) -> bool {
    let Type::Path(path) = ty else { return false };
    let Some(segment) = path.path.segments.last() else {
        return false;
    };
    if segment.ident == "Json" || segment.ident == "Text" {
        return true;
    }
    if segment.ident != "Option" && segment.ident != "Result" {
        return false;
    }
    let PathArguments::AngleBracketed(generics) = &segment.arguments else {
        return false;
    };
    matches!(generics.args.first(), Some(GenericArgument::Type(inner)) if is_payload_type(inner))
}

/// `.with_payload(..)`: a function describing the payload of the first of `types` the
/// runtime can describe; nothing when there are none.
pub(crate) fn payload_setting<'a>(
    private: &TokenStream,
    types: impl Iterator<Item = &'a Type>,
) -> TokenStream {
    let types: Vec<&Type> = types.collect();
    if types.is_empty() {
        return TokenStream::new();
    }
    let schemas = Ident::new("__schemas", Span::call_site());
    quote! {
        .with_payload({
            fn __flask_mqtt_payload(
                #schemas: &mut #private::Schemas,
            ) -> ::core::option::Option<#private::PayloadDoc> {
                #(
                    if let ::core::option::Option::Some(__doc) = #private::payload_doc!(#types, #schemas) {
                        return ::core::option::Option::Some(__doc);
                    }
                )*
                ::core::option::Option::None
            }
            __flask_mqtt_payload
        })
    }
}

/// `tokens` with every span set to `span`, so errors about them point there.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                let mut respanned = Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                token = TokenTree::Group(respanned);
            } else {
                token.set_span(span);
            }
            token
        })
        .collect()
}

/// The name the runtime reports for the argument at `index` when it can't be extracted:
/// the binding, also inside a one-field pattern such as `Json(reading)`.
fn argument_name(pat: &Pat, index: usize) -> String {
    match pat {
        Pat::Ident(pat) => pat.ident.unraw().to_string(),
        Pat::Wild(_) => "_".to_owned(),
        Pat::TupleStruct(pat) if pat.elems.len() == 1 => match pat.elems.first() {
            Some(inner @ (Pat::Ident(_) | Pat::TupleStruct(_))) => argument_name(inner, index),
            _ => format!("argument {}", index + 1),
        },
        _ => format!("argument {}", index + 1),
    }
}

/// `const _: () = { <wrapper> <inventory::submit!> };`
fn registration(args: &Args, function: &ItemFn) -> TokenStream {
    let krate = krate::runtime(args.krate.as_ref());
    let private = quote!(#krate::__private);
    let sig = &function.sig;
    let ident = &sig.ident;
    let wrapper = Ident::new("__flask_mqtt_handler", Span::call_site());
    let ctx = Ident::new("__ctx", Span::call_site());

    // Each argument's extractor and the return type's conversion come from `const`s that
    // check them first (`typecheck`).
    let mut checked = Vec::new();
    let mut held = Vec::new();
    let mut extractions = Vec::new();
    let mut call_args = Vec::new();
    for (index, input) in sig.inputs.iter().enumerate() {
        // `check_signature` rejected receivers.
        let FnArg::Typed(input) = input else { continue };
        let arg = format_ident!("__arg{}", index);
        let name = argument_name(&input.pat, index);
        let argument = format_ident!("__FLASK_MQTT_ARGUMENT_{}", index + 1);
        checked.push(typecheck::argument(&private, args, &input.ty, &argument));
        // A direct call, which the compiler may inline with the extractor (a call through
        // the `static`'s function pointer is never inlined). Spanned and written as the
        // `static`'s `extract::<ty>`, so that a type that is no `FromEvent` gets the same
        // error from both, which the compiler reports once.
        let ty = &input.ty;
        let extract = quote_spanned!(ty.span()=> #private::extract::<#ty>);
        extractions.push(quote! {
            let #arg = #extract(&#ctx, #name)?;
        });
        held.push(argument);
        call_args.push(arg);
    }
    checked.push(typecheck::manual_ack(args, ident, &held));

    let awaited = sig.asyncness.map(|_| quote!(.await));
    let call = quote!(#ident(#(#call_args),*) #awaited);
    // A return type that is no `IntoOutcome` is reported on the return type alone: the
    // converted value and the trait path both carry its span.
    let outcome = match &sig.output {
        ReturnType::Default => quote!(#private::IntoOutcome::into_outcome(#call)),
        ReturnType::Type(_, ty) => {
            let span = ty.span();
            let result = Ident::new("__result", span);
            let spanned = respan(private.clone(), span);
            let convert = if typecheck::has_impl_trait(ty) {
                // A `const` can't name it: converted in place, unchecked.
                quote_spanned!(span=> #spanned::IntoOutcome::into_outcome(#result))
            } else {
                let conversion = Ident::new("__FLASK_MQTT_RETURN", Span::call_site());
                checked.push(typecheck::return_type(
                    &private,
                    &spanned,
                    args.kind,
                    ty,
                    &conversion,
                ));
                quote!(#conversion(#result))
            };
            quote! {
                let #result = #call;
                #convert
            }
        }
    };
    let (wrapper_fn, handler_fn) = match &sig.asyncness {
        Some(asyncness) => {
            // A future that is not `Send` is reported on the user's `async`.
            let span = asyncness.span;
            let new_future = respan(quote!(#private::HandlerFuture::new), span);
            let future = quote_spanned! {span=>
                #new_future(async move {
                    #(#extractions)*
                    #outcome
                })
            };
            (
                quote! {
                    fn #wrapper(#ctx: #private::Arc<#private::EventContext>) -> #private::HandlerFuture {
                        #future
                    }
                },
                quote!(#private::HandlerFn::Async(#wrapper)),
            )
        }
        None => (
            quote! {
                fn #wrapper(#ctx: #private::Arc<#private::EventContext>) -> #private::Outcome {
                    #(#extractions)*
                    #outcome
                }
            },
            quote!(#private::HandlerFn::Sync(#wrapper)),
        ),
    };

    let kind = Ident::new(args.kind.variant(), Span::call_site());
    let name = ident.unraw().to_string();
    let mut settings = TokenStream::new();
    if let (Kind::Message, Some(_)) = (args.kind, &args.filter) {
        let payloads = sig.inputs.iter().filter_map(|input| match input {
            FnArg::Typed(input) if is_payload_type(&input.ty) => Some(&*input.ty),
            _ => None,
        });
        settings.extend(payload_setting(&private, payloads));
    }
    if let Some((lit, template)) = &args.filter {
        let filter = template.filter().as_str();
        settings.extend(quote!(.with_filter(#filter)));
        if template.has_params() {
            settings.extend(quote!(.with_template(#lit)));
        }
    }
    if let Some((_, qos)) = &args.qos {
        settings.extend(quote!(.with_qos(#qos)));
    }
    if let Some(broker) = &args.broker {
        settings.extend(quote!(.with_broker(#broker)));
    }
    if let Some(concurrency) = args.concurrency {
        settings.extend(quote!(.with_concurrency(#concurrency)));
    }
    if let Some(queue) = args.queue {
        settings.extend(quote!(.with_queue(#queue)));
    }
    if let Some((_, choice)) = &args.ack {
        let variant = Ident::new(choice.variant(), Span::call_site());
        settings.extend(quote!(.with_ack_policy(#private::AckPolicy::#variant)));
    }
    if args.nack_on_error.is_some() {
        settings.extend(quote!(.with_nack_on_error()));
    }
    // A handler that is compiled out takes its registration with it.
    let cfgs = function
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"));

    quote! {
        #(#cfgs)*
        const _: () = {
            #(#checked)*
            #[allow(deprecated)]
            #wrapper_fn
            #private::inventory::submit! {
                #private::HandlerDescriptor::new(
                    #private::HandlerKind::#kind,
                    #name,
                    ::core::module_path!(),
                    #handler_fn,
                )
                .with_source(::core::file!(), ::core::line!(), ::core::column!())
                #settings
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
        handler(kind, args, item)
    }

    /// The expansion parsed as items: (user's function, the `const _` block's items but
    /// the checking `static`s of `typecheck`, see [`consts`]).
    fn items(expanded: TokenStream) -> (ItemFn, Vec<Item>) {
        let (function, inner) = all_items(expanded);
        let inner = inner
            .into_iter()
            .filter(|item| !matches!(item, Item::Static(_)))
            .collect();
        (function, inner)
    }

    /// The checking `static`s of an expansion, as text, by name.
    fn consts(expanded: TokenStream) -> Vec<(String, String)> {
        all_items(expanded)
            .1
            .into_iter()
            .filter_map(|item| match item {
                Item::Static(item) => Some((item.ident.to_string(), normalized(&item))),
                _ => None,
            })
            .collect()
    }

    /// The expansion parsed as items: (user's function, the `const _` block's items).
    fn all_items(expanded: TokenStream) -> (ItemFn, Vec<Item>) {
        let file: syn::File = syn::parse2(expanded).unwrap();
        assert_eq!(
            file.items.len(),
            2,
            "expected the function and the const block"
        );
        let Item::Fn(function) = &file.items[0] else {
            panic!("first item is not the function")
        };
        let Item::Const(block) = &file.items[1] else {
            panic!("second item is not `const _`")
        };
        assert_eq!(block.ident, "_");
        let syn::Expr::Block(expr) = &*block.expr else {
            panic!("`const _` is not a block")
        };
        let inner = expr
            .block
            .stmts
            .iter()
            .map(|stmt| match stmt {
                syn::Stmt::Item(item) => item.clone(),
                syn::Stmt::Macro(mac) => Item::Macro(syn::ItemMacro {
                    attrs: mac.attrs.clone(),
                    ident: None,
                    mac: mac.mac.clone(),
                    semi_token: mac.semi_token,
                }),
                other => panic!("unexpected statement {}", other.to_token_stream()),
            })
            .collect();
        (function.clone(), inner)
    }

    fn compile_errors(expanded: &TokenStream) -> Vec<String> {
        let file: syn::File = syn::parse2(expanded.clone()).unwrap();
        file.items
            .iter()
            .filter_map(|item| match item {
                Item::Macro(mac)
                    if mac
                        .mac
                        .path
                        .segments
                        .last()
                        .is_some_and(|segment| segment.ident == "compile_error") =>
                {
                    let lit: syn::LitStr = mac.mac.parse_body().unwrap();
                    Some(lit.value())
                }
                _ => None,
            })
            .collect()
    }

    fn normalized(tokens: impl ToTokens) -> String {
        tokens.to_token_stream().to_string()
    }

    #[test]
    fn async_message_handler() {
        let item: ItemFn = parse_quote! {
            /// Docs.
            #[inline]
            pub async fn temperature(msg: mqtt::Message, mut c: mqtt::Mqtt) -> R { body() }
        };
        let expanded = expand(
            Kind::Message,
            quote!("home/+/temperature", qos = 1),
            item.to_token_stream(),
        );
        let (function, inner) = items(expanded);
        assert_eq!(function, item, "the user's function must be untouched");
        assert_eq!(inner.len(), 2);

        let Item::Fn(wrapper) = &inner[0] else {
            panic!("no wrapper")
        };
        assert_eq!(wrapper.sig.ident, "__flask_mqtt_handler");
        assert!(wrapper.sig.asyncness.is_none());
        assert_eq!(
            normalized(&wrapper.sig.output),
            normalized(quote!(-> ::flask_mqtt_actix::__private::HandlerFuture))
        );
        let body = normalized(&wrapper.block);
        assert!(
            body.contains(":: flask_mqtt_actix :: __private :: HandlerFuture :: new (async move {"),
            "{body}"
        );
        for expected in [
            quote!(let __arg0 = ::flask_mqtt_actix::__private::extract::<mqtt::Message>(&__ctx, "msg")?;),
            quote!(let __arg1 = ::flask_mqtt_actix::__private::extract::<mqtt::Mqtt>(&__ctx, "c")?;),
            quote!(let __result = temperature(__arg0, __arg1).await;),
            quote!(__FLASK_MQTT_RETURN(__result)),
        ] {
            let expected = normalized(expected);
            assert!(body.contains(&expected), "{body}\n  lacks {expected}");
        }

        let Item::Macro(submit) = &inner[1] else {
            panic!("no submit!")
        };
        assert_eq!(
            normalized(&submit.mac.path),
            normalized(quote!(::flask_mqtt_actix::__private::inventory::submit))
        );
        let descriptor: syn::Expr = submit.mac.parse_body().unwrap();
        assert_eq!(
            normalized(&descriptor),
            normalized(quote!(
                ::flask_mqtt_actix::__private::HandlerDescriptor::new(
                    ::flask_mqtt_actix::__private::HandlerKind::Message,
                    "temperature",
                    ::core::module_path!(),
                    ::flask_mqtt_actix::__private::HandlerFn::Async(__flask_mqtt_handler),
                )
                .with_source(::core::file!(), ::core::line!(), ::core::column!())
                .with_filter("home/+/temperature")
                .with_qos(1u8)
            ))
        );
    }

    /// The descriptor expression of an expansion.
    fn descriptor(expanded: TokenStream) -> String {
        let (_, inner) = items(expanded);
        let Item::Macro(submit) = &inner[1] else {
            panic!("no submit!")
        };
        let descriptor: syn::Expr = submit.mac.parse_body().unwrap();
        normalized(descriptor)
    }

    #[test]
    fn every_setting() {
        let text = descriptor(expand(
            Kind::Message,
            quote!(
                "$share/g/sensors/{id}/{rest:#}",
                qos = 2,
                broker = "MQTT2",
                concurrency = 4,
                queue = 10
            ),
            quote!(
                async fn reading() {}
            ),
        ));
        let expected = normalized(quote!(
            .with_filter("$share/g/sensors/+/#")
            .with_template("$share/g/sensors/{id}/{rest:#}")
            .with_qos(2u8)
            .with_broker("MQTT2")
            .with_concurrency(4u32)
            .with_queue(10u32)
        ));
        assert!(text.ends_with(&expected), "{text}\n  lacks {expected}");

        let text = descriptor(expand(
            Kind::Connect,
            quote!(broker = "OTHER"),
            quote!(
                fn connected() {}
            ),
        ));
        assert!(
            text.ends_with(&normalized(quote!(.with_broker("OTHER")))),
            "{text}"
        );
    }

    #[test]
    fn ack_settings() {
        let text = descriptor(expand(
            Kind::Message,
            quote!("jobs/#", qos = 1, ack = "manual", nack_on_error),
            quote!(
                async fn job(msg: mqtt::Message, ack: mqtt::Ack) {}
            ),
        ));
        let expected = normalized(quote!(
            .with_filter("jobs/#")
            .with_qos(1u8)
            .with_ack_policy(::flask_mqtt_actix::__private::AckPolicy::Manual)
            .with_nack_on_error()
        ));
        assert!(text.ends_with(&expected), "{text}\n  lacks {expected}");
        for (choice, variant) in [("after", "After"), ("first", "First")] {
            let text = descriptor(expand(
                Kind::Message,
                quote!(ack = #choice),
                quote!(
                    fn other() {}
                ),
            ));
            let variant = Ident::new(variant, Span::call_site());
            let expected = normalized(quote!(
                .with_ack_policy(::flask_mqtt_actix::__private::AckPolicy::#variant)
            ));
            assert!(text.ends_with(&expected), "{text}\n  lacks {expected}");
        }
        // Neither written: the configuration decides, the descriptor says nothing.
        let text = descriptor(expand(
            Kind::Message,
            quote!("jobs/#", qos = 1, nack_on_error = false),
            quote!(
                fn job() {}
            ),
        ));
        assert!(!text.contains("with_ack_policy"), "{text}");
        assert!(!text.contains("with_nack_on_error"), "{text}");
    }

    /// `ack = "manual"` is checked against the argument types (an alias or a renamed
    /// `Ack` counts): a `static` that fails unless one of them takes the acknowledgement.
    #[test]
    fn manual_ack_needs_an_ack_argument() {
        let checks = consts(expand(
            Kind::Message,
            quote!("jobs/#", qos = 1, ack = "manual"),
            quote!(
                async fn job(msg: mqtt::Message, a: Receipt) {}
            ),
        ));
        let (_, manual) = checks
            .iter()
            .find(|(name, _)| name == "__FLASK_MQTT_MANUAL_ACK")
            .unwrap();
        let expected = normalized(quote!(
            #[allow(dead_code)]
            static __FLASK_MQTT_MANUAL_ACK: () = if !(false
                || __FLASK_MQTT_ARGUMENT_1.1
                || __FLASK_MQTT_ARGUMENT_2.1)
            {
                ::core::panic!("{}", "`ack = \"manual\"` needs an `Ack` argument to acknowledge the message with; add one like `ack: mqtt::Ack` to `job` and call `ack.ack()`, or choose `ack = \"after\"`")
            };
        ));
        assert_eq!(manual, &expected);
        // Each argument's `const` says whether it takes the acknowledgement.
        let (_, second) = &checks[1];
        assert!(
            second.contains(&normalized(quote!(
                let __value: (::flask_mqtt_actix::__private::Extractor<Receipt>, ::core::primitive::bool) = (
                    ::flask_mqtt_actix::__private::extract::<Receipt>,
                    ::flask_mqtt_actix::__private::takes_ack::<Receipt>()
                );
            ))),
            "{second}"
        );
        // Without arguments, still checked (and failing).
        let checks = consts(expand(
            Kind::Message,
            quote!(ack = "manual"),
            quote!(
                fn job() {}
            ),
        ));
        assert_eq!(checks.len(), 1);
        assert!(
            checks[0]
                .1
                .contains("static __FLASK_MQTT_MANUAL_ACK : () = if ! (false) {"),
            "{:?}",
            checks[0]
        );
        // No check without `ack = "manual"`.
        for args in [
            quote!("jobs/#", qos = 1),
            quote!("jobs/#", qos = 1, ack = "after"),
        ] {
            let checks = consts(expand(
                Kind::Message,
                args,
                quote!(
                    fn job(msg: mqtt::Message) {}
                ),
            ));
            assert!(
                checks
                    .iter()
                    .all(|(name, _)| name != "__FLASK_MQTT_MANUAL_ACK"),
                "{checks:?}"
            );
        }
    }

    /// Each argument is checked for the handler's kind, and in a message handler without
    /// `ack = "manual"` for taking the acknowledgement; messages name the type as written.
    #[test]
    fn arguments_are_checked_for_the_kind() {
        let checks = consts(expand(
            Kind::Connect,
            quote!(),
            quote!(
                fn connected(m: Option<mqtt::Message>) {}
            ),
        ));
        assert_eq!(checks.len(), 1);
        let (name, check) = &checks[0];
        assert_eq!(name, "__FLASK_MQTT_ARGUMENT_1");
        for expected in [
            quote!(if !::flask_mqtt_actix::__private::argument_fits::<Option<mqtt::Message>>(
                ::flask_mqtt_actix::__private::HandlerKind::Connect
            )),
            quote!(match ::flask_mqtt_actix::__private::argument_home::<Option<mqtt::Message>>()),
            quote!(::core::option::Option::Some(::flask_mqtt_actix::__private::HandlerKind::Message) =>
                ::core::panic!("{}", "`Option<mqtt::Message>` is only available in `#[on_message]` handlers, not in `#[on_connect]`; an `#[on_connect]` handler takes `mqtt::Connected` (the event), `mqtt::Mqtt` or `mqtt::State<T>`"),
            ),
            quote!(_ => ::core::panic!("{}", "`Option<mqtt::Message>` is not available in `#[on_connect]` handlers (its `FromEvent::AVAILABLE_IN` leaves them out); an `#[on_connect]` handler takes `mqtt::Connected` (the event), `mqtt::Mqtt` or `mqtt::State<T>`"),),
        ] {
            let expected = squeezed(normalized(expected));
            assert!(
                squeezed(check).contains(&expected),
                "{check}\n  lacks {expected}"
            );
        }
        // An arm for every kind but the handler's own.
        assert!(!check.contains("HandlerKind :: Connect) =>"), "{check}");
        assert_eq!(check.matches("Option :: Some").count(), 6, "{check}");
        assert!(
            !check.contains("takes_ack :: < Option < mqtt :: Message > > ()) {"),
            "{check}"
        );

        for (args, checked) in [
            (quote!("jobs/#", qos = 1), true),
            (quote!("jobs/#", qos = 1, ack = "first"), true),
            (quote!("jobs/#", qos = 1, ack = "manual"), false),
        ] {
            let checks = consts(expand(
                Kind::Message,
                args.clone(),
                quote!(
                    fn job(a: mqtt::Ack) {}
                ),
            ));
            let check = &checks[0].1;
            let ack = normalized(quote!(
                if ::flask_mqtt_actix::__private::takes_ack::<mqtt::Ack>() {}
            ));
            let ack = ack.trim_end_matches("{ }");
            assert_eq!(check.contains(ack), checked, "{args}: {check}");
        }
        let check = &consts(expand(
            Kind::Message,
            quote!("jobs/#", qos = 1, ack = "after"),
            quote!(
                fn job(a: mqtt::Ack) {}
            ),
        ))[0]
            .1;
        assert!(check.contains("`mqtt::Ack` takes the message's acknowledgement, which the handler holds only with `ack = \\\"manual\\\"`, not `ack = \\\"after\\\"`: add `ack = \\\"manual\\\"` to the attribute"), "{check}");
    }

    /// Only `#[on_message]` handlers may return a `Reply`: the return type's `static`
    /// checks it in the others. A return type with `impl Trait` can't be a `static`'s
    /// type: converted in place, unchecked.
    #[test]
    fn return_types_are_checked_for_the_kind() {
        let checks = consts(expand(
            Kind::Log,
            quote!(),
            quote!(
                fn log() -> Result<Option<mqtt::Reply>, String> {}
            ),
        ));
        assert_eq!(checks.len(), 1);
        let (name, check) = &checks[0];
        assert_eq!(name, "__FLASK_MQTT_RETURN");
        for expected in [
            quote!(let __value: ::flask_mqtt_actix::__private::Converter<Result<Option<mqtt::Reply>, String>> =
                <Result<Option<mqtt::Reply>, String> as ::flask_mqtt_actix::__private::IntoOutcome>::into_outcome;),
            quote!(
                if ::flask_mqtt_actix::__private::replies::<Result<Option<mqtt::Reply>, String>>() {
                    ::core::panic!("{}", "an `#[on_log]` handler can't return `Result<Option<mqtt::Reply>, String>`: a `Reply` answers the request an `#[on_message]` handler received, and `#[on_log]` has none; return `()` or `Result<(), E>`")
                }
            ),
        ] {
            let expected = squeezed(normalized(expected));
            assert!(
                squeezed(check).contains(&expected),
                "{check}\n  lacks {expected}"
            );
        }
        let check = &consts(expand(
            Kind::Message,
            quote!(),
            quote!(
                fn other() -> mqtt::Reply {}
            ),
        ))[0]
            .1;
        assert!(!check.contains("replies"), "{check}");
        let expanded = expand(
            Kind::Connect,
            quote!(),
            quote!(
                fn connected() -> Box<dyn Fn() -> impl Sized> {}
            ),
        );
        assert!(consts(expanded.clone()).is_empty());
        assert!(expanded
            .to_string()
            .contains(&normalized(quote!(IntoOutcome::into_outcome(__result)))));
    }

    /// `text` without spaces: `>>` and `> >` are the same tokens.
    fn squeezed(text: impl AsRef<str>) -> String {
        text.as_ref().replace(' ', "")
    }

    #[test]
    fn types_as_written() {
        for (ty, text) in [
            (quote!(mqtt::Message), "mqtt::Message"),
            (
                quote!(::flask_mqtt_actix::Json<Vec<(u8, String)>>),
                "::flask_mqtt_actix::Json<Vec<(u8, String)>>",
            ),
            (quote!(Option<&'static [u8; 4]>), "Option<&'static [u8; 4]>"),
            (
                quote!(Result<Text, <Text as FromEvent>::Rejection>),
                "Result<Text, <Text as FromEvent>::Rejection>",
            ),
            (
                quote!(Box<dyn Fn(u8) -> u8 + Send>),
                "Box<dyn Fn(u8) -> u8 + Send>",
            ),
            (quote!(&'a mut [T]), "&'a mut [T]"),
            (quote!(&'a (u8, &mut (u8,))), "&'a (u8, &mut (u8,))"),
            (quote!(Foo<{ N }, Item = u8>), "Foo<{ N }, Item = u8>"),
        ] {
            let ty: Type = syn::parse2(ty).unwrap();
            assert_eq!(typecheck::written(&ty), text);
        }
    }

    #[test]
    fn a_filter_without_names_has_no_template() {
        let text = descriptor(expand(
            Kind::Message,
            quote!("a/+/b"),
            quote!(
                fn handler() {}
            ),
        ));
        assert!(
            text.ends_with(&normalized(quote!(.with_filter("a/+/b")))),
            "{text}"
        );
        assert!(!text.contains("with_template"), "{text}");
    }

    #[test]
    fn shared_argument_registers_the_share_prefix() {
        let item = quote!(
            fn job(mqtt::Path(id): mqtt::Path<u64>) {}
        );
        let argument = descriptor(expand(
            Kind::Message,
            quote!("jobs/{id}", shared = "workers", qos = 1),
            item.clone(),
        ));
        let written = descriptor(expand(
            Kind::Message,
            quote!("$share/workers/jobs/{id}", qos = 1),
            item,
        ));
        assert_eq!(argument, written);
        let expected = normalized(quote!(
            .with_filter("$share/workers/jobs/+")
            .with_template("$share/workers/jobs/{id}")
            .with_qos(1u8)
        ));
        assert!(
            argument.ends_with(&expected),
            "{argument}\n  lacks {expected}"
        );

        let plain = descriptor(expand(
            Kind::Message,
            quote!("jobs/#", shared = "workers"),
            quote!(
                fn job() {}
            ),
        ));
        assert!(
            plain.ends_with(&normalized(quote!(.with_filter("$share/workers/jobs/#")))),
            "{plain}"
        );
        assert!(!plain.contains("with_template"), "{plain}");
    }

    #[test]
    fn path_arguments_that_fit() {
        for (filter, item) in [
            (
                quote!("s/{id}/t"),
                quote!(
                    fn h(p: mqtt::Path<u32>) {}
                ),
            ),
            (
                quote!("s/{id}/{kind}"),
                quote!(
                    fn h(p: Path<(u32, String)>) {}
                ),
            ),
            (
                quote!("s/{id}/{kind}"),
                quote!(
                    fn h(p: Path<Reading>) {}
                ),
            ),
            // Not checked: wrapped, or a type named like something else.
            (
                quote!("s/t"),
                quote!(
                    fn h(p: Option<Path<u32>>, q: PathBuf) {}
                ),
            ),
        ] {
            let expanded = expand(Kind::Message, filter, item);
            assert!(compile_errors(&expanded).is_empty(), "{expanded}");
        }
    }

    #[test]
    fn path_arguments_that_do_not_fit() {
        expect_errors(
            Kind::Message,
            quote!("s/+/t"),
            quote!(
                fn h(p: Path<u32>) {}
            ),
            &["`Path` reads named levels of the topic, but the filter `s/+/t` names none; name a level like `sensors/{sensor_id}/temperature`"],
        );
        expect_errors(
            Kind::Message,
            quote!(),
            quote!(
                fn h(p: Path<u32>) {}
            ),
            &["`Path` reads named levels of the topic, and a catch-all `#[on_message]` has no filter; give it one like `#[on_message(\"sensors/{sensor_id}/temperature\")]`"],
        );
        expect_errors(
            Kind::Connect,
            quote!(),
            quote!(
                fn h(p: mqtt::Path<u32>) {}
            ),
            &["`Path` reads named levels of a message's topic; `#[on_connect]` handlers receive no message"],
        );
        expect_errors(
            Kind::Message,
            quote!("s/{id}/t"),
            quote!(
                fn h(p: Path<(u32, String)>, q: Path<()>) {}
            ),
            &[
                "this tuple has 2 elements but the filter `s/{id}/t` has 1 topic parameter (`id`); use one element per parameter, in order",
                "this tuple has 0 elements but the filter `s/{id}/t` has 1 topic parameter (`id`); use one element per parameter, in order",
            ],
        );
        expect_errors(
            Kind::Message,
            quote!("s/{id}/{kind}"),
            quote!(
                fn h(p: Path<(u32,)>) {}
            ),
            &["this tuple has 1 element but the filter `s/{id}/{kind}` has 2 topic parameters (`id`, `kind`); use one element per parameter, in order"],
        );
    }

    #[test]
    fn sync_catch_all() {
        let expanded = expand(
            Kind::Message,
            quote!(),
            quote!(
                fn other(msg: mqtt::Message) {}
            ),
        );
        let (_, inner) = items(expanded.clone());
        let Item::Fn(wrapper) = &inner[0] else {
            panic!("no wrapper")
        };
        assert_eq!(
            normalized(&wrapper.sig.output),
            normalized(quote!(-> ::flask_mqtt_actix::__private::Outcome))
        );
        let body = normalized(&wrapper.block);
        assert!(body.contains(&normalized(quote!(
            ::flask_mqtt_actix::__private::IntoOutcome::into_outcome(other(__arg0))
        ))));
        assert!(!body.contains("async"), "{body}");
        let text = descriptor(expanded);
        let source = normalized(quote!(
            .with_source(::core::file!(), ::core::line!(), ::core::column!())
        ));
        assert!(
            text.ends_with(&format!(
                "HandlerFn :: Sync (__flask_mqtt_handler) ,) {source}"
            )),
            "no settings but the source for a catch-all without arguments: {text}"
        );
    }

    #[test]
    fn every_kind() {
        for kind in Kind::ALL {
            let expanded = expand(
                kind,
                quote!(),
                quote!(
                    async fn handler() {}
                ),
            );
            let (_, inner) = items(expanded.clone());
            assert_eq!(inner.len(), 2);
            let variant = format!("HandlerKind :: {}", kind.variant());
            assert!(expanded.to_string().contains(&variant), "{expanded}");
        }
    }

    #[test]
    fn zero_arguments() {
        let expanded = expand(
            Kind::Connect,
            quote!(),
            quote!(
                fn connected() {}
            ),
        );
        assert!(expanded
            .to_string()
            .contains(&normalized(quote!(IntoOutcome::into_outcome(connected())))));
    }

    #[test]
    fn argument_names() {
        let expanded = expand(
            Kind::Log,
            quote!(),
            quote!(
                fn log(
                    mut entry: mqtt::LogEntry,
                    _: A,
                    (x, y): B,
                    r#type: C,
                    Json(reading): D,
                    mqtt::Path((a, b)): E,
                    Retain(_): F,
                ) {
                }
            ),
        );
        let text = expanded.to_string();
        for expected in [
            quote!(__private::extract::<mqtt::LogEntry>(&__ctx, "entry")),
            quote!(__private::extract::<A>(&__ctx, "_")),
            quote!(__private::extract::<B>(&__ctx, "argument 3")),
            quote!(__private::extract::<C>(&__ctx, "type")),
            quote!(__private::extract::<D>(&__ctx, "reading")),
            quote!(__private::extract::<E>(&__ctx, "argument 6")),
            quote!(__private::extract::<F>(&__ctx, "argument 7")),
            quote!(log(__arg0, __arg1, __arg2, __arg3, __arg4, __arg5, __arg6)),
        ] {
            assert!(
                text.contains(&normalized(&expected)),
                "{text}\n  lacks {expected}"
            );
        }
    }

    #[test]
    fn crate_override() {
        let expanded = expand(
            Kind::Connect,
            quote!(crate = "::my_app::mqtt"),
            quote!(
                fn connected() {}
            ),
        );
        let text = expanded.to_string();
        assert!(text.contains(&normalized(quote!(
            ::my_app::mqtt::__private::HandlerKind::Connect
        ))));
        assert!(!text.contains("flask_mqtt_actix"));
    }

    #[test]
    fn cfg_is_copied_to_the_registration() {
        let expanded = expand(
            Kind::Connect,
            quote!(),
            quote!(
                #[cfg(feature = "mqtt")]
                #[doc = "x"]
                fn connected() {}
            ),
        );
        let file: syn::File = syn::parse2(expanded).unwrap();
        let Item::Const(block) = &file.items[1] else {
            panic!("no const block")
        };
        assert_eq!(block.attrs.len(), 1);
        assert!(block.attrs[0].path().is_ident("cfg"));
    }

    #[test]
    fn raw_identifier_name() {
        let expanded = expand(
            Kind::Connect,
            quote!(),
            quote!(
                fn r#match() {}
            ),
        );
        let text = expanded.to_string();
        assert!(text.contains("\"match\""), "{text}");
        assert!(text.contains("r#match ()"), "{text}");
    }

    /// On error: the item unchanged, then exactly the errors.
    fn expect_errors(kind: Kind, args: TokenStream, item: TokenStream, expected: &[&str]) {
        let expanded = expand(kind, args, item.clone());
        let file: syn::File = syn::parse2(expanded.clone()).unwrap();
        assert_eq!(
            normalized(&file.items[0]),
            normalized(syn::parse2::<Item>(item).unwrap()),
            "the item must come first, unchanged"
        );
        assert!(
            !expanded.to_string().contains("__private"),
            "no registration on error: {expanded}"
        );
        assert_eq!(compile_errors(&expanded), expected);
    }

    #[test]
    fn not_a_function() {
        expect_errors(
            Kind::Message,
            quote!(),
            quote!(
                struct Foo;
            ),
            &["`#[on_message]` can only be used on functions"],
        );
        expect_errors(
            Kind::Connect,
            quote!(),
            quote!(impl Foo {}),
            &["`#[on_connect]` can only be used on functions"],
        );
    }

    #[test]
    fn self_receiver() {
        expect_errors(
            Kind::Message,
            quote!(),
            quote!(
                fn handler(&self, msg: Message) {}
            ),
            &["handler functions cannot take `self`"],
        );
    }

    #[test]
    fn generic() {
        expect_errors(
            Kind::Message,
            quote!(),
            quote!(
                fn handler<T: Debug>(msg: T) {}
            ),
            &["handler functions cannot be generic"],
        );
        expect_errors(
            Kind::Message,
            quote!(),
            quote!(
                fn handler<'a>(msg: &'a Message) {}
            ),
            &["handler functions cannot be generic"],
        );
        expect_errors(
            Kind::Message,
            quote!(),
            quote!(
                fn handler(msg: impl Debug) {}
            ),
            &["handler functions cannot be generic: name the argument's type instead of `impl Trait`"],
        );
    }

    /// A `#[cfg_attr]` that adds only lint attributes or `doc` can't remove or change the
    /// argument; one that adds `#[cfg]`, or anything not known to be harmless, is refused
    /// like `#[cfg]`.
    #[test]
    fn cfg_attr_on_an_argument() {
        for item in [
            quote!(
                fn h(#[cfg_attr(test, allow(unused))] m: Message) {}
            ),
            quote!(
                fn h(#[cfg_attr(all(), allow(unused), warn(unused_mut))] m: Message) {}
            ),
            quote!(
                fn h(#[cfg_attr(feature = "x", deny(unused), forbid(unsafe_code))] m: Message) {}
            ),
            quote!(
                fn h(#[cfg_attr(test, cfg_attr(all(), expect(unused)))] m: Message) {}
            ),
            quote!(
                fn h(#[cfg_attr(test, doc = "the message")] m: Message) {}
            ),
            quote!(
                fn h(#[cfg_attr(test)] m: Message) {}
            ),
        ] {
            let function: ItemFn = syn::parse2(item.clone()).unwrap();
            assert!(check_signature(&function.sig).is_ok(), "{item}");
        }
        let refused = |added: &str| {
            format!("`#[cfg_attr]` on a handler argument may only add lint attributes (`allow`, `expect`, `warn`, `deny`, `forbid`) or `doc`, not `{added}`: the generated wrapper would still extract and pass the argument as written; put `#[cfg(...)]` on the whole handler function instead")
        };
        for (item, added) in [
            (
                quote!(
                    fn h(#[cfg_attr(test, cfg(any()))] m: Message) {}
                ),
                "cfg",
            ),
            (
                quote!(
                    fn h(#[cfg_attr(test, allow(unused), cfg_attr(all(), cfg(any())))] m: Message) {
                    }
                ),
                "cfg",
            ),
            (
                quote!(
                    fn h(#[cfg_attr(test, rustfmt::skip)] m: Message) {}
                ),
                "rustfmt::skip",
            ),
        ] {
            expect_errors(Kind::Message, quote!(), item, &[refused(added).as_str()]);
        }
        expect_errors(
            Kind::Message,
            quote!(),
            quote!(
                fn h(#[cfg(test)] m: Message) {}
            ),
            &["`#[cfg]` is not supported on a handler argument: the generated wrapper would still extract and pass it; put `#[cfg(...)]` on the whole handler function instead"],
        );
    }

    #[test]
    fn qualifiers() {
        expect_errors(
            Kind::Log,
            quote!(),
            quote!(
                const fn handler() {}
            ),
            &["handler functions cannot be `const`"],
        );
        expect_errors(
            Kind::Log,
            quote!(),
            quote!(
                unsafe fn handler() {}
            ),
            &["handler functions cannot be `unsafe`"],
        );
        expect_errors(
            Kind::Log,
            quote!(),
            quote!(
                extern "C" fn handler() {}
            ),
            &["handler functions cannot be `extern \"C\"`"],
        );
        expect_errors(
            Kind::Log,
            quote!(),
            quote!(
                unsafe extern "C" fn handler(x: i32, ...) {}
            ),
            &[
                "handler functions cannot be `unsafe`",
                "handler functions cannot be `extern \"C\"`",
                "handler functions cannot be variadic",
            ],
        );
    }

    #[test]
    fn argument_and_signature_errors_are_all_reported() {
        expect_errors(
            Kind::Message,
            quote!("a", qos = 9),
            quote!(
                fn handler(self) {}
            ),
            &[
                "`qos` must be 0, 1 or 2, found `9`",
                "handler functions cannot take `self`",
            ],
        );
    }

    #[test]
    fn invalid_filter_is_one_error() {
        let expanded = expand(
            Kind::Message,
            quote!("home/#/x", qos = 1),
            quote!(
                fn handler() {}
            ),
        );
        let errors = compile_errors(&expanded);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("invalid topic filter `home/#/x`: "));
    }
}
