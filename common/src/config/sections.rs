//! The sections of every config file (seed `ConfigSections`) and their keys.
//!
//! Every key has a default, so a missing file or section means "defaults". Sections whose
//! plugin is not implemented yet have no keys: any key in them is refused as unknown until
//! that plugin's issue defines them.

use std::path::PathBuf;

use daas_plugin_api::{LayerName, PluginName};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

macro_rules! file {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(default)]
        #[schemars(deny_unknown_fields)]
        pub struct $name { $($(#[$fm])* pub $field: $ty),* }
    };
}

macro_rules! reserved_section {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        ///
        /// Reserved: its plugin has not defined keys yet, so every key is refused.
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
        #[serde(default)]
        #[schemars(deny_unknown_fields)]
        pub struct $name {}
    };
}

// ---------------------------------------------------------------- extensions.toml

file! {
    /// `extensions.toml`: what the host loads and how it serves.
    ExtensionsFile {
        /// `[extensions]`
        extensions: ExtensionsSection,
    }
}

/// `[extensions]`: the host's own settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct ExtensionsSection {
    /// Address the server listens on (`--listen` overrides it). Keep it on loopback
    /// unless a TLS-terminating proxy is in front.
    pub listen: String,
    /// Directory the plugin libraries are found in, relative to the site directory
    /// unless absolute. A plugin's library is `<library_dir>/libdaas_plugin_<name>.so`
    /// unless its entry names `library`.
    pub library_dir: PathBuf,
    /// Layers, in the order they run around every plugin route (first = outermost).
    /// Each must be provided by a loaded plugin.
    pub layers: Vec<LayerName>,
    /// How long a graceful shutdown waits for in-flight requests, in milliseconds.
    pub shutdown_grace_ms: u64,
    /// Largest request body accepted, in bytes (larger: 413, before any of it is read
    /// when the request says its length).
    pub max_body_bytes: usize,
    /// How long a request's head may take to arrive, in milliseconds: a new connection's
    /// first request counted from the connection, later ones from their first byte.
    /// Beyond it the connection is closed. 0: no limit.
    pub header_read_timeout_ms: u64,
    /// How long a kept-alive connection may wait for its next request, and a request body
    /// for its next bytes, in milliseconds: then the connection is closed (a body that
    /// stopped is answered 408 first). 0: no limit.
    pub idle_timeout_ms: u64,
    /// Connections one client address may have open at once (WebSockets included); one
    /// more is answered 429 and closed. Behind a proxy every client has the proxy's
    /// address: raise it there, or 0 for no limit.
    pub max_connections_per_client: usize,
    /// The plugins to load, in this order (`[[extensions.plugin]]`).
    pub plugin: Vec<PluginEntry>,
}

impl Default for ExtensionsSection {
    fn default() -> Self {
        ExtensionsSection {
            listen: "127.0.0.1:8080".into(),
            library_dir: PathBuf::from("../../target/debug"),
            layers: Vec::new(),
            shutdown_grace_ms: 10_000,
            max_body_bytes: 16 * 1024 * 1024,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            max_connections_per_client: 256,
            plugin: Vec::new(),
        }
    }
}

/// `[[extensions.plugin]]`: one plugin to load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct PluginEntry {
    /// The plugin's name: one of the seed's `PluginName` values. Required.
    pub name: PluginName,
    /// Path of the library, relative to the site directory unless absolute. Default:
    /// `<library_dir>/libdaas_plugin_<name>.so`.
    #[serde(default)]
    pub library: Option<PathBuf>,
    /// When true, a library that is missing or fails to load is skipped with a warning
    /// instead of stopping the server.
    #[serde(default)]
    pub optional: bool,
    /// When false, the entry is ignored.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Free-form settings for plugins without a config file of their own (testbackend,
    /// admin, phases, instances); the plugin validates them at start.
    #[serde(default)]
    pub settings: serde_json::Map<String, serde_json::Value>,
}

fn yes() -> bool {
    true
}

// ---------------------------------------------------------------- logging.toml

file! {
    /// `logging.toml`: the host's log output.
    LoggingFile {
        /// `[log]`
        log: LogSection,
    }
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct LogSection {
    /// The most verbose level written: error, warn, info, debug, trace. `RUST_LOG`
    /// overrides it with a full filter directive.
    pub level: LogLevelName,
    /// `human` (default) or `json` (one object per line).
    pub format: LogFormat,
    /// Log a backtrace with every panic. Off, a panic (in a plugin or the host) is one
    /// line with its error id and where it happened; `RUST_BACKTRACE` does not turn it
    /// on (`DAAS__LOGGING__LOG__BACKTRACES=true` does).
    pub backtraces: bool,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection { level: LogLevelName::Info, format: LogFormat::Human, backtraces: false }
    }
}

/// A log level name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum LogLevelName {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// A log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

// ---------------------------------------------------------------- info.toml

file! {
    /// `info.toml`: facts about the site, served by the info plugin.
    InfoFile {
        /// `[sys]`
        sys: SysSection,
    }
}

file! {
    /// `[sys]`
    SysSection {
        /// The site's name, shown in the UI and in `/api/v1/info/system`.
        site_name: String,
        /// A free description of the site.
        description: String,
    }
}

// ---------------------------------------------------------------- db.toml

file! {
    /// `db.toml`: the database (seed `DatabaseConfig`) and demo samples.
    DbFile {
        /// `[db]`
        db: DbSection,
        /// `[samples]`
        samples: SamplesSection,
    }
}

file! {
    /// `[db]` (seed `DatabaseConfig`).
    DbSection {
        /// `sqlite`, `mariadb` or `postgres`.
        db_type: String,
        /// File path of an SQLite database, relative to the site directory unless
        /// absolute (empty: `<data_path>/<db_name>.sqlite`; `:memory:` for a throwaway).
        database: String,
        /// Directory for data files, relative to the site directory unless absolute.
        data_path: String,
        /// Database name.
        db_name: String,
        /// Database user (MariaDB, PostgreSQL).
        db_user: String,
        /// Database password (MariaDB, PostgreSQL).
        db_pass: String,
        /// Database host.
        db_host: String,
        /// Database port.
        db_port: u16,
        /// Log every SQL statement.
        enable_echo: bool,
        /// `user:password` of the bootstrap administrator.
        admin_credentials: Option<String>,
        /// Load the `[samples]` demo data.
        include_samples: bool,
        /// The key that encrypts secrets at rest (VNC, OS and connection passwords): 32
        /// bytes, base64. Prefer the environment: `DAAS__DB__DB__SECRET_KEY`.
        secret_key: String,
        /// Use the built-in, publicly known demo key when `secret_key` is empty. Only for
        /// the demo site: without a key the db plugin refuses to start otherwise.
        allow_demo_key: bool,
        /// Most connections in the pool (0: 10, or 1 for SQLite in memory).
        pool_max: u32,
        /// How long SQLite waits for a lock before failing, in milliseconds (0: 5000).
        busy_timeout_ms: u64,
        /// When the schema migrations run: `auto` (at start-up) or `manual` (the server
        /// refuses to start while any is pending; apply them with `daas db migrate`).
        migrate: MigrateMode,
    }
}

/// `[db] migrate`: when the db plugin applies its schema migrations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MigrateMode {
    /// At start-up.
    #[default]
    Auto,
    /// Only by `daas db migrate`: the server refuses to start while any is pending.
    Manual,
    /// Neither applied nor refused: used by `daas db status` and `daas db migrate`, not for
    /// servers (a server on an unmigrated database fails its queries).
    Never,
}

file! {
    /// `[samples]` (seed `SampleRegistryConfig`).
    SamplesSection {
        /// Owner id of shared objects.
        shared_owner: i64,
        /// Name of the shared owner.
        shared_owner_name: String,
        /// Owner id of test objects.
        test_owner: i64,
        /// Name of the test owner.
        test_owner_name: String,
        /// Default owner id.
        default_owner: i64,
        /// Default owner name.
        default_owner_name: String,
        /// Default viewer resolution, e.g. `1280x800`.
        default_resolution: String,
        /// Persist sample files.
        persist_files: bool,
        /// Persist sample applications.
        persist_apps: bool,
        /// Persist sample objects.
        persist_objects: bool,
        /// Persist the sample session.
        persist_session: bool,
    }
}

// ---------------------------------------------------------------- auth.toml

file! {
    /// `auth.toml`: authentication (seed `QwebAuthenticatorConfig`).
    AuthFile {
        /// `[auth]`
        auth: AuthSection,
        /// `[local]`
        local: AuthLocalSection,
        /// `[remote]`
        remote: AuthRemoteSection,
    }
}

/// `[auth]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
#[schemars(deny_unknown_fields)]
pub struct AuthSection {
    /// Verify the user of every request.
    pub enable_auth_user: bool,
    /// Verify the privilege of every endpoint (seed 000 §3.3.4: user, static group and
    /// group accept/deny lists; administrators and public routes pass). Off by default,
    /// so that a site without privileges configured keeps working.
    pub enable_auth_endpoint: bool,
    /// How long the static groups' privileges are cached, in seconds (0: 60); changes
    /// through `/api/v1/auth` take effect at once.
    pub static_groups_ttl_seconds: u64,
    /// How long the caller a session or access token resolves to, and a user's own
    /// privilege entries and group memberships, are remembered, in seconds (0: not at
    /// all: every request reads them). Never longer than the session or token lasts;
    /// changes through `/api/v1/auth` take effect at once, others (`daas import`, SQL)
    /// after this long at the latest.
    pub cache_seconds: u64,
    /// Accept bearer tokens.
    pub enable_auth_token: bool,
    /// Verify ownership of entities.
    pub enable_entity_verification: bool,
    /// Log ownership verification.
    pub enable_log_entity_verification: bool,
    /// Limit the calls per caller (apicrud `RATELIMIT_ENABLE`): over the limit, 429
    /// with `Retry-After`.
    pub ratelimit_enable: bool,
    /// Calls per interval and caller (0: 600).
    pub ratelimit_limit: u64,
    /// The interval, in seconds (apicrud `RATELIMIT_INTERVAL`; 0: 60).
    pub ratelimit_interval_seconds: u64,
}

impl Default for AuthSection {
    fn default() -> Self {
        AuthSection {
            enable_auth_user: false,
            enable_auth_endpoint: false,
            static_groups_ttl_seconds: 0,
            // Long enough that a client's burst of calls (a page and its API calls)
            // resolves its caller once; short enough that a change made around the
            // auth plugin shows soon.
            cache_seconds: 5,
            enable_auth_token: false,
            enable_entity_verification: false,
            enable_log_entity_verification: false,
            ratelimit_enable: false,
            ratelimit_limit: 0,
            ratelimit_interval_seconds: 0,
        }
    }
}

file! {
    /// `[local]`
    AuthLocalSection {
        /// The user id of the local default user.
        default_userid: i64,
        /// The name of the local default user.
        default_username: String,
        /// How long a browser session lasts without use, in minutes (0: 480).
        session_ttl_minutes: u64,
        /// How long a bearer token from `POST /api/v1/auth/token` lasts, in minutes (0: 60).
        token_ttl_minutes: u64,
        /// Failed logins in a row, from one client address for one user name, before
        /// that address must wait to try that name again (0: 5). The wait starts at one
        /// second and doubles with each further failure. Other addresses, and the user
        /// from elsewhere, are not held back.
        lockout_attempts: u32,
        /// The longest such wait, in minutes (0: 15).
        lockout_minutes: u64,
        /// Threads that check passwords (argon2id, 19 MiB of memory each), off the
        /// request threads (0: half the CPUs, at least one).
        password_workers: u64,
        /// Password checks that may wait for a thread (0: 8 per thread); past that a
        /// login answers 503 with `Retry-After`.
        password_queue: u64,
        /// Mark cookies `Secure` (set when a TLS-terminating proxy is in front).
        secure_cookies: bool,
    }
}

file! {
    /// `[remote]` (seed `AuthenticatorConfig`).
    AuthRemoteSection {
        /// Base URL of the remote authentication service.
        url: String,
        /// OAuth2 client id.
        clientid: String,
        /// OAuth2 scope.
        scope: String,
        /// Service user name.
        username: String,
        /// Service user password.
        password: String,
        /// Verify endpoint permissions remotely.
        verify_endpoints: bool,
        /// Verify users remotely.
        remote_verification: bool,
        /// Log requests.
        logrequests: bool,
        /// Timeout of one request to the service, in milliseconds (0: 5000).
        timeout_ms: u64,
        /// How long a verified user token or endpoint permission is trusted without
        /// asking again, in seconds (0: 60).
        cache_seconds: u64,
    }
}

// ---------------------------------------------------------------- container.toml

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

// ---------------------------------------------------------------- vm.toml

file! {
    /// `vm.toml`: the VM backends.
    VmFile {
        /// `[vm_api]`
        vm_api: VmApiSection,
        /// `[vm_rest]`
        vm_rest: VmRestSection,
        /// `[vm_http]`
        vm_http: HttpAdapterSection,
    }
}

reserved_section!(
    /// `[vm_api]`
    VmApiSection
);
reserved_section!(
    /// `[vm_rest]`
    VmRestSection
);

file! {
    /// An HTTP client's settings (seed `HttpAdapterConfig`).
    HttpAdapterSection {
        /// Verify TLS certificates.
        verify_tls: bool,
        /// Log.
        logging: bool,
        /// Log requests.
        logrequests: bool,
        /// Log results.
        logresults: bool,
    }
}

// ---------------------------------------------------------------- node.toml

file! {
    /// `node.toml`: the node's local services.
    NodeFile {
        /// `[host_dns]`
        host_dns: HostDnsSection,
        /// `[host_ssh]`
        host_ssh: SshAdapterSection,
    }
}

reserved_section!(
    /// `[host_dns]`
    HostDnsSection
);

file! {
    /// An SSH client's settings (seed `SshAdapterConfig`).
    SshAdapterSection {
        /// SSH user.
        sshuser: String,
        /// SSH host.
        sshhost: String,
        /// SSH port.
        sshport: u16,
        /// SSH options.
        sshopt: i64,
        /// Connect timeout in seconds.
        sshopt_timeout: u64,
        /// `StrictHostKeyChecking` value.
        sshopt_strictcheck: String,
        /// `NoHostAuthenticationForLocalhost` value.
        sshopt_nohostauth: String,
        /// Log commands.
        logcmd: bool,
        /// Log results.
        logresult: bool,
    }
}

// ---------------------------------------------------------------- the rest

file! {
    /// `proxy.toml`: the remote desktop proxy.
    ProxyFile {
        /// `[viewer]`
        viewer: ViewerSection,
        /// `[guacd]`
        guacd: GuacdSection,
    }
}

file! {
    /// `[viewer]`: the viewer pages and which path a connection takes.
    ViewerSection {
        /// The web root with `templates/` and `static/` (the viewer's browser assets,
        /// built by `scripts/webroot`), relative to the site directory unless absolute
        /// (empty: `../../webroot`, the workspace's, from a site under `config/`).
        webroot: String,
        /// The path of connections whose object says `viewer_contype = "sysvnc"` (the
        /// seed's default) or nothing: `guacamole` (through guacd) or `novnc` (the
        /// direct WebSocket relay to the VNC port). Empty: `guacamole`.
        default_path: String,
        /// Seconds the viewer waits before reconnecting a dropped session (0: 3;
        /// negative: never reconnects).
        reconnect_seconds: i64,
        /// Seconds without traffic after which the tunnel sends a `nop` each way
        /// (0: 5, guacd's own interval).
        keepalive_seconds: u64,
    }
}

file! {
    /// `[guacd]`: the Guacamole daemon the Guacamole path connects to.
    GuacdSection {
        /// `host:port` of guacd (empty: `127.0.0.1:4822`).
        address: String,
        /// How long connecting and the handshake may take, in milliseconds (0: 15000,
        /// guacd's own handshake timeout).
        timeout_ms: u64,
    }
}

file! {
    /// `files.toml`: file storage.
    FilesFile {
        /// `[filestore]`
        filestore: FilestoreSection,
    }
}
reserved_section!(
    /// `[filestore]`
    FilestoreSection
);

file! {
    /// `ceph.toml`: CephFS shares.
    CephFile {
        /// `[cephstore]` (with `[cephstore.daasfs]`)
        cephstore: CephstoreSection,
    }
}

file! {
    /// `[cephstore]`
    CephstoreSection {
        /// `[cephstore.daasfs]`
        daasfs: CephDaasfsSection,
    }
}
reserved_section!(
    /// `[cephstore.daasfs]`
    CephDaasfsSection
);

file! {
    /// `limits.toml`: per-owner resource limits.
    LimitsFile {
        /// `[limits]`
        limits: LimitsSection,
    }
}
reserved_section!(
    /// `[limits]`
    LimitsSection
);

file! {
    /// `messaging.toml`: messaging with instances.
    MessagingFile {
        /// `[instances]`
        instances: InstancesSection,
        /// `[inst_queue]`
        inst_queue: InstQueueSection,
        /// `[inst_ssh]`
        inst_ssh: SshAdapterSection,
    }
}
reserved_section!(
    /// `[instances]`
    InstancesSection
);
reserved_section!(
    /// `[inst_queue]`
    InstQueueSection
);
