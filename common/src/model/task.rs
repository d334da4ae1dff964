use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};

use super::Timestamp;

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Enum)]
#[serde(rename_all = "lowercase")]
#[oai(rename_all = "lowercase")]
pub enum TaskState {
    /// Waiting to run.
    #[default]
    Queued,
    /// Running.
    Running,
    /// Finished.
    Done,
    /// Failed; the message says why.
    Failed,
    /// Cancelled.
    Cancelled,
}

/// A long-running piece of work (a phase, an image build) with its progress; `state`
/// says where it is.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
pub struct Task {
    /// Unique id (generated when empty).
    pub id: String,
    /// What it does, e.g. `phase.environment` or `image.build`.
    pub kind: String,
    /// The owner.
    pub id_owner: i64,
    /// The object it works on (null: none).
    #[oai(nullable)]
    pub id_object: Option<String>,
    pub state: TaskState,
    /// Progress, 0 to 100.
    #[oai(validator(minimum(value = "0"), maximum(value = "100")))]
    pub progress: i32,
    /// The latest message.
    pub message: String,
    /// When it was created.
    #[oai(read_only)]
    pub created_at: Timestamp,
    /// When it last changed.
    #[oai(read_only)]
    pub updated_at: Timestamp,
    /// When it finished (null: not yet).
    #[oai(nullable)]
    pub finished_at: Option<Timestamp>,
}
