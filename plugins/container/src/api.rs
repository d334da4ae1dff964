//! `/api/v1/container`: start and stop container apps, the caller's instances and
//! limits, and the engine's facts and images for administrators.

use daas_common::{
    model::{Instance, RessourceInfo},
    protocols::{AppStarted, DaemonInfo, ImageInfo},
};
use daas_plugin_api::{
    abi::BackendError,
    poem_openapi::{param::Path, payload::Json, Object, OpenApi},
    sdk::{Caller, Done, Failure},
};

use crate::{engine::EngineError, images, limits, State};

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

/// A caller's limits and what they use now: `limit` the limits that apply (the
/// caller's own, else the global ones; null: unlimited), `usage` the current use in the
/// same units.
#[derive(Object)]
struct Limits {
    #[oai(nullable)]
    limit: Option<RessourceInfo>,
    usage: RessourceInfo,
}

#[OpenApi]
impl ContainerApi {
    /// Start a container app
    ///
    /// Starts an instance of a container app the caller may use: the container runs,
    /// its VNC server answers, and the viewer URL is returned. 403 when a limit is
    /// reached (named, with the use); 503 when the engine does not answer or the
    /// desktop did not come up in time.
    #[oai(path = "/apps/:id/start", method = "post", operation_id = "app_start")]
    async fn app_start(
        &self,
        /// The app's id (a `container` object, `GET /api/v1/db/objects`).
        id: Path<String>,
        who: Caller,
    ) -> Result<Json<AppStarted>, Failure> {
        Ok(Json(self.0.apps.start(&id.0, &who.0).await?))
    }

    /// Stop an instance
    ///
    /// The caller's instance (an administrator's: any): its container, its connection
    /// and the instance row are removed.
    #[oai(path = "/instances/:id", method = "delete", operation_id = "instance_stop")]
    async fn instance_stop(
        &self,
        /// The instance's id.
        id: Path<String>,
        who: Caller,
    ) -> Result<Done, Failure> {
        self.0.apps.stop(&id.0, &who.0).await?;
        Ok(Done::Done)
    }

    /// List running instances
    ///
    /// The caller's container instances (an administrator's: all).
    #[oai(path = "/instances", method = "get", operation_id = "instances")]
    async fn instances(&self, who: Caller) -> Result<Json<Vec<Instance>>, Failure> {
        Ok(Json(self.0.apps.instances(&who.0).await?))
    }

    /// The caller's limits
    ///
    /// The resource limits that apply to the caller and what their instances use now.
    #[oai(path = "/limits", method = "get", operation_id = "limits")]
    async fn limits(&self, who: Caller) -> Result<Json<Limits>, Failure> {
        let db = &self.0.apps.db;
        let limit = db.limit_for(who.user_id).await.map_err(EngineError::from)?;
        Ok(Json(Limits { limit, usage: limits::usage(db, who.user_id).await? }))
    }

    /// The container engine's facts
    ///
    /// Version, operating system and containers of the engine (administrators).
    #[oai(path = "/info", method = "get", operation_id = "info")]
    async fn info(&self, caller: Caller) -> Result<Json<DaemonInfo>, Failure> {
        caller.admin("see the container engine's facts")?;
        Ok(Json(self.0.apps.engine.info().await?))
    }

    /// The engine's images
    ///
    /// The images the engine holds (administrators).
    #[oai(path = "/images", method = "get", operation_id = "images")]
    async fn images(&self, caller: Caller) -> Result<Json<Vec<ImageInfo>>, Failure> {
        caller.admin("see the container engine's images")?;
        Ok(Json(images::list(&self.0.apps.engine).await?))
    }
}
