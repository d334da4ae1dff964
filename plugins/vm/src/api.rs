//! `/api/v1/vm`: the VM backend's facts for administrators. VMs start and stop through
//! the phases plugin.

use daas_common::protocols::VmInfo;
use daas_plugin_api::{
    abi::BackendError,
    poem_openapi::{payload::Json, OpenApi},
    sdk::{Caller, Failure},
};

use crate::{error::VmError, State};

/// The vm plugin's routes.
pub struct VmApi(pub State);

impl From<VmError> for Failure {
    fn from(e: VmError) -> Failure {
        Failure::from(BackendError::from(e))
    }
}

#[OpenApi]
impl VmApi {
    /// The VM backend's facts
    ///
    /// Which backend runs the VMs, its version and accelerator, the templates base
    /// images may name, the artifacts the lifecycle made and the VMs that exist
    /// (administrators).
    #[oai(path = "/info", method = "get", operation_id = "info")]
    async fn info(&self, caller: Caller) -> Result<Json<VmInfo>, Failure> {
        caller.admin("see the VM backend's facts")?;
        Ok(Json(self.0.info().await?))
    }
}
