//! Per-message processing of topic-level tasks (DESIGN §4): parse a message value, build
//! the output fields, render the output.
//!
//! [`ProcessingConfig`] is what a user writes (the `processing` object of a task and of
//! `POST /v1/processing/test`), in exactly the JSON shape of the API, so it serializes back
//! to what was given. [`compile`] validates it and turns it into [`CompiledProcessing`],
//! the typed form with every regex and JSONPath compiled once, which is what runs for each
//! message: [`CompiledProcessing::run`] takes a message value to its [`Output`]s, or to the
//! [`ProcessingError`] that says why it cannot be processed.
//!
//! Layout: `parse`, `fields` and `output` hold each step's config and compilation, with one
//! submodule per parse mode, field op and output format; `record` is what flows between the
//! steps; `pipeline` runs them.

mod error;
mod fields;
mod input;
mod output;
mod parse;
mod pipeline;
mod raw;
mod record;
pub mod suggest;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use error::ProcessingError;
pub use fields::{CompiledField, CompiledOp, FieldOp, FieldSpec, JsonPathQuery};
pub(crate) use input::compile_regex;
use input::join_path;
pub use input::{BODY, from_json};
pub use output::{CompiledOutput, OutputConfig, OutputFormat};
pub use parse::{CompiledParse, ParseConfig, ParseMode};
pub use pipeline::Output;

use crate::validation::FieldError;

/// The processing of a topic-level task, as the API takes it:
/// `{"parse": {...}, "fields": [...], "output": {...}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessingConfig {
    pub parse: ParseConfig,
    /// The output schema, in order; absent: every parsed field, in parse order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub fields: Option<Vec<FieldSpec>>,
    /// Defaults to `{"format": "json"}`.
    #[serde(default)]
    pub output: OutputConfig,
}

/// A validated [`ProcessingConfig`] with its regex and JSONPaths compiled, ready to run on
/// every message of a task.
#[derive(Clone, Debug)]
pub struct CompiledProcessing {
    pub parse: CompiledParse,
    /// `None`: the output holds every parsed field, in parse order.
    pub fields: Option<Vec<CompiledField>>,
    pub output: CompiledOutput,
}

/// Validates `config` and compiles it. `field_prefix` is where the config sits in the
/// request (`"processing"`), so that errors read e.g. `processing.fields[1].path`.
pub fn compile(
    config: &ProcessingConfig,
    field_prefix: &str,
) -> Result<CompiledProcessing, FieldError> {
    let parse = config.parse.compile(&join_path(field_prefix, "parse"))?;
    let fields = match &config.fields {
        Some(specs) => Some(fields::compile(
            specs,
            &parse,
            &join_path(field_prefix, "fields"),
        )?),
        None => None,
    };
    let output = config.output.compile(&join_path(field_prefix, "output"))?;
    Ok(CompiledProcessing {
        parse,
        fields,
        output,
    })
}

/// An object of the request whose other keys depend on the value of its tag (`mode` of
/// `parse`, `op` of a field, `format` of `output`): checks those keys.
struct Tagged<'a> {
    /// The object's path, e.g. `processing.parse`.
    path: &'a str,
    /// The tag's key and the value given, e.g. `mode` and `separator`.
    tag: &'static str,
    value: &'static str,
}

impl Tagged<'_> {
    fn error(&self, key: &str, message: impl Into<String>) -> FieldError {
        FieldError::new(join_path(self.path, key), message)
    }

    /// Rejects a key that was given (`present` pairs each optional key with whether it was
    /// given) but that this tag value does not take.
    fn only(&self, present: &[(&str, bool)], takes: &[&str]) -> Result<(), FieldError> {
        let Some(&(key, _)) = present
            .iter()
            .find(|&&(key, given)| given && !takes.contains(&key))
        else {
            return Ok(());
        };
        let takes = if takes.is_empty() {
            "no other field".to_owned()
        } else {
            takes
                .iter()
                .map(|key| format!("`{key}`"))
                .collect::<Vec<_>>()
                .join(" and ")
        };
        Err(self.error(
            key,
            format!(
                "not allowed with {} `{}` (which takes {takes})",
                self.tag, self.value
            ),
        ))
    }

    /// The value of a key this tag value requires.
    fn required<'v, T>(&self, key: &str, given: &'v Option<T>) -> Result<&'v T, FieldError> {
        given.as_ref().ok_or_else(|| {
            self.error(
                key,
                format!(
                    "required field is missing (with {} `{}`)",
                    self.tag, self.value
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn config(value: Value) -> ProcessingConfig {
        from_json(&value, "processing").expect("config parses")
    }

    fn error(value: Value) -> FieldError {
        match from_json::<ProcessingConfig>(&value, "processing") {
            Ok(config) => compile(&config, "processing").expect_err("config must be rejected"),
            Err(err) => err,
        }
    }

    /// The processing config of the topic-level example of DESIGN §5 (all four ops,
    /// `key_value` output), as the tests here, the pipeline's and its bench use it.
    pub(super) fn design_example() -> Value {
        serde_json::from_str(include_str!("design_example.json")).unwrap()
    }

    #[test]
    fn design_example_compiles_and_round_trips() {
        let example = design_example();
        let parsed = config(example.clone());
        assert_eq!(serde_json::to_value(&parsed).unwrap(), example);

        let compiled = compile(&parsed, "processing").unwrap();
        assert!(matches!(compiled.parse, CompiledParse::Json));
        let fields = compiled.fields.expect("fields given");
        let names: Vec<_> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["id", "who", "at", "region"]);
        let CompiledOp::JsonPath(id) = &fields[0].op else {
            panic!("jsonpath op")
        };
        let order = json!({"order": {"id": 7}, "user": "ann"});
        assert_eq!(id.find(&order), [&json!(7)]);
        assert!(matches!(&fields[1].op, CompiledOp::Mapping(key) if key == "user"));
        assert!(matches!(fields[2].op, CompiledOp::SystemTime));
        assert!(matches!(&fields[3].op, CompiledOp::Custom(v) if v == "eu"));
        assert!(matches!(
            compiled.output,
            CompiledOutput::KeyValue { ref kv_separator, ref separator }
                if kv_separator == "=" && separator == "&"
        ));
    }

    #[test]
    fn output_defaults_to_json_and_fields_to_all() {
        let parsed = config(json!({"parse": {"mode": "json_array_multi"}}));
        assert_eq!(parsed.output, OutputConfig::default());
        assert_eq!(
            serde_json::to_value(&parsed).unwrap(),
            json!({"parse": {"mode": "json_array_multi"}, "output": {"format": "json"}})
        );
        let compiled = compile(&parsed, "processing").unwrap();
        assert!(matches!(compiled.parse, CompiledParse::JsonArrayMulti));
        assert!(compiled.fields.is_none());
        assert!(matches!(compiled.output, CompiledOutput::Json));
    }

    #[test]
    fn unknown_and_missing_keys_are_named() {
        let err = error(json!({"parse": {"mode": "json"}, "filter": 1}));
        assert_eq!(err.field, "processing.filter");
        let err = error(json!({"fields": []}));
        assert_eq!(
            err,
            FieldError::new("processing.parse", "required field is missing")
        );
        let err = error(json!("json"));
        assert_eq!(err.field, "processing");
    }

    #[test]
    fn compiled_processing_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<CompiledProcessing>();
    }

    #[test]
    fn errors_carry_the_given_prefix() {
        let parsed = config(json!({"parse": {"mode": "separator", "separator": ""}}));
        let err = compile(&parsed, "").unwrap_err();
        assert_eq!(err.field, "parse.separator");
        let err = compile(&parsed, "tasks[0].processing").unwrap_err();
        assert_eq!(err.field, "tasks[0].processing.parse.separator");
    }
}
