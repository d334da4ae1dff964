use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};

use super::Timestamp;

/// Where a task is: `queued` until the work before it on the same object is done,
/// `running`, then one of `succeeded`, `failed`, `cancelled` for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Enum)]
#[serde(rename_all = "lowercase")]
#[oai(rename_all = "lowercase")]
pub enum TaskState {
    /// Waiting for its turn.
    #[default]
    Queued,
    /// Running.
    Running,
    /// Finished as asked.
    Succeeded,
    /// Failed: `error` says why, `output` ends with the failing step's output.
    Failed,
    /// Cancelled; what it had made is removed.
    Cancelled,
}

impl TaskState {
    /// Whether the task is over (it never changes again).
    pub fn is_final(self) -> bool {
        matches!(self, TaskState::Succeeded | TaskState::Failed | TaskState::Cancelled)
    }
}

/// A long-running piece of work (a phase transition, a sub-phase, an app start) with its
/// progress: `state` says where it is, `step` what it does now.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(example)]
pub struct Task {
    /// Unique id (a UUID the server made).
    pub id: String,
    /// What it does: `clone_template`, `create_snapshot`, `run_app`, `finish`,
    /// `app_start`.
    pub kind: String,
    /// The owner (the user who asked for it).
    pub id_owner: i64,
    /// The object it works on: the derived object of a transition, the app of a start
    /// (null: none).
    #[oai(nullable)]
    pub id_object: Option<String>,
    /// The instance it made or works in (null: none yet).
    #[oai(nullable)]
    pub id_instance: Option<String>,
    pub state: TaskState,
    /// Progress, 0 to 100.
    #[oai(validator(minimum(value = "0"), maximum(value = "100")))]
    pub progress: i32,
    /// The current step (the last one once it is over).
    pub step: String,
    /// Why it failed (null: it did not).
    #[oai(nullable)]
    pub error: Option<String>,
    /// The end (4 KiB) of the ConfigAuto commands' output, each after a line
    /// `$ <step>: exit <code>`, the failing one last (null: none yet).
    #[oai(nullable)]
    pub output: Option<String>,
    /// The `Idempotency-Key` it was asked with (null: none): the same key from the same
    /// user answers this task again.
    #[oai(nullable)]
    pub idempotency_key: Option<String>,
    /// What it was asked to do, as the phases plugin reads it back after a restart
    /// (JSON text; not answered).
    #[oai(skip)]
    pub request: Option<String>,
    /// When it was asked for.
    pub created_at: Timestamp,
    /// When it started running (null: still queued).
    #[oai(nullable)]
    pub started_at: Option<Timestamp>,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// When it finished (null: not yet).
    #[oai(nullable)]
    pub finished_at: Option<Timestamp>,
}

impl poem_openapi::types::Example for Task {
    fn example() -> Self {
        Task {
            id: "5f0c6a52-8a4e-4f43-9d7e-2b1f1f0c1a10".into(),
            kind: "clone_template".into(),
            id_owner: 2,
            id_object: Some("0b7c4c2e-3f6a-4a8e-9f51-6d2f0e8d7c11".into()),
            id_instance: Some("a1d5e0f4-7c2b-4b9e-8e63-1f0d2c3b4a55".into()),
            state: TaskState::Running,
            progress: 40,
            step: "ConfigAuto: installer 1 of 2 (editor)".into(),
            ..Default::default()
        }
    }
}
