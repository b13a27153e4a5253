//! A task as stored: its spec, its state (`running` | `paused` | `failed`) and why.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::task::TaskSpec;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    Running,
    Paused,
    Failed,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Running => "running",
            TaskState::Paused => "paused",
            TaskState::Failed => "failed",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub id: String,
    pub spec: TaskSpec,
    pub state: TaskState,
    /// Why the task failed, while it is `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TaskRecord {
    /// A new task starts running at once.
    pub fn new(id: String, spec: TaskSpec) -> Self {
        let now = Utc::now();
        Self {
            id,
            spec,
            state: TaskState::Running,
            reason: None,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn with_spec(&self, spec: TaskSpec) -> Self {
        Self {
            spec,
            updated_at: Utc::now(),
            ..self.clone()
        }
    }

    pub fn with_state(&self, state: TaskState, reason: Option<String>) -> Self {
        Self {
            state,
            reason,
            updated_at: Utc::now(),
            ..self.clone()
        }
    }

    /// The API's view: the spec's fields with the id, state and timestamps beside them.
    pub fn view(&self) -> Value {
        let mut view = serde_json::to_value(&self.spec).expect("specs serialize");
        let fields = view.as_object_mut().expect("a spec is a JSON object");
        fields.insert("id".into(), json!(self.id));
        fields.insert("state".into(), json!(self.state));
        if let Some(reason) = &self.reason {
            fields.insert("reason".into(), json!(reason));
        }
        fields.insert("created_at".into(), json!(self.created_at));
        fields.insert("updated_at".into(), json!(self.updated_at));
        view
    }
}
