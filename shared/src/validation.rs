//! The one shape of a bad-input error: which field, and what is wrong with it. The API
//! turns it into a 400 whose message names the field.

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The offending field as a JSON path into the request, e.g. `processing.parse.mode`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}
