//! Reading what a user wrote: JSON request bodies into typed values, and user-supplied
//! regular expressions into compiled ones, every failure a [`FieldError`] that names the
//! offending field by its path in the request.

use std::fmt::Write as _;

use regex::Regex;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_path_to_error::Segment;

use crate::validation::FieldError;

/// The `field` of an error about a request body as a whole (not a JSON object, say).
pub const BODY: &str = "body";

/// Deserializes `value` into `T`, turning a serde error into a [`FieldError`] whose `field`
/// is the path of the offending field below `field_prefix` (`""` for a whole request body,
/// `"processing"` for the processing config of a task): an unknown field, a wrong type or
/// an unknown variant (`unknown variant `x`, expected one of …`) names that field, a
/// missing field names the field that is missing, and an error about a whole body names
/// [`BODY`].
pub fn from_json<T: DeserializeOwned>(value: &Value, field_prefix: &str) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let mut field = field_prefix.to_owned();
        for segment in err.path().iter() {
            match segment {
                Segment::Seq { index } => {
                    let _ = write!(field, "[{index}]");
                }
                Segment::Map { key } | Segment::Enum { variant: key } => {
                    field = join_path(&field, key);
                }
                Segment::Unknown => field = join_path(&field, "?"),
            }
        }
        let message = err.into_inner().to_string();
        // serde reports a missing field at the object that lacks it.
        match message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            Some(missing) => {
                FieldError::new(join_path(&field, missing), "required field is missing")
            }
            None if field.is_empty() => FieldError::new(BODY, message),
            None => FieldError::new(field, message),
        }
    })
}

/// `prefix.field`, or `field` alone at the top of a request.
pub(crate) fn join_path(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_owned()
    } else {
        format!("{prefix}.{field}")
    }
}

/// Compiles a user's regular expression (Rust `regex` syntax, which takes named groups as
/// both `(?<name>…)` and `(?P<name>…)`), or says in one line why it does not compile.
pub(crate) fn compile_regex(pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|err| {
        let reason = match &err {
            // A syntax error is a multi-line drawing of the pattern with a caret under the
            // fault, ending in `error: <reason>`: keep the reason.
            regex::Error::Syntax(text) => text
                .lines()
                .rev()
                .find_map(|line| line.trim().strip_prefix("error: "))
                .map_or_else(
                    || text.split_whitespace().collect::<Vec<_>>().join(" "),
                    str::to_owned,
                ),
            regex::Error::CompiledTooBig(limit) => {
                format!("it compiles to more than {limit} bytes; simplify it")
            }
            other => other.to_string(),
        };
        format!("not a valid regular expression: {reason}")
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        items: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        size: u32,
    }

    fn field_of(value: Value, prefix: &str) -> FieldError {
        from_json::<Outer>(&value, prefix).unwrap_err()
    }

    #[test]
    fn errors_name_the_field_by_its_path() {
        let err = field_of(
            json!({"name": "a", "items": [{"size": 1}, {"size": "x"}]}),
            "",
        );
        assert_eq!(err.field, "items[1].size");
        assert!(err.message.contains("invalid type"), "{err}");

        let err = field_of(json!({"name": "a", "items": [], "colour": 1}), "req");
        assert_eq!(err.field, "req.colour");
        assert!(err.message.contains("unknown field `colour`"), "{err}");
        assert!(
            err.message.contains("`items`"),
            "lists the allowed fields: {err}"
        );

        let err = field_of(json!({"name": "a", "items": [{}]}), "p");
        assert_eq!(
            err,
            FieldError::new("p.items[0].size", "required field is missing")
        );

        let err = field_of(json!({"items": []}), "");
        assert_eq!(err.field, "name");

        let err = field_of(json!("text"), "");
        assert_eq!(err.field, BODY);
        let err = field_of(json!("text"), "processing");
        assert_eq!(err.field, "processing");
    }

    #[test]
    fn regex_errors_are_one_line() {
        let reason = compile_regex("(").unwrap_err();
        assert_eq!(reason, "not a valid regular expression: unclosed group");
        assert!(compile_regex("(?<id>\\d+)-(?P<name>\\w+)").is_ok());
        assert!(!compile_regex("a{99999}{99999}").unwrap_err().contains('\n'));
    }
}
