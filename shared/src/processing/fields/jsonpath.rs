//! The `jsonpath` op: the value a JSONPath finds in the parsed message (for JSON modes the
//! object, or the array element; for text modes the object of the parsed fields). One
//! result is that value, several are a JSON array of them, none is an error.

use jsonpath_rust::parser::model::{JpQuery, Segment, Selector};
use jsonpath_rust::parser::parse_json_path;
use serde_json::Value;

use crate::processing::error::ProcessingError;
use crate::processing::raw::{self, RawObject};
use crate::processing::record::FieldValue;

/// A JSONPath, parsed once, to run against any number of documents.
#[derive(Clone, Debug)]
pub struct JsonPathQuery {
    /// As the user wrote it, for error messages.
    path: String,
    query: Query,
}

#[derive(Clone, Debug)]
enum Query {
    /// A path of single names and indexes (`$.order.id`, `$['a'][0]`, `$.items[-1]`), the
    /// common case, walked directly: it selects at most one value.
    Steps(Vec<Step>),
    /// Anything else (wildcards, slices, filters, descendants, unions), run by
    /// `jsonpath_rust`.
    General(JpQuery),
}

#[derive(Clone, Debug)]
enum Step {
    Name(String),
    /// RFC 9535: from the start when `>= 0`, from the end when negative.
    Index(i64),
}

impl JsonPathQuery {
    /// Parses `path` (RFC 9535 syntax, starting with `$`), or says in one line why not.
    pub fn parse(path: &str) -> Result<Self, String> {
        let query = parse_json_path(path).map_err(|err| {
            let reason = match err {
                jsonpath_rust::parser::errors::JsonPathError::PestError(pest) => {
                    pest.variant.message().into_owned()
                }
                other => other.to_string(),
            };
            format!("not a valid JSONPath ({reason}): write it from the root, like `$.order.id`")
        })?;
        let steps: Option<Vec<Step>> = query.segments.iter().map(step).collect();
        Ok(Self {
            path: path.to_owned(),
            query: steps.map_or(Query::General(query), Query::Steps),
        })
    }

    /// The path as it was written.
    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// Whether the path selects at most one value (a path of single names and indexes).
    pub fn is_single(&self) -> bool {
        matches!(self.query, Query::Steps(_))
    }

    /// Every value the path selects in `document`, in document order; empty when it
    /// selects nothing.
    pub fn find<'a>(&self, document: &'a Value) -> Vec<&'a Value> {
        match &self.query {
            Query::Steps(steps) => walk(steps, document).into_iter().collect(),
            Query::General(query) => general(query, document),
        }
    }

    /// The op: one value found is that value, several a JSON array of them.
    pub(in crate::processing) fn evaluate<'a>(
        &self,
        document: &'a Value,
    ) -> Result<FieldValue<'a>, ProcessingError> {
        let found = match &self.query {
            Query::Steps(steps) => walk(steps, document).map(FieldValue::Json),
            Query::General(query) => {
                let mut found = general(query, document);
                match found.len() {
                    0 => None,
                    1 => Some(FieldValue::Json(found.swap_remove(0))),
                    _ => Some(FieldValue::Owned(Value::Array(
                        found.into_iter().cloned().collect(),
                    ))),
                }
            }
        };
        found.ok_or_else(|| self.no_match())
    }

    /// The op on a lazily read JSON object; only for a path that [`is_single`](Self::is_single).
    pub(in crate::processing) fn evaluate_raw<'a>(
        &self,
        object: &RawObject<'a>,
    ) -> Result<FieldValue<'a>, ProcessingError> {
        let Query::Steps(steps) = &self.query else {
            let document = object.to_value()?;
            return self
                .evaluate(&document)
                .map(|found| FieldValue::Owned(found.into_owned()));
        };
        let Some((first, rest)) = steps.split_first() else {
            return Ok(FieldValue::Owned(object.to_value()?));
        };
        let mut found = match first {
            Step::Name(name) => object.get(name),
            // An index selects nothing in an object.
            Step::Index(_) => None,
        };
        for step in rest {
            let Some(value) = found else { break };
            found = match step {
                Step::Name(name) => raw::member(value, name),
                Step::Index(index) => raw::element(value, *index),
            };
        }
        match found {
            Some(found) => raw::decode(found),
            None => Err(self.no_match()),
        }
    }

    fn no_match(&self) -> ProcessingError {
        ProcessingError::new(
            ProcessingError::JSONPATH_NO_MATCH,
            format!("the JSONPath `{}` finds nothing in the message", self.path),
        )
    }
}

/// The step a segment is, when it is a single name or index.
fn step(segment: &Segment) -> Option<Step> {
    let selector = match segment {
        Segment::Selector(selector) => selector,
        Segment::Selectors(selectors) if selectors.len() == 1 => &selectors[0],
        _ => return None,
    };
    match selector {
        Selector::Name(name) => Some(Step::Name(name.clone())),
        Selector::Index(index) => Some(Step::Index(*index)),
        _ => None,
    }
}

fn walk<'a>(steps: &[Step], document: &'a Value) -> Option<&'a Value> {
    steps.iter().try_fold(document, |value, step| match step {
        Step::Name(name) => value.as_object()?.get(name),
        Step::Index(index) => {
            let array = value.as_array()?;
            let index = if *index >= 0 {
                usize::try_from(*index).ok()?
            } else {
                array
                    .len()
                    .checked_sub(usize::try_from(index.unsigned_abs()).ok()?)?
            };
            array.get(index)
        }
    })
}

fn general<'a>(query: &JpQuery, document: &'a Value) -> Vec<&'a Value> {
    // The only error is a query whose result is a computed value rather than a node of the
    // document, which selects nothing in the document.
    jsonpath_rust::query::js_path_process(query, document)
        .map(|found| found.into_iter().map(|node| node.val).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn simple_paths_are_walked_and_agree_with_the_general_engine() {
        let doc = json!({
            "order": {"id": 7, "lines": [{"sku": "a"}, {"sku": "b"}, {"sku": "c"}]},
            "0": "zero", "we.ird": {"k": null}, "": 1
        });
        let mut simple = 0;
        for path in [
            "$",
            "$.order",
            "$.order.id",
            "$['order']['id']",
            "$[\"order\"].lines[0].sku",
            "$.order.lines[2]",
            "$.order.lines[3]",
            "$.order.lines[-1].sku",
            "$.order.lines[-3]",
            "$.order.lines[-4]",
            "$.order.lines.sku",
            "$.order.id.x",
            "$.order[0]",
            "$['0']",
            "$[0]",
            "$['we.ird'].k",
            "$['']",
            "$.missing",
            "$.order.lines[*].sku",
            "$..sku",
            "$.order.lines[0:2]",
            "$.order.lines[?@.sku == 'b']",
            "$['order','0']",
        ] {
            let query = JsonPathQuery::parse(path).unwrap();
            simple += usize::from(matches!(query.query, Query::Steps(_)));
            assert_eq!(
                query.find(&doc),
                general(&parse_json_path(path).unwrap(), &doc),
                "{path}"
            );
        }
        assert_eq!(simple, 18, "the walk is used for every simple path");
    }

    #[test]
    fn one_result_is_the_value_several_an_array_none_an_error() {
        let doc = json!({"items": [{"sku": "x", "n": 1}, {"sku": "y"}]});
        let eval = |path: &str| {
            let query = JsonPathQuery::parse(path).unwrap();
            query.evaluate(&doc).map(|found| {
                let mut out = Vec::new();
                found.write_json(&mut out);
                String::from_utf8(out).unwrap()
            })
        };
        assert_eq!(eval("$.items[1].sku").unwrap(), r#""y""#);
        assert_eq!(eval("$.items[*].sku").unwrap(), r#"["x","y"]"#);
        assert_eq!(eval("$.items[?@.n]").unwrap(), r#"{"n":1,"sku":"x"}"#);
        let err = eval("$.items[*].price").unwrap_err();
        assert_eq!(
            (err.kind, err.reason.as_str()),
            (
                "jsonpath_no_match",
                "the JSONPath `$.items[*].price` finds nothing in the message"
            )
        );
        assert_eq!(eval("$.items[5]").unwrap_err().kind, "jsonpath_no_match");
    }
}
