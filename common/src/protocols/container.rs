//! The container backend's wire protocol (`BackendName::Container`) and its typed
//! client. The container plugin provides it; the phases plugin drives container
//! objects through it (create from image, commit as the snapshot of a phase, start,
//! stop, exec, status, VNC endpoint) and the proxy plugin starts and stops container
//! apps through it (`POST /app/:id`, `DELETE /instance/:id`).

use std::collections::BTreeMap;

use daas_plugin_api::{
    abi::BackendError,
    futures::future::BoxFuture,
    identity::Identity,
    sdk::{BackendClient, BackendProtocol},
    BackendName,
};
use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use super::machine::{MachineRequest, MachineResponse};

/// The container plugin's backend.
pub enum Container {}

impl BackendProtocol for Container {
    const NAME: BackendName = BackendName::Container;
    type Request = ContainerRequest;
    type Response = ContainerResponse;
}

/// Who asks for an app start or an instance stop: the identity the auth layer attached
/// to the caller's request, carried across the backend call so the container plugin
/// applies the original's ownership rules itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// The user's id.
    pub user_id: i64,
    /// The user's login name.
    pub user_name: String,
    /// Administrators reach every user's apps and instances.
    pub admin: bool,
}

impl From<&Identity> for Caller {
    fn from(id: &Identity) -> Self {
        Caller { user_id: id.user_id, user_name: id.user_name.clone(), admin: id.admin }
    }
}

impl From<&Caller> for Identity {
    fn from(c: &Caller) -> Self {
        Identity { user_id: c.user_id, user_name: c.user_name.clone(), admin: c.admin }
    }
}

/// What to run (seed `ContainerConfigDocker`, with the environment, command and labels
/// the apps and phases need).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(default)]
pub struct ContainerSpec {
    /// Image: name:tag or id. It must exist in the engine (nothing is pulled).
    pub image: String,
    /// Container name (empty: the engine picks one).
    pub name: String,
    /// CPU cores (0: no limit).
    pub cpus: i64,
    /// Memory in bytes (0: no limit).
    pub memory: i64,
    /// Run privileged.
    pub privileged: bool,
    /// Published ports: `[ip:][host:]container[/tcp|udp]`. Without an address a port is
    /// published on 127.0.0.1; without a host port the engine picks a free one.
    pub ports: Vec<String>,
    /// Volumes: `source:destination[:ro|rw]` (absolute paths, or a named volume).
    pub volumes: Vec<String>,
    /// Environment, `NAME=value`.
    pub env: Vec<String>,
    /// The command (empty: the image's).
    pub cmd: Vec<String>,
    /// Labels (reconcile finds the containers of a site by them).
    pub labels: BTreeMap<String, String>,
}

/// An image (seed `DockerImageInfo`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Object)]
pub struct ImageInfo {
    /// The image id (`sha256:...`).
    pub id: String,
    /// Its tags (`repository:tag`).
    pub tags: Vec<String>,
    /// Size in bytes.
    pub size: i64,
    /// Creation time, seconds since the epoch.
    pub created: i64,
}

/// A container's resource use at one moment (seed `stats_cpu`, `stats_mem`,
/// `stats_disk`, `stats_net`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Object)]
pub struct ContainerStats {
    /// CPU use in percent of one core, over the engine's sampling interval.
    pub cpu_percent: f64,
    /// Memory in use, bytes.
    pub memory_bytes: u64,
    /// Memory limit, bytes (the host's memory without a limit).
    pub memory_limit: u64,
    /// Bytes read from block devices.
    pub block_read: u64,
    /// Bytes written to block devices.
    pub block_write: u64,
    /// Bytes received over the network.
    pub net_rx: u64,
    /// Bytes sent over the network.
    pub net_tx: u64,
}

/// A container (seed `DockerContainerInfo`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Object)]
pub struct ContainerInfo {
    /// The container id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its image.
    pub image: String,
    /// `created`, `running`, `exited`, ...
    pub state: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Resource use, when asked for.
    pub stats: Option<ContainerStats>,
}

/// The engine (`connect` of the seed: what the daemon reports).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Object)]
pub struct DaemonInfo {
    /// The address the plugin talks to.
    pub host: String,
    /// The engine's product (`Docker Engine`, `Podman Engine`).
    pub product: String,
    /// The engine's version.
    pub version: String,
    /// The Docker API version it serves.
    pub api_version: String,
    /// Operating system and architecture.
    pub os: String,
    /// Containers it knows (any state).
    pub containers: i64,
    /// Images it holds.
    pub images: i64,
}

/// Requests to [`Container`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ContainerRequest {
    /// The daemon's facts.
    Info,
    /// Every image.
    ImageList,
    /// One image by name or id.
    ImageInspect {
        /// name:tag or id.
        name: String,
    },
    /// Build an image from a Dockerfile (its directory is the build context).
    ImageBuild {
        /// Path of the Dockerfile on this server.
        dockerfile: String,
        /// The tag to give the image.
        tag: String,
    },
    /// Delete an image (forced, as the seed does).
    ImageDelete {
        /// name:tag or id.
        name: String,
    },
    /// Create a container (not started).
    Create {
        /// What to run.
        spec: ContainerSpec,
    },
    /// Start a created or stopped container.
    Start {
        /// Id or name.
        id: String,
    },
    /// Stop a container (SIGTERM, or SIGKILL with `force`) and wait until it is no
    /// longer running.
    Stop {
        /// Id or name.
        id: String,
        /// Kill instead of stopping gracefully.
        force: bool,
    },
    /// Remove a container (killing it first when it runs).
    Remove {
        /// Id or name.
        id: String,
    },
    /// Commit a container as a new image (the snapshot of a phase).
    Commit {
        /// Id or name.
        id: String,
        /// `repository[:tag]` of the new image.
        image: String,
    },
    /// Run a command in a running container and wait for it.
    Exec {
        /// Id or name.
        id: String,
        /// The command and its arguments.
        cmd: Vec<String>,
    },
    /// A container's state (none: no such container).
    Status {
        /// Id or name.
        id: String,
    },
    /// Where a running container's VNC server is published on 127.0.0.1.
    VncEndpoint {
        /// Id or name.
        id: String,
        /// The VNC port inside the container.
        port: u16,
    },
    /// Containers (running ones, or all), with resource use when `stats`.
    List {
        /// Include stopped containers.
        all: bool,
        /// Include resource use (one sample per container: slower).
        stats: bool,
    },
    /// A container's output (stdout and stderr).
    Logs {
        /// Id or name.
        id: String,
    },
    /// A container's IP address.
    Ip {
        /// Id or name.
        id: String,
    },
    /// A request of the machine contract (`super::MachineClient` sends it).
    Machine {
        /// The request.
        request: MachineRequest,
    },
}

/// Answers of [`Container`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ContainerResponse {
    /// The daemon's facts.
    Info(DaemonInfo),
    /// Images.
    Images {
        /// The images.
        images: Vec<ImageInfo>,
    },
    /// One image.
    Image(ImageInfo),
    /// A build's result.
    Built {
        /// The new image's id.
        id: String,
        /// The build's output.
        log: String,
    },
    /// A new container.
    Created {
        /// Its id.
        id: String,
    },
    /// A new image from a commit.
    Committed {
        /// Its id.
        id: String,
    },
    /// A command's result.
    Exec {
        /// Its exit code.
        exit_code: i64,
        /// stdout and stderr, interleaved.
        output: String,
    },
    /// A container's state.
    Status {
        /// `running`, `exited`, ...; none: no such container.
        state: Option<String>,
    },
    /// A published endpoint.
    Endpoint {
        /// Always 127.0.0.1.
        host: String,
        /// The host port.
        port: u16,
    },
    /// Containers.
    Containers {
        /// The containers.
        containers: Vec<ContainerInfo>,
    },
    /// Text (logs, IP address).
    Text {
        /// The text.
        text: String,
    },
    /// The answer to a request of the machine contract.
    Machine {
        /// The answer.
        answer: MachineResponse,
    },
    /// Done.
    Done,
}

/// A handle on the container backend. Cheap to clone.
#[derive(Clone)]
pub struct ContainerClient(BackendClient<Container>);

// The closures of `expect!` hand back an answer of the wrong kind whole, so that its
// error can show it; it is moved once, on a path that is a bug anyway.
#[allow(clippy::result_large_err)]
impl ContainerClient {
    /// The container backend through the host (inside a plugin).
    pub fn host() -> ContainerClient {
        ContainerClient(BackendClient::host())
    }

    /// Any other transport (the plugin's own tests call its service directly).
    pub fn from_fn(
        f: impl Fn(ContainerRequest) -> BoxFuture<'static, Result<ContainerResponse, BackendError>> + Send + Sync + 'static,
    ) -> ContainerClient {
        ContainerClient(BackendClient::from_fn(f))
    }

    /// Send one raw request.
    pub async fn request(&self, request: ContainerRequest) -> Result<ContainerResponse, BackendError> {
        self.0.request(request).await
    }

    /// The daemon's facts.
    pub async fn info(&self) -> Result<DaemonInfo, BackendError> {
        expect!(self.0, ContainerRequest::Info, ContainerResponse::Info(i) => i)
    }

    /// Every image.
    pub async fn images(&self) -> Result<Vec<ImageInfo>, BackendError> {
        expect!(self.0, ContainerRequest::ImageList, ContainerResponse::Images { images } => images)
    }

    /// One image (NotFound when missing).
    pub async fn image(&self, name: &str) -> Result<ImageInfo, BackendError> {
        expect!(self.0, ContainerRequest::ImageInspect { name: name.into() }, ContainerResponse::Image(i) => i)
    }

    /// Build an image from a Dockerfile; answers its id and the build's output.
    pub async fn build(&self, dockerfile: &str, tag: &str) -> Result<(String, String), BackendError> {
        expect!(self.0, ContainerRequest::ImageBuild { dockerfile: dockerfile.into(), tag: tag.into() },
            ContainerResponse::Built { id, log } => (id, log))
    }

    /// Delete an image.
    pub async fn delete_image(&self, name: &str) -> Result<(), BackendError> {
        expect!(self.0, ContainerRequest::ImageDelete { name: name.into() }, ContainerResponse::Done => ())
    }

    /// Create a container from an image; answers its id.
    pub async fn create(&self, spec: ContainerSpec) -> Result<String, BackendError> {
        expect!(self.0, ContainerRequest::Create { spec }, ContainerResponse::Created { id } => id)
    }

    /// Start a container.
    pub async fn start(&self, id: &str) -> Result<(), BackendError> {
        expect!(self.0, ContainerRequest::Start { id: id.into() }, ContainerResponse::Done => ())
    }

    /// Stop a container and wait until it no longer runs.
    pub async fn stop(&self, id: &str, force: bool) -> Result<(), BackendError> {
        expect!(self.0, ContainerRequest::Stop { id: id.into(), force }, ContainerResponse::Done => ())
    }

    /// Remove a container.
    pub async fn remove(&self, id: &str) -> Result<(), BackendError> {
        expect!(self.0, ContainerRequest::Remove { id: id.into() }, ContainerResponse::Done => ())
    }

    /// Commit a container as a new image; answers the image's id.
    pub async fn commit(&self, id: &str, image: &str) -> Result<String, BackendError> {
        expect!(self.0, ContainerRequest::Commit { id: id.into(), image: image.into() }, ContainerResponse::Committed { id } => id)
    }

    /// Run a command in a container; answers (exit code, output).
    pub async fn exec(&self, id: &str, cmd: Vec<String>) -> Result<(i64, String), BackendError> {
        expect!(self.0, ContainerRequest::Exec { id: id.into(), cmd }, ContainerResponse::Exec { exit_code, output } => (exit_code, output))
    }

    /// A container's state (none: gone).
    pub async fn status(&self, id: &str) -> Result<Option<String>, BackendError> {
        expect!(self.0, ContainerRequest::Status { id: id.into() }, ContainerResponse::Status { state } => state)
    }

    /// The 127.0.0.1 port a running container's VNC port is published on.
    pub async fn vnc_endpoint(&self, id: &str, port: u16) -> Result<(String, u16), BackendError> {
        expect!(self.0, ContainerRequest::VncEndpoint { id: id.into(), port }, ContainerResponse::Endpoint { host, port } => (host, port))
    }

    /// Containers.
    pub async fn list(&self, all: bool, stats: bool) -> Result<Vec<ContainerInfo>, BackendError> {
        expect!(self.0, ContainerRequest::List { all, stats }, ContainerResponse::Containers { containers } => containers)
    }

    /// A container's output.
    pub async fn logs(&self, id: &str) -> Result<String, BackendError> {
        expect!(self.0, ContainerRequest::Logs { id: id.into() }, ContainerResponse::Text { text } => text)
    }

    /// A container's IP address.
    pub async fn ip(&self, id: &str) -> Result<String, BackendError> {
        expect!(self.0, ContainerRequest::Ip { id: id.into() }, ContainerResponse::Text { text } => text)
    }
}
