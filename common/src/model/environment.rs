use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use super::Timestamp;

/// An environment derived from a [`DaasObject`](super::DaasObject): a named snapshot of
/// it in its backend (seed `Environment`).
///
/// As a request body, unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(default, deny_unknown_fields)]
pub struct Environment {
    /// Unique id (a UUID; generated when empty).
    #[oai(validator(max_length = 128, pattern = "^[A-Za-z0-9_-]*$"))]
    pub id: String,
    /// The backend's id of the latest snapshot.
    #[oai(validator(max_length = 128))]
    pub id_backend: String,
    /// The object this environment derives from.
    #[oai(validator(max_length = 128, pattern = "^[A-Za-z0-9_-]*$"))]
    pub id_object: String,
    /// Name, unique per object.
    #[oai(validator(max_length = 128))]
    pub name: String,
    /// State, free text.
    #[oai(validator(max_length = 128))]
    pub state: String,
    /// Tasks (JSON list).
    pub env_tasks: Vec<serde_json::Value>,
    /// Installed apps (JSON list).
    pub env_apps: Vec<serde_json::Value>,
    /// The target command (JSON object).
    pub env_target: serde_json::Value,
    /// When it was created.
    #[oai(read_only)]
    pub created_at: Timestamp,
    /// When it was moved to the trash (none: not deleted).
    #[oai(read_only)]
    pub deleted_at: Option<Timestamp>,
}
