//! The connection to the Docker Engine API (podman's compatible socket on these
//! machines) and what its failures mean to a caller.
//!
//! Every engine call goes through [`Engine::call`]: bounded by `timeout_ms`, logged when
//! `logrequest` is on, and its error turned into an [`EngineError`] whose kind is the
//! status a route answers (unreachable engine 503 naming the socket, unknown image or
//! container 404, refused spec 400, conflict 409).

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use bollard::{errors::Error as BollardError, ClientVersion, Docker};
use daas_common::{config::ContainerRequestSection, protocols::DaemonInfo};
use daas_plugin_api::abi::{BackendError, BackendErrorKind};

/// Where the plugin looks for an engine when `[container_request] host` is empty:
/// podman's system socket.
pub const DEFAULT_HOST: &str = "unix:///run/podman/podman.sock";

/// The Docker API version the plugin speaks. Podman 4 serves 1.41; newer Docker
/// engines still accept it, so one version fits both.
const API_VERSION: ClientVersion = ClientVersion { major_version: 1, minor_version: 41 };

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No engine answers at the configured address.
    #[error("the container engine at {host} cannot be reached ({reason}); start it (podman system service --time=0 {host}) or fix [container_request] host in container.toml")]
    Unreachable {
        /// The configured address.
        host: String,
        /// What the connection attempt said.
        reason: String,
    },
    /// The engine did not answer in time.
    #[error("the container engine at {host} did not answer `{op}` within {ms} ms")]
    Timeout {
        /// The address.
        host: String,
        /// The operation.
        op: String,
        /// The timeout.
        ms: u128,
    },
    /// An image, container or other named thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request itself is wrong (a port, volume or memory spec, an empty image name).
    #[error("{0}")]
    BadRequest(String),
    /// The request conflicts with the engine's state (a name in use, a running container).
    #[error("{0}")]
    Conflict(String),
    /// A limit refuses the request.
    #[error("{0}")]
    Forbidden(String),
    /// Another backend (the database) does not answer.
    #[error("{0}")]
    Unavailable(String),
    /// Something the engine or another backend reported that the caller cannot fix.
    #[error("{0}")]
    Failed(String),
}

impl EngineError {
    /// The backend error kind (and so the HTTP status) of this error.
    pub fn kind(&self) -> BackendErrorKind {
        match self {
            EngineError::Unreachable { .. } | EngineError::Timeout { .. } | EngineError::Unavailable(_) => BackendErrorKind::Unavailable,
            EngineError::NotFound(_) => BackendErrorKind::NotFound,
            EngineError::BadRequest(_) => BackendErrorKind::BadRequest,
            EngineError::Conflict(_) => BackendErrorKind::Conflict,
            EngineError::Forbidden(_) => BackendErrorKind::Forbidden,
            EngineError::Failed(_) => BackendErrorKind::Internal,
        }
    }
}

impl From<EngineError> for BackendError {
    fn from(e: EngineError) -> Self {
        BackendError::new(e.kind(), e.to_string())
    }
}

impl From<BackendError> for EngineError {
    fn from(e: BackendError) -> Self {
        let message = e.message.to_string();
        match e.kind {
            BackendErrorKind::NotFound => EngineError::NotFound(message),
            BackendErrorKind::BadRequest => EngineError::BadRequest(message),
            BackendErrorKind::Conflict => EngineError::Conflict(message),
            BackendErrorKind::Forbidden => EngineError::Forbidden(message),
            BackendErrorKind::Unavailable | BackendErrorKind::NotAvailable => EngineError::Unavailable(message),
            BackendErrorKind::Internal => EngineError::Failed(message),
        }
    }
}

/// A handle on the engine. Cheap to clone (bollard's client is shared).
#[derive(Clone)]
pub struct Engine {
    /// Connected on first use and again after a failure to connect: bollard refuses a
    /// socket that does not exist yet, and an engine may come up after the server.
    docker: Arc<Mutex<Option<Docker>>>,
    host: String,
    timeout: Duration,
    log_requests: bool,
}

impl Engine {
    /// A client for the configured engine. Connecting is lazy: an engine that is down
    /// now is reported by the first call (503 naming the socket), not at start.
    pub fn connect(config: &ContainerRequestSection) -> Result<Engine, EngineError> {
        let host = if config.host.is_empty() { DEFAULT_HOST.to_string() } else { config.host.clone() };
        let timeout = Duration::from_millis(if config.timeout_ms == 0 { 30_000 } else { config.timeout_ms });
        let supported = host.starts_with("unix://") || host.starts_with("tcp://") || host.starts_with("http://") || host.starts_with('/');
        if !supported {
            return Err(EngineError::BadRequest(format!(
                "[container_request] host = {host:?} is neither unix:///path nor tcp://host:port"
            )));
        }
        Ok(Engine { docker: Arc::new(Mutex::new(None)), host, timeout, log_requests: config.logrequest })
    }

    /// The bollard client, connecting first when needed (503 naming the socket when
    /// nothing listens there).
    pub fn docker(&self) -> Result<Docker, EngineError> {
        let mut slot = self.docker.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(d) = slot.as_ref() {
            return Ok(d.clone());
        }
        // bollard's own timeout is a coarse backstop (whole seconds); ours is per call.
        let secs = self.timeout.as_secs().max(1) * 10;
        let host = &self.host;
        let docker = if let Some(path) = host.strip_prefix("unix://") {
            Docker::connect_with_unix(path, secs, &API_VERSION)
        } else if host.starts_with('/') {
            Docker::connect_with_unix(host, secs, &API_VERSION)
        } else {
            Docker::connect_with_http(host, secs, &API_VERSION)
        }
        .map_err(|e| EngineError::Unreachable { host: host.clone(), reason: e.to_string() })?;
        *slot = Some(docker.clone());
        Ok(docker)
    }

    /// The configured address.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The per-call timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Run one engine call under the timeout; `what` names its target in errors (the
    /// image or container a 404 is about).
    pub async fn call<T, F>(&self, op: &str, what: &str, fut: F) -> Result<T, EngineError>
    where
        F: Future<Output = Result<T, BollardError>>,
    {
        self.call_for(self.timeout, op, what, fut).await
    }

    /// [`Engine::call`] with its own timeout (builds, waits).
    pub async fn call_for<T, F>(&self, timeout: Duration, op: &str, what: &str, fut: F) -> Result<T, EngineError>
    where
        F: Future<Output = Result<T, BollardError>>,
    {
        if self.log_requests {
            tracing::info!(op, target = what, "engine request");
        }
        match tokio::time::timeout(timeout, fut).await {
            Err(_) => Err(EngineError::Timeout { host: self.host.clone(), op: op.to_string(), ms: timeout.as_millis() }),
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.error(op, what, e)),
        }
    }

    /// What a bollard error means for the caller.
    pub fn error(&self, op: &str, what: &str, e: BollardError) -> EngineError {
        match e {
            BollardError::DockerResponseServerError { status_code, message } => match status_code {
                404 => EngineError::NotFound(format!("{what} does not exist in the container engine ({message})")),
                400 => EngineError::BadRequest(format!("the container engine refused `{op}` for {what}: {message}")),
                409 => EngineError::Conflict(format!("`{op}` conflicts with the state of {what}: {message}")),
                _ => EngineError::Failed(format!("the container engine failed `{op}` for {what} ({status_code}): {message}")),
            },
            BollardError::RequestTimeoutError => {
                EngineError::Timeout { host: self.host.clone(), op: op.to_string(), ms: self.timeout.as_millis() }
            }
            BollardError::IOError { .. }
            | BollardError::HyperResponseError { .. }
            | BollardError::HyperLegacyError { .. }
            | BollardError::HttpClientError { .. }
            | BollardError::SocketNotFoundError(_) => EngineError::Unreachable { host: self.host.clone(), reason: e.to_string() },
            other => EngineError::Failed(format!("`{op}` for {what} failed: {other}")),
        }
    }

    /// Connect and report what the daemon says (seed `connect`).
    pub async fn info(&self) -> Result<DaemonInfo, EngineError> {
        let docker = self.docker()?;
        let version = self.call("version", "the engine", docker.version()).await?;
        let info = self.call("info", "the engine", docker.info()).await?;
        // Docker names itself in `Platform.Name`; podman puts its distribution there and
        // its name in the first component.
        let component = version.components.as_ref().and_then(|c| c.first()).map(|c| c.name.clone());
        let platform = version.platform.as_ref().map(|p| p.name.clone());
        let product = component.filter(|n| !n.is_empty()).or(platform).unwrap_or_default();
        Ok(DaemonInfo {
            host: self.host.clone(),
            product,
            version: version.version.unwrap_or_default(),
            api_version: version.api_version.unwrap_or_default(),
            os: format!("{}/{}", version.os.unwrap_or_default(), version.arch.unwrap_or_default()),
            containers: info.containers.unwrap_or_default(),
            images: info.images.unwrap_or_default(),
        })
    }
}
