//! `/api/v1/container`: the engine's facts and images for administrators. Container
//! apps start and stop through the phases plugin.

use daas_common::protocols::{DaemonInfo, ImageInfo};
use daas_plugin_api::{
    abi::BackendError,
    poem_openapi::{payload::Json, OpenApi},
    sdk::{Caller, Failure},
};

use crate::{engine::EngineError, images, State};

/// The container plugin's routes.
pub struct ContainerApi(pub State);

/// An engine's error as the route's answer: its kind picks the status, its message
/// names what failed (the engine's socket, the image), and the detail what to do. An
/// internal failure is logged under an error id, which alone is answered.
impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Failure {
        let detail = match &e {
            EngineError::Unreachable { .. } => "see docs/container.md for how to run podman's Docker API",
            EngineError::Timeout { .. } => "try again; raise [container_request] timeout_ms or vnc_ready_ms if it keeps happening",
            _ => "",
        };
        let failure = Failure::from(BackendError::from(e));
        if detail.is_empty() {
            failure
        } else {
            failure.with_detail(detail)
        }
    }
}

#[OpenApi]
impl ContainerApi {
    /// The container engine's facts
    ///
    /// Version, operating system and containers of the engine (administrators).
    #[oai(path = "/info", method = "get", operation_id = "info")]
    async fn info(&self, caller: Caller) -> Result<Json<DaemonInfo>, Failure> {
        caller.admin("see the container engine's facts")?;
        Ok(Json(self.0.engine.info().await?))
    }

    /// The engine's images
    ///
    /// The images the engine holds (administrators).
    #[oai(path = "/images", method = "get", operation_id = "images")]
    async fn images(&self, caller: Caller) -> Result<Json<Vec<ImageInfo>>, Failure> {
        caller.admin("see the container engine's images")?;
        Ok(Json(images::list(&self.0.engine).await?))
    }
}
