//! The phases backend's wire protocol (`BackendName::Phases`): what the browser's routes
//! (the proxy plugin's apps page and `POST /app/{id}`) ask of the lifecycle. The phases
//! plugin provides it; it owns instances, so starting and stopping them is its.

use daas_plugin_api::{abi::BackendError, sdk::BackendClient, sdk::BackendProtocol, BackendName};
use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use super::Caller;

/// The phases backend.
pub enum Phases {}

impl BackendProtocol for Phases {
    const NAME: BackendName = BackendName::Phases;
    type Request = PhasesRequest;
    type Response = PhasesResponse;
}

/// What an app start answers once its desktop is up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Object)]
pub struct AppStarted {
    /// The new instance.
    pub instance_id: String,
    /// Where the browser views it: `/instance/{instance_id}?token={viewer_token}`.
    pub viewer_url: String,
}

/// Requests to [`Phases`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum PhasesRequest {
    /// Start an app's instance and wait until its desktop is up (the start is a task
    /// like any other; this waits for it).
    AppStart {
        /// The app (an object in phase `app`, or a shared app an administrator made).
        object_id: String,
        /// Who asks.
        caller: Caller,
    },
    /// Stop an instance: its machine, its connection, its row.
    InstanceStop {
        /// The instance.
        instance_id: String,
        /// Who asks.
        caller: Caller,
    },
}

/// Answers of [`Phases`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum PhasesResponse {
    /// An app started.
    AppStarted(AppStarted),
    /// Done.
    Done,
}

/// A handle on the phases backend. Cheap to clone.
#[derive(Clone)]
pub struct PhasesClient(BackendClient<Phases>);

impl PhasesClient {
    /// The phases backend through the host (inside a plugin).
    pub fn host() -> PhasesClient {
        PhasesClient(BackendClient::host())
    }

    /// Start an app for a caller; answers the instance and its viewer URL.
    pub async fn app_start(&self, object_id: &str, caller: Caller) -> Result<AppStarted, BackendError> {
        expect!(self.0, PhasesRequest::AppStart { object_id: object_id.into(), caller }, PhasesResponse::AppStarted(a) => a)
    }

    /// Stop a caller's instance and remove it with its connection.
    pub async fn instance_stop(&self, instance_id: &str, caller: Caller) -> Result<(), BackendError> {
        expect!(self.0, PhasesRequest::InstanceStop { instance_id: instance_id.into(), caller }, PhasesResponse::Done => ())
    }
}
