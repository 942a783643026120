//! Parsing of the attribute arguments: `#[on_message("home/+/temperature", qos = 1)]`.
//!
//! An attribute's arguments are a comma-separated list of
//!
//! * at most one topic filter string literal, first, and only for `#[on_message]`;
//! * `key = value` pairs, looked up in [`KEYS`].
//!
//! `publisher!` declarations use the same parser for what follows the `=`: the topic
//! template first (required; a topic name whose varying levels are named, no wildcards),
//! then `qos`, `retain`, `broker` and `crate`.
//!
//! The filter may name levels, `"sensors/{sensor_id}/temperature"` (a topic template,
//! see `flask_mqtt_topic::TopicTemplate`); the `Path` extractor reads them.
//!
//! `ack = "after" | "first" | "manual"` chooses when a message handler's QoS 1/2 messages
//! are acknowledged (the runtime's `AckPolicy`); `nack_on_error` (alone or `= true`)
//! withholds the acknowledgement of a message whose call failed. `nack_on_error` with
//! `ack = "first"` is an error: such a message is acknowledged before the call.
//!
//! `shared = "workers"` makes the filter a shared subscription: once every argument is
//! read, the filter becomes `$share/workers/<filter>`, exactly as if written so.
//!
//! Adding an argument is one entry in [`KEYS`] (plus the field it fills in [`Args`]).
//! Parsing never stops at the first mistake: the arguments are split at top-level commas,
//! every argument is checked (a malformed one too) and the errors are combined, each
//! spanned on the offending token. A first argument that is not `key = value` is the
//! filter (or topic) whatever it is, and must be a string literal, unless it is an
//! identifier one or two characters off a key the attribute takes (`nack_on_eror`):
//! that is reported as the key misspelt. No literal may have a suffix (`1u8`).

use flask_mqtt_topic::{TemplateError, TopicFilterError, TopicNameTemplate, TopicTemplate};
use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitInt, LitStr, Path, Token};

/// Which attribute is being expanded; one per `HandlerKind` variant of the runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Connect,
    Disconnect,
    Message,
    Log,
    Publish,
    Subscribe,
    Unsubscribe,
    /// A `publisher!` declaration (not a handler).
    Publisher,
}

impl Kind {
    /// Every handler kind, in the runtime's order (`Publisher` declares no handler).
    pub(crate) const ALL: [Kind; 7] = [
        Kind::Connect,
        Kind::Disconnect,
        Kind::Message,
        Kind::Log,
        Kind::Publish,
        Kind::Subscribe,
        Kind::Unsubscribe,
    ];

    /// The matching variant of the runtime's `HandlerKind`: the one place this crate
    /// spells the kinds.
    pub(crate) fn variant(self) -> &'static str {
        match self {
            Kind::Connect => "Connect",
            Kind::Disconnect => "Disconnect",
            Kind::Message => "Message",
            Kind::Log => "Log",
            Kind::Publish => "Publish",
            Kind::Subscribe => "Subscribe",
            Kind::Unsubscribe => "Unsubscribe",
            // Declares no handler: never registered as one.
            Kind::Publisher => "Publisher",
        }
    }

    /// The attribute's name, as users write it: `on_` and the variant in lower case
    /// (`on_message`), like the runtime's `HandlerKind::attribute`; `publisher!` for a
    /// declared publisher.
    pub(crate) fn attribute(self) -> String {
        match self {
            Kind::Publisher => "publisher!".to_owned(),
            handler => format!("on_{}", handler.variant().to_lowercase()),
        }
    }

    /// Whether the attribute takes a topic filter (and with it `qos`).
    pub(crate) fn takes_filter(self) -> bool {
        self == Kind::Message
    }

    /// Whether it takes a topic (a filter, or a publisher's template) and `qos`.
    pub(crate) fn takes_topic(self) -> bool {
        matches!(self, Kind::Message | Kind::Publisher)
    }

    /// Whether it declares a handler (which takes `concurrency` and `queue`).
    pub(crate) fn is_handler(self) -> bool {
        self != Kind::Publisher
    }

    fn is_publisher(self) -> bool {
        self == Kind::Publisher
    }

    /// How the macro is written in messages: `` `#[on_message]` ``, `` `publisher!` ``.
    fn written(self) -> String {
        match self {
            Kind::Publisher => "`publisher!`".to_owned(),
            other => format!("`#[{}]`", other.attribute()),
        }
    }
}

/// The parsed arguments of one attribute.
#[cfg_attr(test, derive(Debug))]
pub(crate) struct Args {
    pub(crate) kind: Kind,
    /// The topic filter as written (possibly naming levels), and the template parsed
    /// from it; `None` for the catch-all and for the other kinds.
    pub(crate) filter: Option<(LitStr, TopicTemplate)>,
    /// `qos = N`: the key (for spans) and the value, 0 to 2.
    pub(crate) qos: Option<(Ident, u8)>,
    /// `shared = "workers"`: the key (for spans) and the share name, already checked.
    /// Folded into `filter` at the end of parsing.
    pub(crate) shared: Option<(Ident, LitStr)>,
    /// `crate = "path"`: where the runtime lives.
    pub(crate) krate: Option<Path>,
    /// `broker = "MQTT2"`: the configuration prefix of the client the handler belongs to.
    pub(crate) broker: Option<LitStr>,
    /// `concurrency = N`: how many calls may run at once, 1 or more.
    pub(crate) concurrency: Option<u32>,
    /// `queue = N`: how many events may wait for the handler, 1 or more.
    pub(crate) queue: Option<u32>,
    /// `retain = true`: a publisher's messages are retained.
    pub(crate) retain: Option<bool>,
    /// `ack = "manual"`: the value (for spans) and the policy it names.
    pub(crate) ack: Option<(LitStr, AckChoice)>,
    /// `nack_on_error` or `nack_on_error = true`: the key (for spans); `None` when absent
    /// or `= false`.
    pub(crate) nack_on_error: Option<Ident>,
}

/// The acknowledgement policy `ack = "..."` names: the runtime's `AckPolicy` variants
/// (this crate cannot depend on the runtime; a test checks the names are the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AckChoice {
    After,
    First,
    Manual,
}

impl AckChoice {
    /// Every choice, in the runtime's order.
    pub(crate) const ALL: [AckChoice; 3] = [AckChoice::After, AckChoice::First, AckChoice::Manual];

    /// The name written in the attribute (the runtime's `AckPolicy::as_str`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            AckChoice::After => "after",
            AckChoice::First => "first",
            AckChoice::Manual => "manual",
        }
    }

    /// The runtime's `AckPolicy` variant.
    pub(crate) fn variant(self) -> &'static str {
        match self {
            AckChoice::After => "After",
            AckChoice::First => "First",
            AckChoice::Manual => "Manual",
        }
    }
}

/// One `key = value` argument an attribute may take.
pub(crate) struct Key {
    /// The key, as written before `=`.
    pub(crate) name: &'static str,
    /// Which attributes accept it.
    pub(crate) accepted_by: fn(Kind) -> bool,
    /// A complete example, shown when the value is missing.
    pub(crate) example: &'static str,
    /// Whether the key may be written alone, meaning `key = true`.
    pub(crate) flag: bool,
    /// Checks the value (the tokens after `=`) and stores it in [`Args`].
    pub(crate) apply: fn(&mut Args, &Ident, &TokenStream) -> syn::Result<()>,
}

/// Every `key = value` argument, in the order error messages list them.
pub(crate) const KEYS: &[Key] = &[
    Key {
        name: "qos",
        accepted_by: Kind::takes_topic,
        example: "qos = 1",
        flag: false,
        apply: apply_qos,
    },
    Key {
        name: "retain",
        accepted_by: Kind::is_publisher,
        example: "retain = true",
        flag: false,
        apply: apply_retain,
    },
    Key {
        name: "shared",
        accepted_by: Kind::takes_filter,
        example: "shared = \"workers\"",
        flag: false,
        apply: apply_shared,
    },
    Key {
        name: "broker",
        accepted_by: every_kind,
        example: "broker = \"MQTT2\"",
        flag: false,
        apply: apply_broker,
    },
    Key {
        name: "concurrency",
        accepted_by: Kind::is_handler,
        example: "concurrency = 4",
        flag: false,
        apply: apply_concurrency,
    },
    Key {
        name: "queue",
        accepted_by: Kind::is_handler,
        example: "queue = 1000",
        flag: false,
        apply: apply_queue,
    },
    Key {
        name: "ack",
        accepted_by: Kind::takes_filter,
        example: "ack = \"manual\"",
        flag: false,
        apply: apply_ack,
    },
    Key {
        name: "nack_on_error",
        accepted_by: Kind::takes_filter,
        example: "nack_on_error = true",
        flag: true,
        apply: apply_nack_on_error,
    },
    Key {
        name: "crate",
        accepted_by: every_kind,
        example: "crate = \"flask_mqtt_actix\"",
        flag: false,
        apply: apply_crate,
    },
];

fn every_kind(_: Kind) -> bool {
    true
}

/// `true` or `false`, or an error naming `key`; `more` is added to the message.
fn boolean(key: &str, value: &TokenStream, more: &str) -> syn::Result<bool> {
    syn::parse2::<syn::LitBool>(value.clone())
        .map(|lit| lit.value)
        .map_err(|_| {
            syn::Error::new_spanned(
                value,
                format!(
                    "`{key}` must be `true` or `false`, found `{}`{more}",
                    source_text(value)
                ),
            )
        })
}

fn apply_retain(args: &mut Args, _key: &Ident, value: &TokenStream) -> syn::Result<()> {
    args.retain = Some(boolean("retain", value, "")?);
    Ok(())
}

fn apply_ack(args: &mut Args, _key: &Ident, value: &TokenStream) -> syn::Result<()> {
    let choices = AckChoice::ALL
        .iter()
        .map(|choice| format!("`\"{}\"`", choice.name()))
        .collect::<Vec<_>>()
        .join(", ");
    let Ok(lit) = syn::parse2::<LitStr>(value.clone()) else {
        return Err(syn::Error::new_spanned(
            value,
            format!(
                "`ack` must be a string literal, found `{}`; expected one of {choices}",
                source_text(value)
            ),
        ));
    };
    let name = lit.value();
    let Some(choice) = AckChoice::ALL.into_iter().find(|c| c.name() == name) else {
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "unknown acknowledgement policy `{}`; expected one of {choices}",
                quoted(&name)
            ),
        ));
    };
    args.ack = Some((lit, choice));
    Ok(())
}

fn apply_nack_on_error(args: &mut Args, key: &Ident, value: &TokenStream) -> syn::Result<()> {
    let nack = boolean("nack_on_error", value, "; or write `nack_on_error` alone")?;
    args.nack_on_error = nack.then(|| key.clone());
    Ok(())
}

fn apply_qos(args: &mut Args, key: &Ident, value: &TokenStream) -> syn::Result<()> {
    let qos = syn::parse2::<LitInt>(value.clone())
        .ok()
        .and_then(|lit| lit.base10_parse::<u8>().ok())
        .filter(|qos| *qos <= 2);
    match qos {
        Some(qos) => {
            args.qos = Some((key.clone(), qos));
            Ok(())
        }
        None => Err(syn::Error::new_spanned(
            value,
            format!("`qos` must be 0, 1 or 2, found `{}`", source_text(value)),
        )),
    }
}

/// What is wrong with `group` as the share name of `$share/{group}/...`, if anything.
///
/// MQTT 5.0 §4.8.2: a share name is not empty and contains no `/`, `+` or `#`. `{` and
/// `}` are refused too, since they name topic levels in a filter, and NUL, which no
/// topic may contain.
fn share_name_problem(group: &str) -> Option<String> {
    if group.is_empty() {
        return Some("the share name must not be empty".to_owned());
    }
    let bad = group
        .chars()
        .find(|c| matches!(c, '/' | '+' | '#' | '{' | '}' | '\0'))?;
    let shown = if bad == '\0' {
        "\\0".to_owned()
    } else {
        bad.to_string()
    };
    let why = match bad {
        '/' => "a share name is a single topic level (the filter is the first argument)",
        '+' | '#' => "a share name cannot contain wildcards",
        '{' | '}' => "braces name topic levels, and a share name cannot be a topic parameter",
        _ => "no topic may contain the NUL character",
    };
    Some(format!(
        "invalid share name `{}`: it contains `{shown}`; {why}",
        quoted(group)
    ))
}

fn apply_shared(args: &mut Args, key: &Ident, value: &TokenStream) -> syn::Result<()> {
    let Ok(lit) = syn::parse2::<LitStr>(value.clone()) else {
        return Err(syn::Error::new_spanned(
            value,
            format!(
                "`shared` must be a string literal, found `{}`; write it as `shared = \"workers\"`",
                source_text(value)
            ),
        ));
    };
    if let Some(problem) = share_name_problem(&lit.value()) {
        let message = if lit.value().is_empty() {
            format!("{problem}; name the group of handlers that share the messages, e.g. `shared = \"workers\"`")
        } else {
            problem
        };
        return Err(syn::Error::new(lit.span(), message));
    }
    args.shared = Some((key.clone(), lit));
    Ok(())
}

/// Whether `name` is a configuration prefix: `MQTT2`, `SENSORS_BROKER`.
pub(crate) fn is_broker_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn apply_broker(args: &mut Args, _key: &Ident, value: &TokenStream) -> syn::Result<()> {
    let Ok(lit) = syn::parse2::<LitStr>(value.clone()) else {
        return Err(syn::Error::new_spanned(
            value,
            format!(
                "`broker` must be a string literal, found `{}`; write it as `broker = \"MQTT2\"`",
                source_text(value)
            ),
        ));
    };
    let name = lit.value();
    if !is_broker_name(&name) {
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "invalid broker name `{}`: a broker is named by the prefix of its configuration keys, in uppercase letters, digits and `_`, starting with a letter (`broker = \"MQTT2\"` reads `MQTT2_BROKER_URL`, ...)",
                quoted(&name)
            ),
        ));
    }
    args.broker = Some(lit);
    Ok(())
}

/// The most calls of a handler that may run at once: the most permits Tokio's semaphore
/// takes on every target (`usize::MAX >> 3` where `usize` is 32 bits, e.g. armv7).
pub(crate) const MAX_CONCURRENCY: u32 = 536_870_911;

/// A whole number from 1 to `max`, or an error naming `key`; `why` explains the bound.
fn positive(key: &str, value: &TokenStream, max: u32, why: &str) -> syn::Result<u32> {
    syn::parse2::<LitInt>(value.clone())
        .ok()
        .and_then(|lit| lit.base10_parse::<u32>().ok())
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            syn::Error::new_spanned(
                value,
                format!(
                    "`{key}` must be a whole number from 1 to {max}{why}, found `{}`",
                    source_text(value)
                ),
            )
        })
}

fn apply_concurrency(args: &mut Args, _key: &Ident, value: &TokenStream) -> syn::Result<()> {
    let why = " (the most calls at once Tokio allows on every target)";
    args.concurrency = Some(positive("concurrency", value, MAX_CONCURRENCY, why)?);
    Ok(())
}

fn apply_queue(args: &mut Args, _key: &Ident, value: &TokenStream) -> syn::Result<()> {
    args.queue = Some(positive("queue", value, u32::MAX, "")?);
    Ok(())
}

fn apply_crate(args: &mut Args, _key: &Ident, value: &TokenStream) -> syn::Result<()> {
    let Ok(lit) = syn::parse2::<LitStr>(value.clone()) else {
        return Err(syn::Error::new_spanned(
            value,
            format!(
                "`crate` must be a string literal, found `{}`; write it as `crate = \"flask_mqtt_actix\"`",
                source_text(value)
            ),
        ));
    };
    match lit.parse_with(Path::parse_mod_style) {
        Ok(path) => {
            args.krate = Some(path);
            Ok(())
        }
        Err(_) => Err(syn::Error::new(
            lit.span(),
            format!(
                "`crate` must be a path such as `\"flask_mqtt_actix\"` or `\"::my_crate::mqtt\"`, found `{}`",
                source_text(value)
            ),
        )),
    }
}

/// One comma-separated argument, before interpretation.
enum Arg {
    /// `"home/+/temperature"`
    Filter(LitStr),
    /// `key = value`; the value is every token up to the next comma.
    KeyValue { key: Ident, value: TokenStream },
    /// `key` without `= value`.
    Flag(Ident),
    /// Anything else, e.g. `home/+/temperature` without quotes.
    Other(TokenStream),
}

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(LitStr) && (input.peek2(Token![,]) || peek2_is_end(input)) {
            return input.parse().map(Arg::Filter);
        }
        if input.peek(Ident::peek_any) {
            if input.peek2(Token![=]) {
                let key = Ident::parse_any(input)?;
                let eq = input.parse::<Token![=]>()?;
                let value = rest_of_argument(input)?;
                if value.is_empty() {
                    return Err(syn::Error::new(
                        eq.span,
                        format!("expected a value after `{} =`", key.unraw()),
                    ));
                }
                return Ok(Arg::KeyValue { key, value });
            }
            if input.peek2(Token![,]) || peek2_is_end(input) {
                return Ident::parse_any(input).map(Arg::Flag);
            }
        }
        let tokens = rest_of_argument(input)?;
        if tokens.is_empty() {
            return Err(input.error("expected an argument"));
        }
        Ok(Arg::Other(tokens))
    }
}

fn peek2_is_end(input: ParseStream<'_>) -> bool {
    let fork = input.fork();
    fork.parse::<TokenTree>().is_ok() && fork.is_empty()
}

/// Every token up to (not including) the next top-level comma.
fn rest_of_argument(input: ParseStream<'_>) -> syn::Result<TokenStream> {
    let mut tokens = TokenStream::new();
    while !input.is_empty() && !input.peek(Token![,]) {
        tokens.extend([input.parse::<TokenTree>()?]);
    }
    Ok(tokens)
}

/// The tokens as the user wrote them, for error messages.
fn source_text(tokens: &TokenStream) -> String {
    let mut iter = tokens.clone().into_iter();
    match (iter.next(), iter.next()) {
        (Some(only), None) => only
            .span()
            .source_text()
            .unwrap_or_else(|| only.to_string()),
        _ => tokens.to_string(),
    }
}

/// Splits the arguments at top-level commas and parses each one on its own, so that a
/// malformed argument is reported and parsing goes on with the next one.
fn split_arguments(tokens: TokenStream) -> (Vec<Arg>, Option<syn::Error>) {
    let mut list = Vec::new();
    let mut errors = None;
    let mut current = TokenStream::new();
    let mut parse = |current: TokenStream, comma: Option<Span>| {
        if current.is_empty() {
            // `a, , b` and `, a`; a single trailing comma (`a,`) is fine.
            if let Some(comma) = comma {
                push_error(&mut errors, syn::Error::new(comma, "expected an argument"));
            }
            return;
        }
        match syn::parse2::<Arg>(current) {
            Ok(arg) => list.push(arg),
            Err(error) => push_error(&mut errors, error),
        }
    };
    for tree in tokens {
        match &tree {
            TokenTree::Punct(punct) if punct.as_char() == ',' => {
                parse(std::mem::take(&mut current), Some(punct.span()));
            }
            _ => current.extend([tree]),
        }
    }
    if !current.is_empty() {
        parse(current, None);
    }
    (list, errors)
}

/// A literal with a suffix (`1u8`, `"a/b"x`) is an error spanned on it: rustc refuses
/// suffixed literals in attributes, and a suffix means nothing to any argument here.
fn no_suffix(arg: &Arg) -> syn::Result<()> {
    let lit = match arg {
        Arg::Filter(lit) => syn::Lit::Str(lit.clone()),
        Arg::KeyValue { value, .. } => match syn::parse2::<syn::Lit>(value.clone()) {
            Ok(lit) => lit,
            Err(_) => return Ok(()),
        },
        _ => return Ok(()),
    };
    let suffix = lit.suffix();
    if suffix.is_empty() {
        return Ok(());
    }
    let written = lit.to_token_stream().to_string();
    let unsuffixed = written.strip_suffix(suffix).unwrap_or(&written);
    Err(syn::Error::new(
        lit.span(),
        format!(
            "suffixed literals are not allowed here: write `{unsuffixed}` instead of `{written}`"
        ),
    ))
}

/// Whether `tokens` is one string literal that syn could not read (an unknown escape such
/// as `"\q"`), which rustc's lexer reports itself.
fn is_bad_string(tokens: &TokenStream) -> bool {
    let mut iter = tokens.clone().into_iter();
    match (iter.next(), iter.next()) {
        (Some(TokenTree::Literal(lit)), None) => {
            let text = lit.to_string();
            (text.starts_with('"') || text.starts_with("r\"") || text.starts_with("r#"))
                && matches!(syn::Lit::new(lit), syn::Lit::Verbatim(_))
        }
        _ => false,
    }
}

/// The error for a first argument that is not `key = value` and not a string literal.
fn not_a_string_literal(kind: Kind, tokens: TokenStream) -> syn::Error {
    let what = if kind.is_publisher() {
        "a publisher's topic must be a string literal, e.g. `\"devices/{id}/command\"`"
    } else {
        "the topic filter must be a string literal, e.g. `\"home/+/temperature\"`"
    };
    syn::Error::new_spanned(&tokens, format!("{what}, found `{}`", source_text(&tokens)))
}

/// The key `ident` is a near miss of, among those `kind` takes: one or two characters
/// off (one for names shorter than 5), case included, so that a constant (`TOPIC`, `QOS`)
/// or a short name (`a`) is taken for the filter it most likely is.
fn misspelt_key(kind: Kind, ident: &Ident) -> Option<&'static Key> {
    let name = ident.unraw().to_string();
    let most = if name.chars().count() < 5 { 1 } else { 2 };
    KEYS.iter()
        .filter(|entry| (entry.accepted_by)(kind))
        .map(|entry| (edit_distance(&name, entry.name), entry))
        .filter(|(distance, _)| *distance <= most)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, entry)| entry)
}

/// The Levenshtein distance between `a` and `b`, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // The distances from the first `i` characters of `a` to each prefix of `b`.
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(previous.len());
        current.push(i + 1);
        for (cb, pair) in b.iter().zip(previous.windows(2)) {
            let &[diagonal, above] = pair else { continue };
            let left = current.last().map_or(usize::MAX, |d| d + 1);
            current.push((diagonal + usize::from(ca != *cb)).min(above + 1).min(left));
        }
        previous = current;
    }
    previous.last().copied().unwrap_or(0)
}

/// The error for a first argument `ident` that looks like a misspelling of `entry`.
fn misspelt_first(kind: Kind, ident: &Ident, entry: &Key) -> syn::Error {
    let meant = if entry.flag {
        entry.name
    } else {
        entry.example
    };
    let first = if kind.is_publisher() {
        "a publisher's topic comes first, as a string literal, e.g. `\"devices/{id}/command\"`"
    } else {
        "a topic filter comes first, as a string literal, e.g. `\"home/+/temperature\"`"
    };
    syn::Error::new(
        ident.span(),
        format!(
            "unknown argument `{}` (did you mean `{meant}`?); {first}",
            ident.unraw()
        ),
    )
}

/// Pushes `error` onto the errors collected so far.
pub(crate) fn push_error(errors: &mut Option<syn::Error>, error: syn::Error) {
    match errors {
        Some(errors) => errors.combine(error),
        None => *errors = Some(error),
    }
}

impl Args {
    /// Parses and checks the arguments of `#[<kind>(<tokens>)]`.
    pub(crate) fn parse(kind: Kind, tokens: TokenStream) -> syn::Result<Args> {
        let (list, mut errors) = split_arguments(tokens);
        let mut args = Args {
            kind,
            filter: None,
            qos: None,
            shared: None,
            krate: None,
            broker: None,
            concurrency: None,
            queue: None,
            retain: None,
            ack: None,
            nack_on_error: None,
        };
        let mut seen: Vec<&'static str> = Vec::new();
        // Whether a filter was written, valid or not: an invalid filter is one mistake and
        // must not also report `qos` as lacking a filter.
        let mut filter_written = false;
        for (index, arg) in list.into_iter().enumerate() {
            if let Err(error) = no_suffix(&arg) {
                push_error(&mut errors, error);
                if matches!(arg, Arg::Filter(_)) {
                    filter_written = true;
                }
                continue;
            }
            let result = match arg {
                Arg::Filter(lit) => {
                    let result = args.filter(index, lit, filter_written);
                    filter_written = true;
                    result
                }
                // The first argument, when not `key = value`, is the filter (the topic of
                // a publisher), whatever it is: one message, and no second one saying
                // that `qos` lacks a filter. A misspelt key (`nack_on_eror`) is named as
                // such.
                Arg::Flag(ident)
                    if index == 0
                        && kind.takes_topic()
                        && !KEYS.iter().any(|entry| ident.unraw() == entry.name) =>
                {
                    filter_written = true;
                    Err(match misspelt_key(kind, &ident) {
                        Some(entry) => misspelt_first(kind, &ident, entry),
                        None => not_a_string_literal(kind, ident.into_token_stream()),
                    })
                }
                // A string literal that syn can't read (`"\q"`, an unknown escape) is
                // already an error of rustc's lexer: no second message.
                Arg::Other(tokens)
                    if index == 0 && kind.takes_topic() && is_bad_string(&tokens) =>
                {
                    filter_written = true;
                    Ok(())
                }
                Arg::Other(tokens) if index == 0 && kind.takes_topic() => {
                    filter_written = true;
                    Err(not_a_string_literal(kind, tokens))
                }
                Arg::KeyValue { key, value } => args.key_value(&mut seen, &key, &value),
                Arg::Flag(key) => match args.key(&key) {
                    Ok(entry) if entry.flag => {
                        let value = syn::LitBool::new(true, key.span()).into_token_stream();
                        args.key_value(&mut seen, &key, &value)
                    }
                    Ok(entry) => Err(syn::Error::new(
                        key.span(),
                        format!("`{}` needs a value, e.g. `{}`", entry.name, entry.example),
                    )),
                    Err(error) => Err(error),
                },
                Arg::Other(tokens) => Err(syn::Error::new_spanned(
                    &tokens,
                    if kind.takes_filter() {
                        format!(
                            "expected a topic filter string literal or `key = value`, found `{}`",
                            source_text(&tokens)
                        )
                    } else if kind.is_publisher() {
                        format!(
                            "expected a topic string literal or `key = value`, found `{}`",
                            source_text(&tokens)
                        )
                    } else {
                        format!("expected `key = value`, found `{}`", source_text(&tokens))
                    },
                )),
            };
            if let Err(error) = result {
                push_error(&mut errors, error);
            }
        }
        // A publisher's topic is required; its parser reports a missing one.
        if let (Some((key, _)), false, true) = (&args.qos, filter_written, kind.takes_filter()) {
            push_error(
                &mut errors,
                syn::Error::new(
                    key.span(),
                    format!(
                        "`qos` needs a topic filter: the catch-all `#[{}]` subscribes to nothing",
                        kind.attribute()
                    ),
                ),
            );
        }
        if let Some((key, group)) = args.shared.clone() {
            if let Err(error) = args.share(&key, &group, filter_written) {
                push_error(&mut errors, error);
            }
        }
        // A `qos` that is not 0, 1 or 2 is already reported: no QoS to check against.
        if filter_written && (args.qos.is_some() || !seen.contains(&"qos")) {
            args.check_qos_0(&mut errors);
        }
        if let (Some(key), Some((lit, AckChoice::First))) = (&args.nack_on_error, &args.ack) {
            push_error(
                &mut errors,
                syn::Error::new(
                    key.span(),
                    format!(
                        "`nack_on_error` has no effect with `ack = {}`: the message is acknowledged when it arrives, before the handler runs; remove one of them",
                        lit.token()
                    ),
                ),
            );
        }
        match errors {
            Some(errors) => Err(errors),
            None => Ok(args),
        }
    }

    /// `ack = "manual"` and `nack_on_error` on a filter subscribed at QoS 0: the broker
    /// sends its messages at most once and takes no acknowledgement, so there is nothing
    /// to acknowledge by hand or to withhold. (The catch-all takes messages of runtime
    /// subscriptions, at any QoS: not checked.)
    fn check_qos_0(&self, errors: &mut Option<syn::Error>) {
        let qos = match &self.qos {
            None => "QoS 0 (the default: no `qos` given)",
            Some((_, 0)) => "`qos = 0`",
            Some(_) => return,
        };
        if let Some((lit, AckChoice::Manual)) = &self.ack {
            push_error(
                errors,
                syn::Error::new(
                    lit.span(),
                    format!(
                        "`ack = \"manual\"` has nothing to acknowledge at {qos}: the broker sends the filter's messages at most once and takes no acknowledgement; add `qos = 1` (or 2)"
                    ),
                ),
            );
        }
        if let Some(key) = &self.nack_on_error {
            push_error(
                errors,
                syn::Error::new(
                    key.span(),
                    format!(
                        "`nack_on_error` has no effect at {qos}: the broker takes no acknowledgement of such a message, so it can't be withheld for the broker to send again; add `qos = 1` (or 2)"
                    ),
                ),
            );
        }
    }

    /// Applies `key = value`, once: a second one is a duplicate.
    fn key_value(
        &mut self,
        seen: &mut Vec<&'static str>,
        key: &Ident,
        value: &TokenStream,
    ) -> syn::Result<()> {
        let entry = self.key(key)?;
        if seen.contains(&entry.name) {
            return Err(syn::Error::new(
                key.span(),
                format!("duplicate argument `{}`", entry.name),
            ));
        }
        seen.push(entry.name);
        (entry.apply)(self, key, value)
    }

    /// Makes the filter the shared subscription `$share/<group>/<filter>` for
    /// `shared = "<group>"` (`key`); `filter_written` says whether a filter, valid or
    /// not, was given (an invalid one is already reported).
    fn share(&mut self, key: &Ident, group: &LitStr, filter_written: bool) -> syn::Result<()> {
        let attribute = self.kind.attribute();
        let Some((lit, template)) = &self.filter else {
            if filter_written {
                return Ok(());
            }
            return Err(syn::Error::new(
                key.span(),
                format!(
                    "`shared` needs a topic filter: the catch-all `#[{attribute}]` subscribes to nothing, so there is nothing to share; give it one like `#[{attribute}(\"jobs/#\", shared = \"workers\")]`"
                ),
            ));
        };
        let name = group.value();
        if let Some(existing) = template.filter().share_group() {
            return Err(syn::Error::new(
                key.span(),
                format!(
                    "the filter `{}` is already a shared subscription (share name `{}`); remove `shared = \"{}\"`, or write the filter without `$share/{}/`",
                    quoted(&lit.value()),
                    quoted(existing),
                    quoted(&name),
                    quoted(existing),
                ),
            ));
        }
        let source = format!("$share/{name}/{}", lit.value());
        match TopicTemplate::parse(&source) {
            Ok(shared) => {
                self.filter = Some((LitStr::new(&source, lit.span()), shared));
                Ok(())
            }
            // The share name and the filter are each valid: only the length or the number
            // of levels (Mosquitto's limit, the share's two levels included) can break.
            // Reported on the filter, which is what must be shortened.
            Err(error) => {
                let prefix = format!("$share/{name}/");
                let added = match error {
                    TemplateError::Filter(TopicFilterError::TooLong { .. }) => {
                        format!("the {} bytes of `{}`", prefix.len(), quoted(&prefix))
                    }
                    _ => format!("the two levels `{}`", quoted(&prefix)),
                };
                Err(syn::Error::new(
                    lit.span(),
                    format!(
                        "invalid topic filter `{}`: {error}; `shared = \"{}\"` adds {added} to this filter: shorten it",
                        quoted(&source),
                        quoted(&name),
                    ),
                ))
            }
        }
    }

    /// Stores the topic filter at position `index`, after validating it; `another` says
    /// whether a filter (valid or not) came before it.
    fn filter(&mut self, index: usize, lit: LitStr, another: bool) -> syn::Result<()> {
        if self.kind.is_publisher() {
            return self.topic(index, lit, another);
        }
        let attribute = self.kind.attribute();
        if !self.kind.takes_filter() {
            return Err(syn::Error::new(
                lit.span(),
                format!("`#[{attribute}]` takes no topic filter"),
            ));
        }
        if another {
            return Err(syn::Error::new(
                lit.span(),
                format!("`#[{attribute}]` takes at most one topic filter"),
            ));
        }
        if index != 0 {
            return Err(syn::Error::new(
                lit.span(),
                format!(
                    "the topic filter must be the first argument, e.g. `#[{attribute}(\"home/+/temperature\", qos = 1)]`"
                ),
            ));
        }
        let value = lit.value();
        match TopicTemplate::parse(&value) {
            Ok(template) => {
                self.filter = Some((lit, template));
                Ok(())
            }
            Err(error) => {
                let message = if let TemplateError::Filter(TopicFilterError::Empty) = error {
                    // "invalid topic filter ``" says nothing the error doesn't.
                    error.to_string()
                } else {
                    format!("invalid topic filter `{}`: {error}", quoted(&value))
                };
                Err(syn::Error::new(lit.span(), message))
            }
        }
    }

    /// Stores a publisher's topic template at position `index`, after validating it as
    /// the template of topic names; `another` says whether one came before it.
    fn topic(&mut self, index: usize, lit: LitStr, another: bool) -> syn::Result<()> {
        if another || index != 0 {
            return Err(syn::Error::new(
                lit.span(),
                "a publisher has one topic, first after `=`, e.g. `static COMMAND: Command = \"devices/{id}/command\", qos = 1`",
            ));
        }
        let value = lit.value();
        match TopicNameTemplate::parse(&value) {
            Ok(template) => {
                self.filter = Some((lit, template.template().clone()));
                Ok(())
            }
            Err(error) => {
                let message = if let TemplateError::Filter(TopicFilterError::Empty) = error {
                    "a publisher's topic must not be empty".to_owned()
                } else {
                    format!("invalid topic `{}`: {error}", quoted(&value))
                };
                Err(syn::Error::new(lit.span(), message))
            }
        }
    }

    /// Looks `key` up among the arguments this attribute accepts.
    fn key(&self, key: &Ident) -> syn::Result<&'static Key> {
        let name = key.unraw().to_string();
        let accepted = || KEYS.iter().filter(|entry| (entry.accepted_by)(self.kind));
        if let Some(entry) = accepted().find(|entry| entry.name == name) {
            return Ok(entry);
        }
        let expected = match accepted()
            .map(|entry| format!("`{}`", entry.name))
            .collect::<Vec<_>>()[..]
        {
            [] => "no arguments".to_owned(),
            [ref only] => format!("expected {only}"),
            ref many => format!("expected one of {}", many.join(", ")),
        };
        let message = if KEYS.iter().any(|entry| entry.name == name) {
            format!(
                "{} takes no `{name}` argument; {expected}",
                self.kind.written()
            )
        } else {
            format!("unknown argument `{name}`; {expected}")
        };
        Err(syn::Error::new(key.span(), message))
    }
}

/// The most characters of a value (a topic, a name) an error message quotes: a topic
/// may be 65,535 bytes long.
const QUOTED_MAX: usize = 100;

/// A value as text fit for an error message: escaped (see [`escape`]), and cut after
/// [`QUOTED_MAX`] characters, with `...` to say so.
fn quoted(value: &str) -> String {
    match value.char_indices().nth(QUOTED_MAX) {
        Some((cut, _)) => format!("{}...", escape(&value[..cut])),
        None => escape(value),
    }
}

/// The topic as text fit for an error message: control characters (NUL!) escaped.
fn escape(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c == '\0' {
                "\\0".to_owned()
            } else if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(kind: Kind, tokens: TokenStream) -> syn::Result<Args> {
        Args::parse(kind, tokens)
    }

    fn error(kind: Kind, tokens: TokenStream) -> String {
        match parse(kind, tokens) {
            Ok(args) => panic!("expected an error, got {args:?}"),
            Err(error) => error
                .into_iter()
                .map(|error| error.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    #[test]
    fn empty_arguments() {
        for kind in Kind::ALL {
            let args = parse(kind, quote!()).unwrap();
            assert!(args.filter.is_none());
            assert!(args.qos.is_none());
            assert!(args.krate.is_none());
        }
    }

    #[test]
    fn filter_and_qos() {
        let args = parse(Kind::Message, quote!("home/+/temperature", qos = 1)).unwrap();
        assert_eq!(args.filter.unwrap().0.value(), "home/+/temperature");
        assert_eq!(args.qos.unwrap().1, 1);
    }

    #[test]
    fn filter_only_and_trailing_comma() {
        let args = parse(Kind::Message, quote!("home/#",)).unwrap();
        assert_eq!(args.filter.unwrap().0.value(), "home/#");
        assert!(args.qos.is_none());
    }

    #[test]
    fn qos_values() {
        for (tokens, qos) in [(quote!(0), 0), (quote!(1), 1), (quote!(2), 2)] {
            let args = parse(Kind::Message, quote!("a/b", qos = #tokens)).unwrap();
            assert_eq!(args.qos.unwrap().1, qos);
        }
    }

    #[test]
    fn crate_path() {
        let args = parse(Kind::Connect, quote!(crate = "::my_app::mqtt")).unwrap();
        let path = args.krate.unwrap();
        assert_eq!(
            quote!(#path).to_string(),
            quote!(::my_app::mqtt).to_string()
        );

        let args = parse(Kind::Message, quote!("a", qos = 2, crate = "mqtt")).unwrap();
        assert!(args.krate.is_some());
    }

    #[test]
    fn invalid_filter() {
        let message = error(Kind::Message, quote!("home/#/temperature"));
        assert!(
            message.starts_with("invalid topic filter `home/#/temperature`: "),
            "{message}"
        );
    }

    #[test]
    fn empty_filter() {
        assert_eq!(
            error(Kind::Message, quote!("")),
            flask_mqtt_topic::TopicFilter::new("")
                .unwrap_err()
                .to_string()
        );
    }

    #[test]
    fn invalid_filter_escapes_control_characters() {
        let message = error(Kind::Message, quote!("home/\0"));
        assert!(
            message.starts_with("invalid topic filter `home/\\0`: "),
            "{message}"
        );
    }

    #[test]
    fn qos_out_of_range() {
        assert_eq!(
            error(Kind::Message, quote!("a", qos = 3)),
            "`qos` must be 0, 1 or 2, found `3`"
        );
        assert_eq!(
            error(Kind::Message, quote!("a", qos = 300)),
            "`qos` must be 0, 1 or 2, found `300`"
        );
    }

    #[test]
    fn qos_not_an_integer() {
        assert_eq!(
            error(Kind::Message, quote!("a", qos = "1")),
            "`qos` must be 0, 1 or 2, found `\"1\"`"
        );
        assert!(error(Kind::Message, quote!("a", qos = QoS::AtLeastOnce))
            .starts_with("`qos` must be 0, 1 or 2, found `"));
        assert!(error(Kind::Message, quote!("a", qos = -1))
            .starts_with("`qos` must be 0, 1 or 2, found `"));
    }

    #[test]
    fn qos_without_value() {
        assert_eq!(
            error(Kind::Message, quote!("a", qos)),
            "`qos` needs a value, e.g. `qos = 1`"
        );
        assert_eq!(
            error(Kind::Message, quote!("a", qos =)),
            "expected a value after `qos =`"
        );
    }

    #[test]
    fn qos_without_filter() {
        assert_eq!(
            error(Kind::Message, quote!(qos = 1)),
            "`qos` needs a topic filter: the catch-all `#[on_message]` subscribes to nothing"
        );
    }

    #[test]
    fn unknown_argument() {
        assert_eq!(
            error(Kind::Message, quote!("a", qs = 1)),
            "unknown argument `qs`; expected one of `qos`, `shared`, `broker`, `concurrency`, `queue`, `ack`, `nack_on_error`, `crate`"
        );
        assert_eq!(
            error(Kind::Connect, quote!(foo = 1)),
            "unknown argument `foo`; expected one of `broker`, `concurrency`, `queue`, `crate`"
        );
        assert_eq!(
            error(Kind::Message, quote!("a", bogus)),
            "unknown argument `bogus`; expected one of `qos`, `shared`, `broker`, `concurrency`, `queue`, `ack`, `nack_on_error`, `crate`"
        );
    }

    #[test]
    fn argument_of_another_attribute() {
        assert_eq!(
            error(Kind::Connect, quote!(qos = 1)),
            "`#[on_connect]` takes no `qos` argument; expected one of `broker`, `concurrency`, `queue`, `crate`"
        );
    }

    #[test]
    fn duplicate_argument() {
        assert_eq!(
            error(Kind::Message, quote!("a", qos = 1, qos = 2)),
            "duplicate argument `qos`"
        );
        assert_eq!(
            error(Kind::Log, quote!(crate = "a", crate = "b")),
            "duplicate argument `crate`"
        );
    }

    #[test]
    fn two_filters() {
        assert_eq!(
            error(Kind::Message, quote!("a", "b")),
            "`#[on_message]` takes at most one topic filter"
        );
    }

    #[test]
    fn two_filters_the_first_invalid() {
        let message = error(Kind::Message, quote!("a/#/b", "c"));
        assert!(
            message.starts_with("invalid topic filter `a/#/b`: "),
            "{message}"
        );
        assert!(
            message.ends_with("\n`#[on_message]` takes at most one topic filter"),
            "{message}"
        );
    }

    #[test]
    fn filter_not_first() {
        assert_eq!(
            error(Kind::Message, quote!(crate = "x", "a/b")),
            "the topic filter must be the first argument, e.g. `#[on_message(\"home/+/temperature\", qos = 1)]`"
        );
    }

    /// The kinds and their attribute names are the runtime's: the generated code names
    /// `HandlerKind::<variant>`, and both crates print the attribute names.
    #[test]
    fn kinds_are_the_runtimes() {
        use flask_mqtt_actix::HandlerKind;
        assert_eq!(Kind::ALL.len(), HandlerKind::ALL.len());
        for (kind, runtime) in Kind::ALL.into_iter().zip(HandlerKind::ALL) {
            assert_eq!(kind.variant(), format!("{runtime:?}"));
            assert_eq!(kind.attribute(), runtime.attribute());
        }
    }

    #[test]
    fn filter_given_to_another_kind() {
        for (kind, name) in [
            (Kind::Connect, "on_connect"),
            (Kind::Disconnect, "on_disconnect"),
            (Kind::Log, "on_log"),
            (Kind::Publish, "on_publish"),
            (Kind::Subscribe, "on_subscribe"),
            (Kind::Unsubscribe, "on_unsubscribe"),
        ] {
            assert_eq!(
                error(kind, quote!("a/b")),
                format!("`#[{name}]` takes no topic filter")
            );
        }
    }

    #[test]
    fn unquoted_filter() {
        assert!(
            error(Kind::Message, quote!(home / temperature)).starts_with(
                "the topic filter must be a string literal, e.g. `\"home/+/temperature\"`, found `"
            )
        );
        assert!(error(Kind::Message, quote!("a", home / temperature))
            .starts_with("expected a topic filter string literal or `key = value`, found `"));
        assert!(error(Kind::Connect, quote!(1)).starts_with("expected `key = value`, found `"));
    }

    /// Whatever the first argument is, when it is not `key = value` it is the filter: one
    /// message saying it must be a string literal, and none about `qos` lacking a filter.
    #[test]
    fn filter_not_a_string_literal() {
        let expected = |found: &str| {
            format!("the topic filter must be a string literal, e.g. `\"home/+/temperature\"`, found `{found}`")
        };
        for (tokens, found) in [
            (quote!(TOPIC, qos = 1), "TOPIC"),
            (quote!(b"a/b", qos = 1), "b\"a/b\""),
            (
                quote!(concat!("a/", "b"), qos = 1),
                "concat ! (\"a/\" , \"b\")",
            ),
            (quote!(TOPIC, qos = 1, shared = "g"), "TOPIC"),
        ] {
            assert_eq!(error(Kind::Message, tokens), expected(found));
        }
        assert_eq!(
            error(Kind::Publisher, quote!(TOPIC, qos = 1)),
            "a publisher's topic must be a string literal, e.g. `\"devices/{id}/command\"`, found `TOPIC`"
        );
    }

    /// A first argument that is a near miss of a key the attribute takes is named as the
    /// misspelt key; any other identifier is the filter, which must be a string literal.
    #[test]
    fn first_argument_like_a_key() {
        let filter =
            "a topic filter comes first, as a string literal, e.g. `\"home/+/temperature\"`";
        for (tokens, meant) in [
            (quote!(nack_on_eror), "nack_on_error"),
            (quote!(qs), "qos = 1"),
            (quote!(Qos), "qos = 1"),
            (quote!(shard, qos = 1), "shared = \"workers\""),
            (quote!(concurency), "concurrency = 4"),
        ] {
            let found = tokens.clone().into_iter().next().unwrap().to_string();
            assert_eq!(
                error(Kind::Message, tokens),
                format!("unknown argument `{found}` (did you mean `{meant}`?); {filter}")
            );
        }
        assert_eq!(
            error(Kind::Publisher, quote!(retan)),
            "unknown argument `retan` (did you mean `retain = true`?); a publisher's topic comes first, as a string literal, e.g. `\"devices/{id}/command\"`"
        );
        // Too far from every key, or a key of another attribute: the filter.
        for name in ["foo", "topic", "TOPIC", "QOS", "a", "q", "retain_"] {
            let ident = Ident::new(name, Span::call_site());
            assert_eq!(
                error(Kind::Message, quote!(#ident)),
                format!("the topic filter must be a string literal, e.g. `\"home/+/temperature\"`, found `{name}`")
            );
        }
        // A key itself is still read as one.
        assert_eq!(
            error(Kind::Message, quote!(qos)),
            "`qos` needs a value, e.g. `qos = 1`"
        );
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("é", "e"), 1);
    }

    #[test]
    fn suffixed_literals() {
        for (kind, tokens, expected) in [
            (
                Kind::Message,
                quote!("home/x"suffix),
                "suffixed literals are not allowed here: write `\"home/x\"` instead of `\"home/x\"suffix`",
            ),
            (
                Kind::Message,
                quote!("a", qos = 1u8),
                "suffixed literals are not allowed here: write `1` instead of `1u8`",
            ),
            (
                Kind::Message,
                quote!("a", queue = 5i64),
                "suffixed literals are not allowed here: write `5` instead of `5i64`",
            ),
            (
                Kind::Message,
                quote!("a", concurrency = 2usize),
                "suffixed literals are not allowed here: write `2` instead of `2usize`",
            ),
            (
                Kind::Message,
                quote!("a", shared = "g"x),
                "suffixed literals are not allowed here: write `\"g\"` instead of `\"g\"x`",
            ),
            (
                Kind::Publisher,
                quote!("a", qos = 1u8),
                "suffixed literals are not allowed here: write `1` instead of `1u8`",
            ),
        ] {
            assert_eq!(error(kind, tokens), expected);
        }
    }

    #[test]
    fn malformed_arguments_are_each_reported() {
        assert_eq!(
            error(Kind::Message, quote!("a", , qos = )),
            "expected an argument\nexpected a value after `qos =`"
        );
    }

    #[test]
    fn crate_not_a_string_or_not_a_path() {
        assert!(error(Kind::Connect, quote!(crate = my_crate))
            .starts_with("`crate` must be a string literal, found `my_crate`"));
        assert!(error(Kind::Connect, quote!(crate = "not a path"))
            .starts_with("`crate` must be a path such as"));
    }

    #[test]
    fn every_mistake_is_reported() {
        let message = error(Kind::Message, quote!("a", qos = 7, qs = 1));
        assert_eq!(
            message,
            "`qos` must be 0, 1 or 2, found `7`\nunknown argument `qs`; expected one of `qos`, `shared`, `broker`, `concurrency`, `queue`, `ack`, `nack_on_error`, `crate`"
        );
    }

    #[test]
    fn empty_argument() {
        assert_eq!(
            error(Kind::Message, quote!("a", , qos = 1)),
            "expected an argument"
        );
    }

    #[test]
    fn invalid_filter_and_qos_is_one_error() {
        // The filter is wrong, not `qos`: `qos` must not also be reported as lacking one.
        let error = parse(Kind::Message, quote!("a/#/b", qos = 1)).unwrap_err();
        assert_eq!(error.into_iter().count(), 1);
    }

    #[test]
    fn template_filter() {
        let args = parse(Kind::Message, quote!("sensors/{id}/temperature", qos = 1)).unwrap();
        let (lit, template) = args.filter.unwrap();
        assert_eq!(lit.value(), "sensors/{id}/temperature");
        assert_eq!(template.filter().as_str(), "sensors/+/temperature");
        assert_eq!(template.names().collect::<Vec<_>>(), ["id"]);
    }

    #[test]
    fn invalid_template() {
        for (tokens, message) in [
            (
                quote!("a/{}"),
                "invalid topic filter `a/{}`: a topic parameter needs a name (level 2 is `{}`); write e.g. `{id}`, or `+` to match any level without naming it",
            ),
            (
                quote!("a/{id"),
                "invalid topic filter `a/{id`: unclosed `{` in level 2 (`{id`); a topic parameter is written `{name}`",
            ),
            (
                quote!("a/x{id}"),
                "invalid topic filter `a/x{id}`: a topic parameter must occupy a whole level (level 2 is `x{id}`)",
            ),
            (
                quote!("{id}/{id}"),
                "invalid topic filter `{id}/{id}`: duplicate topic parameter `id` (again in level 2); give each parameter its own name",
            ),
            (
                quote!("{rest:#}/a"),
                "invalid topic filter `{rest:#}/a`: `{rest:#}` must be the last level (it is level 1); use `{rest}` for a single level",
            ),
        ] {
            assert_eq!(error(Kind::Message, tokens), message);
        }
    }

    #[test]
    fn broker() {
        for kind in [Kind::Connect, Kind::Message, Kind::Log] {
            let args = parse(kind, quote!(broker = "MQTT2")).unwrap();
            assert_eq!(args.broker.unwrap().value(), "MQTT2");
        }
        for name in ["MQTT", "A", "SENSORS_BROKER_2"] {
            assert!(is_broker_name(name), "{name}");
        }
        for name in ["", "mqtt2", "2MQTT", "_MQTT", "MQTT-2", "MQTT 2", "MQTTé"] {
            assert!(!is_broker_name(name), "{name}");
        }
        assert_eq!(
            error(Kind::Message, quote!("a", broker = "mqtt2")),
            "invalid broker name `mqtt2`: a broker is named by the prefix of its configuration keys, in uppercase letters, digits and `_`, starting with a letter (`broker = \"MQTT2\"` reads `MQTT2_BROKER_URL`, ...)"
        );
        assert_eq!(
            error(Kind::Connect, quote!(broker = MQTT2)),
            "`broker` must be a string literal, found `MQTT2`; write it as `broker = \"MQTT2\"`"
        );
        assert_eq!(
            error(Kind::Connect, quote!(broker)),
            "`broker` needs a value, e.g. `broker = \"MQTT2\"`"
        );
    }

    #[test]
    fn concurrency_and_queue() {
        let args = parse(Kind::Message, quote!("a", concurrency = 4, queue = 10)).unwrap();
        assert_eq!(args.concurrency, Some(4));
        assert_eq!(args.queue, Some(10));
        let args = parse(Kind::Connect, quote!(concurrency = 1)).unwrap();
        assert_eq!(args.concurrency, Some(1));
        assert_eq!(
            error(Kind::Message, quote!("a", concurrency = 0)),
            "`concurrency` must be a whole number from 1 to 536870911 (the most calls at once Tokio allows on every target), found `0`"
        );
        let args = parse(Kind::Log, quote!(concurrency = 536870911)).unwrap();
        assert_eq!(args.concurrency, Some(MAX_CONCURRENCY));
        for too_many in [quote!(536870912), quote!(4294967295)] {
            assert!(
                error(Kind::Log, quote!(concurrency = #too_many))
                    .starts_with("`concurrency` must be a whole number from 1 to 536870911 "),
                "{too_many}"
            );
        }
        let args = parse(Kind::Log, quote!(queue = 4294967295)).unwrap();
        assert_eq!(args.queue, Some(u32::MAX));
        assert_eq!(
            error(Kind::Message, quote!("a", queue = -1)),
            "`queue` must be a whole number from 1 to 4294967295, found `- 1`"
        );
        assert_eq!(
            error(Kind::Message, quote!("a", queue = "8")),
            "`queue` must be a whole number from 1 to 4294967295, found `\"8\"`"
        );
        assert_eq!(
            error(Kind::Message, quote!("a", concurrency = 2, concurrency = 3)),
            "duplicate argument `concurrency`"
        );
    }

    #[test]
    fn ack_policies() {
        for choice in AckChoice::ALL {
            let name = choice.name();
            let args = parse(Kind::Message, quote!("a", qos = 1, ack = #name)).unwrap();
            assert_eq!(args.ack.unwrap().1, choice);
        }
        let args = parse(Kind::Message, quote!(ack = "manual")).unwrap();
        assert_eq!(args.ack.unwrap().1, AckChoice::Manual);
        assert!(parse(Kind::Message, quote!("a")).unwrap().ack.is_none());
    }

    /// The names are the runtime's `AckPolicy` names, in its order.
    #[test]
    fn ack_choices_are_the_runtimes() {
        use flask_mqtt_actix::AckPolicy;
        assert_eq!(AckChoice::ALL.len(), AckPolicy::ALL.len());
        for (choice, runtime) in AckChoice::ALL.into_iter().zip(AckPolicy::ALL) {
            assert_eq!(choice.name(), runtime.as_str());
            assert_eq!(choice.variant(), format!("{runtime:?}"));
        }
    }

    #[test]
    fn invalid_ack_policy() {
        for (tokens, message) in [
            (
                quote!("a", ack = "later"),
                "unknown acknowledgement policy `later`; expected one of `\"after\"`, `\"first\"`, `\"manual\"`",
            ),
            (
                quote!("a", ack = "After"),
                "unknown acknowledgement policy `After`; expected one of `\"after\"`, `\"first\"`, `\"manual\"`",
            ),
            (
                quote!("a", ack = manual),
                "`ack` must be a string literal, found `manual`; expected one of `\"after\"`, `\"first\"`, `\"manual\"`",
            ),
            (
                quote!("a", ack),
                "`ack` needs a value, e.g. `ack = \"manual\"`",
            ),
            (
                quote!("a", ack = "after", ack = "first"),
                "duplicate argument `ack`",
            ),
        ] {
            assert_eq!(error(Kind::Message, tokens), message);
        }
    }

    #[test]
    fn nack_on_error() {
        for tokens in [
            quote!("a", qos = 1, nack_on_error),
            quote!("a", qos = 2, nack_on_error = true),
            quote!("a", qos = 1, nack_on_error, ack = "after"),
            quote!(nack_on_error, ack = "manual"),
        ] {
            let args = parse(Kind::Message, tokens.clone()).unwrap();
            assert_eq!(args.nack_on_error.unwrap(), "nack_on_error", "{tokens}");
        }
        let args = parse(Kind::Message, quote!("a", nack_on_error = false)).unwrap();
        assert!(args.nack_on_error.is_none());
        assert_eq!(
            error(Kind::Message, quote!("a", qos = 1, nack_on_error = 1)),
            "`nack_on_error` must be `true` or `false`, found `1`; or write `nack_on_error` alone"
        );
        assert_eq!(
            error(
                Kind::Message,
                quote!("a", qos = 1, nack_on_error, nack_on_error = true)
            ),
            "duplicate argument `nack_on_error`"
        );
        // A flag is still checked against the attribute: only message handlers take it.
        assert_eq!(
            error(Kind::Connect, quote!(nack_on_error)),
            "`#[on_connect]` takes no `nack_on_error` argument; expected one of `broker`, `concurrency`, `queue`, `crate`"
        );
        // Other keys still need their value.
        assert_eq!(
            error(Kind::Message, quote!("a", queue)),
            "`queue` needs a value, e.g. `queue = 1000`"
        );
    }

    #[test]
    fn nack_on_error_with_ack_first() {
        assert_eq!(
            error(Kind::Message, quote!("a", qos = 1, ack = "first", nack_on_error)),
            "`nack_on_error` has no effect with `ack = \"first\"`: the message is acknowledged when it arrives, before the handler runs; remove one of them"
        );
        // Every mistake is reported, this one too.
        let message = error(
            Kind::Message,
            quote!("a", qos = 9, nack_on_error, ack = "first"),
        );
        assert_eq!(message.lines().count(), 2, "{message}");
    }

    /// Nothing to acknowledge at QoS 0: `ack = "manual"` and `nack_on_error` need a
    /// filter subscribed at QoS 1 or 2.
    #[test]
    fn manual_ack_and_nack_on_error_need_qos_1() {
        let manual = "`ack = \"manual\"` has nothing to acknowledge at QoS 0 (the default: no `qos` given): the broker sends the filter's messages at most once and takes no acknowledgement; add `qos = 1` (or 2)";
        assert_eq!(error(Kind::Message, quote!("a", ack = "manual")), manual);
        let nack = "`nack_on_error` has no effect at `qos = 0`: the broker takes no acknowledgement of such a message, so it can't be withheld for the broker to send again; add `qos = 1` (or 2)";
        assert_eq!(
            error(Kind::Message, quote!("a", qos = 0, nack_on_error)),
            nack
        );
        let both = error(Kind::Message, quote!("a", ack = "manual", nack_on_error));
        assert_eq!(both.lines().count(), 2, "{both}");
        for tokens in [
            quote!("a", qos = 1, ack = "manual", nack_on_error),
            quote!("a", qos = 2, ack = "manual"),
            // The catch-all takes the messages of runtime subscriptions, at any QoS.
            quote!(ack = "manual", nack_on_error),
            // Nothing to say about the other policies.
            quote!("a", ack = "after"),
            quote!("a", qos = 0, ack = "first"),
            quote!("a", nack_on_error = false),
        ] {
            assert!(parse(Kind::Message, tokens.clone()).is_ok(), "{tokens}");
        }
        // An invalid `qos` is one mistake, not also a QoS 0.
        assert_eq!(
            error(Kind::Message, quote!("a", qos = 5, nack_on_error)),
            "`qos` must be 0, 1 or 2, found `5`"
        );
    }

    #[test]
    fn ack_keys_are_for_message_handlers() {
        for kind in [Kind::Connect, Kind::Log, Kind::Publish] {
            let message = error(kind, quote!(ack = "after"));
            assert!(
                message.starts_with(&format!(
                    "`#[{}]` takes no `ack` argument",
                    kind.attribute()
                )),
                "{message}"
            );
        }
    }

    #[test]
    fn shared() {
        for (tokens, source, filter, names) in [
            (
                quote!("jobs/#", shared = "workers"),
                "$share/workers/jobs/#",
                "$share/workers/jobs/#",
                &[][..],
            ),
            (
                quote!("jobs/{id}", qos = 1, shared = "w-1"),
                "$share/w-1/jobs/{id}",
                "$share/w-1/jobs/+",
                &["id"][..],
            ),
            (
                quote!("$SYS/broker/+", shared = "$g"),
                "$share/$g/$SYS/broker/+",
                "$share/$g/$SYS/broker/+",
                &[][..],
            ),
        ] {
            let args = parse(Kind::Message, tokens).unwrap();
            let (lit, template) = args.filter.unwrap();
            assert_eq!(lit.value(), source);
            assert_eq!(template.filter().as_str(), filter);
            assert_eq!(template.names().collect::<Vec<_>>(), names);
        }
        let args = parse(Kind::Message, quote!("jobs/#", shared = "workers")).unwrap();
        let (_, template) = args.filter.unwrap();
        assert_eq!(template.filter().share_group(), Some("workers"));
        assert_eq!(template.filter().inner(), "jobs/#");
        assert!(template.filter().matches("jobs/42"));
    }

    #[test]
    fn shared_means_the_same_as_share_prefix() {
        let written = parse(Kind::Message, quote!("$share/workers/jobs/{id}", qos = 1)).unwrap();
        let argument = parse(
            Kind::Message,
            quote!("jobs/{id}", qos = 1, shared = "workers"),
        )
        .unwrap();
        let (written_lit, written) = written.filter.unwrap();
        let (argument_lit, argument) = argument.filter.unwrap();
        assert_eq!(written_lit.value(), argument_lit.value());
        assert_eq!(written, argument);
    }

    #[test]
    fn invalid_share_name() {
        for (tokens, message) in [
            (
                quote!("jobs/#", shared = ""),
                "the share name must not be empty; name the group of handlers that share the messages, e.g. `shared = \"workers\"`",
            ),
            (
                quote!("jobs/#", shared = "a/b"),
                "invalid share name `a/b`: it contains `/`; a share name is a single topic level (the filter is the first argument)",
            ),
            (
                quote!("jobs/#", shared = "w+"),
                "invalid share name `w+`: it contains `+`; a share name cannot contain wildcards",
            ),
            (
                quote!("jobs/#", shared = "#"),
                "invalid share name `#`: it contains `#`; a share name cannot contain wildcards",
            ),
            (
                quote!("jobs/#", shared = "{g}"),
                "invalid share name `{g}`: it contains `{`; braces name topic levels, and a share name cannot be a topic parameter",
            ),
            (
                quote!("jobs/#", shared = "g\0"),
                "invalid share name `g\\0`: it contains `\\0`; no topic may contain the NUL character",
            ),
            (
                quote!("jobs/#", shared = workers),
                "`shared` must be a string literal, found `workers`; write it as `shared = \"workers\"`",
            ),
            (
                quote!("jobs/#", shared),
                "`shared` needs a value, e.g. `shared = \"workers\"`",
            ),
            (
                quote!("jobs/#", shared = "a", shared = "b"),
                "duplicate argument `shared`",
            ),
        ] {
            assert_eq!(error(Kind::Message, tokens), message);
        }
    }

    #[test]
    fn shared_without_filter() {
        assert_eq!(
            error(Kind::Message, quote!(shared = "workers")),
            "`shared` needs a topic filter: the catch-all `#[on_message]` subscribes to nothing, so there is nothing to share; give it one like `#[on_message(\"jobs/#\", shared = \"workers\")]`"
        );
        assert_eq!(
            error(Kind::Connect, quote!(shared = "workers")),
            "`#[on_connect]` takes no `shared` argument; expected one of `broker`, `concurrency`, `queue`, `crate`"
        );
    }

    #[test]
    fn shared_with_a_shared_filter() {
        assert_eq!(
            error(Kind::Message, quote!("$share/workers/jobs/#", shared = "other")),
            "the filter `$share/workers/jobs/#` is already a shared subscription (share name `workers`); remove `shared = \"other\"`, or write the filter without `$share/workers/`"
        );
        // Only the exact prefix makes a shared subscription: this one is a plain filter.
        let args = parse(Kind::Message, quote!("$SHARE/x/a", shared = "g")).unwrap();
        assert_eq!(args.filter.unwrap().0.value(), "$share/g/$SHARE/x/a");
    }

    #[test]
    fn shared_with_an_invalid_filter_is_one_error() {
        let error = parse(Kind::Message, quote!("a/#/b", shared = "g")).unwrap_err();
        let messages: Vec<String> = error.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(messages[0].starts_with("invalid topic filter `a/#/b`: "));
        // A mistake in the share name and one in the filter are both reported.
        let error = parse(Kind::Message, quote!("a/#/b", shared = "")).unwrap_err();
        assert_eq!(error.into_iter().count(), 2);
    }

    #[test]
    fn shared_filter_too_long() {
        let long = "a".repeat(flask_mqtt_topic::MAX_TOPIC_LEN - 10);
        let message = error(Kind::Message, quote!(#long, shared = "workers"));
        assert!(
            message.starts_with("invalid topic filter `$share/workers/aaa"),
            "{message}"
        );
        assert!(
            message.ends_with(
                "; `shared = \"workers\"` adds the 15 bytes of `$share/workers/` to this filter: shorten it"
            ),
            "{message}"
        );
        assert!(message.len() < 400, "quotes {} bytes", message.len());
    }

    /// Too deep with the share's two levels: said on the filter, which must change.
    #[test]
    fn shared_filter_too_deep() {
        let filter = vec!["a"; flask_mqtt_topic::MAX_TOPIC_LEVELS - 1].join("/");
        let message = error(Kind::Message, quote!(#filter, shared = "g"));
        assert!(
            message.starts_with("invalid topic filter `$share/g/a/a"),
            "{message}"
        );
        assert!(
            message.ends_with(
                "; `shared = \"g\"` adds the two levels `$share/g/` to this filter: shorten it"
            ),
            "{message}"
        );
        // One level less fits.
        let filter = vec!["a"; flask_mqtt_topic::MAX_TOPIC_LEVELS - 2].join("/");
        assert!(parse(Kind::Message, quote!(#filter, shared = "g")).is_ok());
    }

    /// A filter of 65 KB is quoted by its first 100 characters, not all of it.
    #[test]
    fn a_long_filter_is_quoted_in_part() {
        let long = format!("{}/é", "a".repeat(flask_mqtt_topic::MAX_TOPIC_LEN));
        let message = error(Kind::Message, quote!(#long));
        let expected = format!(
            "invalid topic filter `{}...`: topic filter is {} bytes long; the limit is {} bytes",
            "a".repeat(QUOTED_MAX),
            long.len(),
            flask_mqtt_topic::MAX_TOPIC_LEN
        );
        assert_eq!(message, expected);
        let topic = error(Kind::Publisher, quote!(#long));
        assert!(topic.starts_with(&format!("invalid topic `{}...`: ", "a".repeat(QUOTED_MAX))));
        assert!(topic.len() < 300, "{topic}");
        // Cut on a character, never inside one; short values whole.
        let wide = "é".repeat(QUOTED_MAX + 1);
        assert_eq!(quoted(&wide), format!("{}...", "é".repeat(QUOTED_MAX)));
        assert_eq!(quoted("a/\0"), "a/\\0");
        assert_eq!(quoted(&"b".repeat(QUOTED_MAX)), "b".repeat(QUOTED_MAX));
    }
}
