//! Checks only the types can answer, made by the compiler: what an argument's extractor
//! and the return type declare (the runtime's `FromEvent::AVAILABLE_IN`,
//! `FromEvent::TAKES_ACK`, `IntoOutcome::REPLIES`), read while the compiler evaluates
//! `static` initializers of the generated code, which panic, spanned on the user's
//! tokens, when the handler can't work:
//!
//! - an argument that is not available in the handler's kind (a `Message` in
//!   `#[on_connect]`, a `LogEntry` in `#[on_message]`): it would be rejected at every event;
//! - an argument that takes the message's acknowledgement (`Ack`) in a handler without
//!   `ack = "manual"`, where `ack()` would do nothing;
//! - `ack = "manual"` without such an argument: nothing could acknowledge the message;
//! - a return type that may be a `Reply` in a handler other than `#[on_message]`: there is
//!   no request to answer, the reply would fail at every call.
//!
//! Being read from the types, the checks see through type aliases, renamed imports and
//! `Option`/`Result`, which the written names can't. The compiler reports a failed check
//! as `error[E0080]: evaluation panicked: <message>` on the type, one per argument.
//!
//! Each `static` also names what the wrapper calls (the argument's `extract`, the return
//! type's conversion), so that a type that is no `FromEvent` (or no `IntoOutcome`) is
//! reported there, once. The wrapper calls an argument's `extract::<T>` directly, not
//! through the `static` (so that it can be inlined), written and spanned as the `static`
//! names it: the compiler drops the second, byte-identical error. (`static`, not
//! `const`: a wrapper that reads a failed `const` adds a note "erroneous constant
//! encountered" on the attribute.)
//!
//! A panic at compile time can only format one `&str`, so each message is a literal
//! written here: for an argument, one per kind of handler it might belong to instead (the
//! runtime says which, `argument_home`).

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::{quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{LitStr, Type};

use crate::args::{AckChoice, Args, Kind};

/// The type as the user wrote it, for messages: `mqtt::Message`, `Option<Json<T>>`,
/// spaced as rustfmt would (a space between words, after `,` and `;`, around `+`, `=`
/// and `->`).
pub(crate) fn written(ty: &impl ToTokens) -> String {
    fn write(tokens: TokenStream, out: &mut String) {
        // Whether the last token written was a word (identifier, literal, group), and
        // one a group is spaced from (a lifetime, `mut`, `dyn`, ...: `&'a (u8, u8)`).
        let (mut word, mut spaced) = (false, false);
        let mut lifetime = false;
        let mut tokens = tokens.into_iter().peekable();
        while let Some(token) = tokens.next() {
            match token {
                TokenTree::Ident(_) | TokenTree::Literal(_) => {
                    if word {
                        out.push(' ');
                    }
                    let text = token.to_string();
                    spaced = lifetime || matches!(&*text, "mut" | "dyn" | "impl" | "const" | "as");
                    out.push_str(&text);
                    (word, lifetime) = (true, false);
                }
                TokenTree::Group(group) => {
                    if spaced || (word && group.delimiter() == Delimiter::Bracket) {
                        out.push(' ');
                    }
                    let (open, close) = match group.delimiter() {
                        Delimiter::Parenthesis => ("(", ")"),
                        Delimiter::Bracket => ("[", "]"),
                        Delimiter::Brace => ("{ ", " }"),
                        Delimiter::None => ("", ""),
                    };
                    out.push_str(open);
                    write(group.stream(), out);
                    out.truncate(out.trim_end().len());
                    out.push_str(close);
                    (word, spaced) = (true, false);
                }
                TokenTree::Punct(punct) => {
                    let arrow = punct.as_char() == '-'
                        && matches!(tokens.peek(), Some(TokenTree::Punct(next)) if next.as_char() == '>');
                    match punct.as_char() {
                        _ if arrow => {
                            tokens.next();
                            out.push_str(" -> ");
                        }
                        ',' | ';' => {
                            out.push(punct.as_char());
                            out.push(' ');
                        }
                        '+' | '=' => {
                            out.push(' ');
                            out.push(punct.as_char());
                            out.push(' ');
                        }
                        other => out.push(other),
                    }
                    lifetime = punct.as_char() == '\'';
                    (word, spaced) = (false, false);
                }
            }
        }
    }
    let mut out = String::new();
    write(ty.to_token_stream(), &mut out);
    out.truncate(out.trim_end().len());
    out
}

/// `::core::panic!("{}", message)` (the only formatted panic compile-time evaluation
/// takes), spanned on all of `tokens`: the path on their first token, the parentheses on
/// their last, so that the compiler underlines them from one to the other. (The literals
/// keep the first token's span: the compiler reads a format string's span as its source.)
fn fail(tokens: &impl ToTokens, message: &str) -> TokenStream {
    let mut spans = tokens
        .to_token_stream()
        .into_iter()
        .map(|token| token.span());
    let first = spans.next().unwrap_or_else(Span::call_site);
    let last = spans.last().unwrap_or(first);
    let message = LitStr::new(message, first);
    let arguments = quote_spanned!(first=> "{}", #message);
    let mut arguments = Group::new(Delimiter::Parenthesis, arguments);
    arguments.set_span(last);
    quote_spanned!(first=> ::core::panic! #arguments)
}

/// What a handler of `kind` takes instead, for messages.
fn takes_instead(kind: Kind) -> String {
    let event = match kind {
        Kind::Message => {
            "`mqtt::Message` or its parts (`mqtt::Topic`, `mqtt::Payload`, `mqtt::Json<T>`, ...)"
        }
        Kind::Connect => "`mqtt::Connected` (the event)",
        Kind::Disconnect => "`mqtt::Disconnected` (the event)",
        Kind::Log => "`mqtt::LogEntry` (the event)",
        Kind::Publish => "`mqtt::Published` (the event)",
        Kind::Subscribe => "`mqtt::Subscribed` (the event)",
        Kind::Unsubscribe => "`mqtt::Unsubscribed` (the event)",
        Kind::Publisher => "nothing",
    };
    format!(
        "an `#[{}]` handler takes {event}, `mqtt::Mqtt` or `mqtt::State<T>`",
        kind.attribute()
    )
}

/// `static <name>: (Extractor<ty>, bool) = ..`: the extractor of the argument of type `ty`
/// in a handler declared with `args`, and whether it takes the acknowledgement, after the
/// checks of where it can be. The values come before the checks so that a type that is no
/// `FromEvent` is reported once (one body), as a bound of `extract`.
pub(crate) fn argument(
    private: &TokenStream,
    args: &Args,
    ty: &Type,
    name: &syn::Ident,
) -> TokenStream {
    let span = ty.span();
    let text = written(ty);
    let kind = args.kind;
    let attribute = kind.attribute();
    let instead = takes_instead(kind);
    let variant = |kind: Kind| syn::Ident::new(kind.variant(), span);
    let arms = Kind::ALL.into_iter().filter(|home| *home != kind).map(|home| {
        let home_variant = variant(home);
        let panic = fail(
            ty,
            &format!(
                "`{text}` is only available in `#[{}]` handlers, not in `#[{attribute}]`; {instead}",
                home.attribute()
            ),
        );
        quote_spanned!(span=> ::core::option::Option::Some(#private::HandlerKind::#home_variant) => #panic,)
    });
    let elsewhere = fail(
        ty,
        &format!(
            "`{text}` is not available in `#[{attribute}]` handlers (its `FromEvent::AVAILABLE_IN` leaves them out); {instead}"
        ),
    );
    let kind_variant = variant(kind);
    let mut checks = quote_spanned! {span=>
        if !#private::argument_fits::<#ty>(#private::HandlerKind::#kind_variant) {
            match #private::argument_home::<#ty>() {
                #(#arms)*
                _ => #elsewhere,
            }
        }
    };
    let policy = match &args.ack {
        Some((_, AckChoice::Manual)) => None,
        Some((lit, _)) => Some(format!(", not `ack = {}`", lit.token())),
        None => Some(String::new()),
    };
    if let (Kind::Message, Some(policy)) = (kind, policy) {
        let panic = fail(
            ty,
            &format!(
                "`{text}` takes the message's acknowledgement, which the handler holds only with `ack = \"manual\"`{policy}: add `ack = \"manual\"` to the attribute (otherwise the message is acknowledged by the policy and `ack()` does nothing), or remove the argument"
            ),
        );
        checks.extend(quote_spanned! {span=>
            if #private::takes_ack::<#ty>() {
                #panic
            }
        });
    }
    let held = quote_spanned!(span=> (#private::Extractor<#ty>, ::core::primitive::bool));
    quote_spanned! {span=>
        #[allow(deprecated, clippy::type_complexity)]
        static #name: #held = {
            let __value: #held = (#private::extract::<#ty>, #private::takes_ack::<#ty>());
            #checks
            __value
        };
    }
}

/// With `ack = "manual"`: a `static` checking that one of the arguments (the `static`s
/// `arguments` of [`argument`]) takes the acknowledgement.
pub(crate) fn manual_ack(
    args: &Args,
    function: &syn::Ident,
    arguments: &[syn::Ident],
) -> TokenStream {
    let Some((lit, AckChoice::Manual)) = &args.ack else {
        return TokenStream::new();
    };
    let span = lit.span();
    let panic = fail(
        lit,
        &format!(
            "`ack = \"manual\"` needs an `Ack` argument to acknowledge the message with; add one like `ack: mqtt::Ack` to `{}` and call `ack.ack()`, or choose `ack = \"after\"`",
            syn::ext::IdentExt::unraw(function)
        ),
    );
    quote_spanned! {span=>
        #[allow(dead_code)]
        static __FLASK_MQTT_MANUAL_ACK: () = if !(false #(|| #arguments.1)*) {
            #panic
        };
    }
}

/// Whether `ty` mentions `impl Trait`, which a `static`'s type can't.
pub(crate) fn has_impl_trait(ty: &Type) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|token| match token {
            TokenTree::Ident(ident) => ident == "impl",
            TokenTree::Group(group) => walk(group.stream()),
            _ => false,
        })
    }
    walk(ty.to_token_stream())
}

/// `static <name>: Converter<ty> = ..`: the conversion of the return type `ty`, which in a
/// handler other than `#[on_message]` must not be a `Reply`. `spanned` is the runtime's
/// path with `ty`'s span, so that a type that is no `IntoOutcome` is reported on it alone.
pub(crate) fn return_type(
    private: &TokenStream,
    spanned: &TokenStream,
    kind: Kind,
    ty: &Type,
    name: &syn::Ident,
) -> TokenStream {
    let span = ty.span();
    let check = (kind != Kind::Message).then(|| {
        let panic = fail(
            ty,
            &format!(
                "an `#[{attribute}]` handler can't return `{}`: a `Reply` answers the request an `#[on_message]` handler received, and `#[{attribute}]` has none; return `()` or `Result<(), E>`",
                written(ty),
                attribute = kind.attribute()
            ),
        );
        quote_spanned! {span=>
            if #private::replies::<#ty>() {
                #panic
            }
        }
    });
    quote_spanned! {span=>
        #[allow(deprecated, clippy::type_complexity)]
        static #name: #spanned::Converter<#ty> = {
            let __value: #spanned::Converter<#ty> = <#ty as #spanned::IntoOutcome>::into_outcome;
            #check
            __value
        };
    }
}
