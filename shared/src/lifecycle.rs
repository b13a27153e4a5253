//! A task as stored: its spec, its state (`running` | `paused` | `failed`) and why.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::task::TaskSpec;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
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

    pub fn view(&self) -> TaskView {
        TaskView {
            spec: self.spec.clone(),
            id: self.id.clone(),
            state: self.state,
            reason: self.reason.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// What the API shows of a task: the spec's fields with the id, state and timestamps
/// beside them.
#[derive(Serialize, JsonSchema)]
pub struct TaskView {
    #[serde(flatten)]
    pub spec: TaskSpec,
    pub id: String,
    pub state: TaskState,
    /// Why the task failed, while it is `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
