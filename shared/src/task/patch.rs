//! `PATCH /v1/tasks/{id}`: which fields a task lets change after creation, and applying
//! a change.

use schemars::JsonSchema;
use serde_json::Value;

use super::model::{OnError, TaskSpec};
use crate::names::NAME_PATTERN;
use crate::processing::{BODY, ProcessingConfig, from_json};
use crate::validation::FieldError;

/// The body of `PATCH /v1/tasks/{id}`: the fields to change, every one optional. Only
/// the schema of the body: [`apply_patch`] reads it, field by field, so that a field the
/// task's kind does not let change is named in the error.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(description = "The fields to change. Every other field is fixed at creation.")]
pub struct TaskPatch {
    // `with` the inner type: these may be left out, but not given as `null`.
    #[serde(default)]
    #[schemars(with = "String", pattern(NAME_PATTERN))]
    pub name: Option<String>,
    /// Topic tasks only.
    #[serde(default)]
    #[schemars(with = "OnError")]
    pub on_error: Option<OnError>,
    /// Topic tasks only; `null` removes the processing.
    #[serde(default)]
    pub processing: Option<ProcessingConfig>,
}

impl TaskSpec {
    /// The fields a PATCH may not change, for this kind of task.
    fn fixed_fields(&self) -> &'static [&'static str] {
        match self {
            Self::Instance(_) => &[
                "kind",
                "source",
                "target",
                "sync",
                "start_offset",
                "topics",
                "same_partition",
            ],
            Self::Topic(_) => &[
                "kind",
                "source",
                "source_topic",
                "target",
                "target_topic",
                "start_offset",
            ],
        }
    }

    /// The fields a PATCH may change, for this kind of task.
    fn patchable_fields(&self) -> &'static [&'static str] {
        match self {
            Self::Instance(_) => &["name"],
            Self::Topic(_) => &["name", "on_error", "processing"],
        }
    }

    /// The error for a field a PATCH of this task cannot change.
    fn unpatchable(&self, field: &str) -> FieldError {
        if self.fixed_fields().contains(&field) {
            return FieldError::new(
                field,
                "cannot be changed after creation; create a new task instead",
            );
        }
        let patchable: Vec<_> = self
            .patchable_fields()
            .iter()
            .map(|field| format!("`{field}`"))
            .collect();
        FieldError::new(
            field,
            format!(
                "unknown field; a PATCH of a {} task may change {}",
                self.kind(),
                patchable.join(", ")
            ),
        )
    }
}

/// Applies the body of `PATCH /v1/tasks/{id}` to `spec` and validates the result.
///
/// A PATCH may change `name`, and of a topic task `on_error` and `processing` (`null`
/// removes the processing). Every other field of the task is fixed at creation; changing
/// it means creating a new task.
pub fn apply_patch(spec: &TaskSpec, patch: &Value) -> Result<TaskSpec, FieldError> {
    let Value::Object(changes) = patch else {
        return Err(FieldError::new(
            BODY,
            "a PATCH body must be a JSON object of the fields to change, e.g. {\"on_error\": \"discard\"}",
        ));
    };
    let mut patched = spec.clone();
    for (field, value) in changes {
        match (field.as_str(), &mut patched) {
            ("name", TaskSpec::Instance(task)) => task.name = from_json(value, field)?,
            ("name", TaskSpec::Topic(task)) => task.name = from_json(value, field)?,
            ("on_error", TaskSpec::Topic(task)) => task.on_error = from_json(value, field)?,
            ("processing", TaskSpec::Topic(task)) => task.processing = from_json(value, field)?,
            (field, patched) => return Err(patched.unpatchable(field)),
        }
    }
    patched.validate()?;
    Ok(patched)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::{instance, topic};
    use super::*;

    #[test]
    fn patch_changes_the_name() {
        let patched = apply_patch(&instance(), &json!({"name": "dr-west"})).unwrap();
        assert_eq!(patched.name(), "dr-west");
        let patched = apply_patch(&topic(), &json!({"name": "orders-2"})).unwrap();
        assert_eq!(patched.name(), "orders-2");
        // Unchanged otherwise.
        assert_eq!(apply_patch(&topic(), &json!({})).unwrap(), topic());
    }

    #[test]
    fn patch_changes_on_error_and_processing_of_topic_tasks() {
        let TaskSpec::Topic(patched) =
            apply_patch(&topic(), &json!({"on_error": "discard"})).unwrap()
        else {
            panic!("topic task")
        };
        assert_eq!(patched.on_error, OnError::Discard);
        assert_eq!(
            patched.processing,
            match topic() {
                TaskSpec::Topic(spec) => spec.processing,
                TaskSpec::Instance(_) => unreachable!(),
            }
        );

        let TaskSpec::Topic(patched) = apply_patch(&topic(), &json!({"processing": null})).unwrap()
        else {
            panic!("topic task")
        };
        assert_eq!(patched.processing, None);

        let processing = json!({"parse": {"mode": "separator", "separator": ";"}, "output": {"format": "value"}});
        let patched = apply_patch(
            &topic(),
            &json!({"processing": processing.clone(), "name": "x"}),
        )
        .unwrap();
        let shown = serde_json::to_value(&patched).unwrap();
        assert_eq!(shown["processing"], processing);
        assert_eq!(shown["name"], "x");
    }

    #[test]
    fn patch_errors_name_the_field() {
        let err =
            apply_patch(&topic(), &json!({"processing": {"parse": {"mode": "xml"}}})).unwrap_err();
        assert_eq!(err.field, "processing.parse.mode");
        let err = apply_patch(&topic(), &json!({"on_error": "skip"})).unwrap_err();
        assert_eq!(err.field, "on_error");
        let err = apply_patch(&topic(), &json!({"name": 5})).unwrap_err();
        assert_eq!(err.field, "name");
        // The result is validated again.
        let err = apply_patch(&topic(), &json!({"name": "bad name"})).unwrap_err();
        assert_eq!(err.field, "name");
        let err = apply_patch(
            &topic(),
            &json!({"on_error": {"dead_letter_topic": "orders-flat"}}),
        )
        .unwrap_err();
        assert_eq!(err.field, "on_error.dead_letter_topic");
        let err = apply_patch(&topic(), &json!(["name"])).unwrap_err();
        assert_eq!(err.field, "body");
    }

    #[test]
    fn patch_cannot_change_what_was_fixed_at_creation() {
        let fixed_instance = [
            "kind",
            "source",
            "target",
            "sync",
            "start_offset",
            "topics",
            "same_partition",
        ];
        let fixed_topic = [
            "kind",
            "source",
            "source_topic",
            "target",
            "target_topic",
            "start_offset",
        ];
        for (task, fixed) in [
            (instance(), &fixed_instance[..]),
            (topic(), &fixed_topic[..]),
        ] {
            for &field in fixed {
                let err = apply_patch(&task, &json!({ field: "x" })).unwrap_err();
                assert_eq!(err.field, field);
                assert!(
                    err.message.contains("cannot be changed after creation"),
                    "{err}"
                );
                assert!(err.message.contains("create a new task"), "{err}");
            }
        }
    }

    #[test]
    fn patch_rejects_unknown_fields() {
        let err = apply_patch(&topic(), &json!({"colour": "red"})).unwrap_err();
        assert_eq!(err.field, "colour");
        assert!(err.message.starts_with("unknown field"), "{err}");
        assert!(err.message.contains("`on_error`"), "{err}");
        // Fields of topic tasks are not fields of instance tasks.
        for field in ["on_error", "processing", "source_topic"] {
            let err = apply_patch(&instance(), &json!({ field: null })).unwrap_err();
            assert_eq!(err.field, field);
            assert!(err.message.starts_with("unknown field"), "{err}");
        }
    }
}
