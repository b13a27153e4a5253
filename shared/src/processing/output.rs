//! Step 3 of processing: how the output fields are rendered into the output value. The
//! config and its compilation are here; each format is a module of its own.

mod json;
mod key_value;
mod value;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Tagged;
use super::record::{FieldValue, Name};
use crate::validation::FieldError;

/// `{"format": "json"}` (the default), `{"format": "value", "separator": S}` (`S` defaults
/// to `""`) or `{"format": "key_value", "kv_separator": "=", "separator": "&"}` (both
/// required, neither empty). Which other keys a format takes is checked by
/// [`compile`](super::compile).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    pub format: OutputFormat,
    /// `value`: between values; `key_value`: between `key<kv_separator>value` pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separator: Option<String>,
    /// `key_value`: between a key and its value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_separator: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    #[default]
    Json,
    Value,
    KeyValue,
}

impl OutputFormat {
    /// The name of the format in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Value => "value",
            Self::KeyValue => "key_value",
        }
    }
}

/// A validated output step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompiledOutput {
    /// A JSON object of the fields, JSON types kept.
    Json,
    /// Only the values, joined by `separator` (possibly empty).
    Value { separator: String },
    /// `key<kv_separator>value` pairs joined by `separator`; neither is empty.
    KeyValue {
        kv_separator: String,
        separator: String,
    },
}

impl OutputConfig {
    pub(super) fn compile(&self, path: &str) -> Result<CompiledOutput, FieldError> {
        let tagged = Tagged {
            path,
            tag: "format",
            value: self.format.as_str(),
        };
        let present = [
            ("separator", self.separator.is_some()),
            ("kv_separator", self.kv_separator.is_some()),
        ];
        Ok(match self.format {
            OutputFormat::Json => {
                tagged.only(&present, &[])?;
                CompiledOutput::Json
            }
            OutputFormat::Value => {
                tagged.only(&present, &["separator"])?;
                CompiledOutput::Value {
                    separator: self.separator.clone().unwrap_or_default(),
                }
            }
            OutputFormat::KeyValue => {
                tagged.only(&present, &["kv_separator", "separator"])?;
                let non_empty = |key: &str, given: &Option<String>| {
                    let value = tagged.required(key, given)?;
                    if value.is_empty() {
                        return Err(tagged.error(
                            key,
                            "must not be empty with format `key_value`: give a string such as \"=\" or \"&\"",
                        ));
                    }
                    Ok(value.clone())
                };
                CompiledOutput::KeyValue {
                    kv_separator: non_empty("kv_separator", &self.kv_separator)?,
                    separator: non_empty("separator", &self.separator)?,
                }
            }
        })
    }
}

/// Renders one output value, field by field.
pub(super) struct Renderer<'c> {
    output: &'c CompiledOutput,
    out: Vec<u8>,
    first: bool,
}

impl<'c> Renderer<'c> {
    pub(super) fn new(output: &'c CompiledOutput, capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity);
        if let CompiledOutput::Json = output {
            json::begin(&mut out);
        }
        Self {
            output,
            out,
            first: true,
        }
    }

    pub(super) fn field(&mut self, name: Name<'_>, value: &FieldValue<'_>) {
        let out = &mut self.out;
        match self.output {
            CompiledOutput::Json => json::field(out, self.first, name, value),
            CompiledOutput::Value { separator } => value::field(out, self.first, separator, value),
            CompiledOutput::KeyValue {
                kv_separator,
                separator,
            } => key_value::field(out, self.first, kv_separator, separator, name, value),
        }
        self.first = false;
    }

    pub(super) fn finish(mut self) -> Vec<u8> {
        if let CompiledOutput::Json = self.output {
            json::end(&mut self.out);
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::processing::from_json;

    fn compile(value: Value) -> Result<CompiledOutput, FieldError> {
        from_json::<OutputConfig>(&value, "processing.output")?.compile("processing.output")
    }

    #[test]
    fn every_format_parses_and_round_trips() {
        for body in [
            json!({"format": "json"}),
            json!({"format": "value"}),
            json!({"format": "value", "separator": ","}),
            json!({"format": "key_value", "kv_separator": "=", "separator": "&"}),
        ] {
            let config: OutputConfig = from_json(&body, "output").unwrap();
            assert_eq!(serde_json::to_value(&config).unwrap(), body);
            assert_eq!(json!(config.format), json!(config.format.as_str()));
        }
    }

    #[test]
    fn value_separator_defaults_to_empty() {
        assert_eq!(
            compile(json!({"format": "value"})).unwrap(),
            CompiledOutput::Value {
                separator: String::new()
            }
        );
        assert_eq!(
            compile(json!({"format": "value", "separator": ""})).unwrap(),
            CompiledOutput::Value {
                separator: String::new()
            }
        );
    }

    #[test]
    fn key_value_needs_both_separators_non_empty() {
        let err = compile(json!({"format": "key_value", "kv_separator": "", "separator": "&"}))
            .unwrap_err();
        assert_eq!(err.field, "processing.output.kv_separator");
        assert!(err.message.contains("must not be empty"), "{err}");
        let err = compile(json!({"format": "key_value", "kv_separator": "=", "separator": ""}))
            .unwrap_err();
        assert_eq!(err.field, "processing.output.separator");
        let err = compile(json!({"format": "key_value", "separator": "&"})).unwrap_err();
        assert_eq!(err.field, "processing.output.kv_separator");
        assert!(err.message.contains("missing"), "{err}");
    }

    #[test]
    fn unknown_format_and_foreign_keys_are_rejected() {
        let err = compile(json!({"format": "csv"})).unwrap_err();
        assert_eq!(err.field, "processing.output.format");
        assert!(err.message.contains("`key_value`"), "{err}");
        let err = compile(json!({"format": "json", "separator": ","})).unwrap_err();
        assert_eq!(err.field, "processing.output.separator");
        let err = compile(json!({"format": "value", "kv_separator": "="})).unwrap_err();
        assert_eq!(err.field, "processing.output.kv_separator");
    }
}
