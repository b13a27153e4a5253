//! How a task turns a source record into target records, and what a refusal by the
//! target comes to. Built from the task's spec, and built again when a PATCH changes
//! `processing` or `on_error` (the worker re-reads the task at each re-check).

use super::WorkerError;
use super::batch::OnRefusal;
use crate::processing::{self, CompiledProcessing};
use crate::task::{OnError, TaskSpec};

pub enum Handling {
    /// As it is (instance tasks, and topic tasks without processing).
    Copy {
        samples_offsets: bool,
        /// A topic task's error policy, which also decides what a refusal comes to.
        on_error: Option<OnError>,
    },
    /// Through the task's processing, with its error policy.
    Process {
        compiled: Box<CompiledProcessing>,
        on_error: OnError,
    },
}

impl Handling {
    /// The processing is compiled once here, for every message the worker handles.
    pub fn of(spec: &TaskSpec) -> Result<Handling, WorkerError> {
        Ok(match spec {
            TaskSpec::Instance(_) => Handling::Copy {
                samples_offsets: true,
                on_error: None,
            },
            TaskSpec::Topic(topic) => match &topic.processing {
                Some(config) => Handling::Process {
                    compiled: Box::new(
                        processing::compile(config, "processing")
                            .map_err(|e| WorkerError::Config(format!("processing: {e}")))?,
                    ),
                    on_error: topic.on_error.clone(),
                },
                None => Handling::Copy {
                    samples_offsets: false,
                    on_error: Some(topic.on_error.clone()),
                },
            },
        })
    }

    /// Offset-mapping samples serve consumer-group offset sync, which only instance
    /// tasks do.
    pub fn samples_offsets(&self) -> bool {
        matches!(
            self,
            Handling::Copy {
                samples_offsets: true,
                ..
            }
        )
    }

    fn on_error(&self) -> Option<&OnError> {
        match self {
            Handling::Copy { on_error, .. } => on_error.as_ref(),
            Handling::Process { on_error, .. } => Some(on_error),
        }
    }

    /// What a record the target refuses for good comes to: an instance task's partition
    /// stalls; a topic task applies its error policy to it (DESIGN §4).
    pub fn on_refusal(&self) -> OnRefusal {
        match self.on_error() {
            None => OnRefusal::Stall,
            Some(OnError::Discard) => OnRefusal::Discard,
            Some(OnError::Retain) => OnRefusal::Fail,
            Some(OnError::DeadLetter { .. }) => OnRefusal::DeadLetter,
        }
    }

    pub fn dead_letter_topic(&self) -> Option<&str> {
        match self.on_error() {
            Some(OnError::DeadLetter { topic }) => Some(topic),
            _ => None,
        }
    }
}
