//! Step 1 of processing: how a message value is parsed into fields. The config and its
//! compilation are here; each mode's parsing is a module of its own.

mod json;
mod json_array;
mod regex;
mod separator;

use ::regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub(super) use self::json::JsonAs;
use super::error::ProcessingError;
use super::record::Record;
use super::{Tagged, compile_regex};
use crate::validation::FieldError;

/// `{"mode": "json"}`, `{"mode": "separator", "separator": ","}`,
/// `{"mode": "regex", "pattern": "..."}`, `{"mode": "json_array_single"}` or
/// `{"mode": "json_array_multi"}`. Which other keys a mode takes is checked by
/// [`compile`](super::compile).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParseConfig {
    pub mode: ParseMode,
    /// The literal separator of `separator` mode: `" "`, `"\t"`, `","`, `";"`, `"|"`, `":"`
    /// or any other non-empty string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub separator: Option<String>,
    /// The regular expression of `regex` mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub pattern: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParseMode {
    Json,
    Separator,
    Regex,
    JsonArraySingle,
    JsonArrayMulti,
}

impl ParseMode {
    /// The name of the mode in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Separator => "separator",
            Self::Regex => "regex",
            Self::JsonArraySingle => "json_array_single",
            Self::JsonArrayMulti => "json_array_multi",
        }
    }
}

/// A validated parse step.
#[derive(Clone, Debug)]
pub enum CompiledParse {
    /// A JSON object (nested values allowed); its keys are the fields, in document order.
    Json,
    /// Text split on this non-empty separator into fields `0`, `1`, ….
    Separator(String),
    /// A pattern with named groups (`(?<name>…)` / `(?P<name>…)`): a message that matches
    /// gives one field per named group, named by `names` (the groups in pattern order); a
    /// message that does not match is an error.
    NamedGroups { regex: Regex, names: Vec<String> },
    /// A pattern without named groups: every match of the whole pattern in the message is
    /// a field, `0`, `1`, ….
    Matches(Regex),
    /// A JSON array of like objects: the first object is the output.
    JsonArraySingle,
    /// A JSON array of like objects: each object is an output message of its own.
    JsonArrayMulti,
}

impl ParseConfig {
    pub(super) fn compile(&self, path: &str) -> Result<CompiledParse, FieldError> {
        let tagged = Tagged {
            path,
            tag: "mode",
            value: self.mode.as_str(),
        };
        let present = [
            ("separator", self.separator.is_some()),
            ("pattern", self.pattern.is_some()),
        ];
        Ok(match self.mode {
            ParseMode::Json => {
                tagged.only(&present, &[])?;
                CompiledParse::Json
            }
            ParseMode::Separator => {
                tagged.only(&present, &["separator"])?;
                let separator = tagged.required("separator", &self.separator)?;
                if separator.is_empty() {
                    return Err(tagged.error(
                        "separator",
                        "must not be empty: give the literal separator, e.g. \" \", \"\\t\", \",\", \";\", \"|\", \":\" or any other string",
                    ));
                }
                CompiledParse::Separator(separator.clone())
            }
            ParseMode::Regex => {
                tagged.only(&present, &["pattern"])?;
                let pattern = tagged.required("pattern", &self.pattern)?;
                if pattern.is_empty() {
                    return Err(tagged.error(
                        "pattern",
                        "must not be empty: give a regular expression, with named groups (?<name>…) to name the fields",
                    ));
                }
                let regex =
                    compile_regex(pattern).map_err(|reason| tagged.error("pattern", reason))?;
                let names: Vec<String> =
                    regex.capture_names().flatten().map(str::to_owned).collect();
                if names.is_empty() {
                    CompiledParse::Matches(regex)
                } else {
                    CompiledParse::NamedGroups { regex, names }
                }
            }
            ParseMode::JsonArraySingle => {
                tagged.only(&present, &[])?;
                CompiledParse::JsonArraySingle
            }
            ParseMode::JsonArrayMulti => {
                tagged.only(&present, &[])?;
                CompiledParse::JsonArrayMulti
            }
        })
    }
}

impl CompiledParse {
    /// Why `key` can never be a field this parse step gives (so that a `mapping` from it
    /// would fail on every message), or `None` when it can be. JSON keys cannot be known
    /// before a message arrives.
    pub(super) fn never_gives(&self, key: &str) -> Option<String> {
        match self {
            Self::Separator(_) | Self::Matches(_) => {
                let index = key.parse::<usize>().ok().filter(|n| n.to_string() == key);
                index.is_none().then(|| {
                    "this parse mode names its fields by position: \"0\", \"1\", \"2\", …"
                        .to_owned()
                })
            }
            Self::NamedGroups { names, .. } => (!names.iter().any(|name| name == key)).then(|| {
                let names: Vec<_> = names.iter().map(|name| format!("`{name}`")).collect();
                format!("the pattern's named groups are {}", names.join(", "))
            }),
            Self::Json | Self::JsonArraySingle | Self::JsonArrayMulti => None,
        }
    }
}

/// The records of one message: one, or (`json_array_multi`) any number.
pub(super) enum Records<'a> {
    One(Record<'a>),
    Many(Vec<Record<'a>>),
}

impl CompiledParse {
    /// Parses a message's text, JSON objects read as `json_as` says.
    pub(super) fn parse<'a>(
        &'a self,
        text: &'a str,
        json_as: JsonAs,
    ) -> Result<Records<'a>, ProcessingError> {
        Ok(match self {
            Self::Json => Records::One(json::parse(text, json_as)?),
            Self::Separator(separator) => Records::One(separator::parse(text, separator)),
            Self::NamedGroups { regex, names } => {
                Records::One(regex::named_groups(text, regex, names)?)
            }
            Self::Matches(regex) => Records::One(regex::matches(text, regex)?),
            Self::JsonArraySingle => Records::One(json_array::first(text, json_as)?),
            Self::JsonArrayMulti => Records::Many(json_array::each(text, json_as)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::processing::from_json;

    fn compile(value: Value) -> Result<CompiledParse, FieldError> {
        from_json::<ParseConfig>(&value, "processing.parse")?.compile("processing.parse")
    }

    #[test]
    fn every_mode_parses_and_round_trips() {
        for body in [
            json!({"mode": "json"}),
            json!({"mode": "separator", "separator": ","}),
            json!({"mode": "separator", "separator": "\t"}),
            json!({"mode": "separator", "separator": " :: "}),
            json!({"mode": "regex", "pattern": "(?<id>\\d+)"}),
            json!({"mode": "json_array_single"}),
            json!({"mode": "json_array_multi"}),
        ] {
            let config: ParseConfig = from_json(&body, "parse").unwrap();
            assert_eq!(serde_json::to_value(&config).unwrap(), body);
            assert_eq!(json!(config.mode), json!(config.mode.as_str()));
            config.compile("parse").unwrap();
        }
    }

    #[test]
    fn unknown_mode_names_the_mode_and_lists_the_modes() {
        let err = compile(json!({"mode": "xml"})).unwrap_err();
        assert_eq!(err.field, "processing.parse.mode");
        assert!(err.message.contains("`json_array_multi`"), "{err}");
        let err = compile(json!({"separator": ","})).unwrap_err();
        assert_eq!(err.field, "processing.parse.mode");
    }

    #[test]
    fn separator_must_be_given_and_non_empty() {
        let err = compile(json!({"mode": "separator", "separator": ""})).unwrap_err();
        assert_eq!(err.field, "processing.parse.separator");
        assert!(err.message.contains("must not be empty"), "{err}");
        let err = compile(json!({"mode": "separator"})).unwrap_err();
        assert_eq!(err.field, "processing.parse.separator");
        assert!(err.message.contains("missing"), "{err}");
        let CompiledParse::Separator(sep) =
            compile(json!({"mode": "separator", "separator": "|"})).unwrap()
        else {
            panic!("separator mode")
        };
        assert_eq!(sep, "|");
    }

    #[test]
    fn keys_of_another_mode_are_rejected() {
        let err = compile(json!({"mode": "json", "separator": ","})).unwrap_err();
        assert_eq!(err.field, "processing.parse.separator");
        assert!(
            err.message.contains("not allowed with mode `json`"),
            "{err}"
        );
        let err =
            compile(json!({"mode": "separator", "separator": ",", "pattern": "x"})).unwrap_err();
        assert_eq!(err.field, "processing.parse.pattern");
        assert!(err.message.contains("takes `separator`"), "{err}");
    }

    #[test]
    fn regex_must_compile() {
        let err = compile(json!({"mode": "regex", "pattern": "(?<id>"})).unwrap_err();
        assert_eq!(err.field, "processing.parse.pattern");
        assert!(
            err.message.starts_with("not a valid regular expression"),
            "{err}"
        );
        let err = compile(json!({"mode": "regex", "pattern": ""})).unwrap_err();
        assert_eq!(err.field, "processing.parse.pattern");
        let err = compile(json!({"mode": "regex"})).unwrap_err();
        assert_eq!(err.field, "processing.parse.pattern");
    }

    #[test]
    fn regex_with_named_groups_names_its_fields() {
        // Both spellings of a named group, mixed with an unnamed one.
        let parse =
            compile(json!({"mode": "regex", "pattern": "(?<level>[A-Z]+) (\\d+) (?P<msg>.*)"}))
                .unwrap();
        let CompiledParse::NamedGroups { regex, names } = &parse else {
            panic!("named groups")
        };
        assert_eq!(names, &["level", "msg"]);
        assert_eq!(
            &regex.captures("WARN 12 disk full").unwrap()["msg"],
            "disk full"
        );
        assert_eq!(parse.never_gives("msg"), None);
        assert!(parse.never_gives("0").unwrap().contains("`level`, `msg`"));
    }

    #[test]
    fn regex_without_named_groups_gives_every_match() {
        let parse = compile(json!({"mode": "regex", "pattern": "\\d+"})).unwrap();
        let CompiledParse::Matches(regex) = &parse else {
            panic!("matches")
        };
        let found: Vec<_> = regex.find_iter("a1 b22 c333").map(|m| m.as_str()).collect();
        assert_eq!(found, ["1", "22", "333"]);
        assert_eq!(parse.never_gives("2"), None);
        assert!(parse.never_gives("02").is_some());
        assert!(parse.never_gives("id").is_some());
        assert_eq!(CompiledParse::Json.never_gives("anything"), None);
    }
}
