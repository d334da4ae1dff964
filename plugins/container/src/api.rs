//! `/api/v1/container`: start and stop container apps, the caller's instances and
//! limits, and the engine's facts and images for administrators.

use daas_common::{
    model::{Instance, RessourceInfo},
    protocols::{AppStarted, DaemonInfo, ImageInfo},
};
use daas_plugin_api::{
    abi::BackendErrorKind,
    identity::Identity,
    poem::web::Data,
    poem_openapi::{param::Path, payload::Json, ApiResponse, Object, OpenApi},
    sdk::Attributes,
    ApiError,
};

use crate::{engine::EngineError, images, limits, State};

/// The container plugin's routes.
pub struct ContainerApi(pub State);

/// Why a request failed.
#[derive(ApiResponse, Debug)]
pub enum Failure {
    /// Invalid request (a bad port, volume or memory spec, an app that is no container).
    #[oai(status = 400)]
    BadRequest(Json<ApiError>),
    /// No caller.
    #[oai(status = 401)]
    Unauthenticated(Json<ApiError>),
    /// Not allowed: administrators only, or a limit is reached (named, with the use).
    #[oai(status = 403)]
    Forbidden(Json<ApiError>),
    /// Not found, or not yours (an unknown image is named).
    #[oai(status = 404)]
    NotFound(Json<ApiError>),
    /// Conflicts with the engine's state.
    #[oai(status = 409)]
    Conflict(Json<ApiError>),
    /// The engine or another backend failed.
    #[oai(status = 500)]
    Internal(Json<ApiError>),
    /// The engine (named by its socket) or the database does not answer, or the app's
    /// desktop did not come up in time.
    #[oai(status = 503)]
    Unavailable(Json<ApiError>),
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Failure {
        let kind = e.kind();
        let detail = match &e {
            EngineError::Unreachable { .. } => "see docs/container.md for how to run podman's Docker API",
            EngineError::Timeout { .. } => "try again; raise [container_request] timeout_ms or vnc_ready_ms if it keeps happening",
            _ => "",
        };
        let body = Json(ApiError::new(kind.code(), e.to_string(), detail));
        match kind {
            BackendErrorKind::BadRequest => Failure::BadRequest(body),
            BackendErrorKind::NotFound => Failure::NotFound(body),
            BackendErrorKind::Conflict => Failure::Conflict(body),
            BackendErrorKind::Forbidden => Failure::Forbidden(body),
            BackendErrorKind::Unavailable | BackendErrorKind::NotAvailable => Failure::Unavailable(body),
            BackendErrorKind::Internal => {
                tracing::error!(error = %e, "container: request failed");
                Failure::Internal(body)
            }
        }
    }
}

fn caller(attributes: &Attributes) -> Result<Identity, Failure> {
    Identity::from_attributes(attributes)
        .ok_or_else(|| Failure::Unauthenticated(Json(ApiError::new("unauthenticated", "this route needs an authenticated user", ""))))
}

fn admin(attributes: &Attributes, what: &str) -> Result<Identity, Failure> {
    let who = caller(attributes)?;
    if !who.admin {
        return Err(Failure::Forbidden(Json(ApiError::new("forbidden", format!("only administrators see {what}"), ""))));
    }
    Ok(who)
}

#[derive(ApiResponse)]
enum Done {
    /// Done.
    #[oai(status = 204)]
    Done,
}

/// A caller's limits and what they use now.
#[derive(Object)]
struct Limits {
    /// The limits that apply (the caller's own, else the global ones); none: unlimited.
    limit: Option<RessourceInfo>,
    /// Current use in the same units.
    usage: RessourceInfo,
}

#[OpenApi]
impl ContainerApi {
    /// Start an instance of a container app: the container runs, its VNC server
    /// answers, and the viewer URL is returned.
    #[oai(path = "/apps/:id/start", method = "post", operation_id = "app_start")]
    async fn app_start(&self, id: Path<String>, attributes: Data<&Attributes>) -> Result<Json<AppStarted>, Failure> {
        let who = caller(&attributes)?;
        Ok(Json(self.0.apps.start(&id.0, &who).await?))
    }

    /// Stop an instance: its container, its connection and the instance are removed.
    #[oai(path = "/instances/:id", method = "delete", operation_id = "instance_stop")]
    async fn instance_stop(&self, id: Path<String>, attributes: Data<&Attributes>) -> Result<Done, Failure> {
        let who = caller(&attributes)?;
        self.0.apps.stop(&id.0, &who).await?;
        Ok(Done::Done)
    }

    /// The caller's instances (an administrator's: all).
    #[oai(path = "/instances", method = "get", operation_id = "instances")]
    async fn instances(&self, attributes: Data<&Attributes>) -> Result<Json<Vec<Instance>>, Failure> {
        let who = caller(&attributes)?;
        Ok(Json(self.0.apps.instances(&who).await?))
    }

    /// The caller's resource limits and current use.
    #[oai(path = "/limits", method = "get", operation_id = "limits")]
    async fn limits(&self, attributes: Data<&Attributes>) -> Result<Json<Limits>, Failure> {
        let who = caller(&attributes)?;
        let db = &self.0.apps.db;
        let limit = db.limit_for(who.user_id).await.map_err(EngineError::from)?;
        Ok(Json(Limits { limit, usage: limits::usage(db, who.user_id).await? }))
    }

    /// The container engine's facts (administrators).
    #[oai(path = "/info", method = "get", operation_id = "info")]
    async fn info(&self, attributes: Data<&Attributes>) -> Result<Json<DaemonInfo>, Failure> {
        admin(&attributes, "the container engine's facts")?;
        Ok(Json(self.0.apps.engine.info().await?))
    }

    /// The engine's images (administrators).
    #[oai(path = "/images", method = "get", operation_id = "images")]
    async fn images(&self, attributes: Data<&Attributes>) -> Result<Json<Vec<ImageInfo>>, Failure> {
        admin(&attributes, "the container engine's images")?;
        Ok(Json(images::list(&self.0.apps.engine).await?))
    }
}
