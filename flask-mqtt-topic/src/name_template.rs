//! Topic name templates: the topics a declared publisher publishes to,
//! `devices/{device_id}/command`, with the named levels filled in when publishing.

use std::error::Error;
use std::fmt;

use crate::template::{Segment, TemplateError, TopicTemplate};
use crate::text::{escape_disallowed, first_disallowed, shortened};
use crate::{TopicFilter, TopicName, TopicNameError};

/// A topic name whose varying levels have names: `{name}` stands for one level,
/// `{name:#}` for the remaining levels (last only).
///
/// The same grammar as [`TopicTemplate`] (it is one, see
/// [`template`](TopicNameTemplate::template)), less what cannot be published to:
/// no unnamed `+` or `#` (every level that varies has a name, and a value when
/// publishing), and no `$share/...`. [`render`](TopicNameTemplate::render) fills the
/// names in; [`filter`](TopicNameTemplate::filter) is the filter matching every topic
/// it can render, what a subscriber would subscribe to.
///
/// # Examples
///
/// ```
/// use flask_mqtt_topic::TopicNameTemplate;
///
/// let t = TopicNameTemplate::parse("devices/{device_id}/command")?;
/// assert_eq!(t.filter().as_str(), "devices/+/command");
/// assert_eq!(t.render(&["42"])?.as_str(), "devices/42/command");
/// assert!(t.render(&["a/b"]).is_err()); // one level only
///
/// let files = TopicNameTemplate::parse("files/{path:#}")?;
/// assert_eq!(files.render(&["a/b.txt"])?.as_str(), "files/a/b.txt");
/// assert_eq!(files.render(&[""])?.as_str(), "files");
///
/// let err = TopicNameTemplate::parse("devices/+/command").unwrap_err();
/// assert!(err.to_string().starts_with("a topic to publish to cannot contain the wildcard `+`"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicNameTemplate {
    template: TopicTemplate,
}

impl TopicNameTemplate {
    /// Parses a template of topics to publish to.
    ///
    /// # Errors
    ///
    /// Any [`TopicTemplate::parse`] error, [`TemplateError::Wildcard`] for an unnamed
    /// `+` or `#`, [`TemplateError::SharedName`] for `$share/...`.
    pub fn parse(source: &str) -> Result<TopicNameTemplate, TemplateError> {
        let template = TopicTemplate::parse(source)?;
        if template.filter().share_group().is_some() {
            return Err(TemplateError::SharedName);
        }
        for (index, segment) in template.segments().enumerate() {
            let text = match segment {
                Segment::AnyLevel => "+",
                Segment::AnyRest => "#",
                _ => continue,
            };
            return Err(TemplateError::Wildcard {
                level: index + 1,
                text: text.to_owned(),
            });
        }
        Ok(TopicNameTemplate { template })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        self.template.as_str()
    }

    /// The parameter names, in the order [`render`](Self::render) takes their values.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.template.names()
    }

    /// The topic filter matching every topic the template renders.
    pub fn filter(&self) -> &TopicFilter {
        self.template.filter()
    }

    /// The template, as a [`TopicTemplate`] (to read the levels, or match topics).
    pub fn template(&self) -> &TopicTemplate {
        &self.template
    }

    /// The topic with each parameter replaced by its value, `values` in the order of
    /// [`names`](Self::names).
    ///
    /// A `{name}` value fills exactly one level: it must not be empty nor contain `/`.
    /// A `{name:#}` value fills the remaining levels: it may contain `/`, and when it is
    /// empty the level goes away with its separator (`files/{path:#}` renders `files`,
    /// the topic `files/#` matches with an empty capture). No value may contain `+`,
    /// `#`, NUL or another character that [`is_disallowed`](crate::is_disallowed).
    ///
    /// # Errors
    ///
    /// [`RenderError`]: a wrong number of values, a value that cannot fill its level,
    /// or a result too long for a topic name.
    pub fn render<S: AsRef<str>>(&self, values: &[S]) -> Result<TopicName, RenderError> {
        let expected = self.template.names().len();
        if values.len() != expected {
            return Err(RenderError::Count {
                expected,
                found: values.len(),
            });
        }
        let mut values = values.iter().map(AsRef::as_ref);
        let mut topic = String::with_capacity(self.as_str().len());
        for (index, segment) in self.template.segments().enumerate() {
            let (text, name, rest) = match segment {
                Segment::Literal(text) => (text, None, false),
                Segment::Param(name) => (values.next().unwrap_or_default(), Some(name), false),
                Segment::RestParam(name) => (values.next().unwrap_or_default(), Some(name), true),
                // `parse` refused them; `TopicName::new` would too.
                Segment::AnyLevel => ("+", None, false),
                Segment::AnyRest => ("#", None, false),
            };
            if let Some(name) = name {
                if let Some(problem) = value_problem(text, rest, index == 0) {
                    return Err(RenderError::Value {
                        name: name.to_owned(),
                        value: shortened(text).into_owned(),
                        problem,
                    });
                }
            }
            if rest && text.is_empty() {
                break;
            }
            if index > 0 {
                topic.push('/');
            }
            topic.push_str(text);
        }
        TopicName::new(topic).map_err(RenderError::Name)
    }
}

/// What is wrong with `value` as the value of a parameter (`rest`: a `{name:#}`;
/// `first`: it fills the topic's first level).
fn value_problem(value: &str, rest: bool, first: bool) -> Option<ValueProblem> {
    if value.contains('\0') {
        Some(ValueProblem::Nul)
    } else if let Some(c) = first_disallowed(value) {
        Some(ValueProblem::Disallowed(c))
    } else if value.contains(['+', '#']) {
        Some(ValueProblem::Wildcard)
    } else if !rest && value.contains('/') {
        Some(ValueProblem::Slash)
    } else if !rest && value.is_empty() {
        Some(ValueProblem::Empty)
    } else if first && value.starts_with('$') {
        Some(ValueProblem::Dollar)
    } else {
        None
    }
}

impl fmt::Display for TopicNameTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a parameter value cannot fill its level in [`TopicNameTemplate::render`].
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueProblem {
    /// A `{name}` value is empty.
    Empty,
    /// A `{name}` value contains `/`.
    Slash,
    /// The value contains `+` or `#`.
    Wildcard,
    /// The value contains the NUL character.
    Nul,
    /// The value contains this character, which MQTT says must not be sent
    /// ([`is_disallowed`](crate::is_disallowed)).
    Disallowed(char),
    /// The value fills the topic's first level and starts with `$`: a topic MQTT keeps
    /// for the broker (`$SYS/...`), which no subscription with a wildcard at the first
    /// level receives (MQTT 5.0 §4.7.2). A template that means such a topic names it:
    /// `$SYS/{x}`.
    Dollar,
}

/// Why [`TopicNameTemplate::render`] could not build a topic.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RenderError {
    /// Not one value per parameter.
    Count {
        /// The number of parameters.
        expected: usize,
        /// The number of values given.
        found: usize,
    },
    /// A value that cannot fill its level(s).
    Value {
        /// The parameter.
        name: String,
        /// The value given (its first 200 bytes, then `...`).
        value: String,
        /// What is wrong with it.
        problem: ValueProblem,
    },
    /// The topic is not a valid topic name (too long).
    Name(TopicNameError),
    /// The template itself is invalid ([`TopicNameTemplate::parse`] refuses it), for
    /// callers that keep a template's source and parse it when rendering.
    Template(TemplateError),
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Count { expected, found } => write!(
                f,
                "expected {expected} topic parameter value(s), one per named level, found {found}"
            ),
            Self::Value {
                name,
                value,
                problem,
            } => {
                let value = escape_disallowed(value);
                let why = match problem {
                    ValueProblem::Empty => "it is empty, and must fill one level".to_owned(),
                    ValueProblem::Slash => format!(
                        "it contains `/`, and `{{{name}}}` is one level (name it `{{{name}:#}}` for several)"
                    ),
                    ValueProblem::Wildcard => {
                        "it contains `+` or `#`, which no topic may contain".to_owned()
                    }
                    ValueProblem::Nul => "it contains the NUL character".to_owned(),
                    ValueProblem::Dollar => "it starts with `$` in the first level, which makes a topic MQTT keeps for the broker (`$SYS/...`): no subscription with a wildcard there receives it".to_owned(),
                    ValueProblem::Disallowed(c) => format!(
                        "it contains {}, which MQTT says must not be sent",
                        crate::describe_disallowed(*c)
                    ),
                };
                write!(
                    f,
                    "invalid value `{value}` for the topic parameter `{name}`: {why}"
                )
            }
            Self::Name(e) => write!(f, "the topic is not a valid topic name: {e}"),
            Self::Template(e) => write!(f, "invalid topic template: {e}"),
        }
    }
}

/// The message says its cause (`the topic is not a valid topic name: ...`), so the
/// error does not return it again as its `source()`, where a reporter printing the chain
/// would show it twice; the cause stays available, typed, in the variant.
impl Error for RenderError {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every render error with a cause says it once: its message names the cause (what
    /// a user logs), and `source()` does not return it again for a reporter that prints
    /// the chain.
    #[test]
    fn render_errors_say_their_cause_once() {
        let name = TopicNameError::TooLong {
            len: crate::MAX_TOPIC_LEN + 1,
        };
        let template = TemplateError::EmptyName { level: 2 };
        for (err, cause) in [
            (RenderError::Name(name.clone()), name.to_string()),
            (
                RenderError::Template(template.clone()),
                template.to_string(),
            ),
        ] {
            assert!(
                err.to_string().contains(&cause),
                "`{err}` does not say `{cause}`"
            );
            assert!(
                err.source().is_none(),
                "`{err}` says `{cause}` again as source()"
            );
        }
    }

    #[test]
    fn parses_what_can_be_published_to() {
        for (source, filter, names) in [
            ("a/b", "a/b", &[][..]),
            ("devices/{id}/command", "devices/+/command", &["id"][..]),
            ("{a}/{b:#}", "+/#", &["a", "b"][..]),
            ("$SYS/x/{y}", "$SYS/x/+", &["y"][..]),
        ] {
            let t = TopicNameTemplate::parse(source).unwrap();
            assert_eq!(t.filter().as_str(), filter);
            assert_eq!(t.names().collect::<Vec<_>>(), names);
            assert_eq!(t.to_string(), source);
        }
    }

    #[test]
    fn refuses_wildcards_and_shares() {
        for (source, expected) in [
            (
                "a/+/b",
                TemplateError::Wildcard {
                    level: 2,
                    text: "+".to_owned(),
                },
            ),
            (
                "{a}/#",
                TemplateError::Wildcard {
                    level: 2,
                    text: "#".to_owned(),
                },
            ),
            ("$share/g/a/{b}", TemplateError::SharedName),
        ] {
            assert_eq!(TopicNameTemplate::parse(source), Err(expected), "{source}");
        }
        // The template grammar's own errors come first, unchanged.
        assert_eq!(
            TopicNameTemplate::parse("a/#/b"),
            TopicTemplate::parse("a/#/b").map(|_| unreachable!())
        );
        assert_eq!(
            TopicNameTemplate::parse("a/+").unwrap_err().to_string(),
            "a topic to publish to cannot contain the wildcard `+` (level 2); name the level, e.g. `{id}`, and give its value when publishing"
        );
        assert_eq!(
            TopicNameTemplate::parse("a/#").unwrap_err().to_string(),
            "a topic to publish to cannot contain the wildcard `#` (level 2); name the levels, e.g. `{rest:#}`, and give their value when publishing"
        );
    }

    #[test]
    fn renders_and_round_trips_with_captures() {
        let t = TopicNameTemplate::parse("sites/{site}/{id}/{rest:#}").unwrap();
        for values in [
            ["s1", "7", "a/b"],
            ["s", "x", ""],
            ["é", "_", "deep/er/than"],
        ] {
            let topic = t.render(&values).unwrap();
            let captured: Vec<&str> = t
                .template()
                .captures(topic.as_str())
                .unwrap()
                .into_iter()
                .map(|(_, v)| v)
                .collect();
            assert_eq!(captured, values, "{topic}");
        }
        assert_eq!(
            TopicNameTemplate::parse("plain")
                .unwrap()
                .render::<&str>(&[])
                .unwrap()
                .as_str(),
            "plain"
        );
    }

    #[test]
    fn refuses_values_that_do_not_fit() {
        let t = TopicNameTemplate::parse("d/{id}/{rest:#}").unwrap();
        let value = |id: &str, rest: &str| match t.render(&[id, rest]) {
            Err(RenderError::Value { name, problem, .. }) => Some((name, problem)),
            _ => None,
        };
        assert_eq!(value("", "x"), Some(("id".to_owned(), ValueProblem::Empty)));
        assert_eq!(
            value("a/b", "x"),
            Some(("id".to_owned(), ValueProblem::Slash))
        );
        assert_eq!(
            value("a+", "x"),
            Some(("id".to_owned(), ValueProblem::Wildcard))
        );
        assert_eq!(
            value("a", "x/#"),
            Some(("rest".to_owned(), ValueProblem::Wildcard))
        );
        assert_eq!(
            value("a", "\0"),
            Some(("rest".to_owned(), ValueProblem::Nul))
        );
        assert_eq!(
            value("a\tb", "x"),
            Some(("id".to_owned(), ValueProblem::Disallowed('\t')))
        );
        assert_eq!(
            value("a", "x/\u{FFFF}"),
            Some(("rest".to_owned(), ValueProblem::Disallowed('\u{FFFF}')))
        );
        // The message shows such a character escaped, never raw.
        let err = t.render(&["a\nb", "x"]).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid value `a\\u{a}b` for the topic parameter `id`: it contains U+000A, \
             a control character, which MQTT says must not be sent"
        );
        assert_eq!(
            t.render(&["a"]),
            Err(RenderError::Count {
                expected: 2,
                found: 1
            })
        );
        let long = "x".repeat(crate::MAX_TOPIC_LEN);
        assert!(matches!(
            t.render(&["a", long.as_str()]),
            Err(RenderError::Name(TopicNameError::TooLong { .. }))
        ));
        // A `$` value in the first level would make a reserved topic; later levels are fine.
        let first = TopicNameTemplate::parse("{tenant}/events/{id}").unwrap();
        assert!(matches!(
            first.render(&["$SYS", "a"]),
            Err(RenderError::Value {
                problem: ValueProblem::Dollar,
                ..
            })
        ));
        assert_eq!(
            first.render(&["acme", "$x"]).unwrap().as_str(),
            "acme/events/$x"
        );
        let rest = TopicNameTemplate::parse("{all:#}").unwrap();
        assert!(matches!(
            rest.render(&["$SYS/broker"]),
            Err(RenderError::Value {
                problem: ValueProblem::Dollar,
                ..
            })
        ));
        // A refused value is quoted cut, however long it was.
        let huge = format!("{}/x", "v".repeat(1_000_000));
        let err = t.render(&[huge.as_str(), "x"]).unwrap_err();
        match &err {
            RenderError::Value { value, .. } => assert_eq!(value.len(), 203),
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().len() < 400, "{}", err.to_string().len());
        assert_eq!(
            t.render(&["a/b", "x"]).unwrap_err().to_string(),
            "invalid value `a/b` for the topic parameter `id`: it contains `/`, and `{id}` is one level (name it `{id:#}` for several)"
        );
    }

    /// A template deeper than Mosquitto takes is refused when parsed; a `{name:#}` value
    /// that makes the topic so deep, when rendered.
    #[test]
    fn refuses_topics_deeper_than_mosquitto_takes() {
        let deep = format!(
            "d/{{id}}/{}",
            vec!["x"; crate::MAX_TOPIC_LEVELS - 1].join("/")
        );
        assert_eq!(
            TopicNameTemplate::parse(&deep),
            Err(TemplateError::Filter(
                crate::TopicFilterError::TooManyLevels {
                    levels: crate::MAX_TOPIC_LEVELS + 1
                }
            ))
        );
        let t = TopicNameTemplate::parse("files/{path:#}").unwrap();
        let fits = vec!["x"; crate::MAX_TOPIC_LEVELS - 1].join("/");
        assert!(t.render(&[fits.as_str()]).is_ok());
        assert_eq!(
            t.render(&[format!("{fits}/x")]),
            Err(RenderError::Name(TopicNameError::TooManyLevels {
                levels: crate::MAX_TOPIC_LEVELS + 1
            }))
        );
    }
}
