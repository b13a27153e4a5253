//! Step 2 of processing: the output fields, each built by an operation. The config and its
//! compilation are here; each op is a module of its own.

mod custom;
mod jsonpath;
mod mapping;
mod system_time;

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

pub use jsonpath::JsonPathQuery;

use super::error::ProcessingError;
use super::record::{FieldValue, Record};
use super::{CompiledParse, Tagged};
use crate::validation::FieldError;

/// One output field: `{"name": N, "op": "mapping", "from": K}`,
/// `{"name": N, "op": "jsonpath", "path": "$.a.b"}`, `{"name": N, "op": "system_time"}` or
/// `{"name": N, "op": "custom", "value": V}`. Which other keys an op takes is checked by
/// [`compile`](super::compile).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    #[schemars(length(min = 1))]
    pub name: String,
    pub op: FieldOp,
    /// `mapping`: the parsed key whose value this field takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub from: Option<String>,
    /// `jsonpath`: the JSONPath, from `$`, into the parsed message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `custom`: the value, any JSON (`Some(Value::Null)` when given as `null`).
    #[serde(
        default,
        deserialize_with = "given",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<Value>,
}

/// A key that is present is `Some`, even when its value is `null`.
fn given<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldOp {
    Mapping,
    Jsonpath,
    SystemTime,
    Custom,
}

impl FieldOp {
    /// The name of the op in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mapping => "mapping",
            Self::Jsonpath => "jsonpath",
            Self::SystemTime => "system_time",
            Self::Custom => "custom",
        }
    }
}

/// A validated output field.
#[derive(Clone, Debug)]
pub struct CompiledField {
    pub name: String,
    pub op: CompiledOp,
}

#[derive(Clone, Debug)]
pub enum CompiledOp {
    /// The value of this parsed key; a message without it is an error.
    Mapping(String),
    /// The value this JSONPath finds in the parsed message; finding nothing is an error.
    JsonPath(JsonPathQuery),
    /// The time of processing, in milliseconds since the Unix epoch.
    SystemTime,
    /// This constant.
    Custom(Value),
}

impl CompiledOp {
    /// Whether this op can run on a lazily read JSON object ([`Record::Raw`]): anything but
    /// a JSONPath that can select several values, which needs the whole document.
    pub(super) fn reads_lazily(&self) -> bool {
        match self {
            Self::JsonPath(query) => query.is_single(),
            Self::Mapping(_) | Self::SystemTime | Self::Custom(_) => true,
        }
    }

    /// This op's value for `record`. `document` is the record's JSONPath document, made on
    /// first use and then shared by the message's other `jsonpath` fields.
    pub(super) fn evaluate<'a, 'r: 'a>(
        &'a self,
        record: &'r Record<'_>,
        document: &'a OnceCell<Cow<'r, Value>>,
        now_ms: i64,
    ) -> Result<FieldValue<'a>, ProcessingError> {
        match self {
            Self::Mapping(from) => mapping::evaluate(record, from),
            Self::JsonPath(query) => match record {
                Record::Raw(object) if query.is_single() => query.evaluate_raw(object),
                _ => {
                    let document = match document.get() {
                        Some(document) => document,
                        None => {
                            let made = record.document()?;
                            document.get_or_init(|| made)
                        }
                    };
                    query.evaluate(document)
                }
            },
            Self::SystemTime => Ok(system_time::evaluate(now_ms)),
            Self::Custom(value) => Ok(custom::evaluate(value)),
        }
    }
}

/// Validates and compiles the `fields` list at `path`, whose `mapping` keys must be ones
/// that `parse` can give.
pub(super) fn compile(
    specs: &[FieldSpec],
    parse: &CompiledParse,
    path: &str,
) -> Result<Vec<CompiledField>, FieldError> {
    if specs.is_empty() {
        return Err(FieldError::new(
            path,
            "must list at least one field; leave `fields` out to output every parsed field",
        ));
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    specs
        .iter()
        .enumerate()
        .map(|(index, spec)| {
            let path = format!("{path}[{index}]");
            let tagged = Tagged {
                path: &path,
                tag: "op",
                value: spec.op.as_str(),
            };
            if spec.name.is_empty() {
                return Err(tagged.error("name", "must not be empty"));
            }
            if let Some(first) = seen.insert(&spec.name, index) {
                return Err(tagged.error(
                    "name",
                    format!(
                        "duplicate field name `{}` (also fields[{first}]): output field names must be unique",
                        spec.name
                    ),
                ));
            }
            let present = [
                ("from", spec.from.is_some()),
                ("path", spec.path.is_some()),
                ("value", spec.value.is_some()),
            ];
            let op = match spec.op {
                FieldOp::Mapping => {
                    tagged.only(&present, &["from"])?;
                    let from = tagged.required("from", &spec.from)?;
                    if from.is_empty() {
                        return Err(tagged.error("from", "must not be empty: name a parsed key"));
                    }
                    if let Some(reason) = parse.never_gives(from) {
                        return Err(tagged.error(
                            "from",
                            format!("the parsed message can never have a key `{from}`: {reason}"),
                        ));
                    }
                    CompiledOp::Mapping(from.clone())
                }
                FieldOp::Jsonpath => {
                    tagged.only(&present, &["path"])?;
                    let query = JsonPathQuery::parse(tagged.required("path", &spec.path)?)
                        .map_err(|reason| tagged.error("path", reason))?;
                    CompiledOp::JsonPath(query)
                }
                FieldOp::SystemTime => {
                    tagged.only(&present, &[])?;
                    CompiledOp::SystemTime
                }
                FieldOp::Custom => {
                    tagged.only(&present, &["value"])?;
                    CompiledOp::Custom(tagged.required("value", &spec.value)?.clone())
                }
            };
            Ok(CompiledField {
                name: spec.name.clone(),
                op,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::processing::from_json;

    fn compile_fields(fields: Value) -> Result<Vec<CompiledField>, FieldError> {
        compile_with(CompiledParse::Json, fields)
    }

    fn compile_with(parse: CompiledParse, fields: Value) -> Result<Vec<CompiledField>, FieldError> {
        let specs: Vec<FieldSpec> = from_json(&fields, "processing.fields")?;
        compile(&specs, &parse, "processing.fields")
    }

    #[test]
    fn every_op_parses_and_round_trips() {
        let fields = json!([
            {"name": "a", "op": "mapping", "from": "user"},
            {"name": "b", "op": "jsonpath", "path": "$.a.b[0]"},
            {"name": "c", "op": "system_time"},
            {"name": "d", "op": "custom", "value": "eu"},
            {"name": "e", "op": "custom", "value": {"n": [1, 2]}},
            {"name": "f", "op": "custom", "value": null}
        ]);
        let specs: Vec<FieldSpec> = from_json(&fields, "fields").unwrap();
        assert_eq!(serde_json::to_value(&specs).unwrap(), fields);
        for spec in &specs {
            assert_eq!(json!(spec.op), json!(spec.op.as_str()));
        }
        let compiled = compile(&specs, &CompiledParse::Json, "fields").unwrap();
        assert!(matches!(&compiled[5].op, CompiledOp::Custom(Value::Null)));
    }

    #[test]
    fn unknown_op_names_the_op_and_lists_the_ops() {
        let err = compile_fields(json!([{"name": "a", "op": "upper"}])).unwrap_err();
        assert_eq!(err.field, "processing.fields[0].op");
        assert!(err.message.contains("`system_time`"), "{err}");
        let err = compile_fields(json!([{"name": "a", "op": "custom", "value": 1}, {"name": "b"}]))
            .unwrap_err();
        assert_eq!(
            err,
            FieldError::new("processing.fields[1].op", "required field is missing")
        );
    }

    #[test]
    fn jsonpath_must_parse_and_runs_many_times() {
        let err =
            compile_fields(json!([{"name": "a", "op": "jsonpath", "path": "$.a["}])).unwrap_err();
        assert_eq!(err.field, "processing.fields[0].path");
        assert!(err.message.starts_with("not a valid JSONPath"), "{err}");
        assert!(!err.message.contains('\n'), "one line: {err}");
        let err = compile_fields(json!([{"name": "a", "op": "jsonpath", "path": "order.id"}]))
            .unwrap_err();
        assert_eq!(err.field, "processing.fields[0].path");
        let err = compile_fields(json!([{"name": "a", "op": "jsonpath"}])).unwrap_err();
        assert_eq!(err.field, "processing.fields[0].path");

        let query = JsonPathQuery::parse("$.items[*].sku").unwrap();
        let doc = json!({"items": [{"sku": "x"}, {"sku": "y"}]});
        assert_eq!(query.find(&doc), [&json!("x"), &json!("y")]);
        assert!(query.find(&json!({"items": []})).is_empty());
        assert!(query.find(&json!("text")).is_empty());
    }

    #[test]
    fn names_must_be_non_empty_and_unique() {
        let err = compile_fields(json!([{"name": "", "op": "system_time"}])).unwrap_err();
        assert_eq!(
            err,
            FieldError::new("processing.fields[0].name", "must not be empty")
        );
        let err = compile_fields(json!([
            {"name": "at", "op": "system_time"},
            {"name": "id", "op": "mapping", "from": "id"},
            {"name": "at", "op": "custom", "value": 1}
        ]))
        .unwrap_err();
        assert_eq!(err.field, "processing.fields[2].name");
        assert!(err.message.contains("also fields[0]"), "{err}");
    }

    #[test]
    fn an_empty_list_is_rejected() {
        let err = compile_fields(json!([])).unwrap_err();
        assert_eq!(err.field, "processing.fields");
    }

    #[test]
    fn keys_of_another_op_are_rejected_and_required_ones_enforced() {
        let err =
            compile_fields(json!([{"name": "a", "op": "mapping", "from": "x", "path": "$.x"}]))
                .unwrap_err();
        assert_eq!(err.field, "processing.fields[0].path");
        assert!(
            err.message.contains("not allowed with op `mapping`"),
            "{err}"
        );
        let err =
            compile_fields(json!([{"name": "a", "op": "system_time", "value": 1}])).unwrap_err();
        assert_eq!(err.field, "processing.fields[0].value");
        let err = compile_fields(json!([{"name": "a", "op": "mapping"}])).unwrap_err();
        assert_eq!(err.field, "processing.fields[0].from");
        let err = compile_fields(json!([{"name": "a", "op": "mapping", "from": ""}])).unwrap_err();
        assert_eq!(err.field, "processing.fields[0].from");
        let err = compile_fields(json!([{"name": "a", "op": "custom"}])).unwrap_err();
        assert_eq!(err.field, "processing.fields[0].value");
        let err = compile_fields(json!([{"name": "a", "op": "custom", "value": 1, "colour": 2}]))
            .unwrap_err();
        assert_eq!(err.field, "processing.fields[0].colour");
    }

    #[test]
    fn a_mapping_must_name_a_key_the_parse_step_can_give() {
        let by_position = || CompiledParse::Separator(",".into());
        assert!(
            compile_with(
                by_position(),
                json!([{"name": "a", "op": "mapping", "from": "1"}])
            )
            .is_ok()
        );
        let err = compile_with(
            by_position(),
            json!([{"name": "a", "op": "mapping", "from": "user"}]),
        )
        .unwrap_err();
        assert_eq!(err.field, "processing.fields[0].from");
        assert!(err.message.contains("\"0\", \"1\""), "{err}");
    }
}
