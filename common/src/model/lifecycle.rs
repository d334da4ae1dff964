use std::collections::BTreeMap;

use poem_openapi::Enum;
use serde::{Deserialize, Serialize};

use super::input::request_body;

/// A transition of the lifecycle: what derives an object of the next phase from a
/// finished one (BaseImage → Environment → Deployment → App).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum Transition {
    /// A base image → an environment.
    #[default]
    CloneTemplate,
    /// An environment → a deployment.
    CreateSnapshot,
    /// A deployment → an app.
    RunApp,
}

impl Transition {
    /// Its name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::CloneTemplate => "clone_template",
            Transition::CreateSnapshot => "create_snapshot",
            Transition::RunApp => "run_app",
        }
    }
}

request_body! {
    /// A transition to run on a finished object (its parent): the new object is yours,
    /// derived from the parent, and made by a task (Create, ConfigAuto, ConfigInteractive
    /// when asked for, Finalize). Unknown fields, `null` and values of the wrong JSON
    /// type are refused with a 400 naming the field.
    #[oai(example)]
    pub struct NewTransition {
        // The transition (`clone_template` from a base image, `create_snapshot` from an
        // environment, `run_app` from a deployment): described by its schema, as a
        // description here would wrap the reference in an `allOf` that generators refuse.
        pub transition: Transition,
        /// The new object's name (`id_user`, default empty).
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub id_user: Option<String>,
        /// Stop at ConfigInteractive so that you work in the instance through its viewer
        /// URL, then `POST /api/v1/phases/objects/{id}/finish` (default false: straight
        /// to Finalize). Not for `run_app`.
        pub interactive: Option<bool>,
        /// ConfigAuto's commands, in order: each a shell line, or
        /// `{"cmd": line or list of strings, "name": text, "limit_ms": number}`
        /// (default none).
        #[oai(validator(max_items = 100))]
        pub object_tasks: Option<Vec<serde_json::Value>>,
        /// Template applications whose installers ConfigAuto runs after the commands
        /// (their ids; default none).
        #[oai(validator(max_items = 100))]
        pub object_apps: Option<Vec<String>>,
        /// For `run_app`: the app's target command, `{"cmd": line or list, "args": line}`
        /// (default the deployment's).
        pub object_target: Option<BTreeMap<String, serde_json::Value>>,
    }
}

impl poem_openapi::types::Example for NewTransition {
    fn example() -> Self {
        NewTransition {
            transition: Transition::CloneTemplate,
            id_user: Some("my editor".into()),
            interactive: Some(false),
            object_tasks: Some(vec![serde_json::json!("mkdir -p /opt/work")]),
            object_apps: Some(vec!["6c1d9b0e-1f7a-4d52-9e3c-2a8b7f4d0e11".into()]),
            object_target: None,
        }
    }
}
