//! Why a message could not be processed: a stable kind to count by, and a reason for people.

use std::fmt;

/// A message that processing rejects. `kind` is one of the constants below (stable: counters
/// and events key on it); `reason` says what was wrong with this message, in one line (it is
/// what `POST /v1/processing/test` and the event center show, and what a dead-lettered record
/// carries in `ksync.error.reason`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessingError {
    pub kind: &'static str,
    pub reason: String,
}

impl ProcessingError {
    /// The message has no value (a tombstone) or an empty one.
    pub const EMPTY_MESSAGE: &'static str = "empty_message";
    /// The message value is not UTF-8 text (every parse mode reads text).
    pub const NOT_UTF8: &'static str = "not_utf8";
    /// A JSON parse mode, and the message is not one JSON document.
    pub const INVALID_JSON: &'static str = "invalid_json";
    /// `json` mode and the document is not an object, or an array element that is not one.
    pub const NOT_JSON_OBJECT: &'static str = "not_json_object";
    /// A `json_array_*` mode and the document is not an array.
    pub const NOT_JSON_ARRAY: &'static str = "not_json_array";
    /// `json_array_single` and the array is empty: there is no first object.
    pub const EMPTY_JSON_ARRAY: &'static str = "empty_json_array";
    /// `regex` mode and the pattern does not match the message.
    pub const NO_MATCH: &'static str = "no_match";
    /// A `mapping` field from a key the parsed message does not have.
    pub const MISSING_KEY: &'static str = "missing_key";
    /// A `jsonpath` field whose path finds nothing in the parsed message.
    pub const JSONPATH_NO_MATCH: &'static str = "jsonpath_no_match";

    /// Every kind, e.g. to register one counter per kind up front.
    pub const KINDS: [&'static str; 9] = [
        Self::EMPTY_MESSAGE,
        Self::NOT_UTF8,
        Self::INVALID_JSON,
        Self::NOT_JSON_OBJECT,
        Self::NOT_JSON_ARRAY,
        Self::EMPTY_JSON_ARRAY,
        Self::NO_MATCH,
        Self::MISSING_KEY,
        Self::JSONPATH_NO_MATCH,
    ];

    pub(super) fn new(kind: &'static str, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ProcessingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for ProcessingError {}
