//! Topic templates: topic filters whose wildcard levels have names,
//! `sensors/{sensor_id}/temperature`, so that handlers can read the values.

use std::error::Error;
use std::fmt;

use crate::{TopicFilter, TopicFilterError};

/// Prefix of a shared subscription (MQTT 5.0 §4.8.2).
const SHARE_PREFIX: &str = "$share/";

/// One level of a template (of its inner filter, for a shared subscription).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Level {
    /// Anything matched literally, or an unnamed `+`.
    Other,
    /// An unnamed `#`.
    Hash,
    /// `{name}`: one level, captured.
    One(usize),
    /// `{name:#}`: the remaining levels, captured.
    Rest(usize),
}

/// A topic filter whose wildcard levels may have names: `{name}` stands for one
/// level (`+`), `{name:#}` for the remaining levels (`#`, last only).
///
/// [`filter`](TopicTemplate::filter) is what is subscribed to;
/// [`captures`](TopicTemplate::captures) reads the named levels of a topic.
/// Unnamed `+` and `#` work as in any filter, and a template without names is
/// just a filter. Names are identifiers (`[A-Za-z_][A-Za-z0-9_]*`), each used
/// once; a parameter occupies a whole level, and cannot be in the share name of
/// a shared subscription. `{` and `}` are reserved for parameters in templates
/// (a topic filter given to `subscribe` at run time may contain them).
///
/// # Examples
///
/// ```
/// use flask_mqtt_topic::TopicTemplate;
///
/// let t = TopicTemplate::parse("sensors/{sensor_id}/{kind}")?;
/// assert_eq!(t.filter().as_str(), "sensors/+/+");
/// assert_eq!(t.names().collect::<Vec<_>>(), ["sensor_id", "kind"]);
/// assert_eq!(
///     t.captures("sensors/7/temperature"),
///     Some(vec![("sensor_id", "7"), ("kind", "temperature")]),
/// );
/// assert_eq!(t.captures("lights/7/state"), None);
///
/// let rest = TopicTemplate::parse("files/{path:#}")?;
/// assert_eq!(rest.filter().as_str(), "files/#");
/// assert_eq!(rest.captures("files/a/b.txt"), Some(vec![("path", "a/b.txt")]));
/// assert_eq!(rest.captures("files"), Some(vec![("path", "")]));
/// # Ok::<(), flask_mqtt_topic::TemplateError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicTemplate {
    source: String,
    filter: TopicFilter,
    names: Vec<String>,
    levels: Vec<Level>,
}

/// One level of a [`TopicTemplate`], from [`TopicTemplate::segments`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment<'a> {
    /// Matched literally.
    Literal(&'a str),
    /// An unnamed `+`: any one level.
    AnyLevel,
    /// An unnamed `#`: the remaining levels, zero or more.
    AnyRest,
    /// `{name}`: any one level, named.
    Param(&'a str),
    /// `{name:#}`: the remaining levels, named.
    RestParam(&'a str),
}

/// Why a string is not a valid topic template.
///
/// Like [`TopicFilterError`], the messages are meant to follow a prefix such as
/// ``invalid topic filter `a/{}`: `` and name the level (1-based, counting the
/// levels of the whole string as written) instead of repeating the string.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateError {
    /// The filter the template stands for breaks the topic filter grammar.
    Filter(TopicFilterError),
    /// `{}`: a parameter without a name.
    EmptyName {
        /// 1-based number of the offending level.
        level: usize,
    },
    /// A `{` without its `}` in the same level.
    Unclosed {
        /// 1-based number of the offending level.
        level: usize,
        /// Text of the offending level.
        text: String,
    },
    /// A `}` without a `{` before it.
    Unopened {
        /// 1-based number of the offending level.
        level: usize,
        /// Text of the offending level.
        text: String,
    },
    /// A parameter shares its level with other characters (`a{id}`, `{a}{b}`).
    NotWholeLevel {
        /// 1-based number of the offending level.
        level: usize,
        /// Text of the offending level.
        text: String,
    },
    /// The name is not an identifier.
    InvalidName {
        /// 1-based number of the offending level.
        level: usize,
        /// The name as written.
        name: String,
    },
    /// Something other than `#` follows the `:` (`{path:*}`).
    UnknownKind {
        /// 1-based number of the offending level.
        level: usize,
        /// The parameter's name.
        name: String,
        /// What follows the `:`.
        kind: String,
    },
    /// Two parameters have the same name.
    Duplicate {
        /// The name used twice.
        name: String,
        /// 1-based number of the level of the second use.
        level: usize,
    },
    /// `{name:#}` is not the last level.
    RestNotLast {
        /// The parameter's name.
        name: String,
        /// 1-based number of its level.
        level: usize,
    },
    /// A parameter in the share name of `$share/{group}/...`.
    InShareName,
    /// An unnamed `+` or `#` in a template of topics to publish to
    /// ([`TopicNameTemplate`](crate::TopicNameTemplate)), which names every varying level.
    Wildcard {
        /// 1-based number of the offending level.
        level: usize,
        /// The wildcard: `+` or `#`.
        text: String,
    },
    /// A `$share/...` template of topics to publish to: a shared subscription is
    /// subscribed to, never published to.
    SharedName,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Filter(e) => e.fmt(f),
            Self::EmptyName { level } => write!(
                f,
                "a topic parameter needs a name (level {level} is `{{}}`); write e.g. `{{id}}`, or `+` to match any level without naming it"
            ),
            Self::Unclosed { level, text } => write!(
                f,
                "unclosed `{{` in level {level} (`{text}`); a topic parameter is written `{{name}}`"
            ),
            Self::Unopened { level, text } => write!(
                f,
                "unmatched `}}` in level {level} (`{text}`); a topic parameter is written `{{name}}`"
            ),
            Self::NotWholeLevel { level, text } => write!(
                f,
                "a topic parameter must occupy a whole level (level {level} is `{text}`)"
            ),
            Self::InvalidName { level, name } => write!(
                f,
                "invalid topic parameter name `{name}` in level {level}: use letters, digits and `_`, not starting with a digit"
            ),
            Self::UnknownKind { level, name, kind } => write!(
                f,
                "unknown topic parameter kind `:{kind}` in level {level}; write `{{{name}}}` for one level or `{{{name}:#}}` for all remaining levels"
            ),
            Self::Duplicate { name, level } => write!(
                f,
                "duplicate topic parameter `{name}` (again in level {level}); give each parameter its own name"
            ),
            Self::RestNotLast { name, level } => write!(
                f,
                "`{{{name}:#}}` must be the last level (it is level {level}); use `{{{name}}}` for a single level"
            ),
            Self::InShareName => f.write_str(
                "the share name of `$share/{group}/...` cannot be a topic parameter",
            ),
            Self::Wildcard { level, text } if text == "#" => write!(
                f,
                "a topic to publish to cannot contain the wildcard `#` (level {level}); name the levels, e.g. `{{rest:#}}`, and give their value when publishing"
            ),
            Self::Wildcard { level, text } => write!(
                f,
                "a topic to publish to cannot contain the wildcard `{text}` (level {level}); name the level, e.g. `{{id}}`, and give its value when publishing"
            ),
            Self::SharedName => f.write_str(
                "`$share/...` is a shared subscription, which is subscribed to, not published to; write the topic without `$share/<group>/`",
            ),
        }
    }
}

/// `Filter` is transparent: its message is the filter error's, so its source is the
/// filter error's source, not the filter error again (an error chain would say it twice).
impl Error for TemplateError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Filter(e) => e.source(),
            _ => None,
        }
    }
}

impl From<TopicFilterError> for TemplateError {
    fn from(e: TopicFilterError) -> Self {
        TemplateError::Filter(e)
    }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses one level; `None` when it holds no parameter.
fn parse_level(text: &str, level: usize) -> Result<Option<(&str, bool)>, TemplateError> {
    let open = text.find('{');
    let close = text.find('}');
    let (open, close) = match (open, close) {
        (None, None) => return Ok(None),
        (None, Some(_)) => {
            return Err(TemplateError::Unopened {
                level,
                text: text.to_owned(),
            })
        }
        (Some(_), None) => {
            return Err(TemplateError::Unclosed {
                level,
                text: text.to_owned(),
            })
        }
        (Some(open), Some(close)) => (open, close),
    };
    if close < open {
        return Err(TemplateError::Unopened {
            level,
            text: text.to_owned(),
        });
    }
    if open != 0 || close != text.len() - 1 {
        return Err(TemplateError::NotWholeLevel {
            level,
            text: text.to_owned(),
        });
    }
    let inner = &text[1..close];
    if inner.contains('{') {
        return Err(TemplateError::NotWholeLevel {
            level,
            text: text.to_owned(),
        });
    }
    let (name, rest) = match inner.split_once(':') {
        Some((name, kind)) => (name, Some(kind)),
        None => (inner, None),
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(TemplateError::EmptyName { level });
    }
    if !is_identifier(name) {
        return Err(TemplateError::InvalidName {
            level,
            name: name.to_owned(),
        });
    }
    match rest.map(str::trim) {
        None => Ok(Some((name, false))),
        Some("#") => Ok(Some((name, true))),
        Some(kind) => Err(TemplateError::UnknownKind {
            level,
            name: name.to_owned(),
            kind: kind.to_owned(),
        }),
    }
}

impl TopicTemplate {
    /// Parses a template and checks the filter it stands for.
    ///
    /// # Errors
    ///
    /// [`TemplateError`] for bad `{}` syntax, or [`TemplateError::Filter`] when the
    /// filter with `+`/`#` in place of the parameters is invalid.
    pub fn parse(source: &str) -> Result<TopicTemplate, TemplateError> {
        let (prefix, inner, offset) = match source
            .strip_prefix(SHARE_PREFIX)
            .and_then(|rest| rest.split_once('/'))
        {
            Some((group, inner)) => {
                if group.contains(['{', '}']) {
                    return Err(TemplateError::InShareName);
                }
                (&source[..SHARE_PREFIX.len() + group.len() + 1], inner, 2)
            }
            None => {
                if let Some(group) = source.strip_prefix(SHARE_PREFIX) {
                    if group.contains(['{', '}']) {
                        return Err(TemplateError::InShareName);
                    }
                }
                ("", source, 0)
            }
        };
        let mut names: Vec<String> = Vec::new();
        let mut levels = Vec::new();
        let mut filter = String::with_capacity(source.len());
        filter.push_str(prefix);
        let count = inner.split('/').count();
        for (index, text) in inner.split('/').enumerate() {
            let level = offset + index + 1;
            if index > 0 {
                filter.push('/');
            }
            match parse_level(text, level)? {
                None => {
                    filter.push_str(text);
                    levels.push(if text == "#" {
                        Level::Hash
                    } else {
                        Level::Other
                    });
                }
                Some((name, rest)) => {
                    if names.iter().any(|n| n == name) {
                        return Err(TemplateError::Duplicate {
                            name: name.to_owned(),
                            level,
                        });
                    }
                    if rest && index + 1 != count {
                        return Err(TemplateError::RestNotLast {
                            name: name.to_owned(),
                            level,
                        });
                    }
                    names.push(name.to_owned());
                    let i = names.len() - 1;
                    filter.push(if rest { '#' } else { '+' });
                    levels.push(if rest { Level::Rest(i) } else { Level::One(i) });
                }
            }
        }
        let filter = TopicFilter::new(filter)?;
        Ok(TopicTemplate {
            source: source.to_owned(),
            filter,
            names,
            levels,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The MQTT topic filter: every `{name}` replaced by `+`, `{name:#}` by `#`.
    pub fn filter(&self) -> &TopicFilter {
        &self.filter
    }

    /// The parameter names, in the order they appear.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.names.iter().map(String::as_str)
    }

    /// Whether the template names any level.
    pub fn has_params(&self) -> bool {
        !self.names.is_empty()
    }

    /// Whether the parameter `name` is a `{name:#}` (several levels).
    pub fn is_multi_level(&self, name: &str) -> bool {
        self.levels.iter().any(|l| match l {
            Level::Rest(i) => self.names.get(*i).is_some_and(|n| n == name),
            _ => false,
        })
    }

    /// The levels of the filter's topic part (after `$share/<group>/` for a shared
    /// subscription), in order: what each one matches.
    ///
    /// ```
    /// use flask_mqtt_topic::{Segment, TopicTemplate};
    ///
    /// let t = TopicTemplate::parse("$share/g/sites/{site}/+/{rest:#}")?;
    /// assert_eq!(
    ///     t.segments().collect::<Vec<_>>(),
    ///     [
    ///         Segment::Literal("sites"),
    ///         Segment::Param("site"),
    ///         Segment::AnyLevel,
    ///         Segment::RestParam("rest"),
    ///     ],
    /// );
    /// # Ok::<(), flask_mqtt_topic::TemplateError>(())
    /// ```
    pub fn segments(&self) -> impl Iterator<Item = Segment<'_>> + '_ {
        let inner = match self.filter.share_group() {
            Some(_) => self.filter.inner(),
            None => self.filter.as_str(),
        };
        inner
            .split('/')
            .zip(&self.levels)
            .map(move |(text, level)| match level {
                Level::Other if text == "+" => Segment::AnyLevel,
                Level::Other => Segment::Literal(text),
                Level::Hash => Segment::AnyRest,
                Level::One(i) => Segment::Param(self.names.get(*i).map_or("", String::as_str)),
                Level::Rest(i) => Segment::RestParam(self.names.get(*i).map_or("", String::as_str)),
            })
    }

    /// The value of each parameter in `topic`, in the order of [`names`](Self::names),
    /// or `None` when `topic` does not match the filter. A `{name:#}` captures the
    /// remaining levels joined by `/` (empty when the topic ends just before it: `a/#`
    /// matches `a`).
    pub fn captures<'t>(&self, topic: &'t str) -> Option<Vec<(&str, &'t str)>> {
        if !self.filter.matches(topic) {
            return None;
        }
        let mut out = Vec::with_capacity(self.names.len());
        let mut rest = Some(topic);
        for level in &self.levels {
            match level {
                Level::Hash => break,
                Level::Rest(i) => {
                    out.push((self.names.get(*i)?.as_str(), rest.unwrap_or("")));
                    break;
                }
                Level::Other | Level::One(_) => {
                    let current = rest?;
                    let (text, next) = match current.split_once('/') {
                        Some((text, next)) => (text, Some(next)),
                        None => (current, None),
                    };
                    if let Level::One(i) = level {
                        out.push((self.names.get(*i)?.as_str(), text));
                    }
                    rest = next;
                }
            }
        }
        Some(out)
    }
}

impl fmt::Display for TopicTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_templates() {
        let cases: &[(&str, &str, &[&str])] = &[
            ("a/b", "a/b", &[]),
            ("#", "#", &[]),
            ("{all:#}", "#", &["all"]),
            ("sensors/{id}/temperature", "sensors/+/temperature", &["id"]),
            (
                "sensors/{sensor_id}/{kind}",
                "sensors/+/+",
                &["sensor_id", "kind"],
            ),
            ("{a}", "+", &["a"]),
            ("a/+/{b}/#", "a/+/+/#", &["b"]),
            ("a/{rest:#}", "a/#", &["rest"]),
            ("a/{ rest : # }", "a/#", &["rest"]),
            ("{_x1}/{Y}", "+/+", &["_x1", "Y"]),
            ("$share/g/jobs/{id}", "$share/g/jobs/+", &["id"]),
            ("$SYS/{what:#}", "$SYS/#", &["what"]),
            ("a//{b}/", "a//+/", &["b"]),
        ];
        for (source, filter, names) in cases {
            let t = TopicTemplate::parse(source).unwrap_or_else(|e| panic!("{source}: {e}"));
            assert_eq!(t.filter().as_str(), *filter, "{source}");
            assert_eq!(t.names().collect::<Vec<_>>(), *names, "{source}");
            assert_eq!(t.as_str(), *source);
            assert_eq!(t.has_params(), !names.is_empty());
        }
    }

    #[test]
    fn invalid_templates() {
        use TemplateError::*;
        let s = |x: &str| x.to_owned();
        let cases: Vec<(&str, TemplateError)> = vec![
            ("a/{}", EmptyName { level: 2 }),
            ("a/{ }/b", EmptyName { level: 2 }),
            ("a/{:#}", EmptyName { level: 2 }),
            (
                "a/{id",
                Unclosed {
                    level: 2,
                    text: s("{id"),
                },
            ),
            (
                "a/{id/b}",
                Unclosed {
                    level: 2,
                    text: s("{id"),
                },
            ),
            (
                "a/id}",
                Unopened {
                    level: 2,
                    text: s("id}"),
                },
            ),
            (
                "}{",
                Unopened {
                    level: 1,
                    text: s("}{"),
                },
            ),
            (
                "a/x{id}",
                NotWholeLevel {
                    level: 2,
                    text: s("x{id}"),
                },
            ),
            (
                "a/{id}x",
                NotWholeLevel {
                    level: 2,
                    text: s("{id}x"),
                },
            ),
            (
                "{a}{b}",
                NotWholeLevel {
                    level: 1,
                    text: s("{a}{b}"),
                },
            ),
            (
                "{{a}}",
                NotWholeLevel {
                    level: 1,
                    text: s("{{a}}"),
                },
            ),
            (
                "a/{1d}",
                InvalidName {
                    level: 2,
                    name: s("1d"),
                },
            ),
            (
                "a/{my-id}",
                InvalidName {
                    level: 2,
                    name: s("my-id"),
                },
            ),
            (
                "a/{é}",
                InvalidName {
                    level: 2,
                    name: s("é"),
                },
            ),
            (
                "a/{p:*}",
                UnknownKind {
                    level: 2,
                    name: s("p"),
                    kind: s("*"),
                },
            ),
            (
                "a/{p:+}",
                UnknownKind {
                    level: 2,
                    name: s("p"),
                    kind: s("+"),
                },
            ),
            (
                "{id}/x/{id}",
                Duplicate {
                    name: s("id"),
                    level: 3,
                },
            ),
            (
                "a/{rest:#}/b",
                RestNotLast {
                    name: s("rest"),
                    level: 2,
                },
            ),
            ("$share/{g}/a", InShareName),
            ("$share/{g}", InShareName),
            (
                "a/#/{b}",
                Filter(TopicFilterError::HashNotLast { level: 2 }),
            ),
            ("", Filter(TopicFilterError::Empty)),
            (
                "a/te+/{b}",
                Filter(TopicFilterError::PlusNotWholeLevel {
                    level: 2,
                    text: s("te+"),
                }),
            ),
            (
                "$share/g/x/{id}/{id}",
                Duplicate {
                    name: s("id"),
                    level: 5,
                },
            ),
            (
                "$share/g/a{b}",
                NotWholeLevel {
                    level: 3,
                    text: s("a{b}"),
                },
            ),
        ];
        for (source, expected) in cases {
            assert_eq!(TopicTemplate::parse(source), Err(expected), "{source}");
        }
    }

    #[test]
    fn messages() {
        let cases: &[(&str, &str)] = &[
            ("a/{}", "a topic parameter needs a name (level 2 is `{}`); write e.g. `{id}`, or `+` to match any level without naming it"),
            ("a/{id", "unclosed `{` in level 2 (`{id`); a topic parameter is written `{name}`"),
            ("a/id}", "unmatched `}` in level 2 (`id}`); a topic parameter is written `{name}`"),
            ("a/x{id}", "a topic parameter must occupy a whole level (level 2 is `x{id}`)"),
            ("a/{1d}", "invalid topic parameter name `1d` in level 2: use letters, digits and `_`, not starting with a digit"),
            ("a/{p:*}", "unknown topic parameter kind `:*` in level 2; write `{p}` for one level or `{p:#}` for all remaining levels"),
            ("{id}/{id}", "duplicate topic parameter `id` (again in level 2); give each parameter its own name"),
            ("{r:#}/a", "`{r:#}` must be the last level (it is level 1); use `{r}` for a single level"),
            ("$share/{g}/a", "the share name of `$share/{group}/...` cannot be a topic parameter"),
            ("a/#/b", "`#` must be the last level (it is level 2); move it to the end or use `+` for a single level"),
        ];
        for (source, message) in cases {
            let err = TopicTemplate::parse(source).unwrap_err();
            assert_eq!(err.to_string(), *message, "{source}");
        }
    }

    /// (template, topic, expected captures)
    type CaptureCase = (
        &'static str,
        &'static str,
        Option<&'static [(&'static str, &'static str)]>,
    );

    #[test]
    fn captures() {
        let cases: &[CaptureCase] = &[
            ("a/b", "a/b", Some(&[])),
            ("a/b", "a/c", None),
            ("sensors/{id}/t", "sensors/7/t", Some(&[("id", "7")])),
            ("sensors/{id}/t", "sensors//t", Some(&[("id", "")])),
            ("sensors/{id}/t", "sensors/7/h", None),
            ("sensors/{id}/t", "sensors/7/t/x", None),
            ("{a}/+/{b}", "x/y/z", Some(&[("a", "x"), ("b", "z")])),
            ("a/{rest:#}", "a/b/c/d", Some(&[("rest", "b/c/d")])),
            ("a/{rest:#}", "a", Some(&[("rest", "")])),
            ("a/{rest:#}", "a/", Some(&[("rest", "")])),
            ("a/{rest:#}", "b/c", None),
            ("{id}/#", "x/y/z", Some(&[("id", "x")])),
            ("{all:#}", "x/y", Some(&[("all", "x/y")])),
            ("{all:#}", "$SYS/x", None),
            ("{id}/x", "$SYS/x", None),
            (
                "$SYS/{what:#}",
                "$SYS/broker/load",
                Some(&[("what", "broker/load")]),
            ),
            ("$share/g/jobs/{id}", "jobs/42", Some(&[("id", "42")])),
            ("$share/g/jobs/{id}", "$share/g/jobs/42", None),
            ("{k}/{v:#}", "ü/ß/€", Some(&[("k", "ü"), ("v", "ß/€")])),
        ];
        for (source, topic, expected) in cases {
            let t = TopicTemplate::parse(source).unwrap();
            assert_eq!(
                t.captures(topic),
                expected.map(<[_]>::to_vec),
                "{source} on {topic}"
            );
        }
    }

    #[test]
    fn multi_level() {
        let t = TopicTemplate::parse("{a}/{b:#}").unwrap();
        assert!(!t.is_multi_level("a"));
        assert!(t.is_multi_level("b"));
        assert!(!t.is_multi_level("c"));
    }

    #[test]
    fn a_filter_error_is_said_once() {
        let err = TopicTemplate::parse("a/#/b").unwrap_err();
        let TemplateError::Filter(cause) = &err else {
            panic!("{err:?}");
        };
        assert_eq!(err.to_string(), cause.to_string());
        assert!(
            err.source().is_none(),
            "`{err}` says its cause again as source()"
        );
        assert!(TopicTemplate::parse("a/{}").unwrap_err().source().is_none());
    }
}
