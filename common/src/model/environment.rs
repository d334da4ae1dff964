use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use super::Timestamp;

/// An environment derived from a [`DaasObject`](super::DaasObject): a named snapshot of
/// it in its backend (seed `Environment`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(default)]
pub struct Environment {
    /// Unique id (a UUID; generated when empty).
    pub id: String,
    /// The backend's id of the latest snapshot.
    pub id_backend: String,
    /// The object this environment derives from.
    pub id_object: String,
    /// Name, unique per object.
    pub name: String,
    /// State, free text.
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
