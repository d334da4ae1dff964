//! `container.toml`.

use super::*;

file! {
    /// `container.toml`: the Docker Engine backend.
    ContainerFile {
        /// `[container_request]`
        container_request: ContainerRequestSection,
        /// `[service_containers]`
        service_containers: ServiceContainersSection,
    }
}

/// `[container_request]` (seed `DockerRequestConfig`, plus the timeouts and the
/// reconcile policy of this implementation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct ContainerRequestSection {
    /// Engine address: a socket path (`unix:///run/podman/podman.sock`) or tcp URL
    /// (`tcp://127.0.0.1:2375`). Empty: `unix:///run/podman/podman.sock`.
    pub host: String,
    /// Wait this long after starting service containers, in milliseconds.
    pub wait_services_ms: u64,
    /// Log every engine request (operation and target) at info level.
    pub logrequest: bool,
    /// Timeout of one engine call, in milliseconds (an image build gets ten times as
    /// long). A call that takes longer fails with 503.
    pub timeout_ms: u64,
    /// How long an app start waits for the container's VNC server to greet with RFB,
    /// in milliseconds, before it gives up, removes the container and answers 503.
    pub vnc_ready_ms: u64,
    /// Value of the `daas.site` label on every container this site starts: reconcile
    /// only looks at containers with this label, so two sites can share an engine.
    pub site_label: String,
    /// On start-up, remove containers labelled with this site that belong to no
    /// instance (otherwise they are only reported in the log).
    pub remove_orphans: bool,
}

impl Default for ContainerRequestSection {
    fn default() -> Self {
        ContainerRequestSection {
            host: String::new(),
            wait_services_ms: 0,
            logrequest: false,
            timeout_ms: 30_000,
            vnc_ready_ms: 20_000,
            site_label: "daas".into(),
            remove_orphans: false,
        }
    }
}

file! {
    /// `[service_containers]` (seed `DockerServicesConfig`).
    ServiceContainersSection {
        /// Containers started with the plugin and stopped with it
        /// (`[[service_containers.service_containers]]`).
        service_containers: Vec<ServiceContainer>,
    }
}

/// One service container (seed `ContainerConfigDocker`): started when the container
/// plugin starts (an old container of the same name is removed first), stopped when it
/// stops.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceContainer {
    /// Image (name:tag or id); it must exist in the engine (nothing is pulled).
    pub image: String,
    /// Container name.
    pub name: String,
    /// Run privileged.
    pub privileged: bool,
    /// Published ports, `[ip:]host:container[/proto]` or `container` (a free port on
    /// 127.0.0.1); a port without an address is published on 127.0.0.1 only.
    pub bind_ports: Vec<String>,
    /// Volumes, `source:destination[:ro|rw]`.
    pub volumes: Vec<String>,
    /// CPU cores (0: no limit).
    pub cpus: i64,
    /// Memory in bytes (0: no limit).
    pub memory: i64,
}
