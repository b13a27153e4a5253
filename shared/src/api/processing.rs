//! `POST /v1/processing/test`: runs a processing config on sample messages, without a
//! task, and returns each one's outputs or error. `POST /v1/processing/regex`: proposes
//! a `regex` parse-mode pattern for the marked parts of a sample ([`suggest`]).

use std::collections::BTreeMap;

use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::body::JsonBody;
use super::error::{ApiError, ApiResult};
use crate::processing::suggest::{self, Extract, MAX_EXTRACTS, MAX_SAMPLE_BYTES};
use crate::processing::{self, Output, ProcessingConfig, from_json};

/// The most sample messages one processing test takes.
const MAX_TEST_MESSAGES: usize = 1000;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessingTest {
    processing: ProcessingConfig,
    #[schemars(length(max = MAX_TEST_MESSAGES))]
    messages: Vec<TestMessage>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct TestMessage {
    #[serde(default)]
    key: Option<String>,
    /// `null` or left out: a record without a value (a tombstone).
    #[serde(default)]
    value: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct TestResults {
    /// One per sample message, in order.
    results: Vec<TestResult>,
}

#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
enum TestResult {
    Processed {
        #[schemars(extend("enum" = [true]))]
        ok: bool,
        outputs: Vec<TestOutput>,
    },
    Failed {
        #[schemars(extend("enum" = [false]))]
        ok: bool,
        /// `<kind>: <reason>`.
        error: String,
    },
}

/// An output message; bytes that are not UTF-8 are shown with replacement characters.
#[derive(Serialize, JsonSchema)]
struct TestOutput {
    key: Option<String>,
    value: String,
}

impl From<&Output> for TestOutput {
    fn from(output: &Output) -> Self {
        Self {
            key: output
                .key
                .as_deref()
                .map(|key| String::from_utf8_lossy(key).into_owned()),
            value: String::from_utf8_lossy(&output.value).into_owned(),
        }
    }
}

pub async fn test(JsonBody(body): JsonBody) -> ApiResult<Json<TestResults>> {
    let request: ProcessingTest = from_json(&body, "")?;
    let compiled = processing::compile(&request.processing, "processing")?;
    if request.messages.len() > MAX_TEST_MESSAGES {
        return Err(ApiError::bad_request(format!(
            "messages: at most {MAX_TEST_MESSAGES} messages per test"
        )));
    }
    let now = crate::store::now_ms();
    let results = request
        .messages
        .iter()
        .map(|m| {
            match compiled.run(
                m.key.as_deref().map(str::as_bytes),
                m.value.as_deref().map(str::as_bytes),
                now,
            ) {
                Ok(outputs) => TestResult::Processed {
                    ok: true,
                    outputs: outputs.iter().map(TestOutput::from).collect(),
                },
                Err(e) => TestResult::Failed {
                    ok: false,
                    error: format!("{}: {}", e.kind, e.reason),
                },
            }
        })
        .collect();
    Ok(Json(TestResults { results }))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegexRequest {
    /// One sample message.
    #[schemars(length(min = 1, max = MAX_SAMPLE_BYTES))]
    sample: String,
    /// The parts of the sample to extract, each under a group name.
    #[schemars(length(min = 1, max = MAX_EXTRACTS))]
    extract: Vec<RegexPart>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RegexPart {
    /// A named group: a letter or `_`, then letters, digits or `_`.
    #[schemars(length(min = 1, max = 64), pattern(r"^[A-Za-z_][A-Za-z0-9_]*$"))]
    name: String,
    /// Text of the sample.
    #[schemars(length(min = 1))]
    text: String,
}

#[derive(Serialize, JsonSchema)]
pub struct RegexSuggestion {
    /// For `{"mode": "regex", "pattern": ...}`: matches the whole sample.
    pattern: String,
    /// What each named group yields from the sample: exactly the texts asked for.
    fields: BTreeMap<String, String>,
}

pub async fn regex(JsonBody(body): JsonBody) -> ApiResult<Json<RegexSuggestion>> {
    let request: RegexRequest = from_json(&body, "")?;
    let extract: Vec<Extract> = request
        .extract
        .into_iter()
        .map(|part| Extract {
            name: part.name,
            text: part.text,
        })
        .collect();
    let pattern = suggest::suggest(&request.sample, &extract)?;
    let fields = extract.into_iter().map(|p| (p.name, p.text)).collect();
    Ok(Json(RegexSuggestion { pattern, fields }))
}
