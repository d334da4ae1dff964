use std::collections::BTreeMap;

use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use super::{input::request_body, Timestamp};

/// An environment derived from a [`DaasObject`](super::DaasObject): a named snapshot of
/// it in its backend (seed `Environment`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(example)]
pub struct Environment {
    /// Unique id (a UUID the server made, or an administrator's choice).
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
    pub created_at: Timestamp,
    /// When it was moved to the trash (null: not deleted).
    #[oai(nullable)]
    pub deleted_at: Option<Timestamp>,
}

request_body! {
    /// A new environment of an object you may see. The server makes the id (only
    /// administrators may choose one) and the times. Unknown fields, `null` and values of
    /// the wrong JSON type are refused with a 400 naming the field.
    #[oai(example)]
    pub struct NewEnvironment {
        /// Administrators only: the id (default: a UUID the server makes).
        #[oai(validator(max_length = 128, pattern = "^[A-Za-z0-9_-]*$"))]
        pub id: Option<String>,
        /// The backend's id of the latest snapshot (default empty).
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub id_backend: Option<String>,
        /// The object this environment derives from: one you may see.
        #[oai(validator(max_length = 128, pattern = "^[A-Za-z0-9_-]*$"))]
        pub id_object: String,
        /// Name, unique per object, not blank.
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*[^\\x00\\s][^\\x00]*$"))]
        pub name: String,
        /// State, free text (default empty).
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub state: Option<String>,
        /// Tasks (default empty).
        pub env_tasks: Option<Vec<serde_json::Value>>,
        /// Installed apps (default empty).
        pub env_apps: Option<Vec<serde_json::Value>>,
        /// The target command (default `{}`).
        pub env_target: Option<BTreeMap<String, serde_json::Value>>,
    }
}

request_body! {
    /// Changes to an environment: only the fields given change. The path names it.
    /// Only administrators move it to another object. Unknown fields, `null` and values of
    /// the wrong JSON type are refused with a 400 naming the field.
    #[oai(example)]
    pub struct EnvironmentPatch {
        /// The backend's id of the latest snapshot.
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub id_backend: Option<String>,
        /// Administrators only: the object this environment derives from.
        #[oai(validator(max_length = 128, pattern = "^[A-Za-z0-9_-]*$"))]
        pub id_object: Option<String>,
        /// Name, unique per object, not blank.
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*[^\\x00\\s][^\\x00]*$"))]
        pub name: Option<String>,
        /// State, free text.
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub state: Option<String>,
        /// Tasks.
        pub env_tasks: Option<Vec<serde_json::Value>>,
        /// Installed apps.
        pub env_apps: Option<Vec<serde_json::Value>>,
        /// The target command.
        pub env_target: Option<BTreeMap<String, serde_json::Value>>,
    }
}

impl poem_openapi::types::Example for Environment {
    fn example() -> Self {
        Environment {
            id: "5f0c8a8e-2b1d-4a57-9c3e-7d2f1b0a9e44".into(),
            id_object: "0b6e7f5c-9f3e-4a4e-8d8e-0c1f2a3b4c5d".into(),
            name: "office".into(),
            state: "ready".into(),
            env_target: serde_json::json!({}),
            created_at: chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default(),
            ..Environment::default()
        }
    }
}

impl poem_openapi::types::Example for NewEnvironment {
    fn example() -> Self {
        NewEnvironment { id_object: "0b6e7f5c-9f3e-4a4e-8d8e-0c1f2a3b4c5d".into(), name: "office".into(), ..NewEnvironment::default() }
    }
}

impl poem_openapi::types::Example for EnvironmentPatch {
    fn example() -> Self {
        EnvironmentPatch { state: Some("ready".into()), ..EnvironmentPatch::default() }
    }
}
