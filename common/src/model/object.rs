use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use super::Timestamp;

/// An application configuration, container or VM that can be launched: a base image,
/// environment, deployment or app depending on its phase (seed `DaasObject`, with its
/// defaults).
///
/// `os_password` and `vnc_password` are secrets: stored encrypted, never returned by
/// any API; the db backend hands them out only to the plugins that connect. Given as
/// none on creation they take the seed's defaults; on an update, none keeps them.
///
/// As a request body, unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(default, deny_unknown_fields)]
pub struct DaasObject {
    /// Unique identifier (a UUID).
    #[oai(validator(max_length = 128, pattern = "^[A-Za-z0-9_-]*$"))]
    pub id: String,
    /// An arbitrary specification given by the user.
    #[oai(validator(max_length = 128))]
    pub id_user: String,
    /// The owner's user id (0: shared with everyone).
    #[oai(validator(minimum(value = "-1")))]
    pub id_owner: i64,
    /// The VM id in Proxmox (0: none).
    #[oai(validator(minimum(value = "0"), maximum(value = "999999999")))]
    pub id_proxmox: i64,
    /// The container or image id in Docker (empty: none).
    #[oai(validator(max_length = 128))]
    pub id_docker: String,
    /// `vm` or `container`.
    #[oai(validator(max_length = 128))]
    pub object_type: String,
    /// The phase: baseimage, environment, deployment, app.
    #[oai(validator(max_length = 128))]
    pub object_mode: String,
    /// The sub-phase: create, configauto, configinteractive, finalize.
    #[oai(validator(max_length = 128))]
    pub object_mode_extended: String,
    /// The state, free text.
    #[oai(validator(max_length = 1024))]
    pub object_state: String,
    /// Tasks to run (JSON list).
    pub object_tasks: Vec<serde_json::Value>,
    /// Installed apps (JSON list).
    pub object_apps: Vec<serde_json::Value>,
    /// The target command (JSON object).
    pub object_target: serde_json::Value,
    /// Storage the object lives on.
    #[oai(validator(max_length = 1024))]
    pub object_storage: String,
    /// Windows programs run with Wine.
    pub os_wine: bool,
    /// `linux`, `windows`, ...
    #[oai(validator(max_length = 32))]
    pub os_type: String,
    /// CPU cores.
    #[oai(validator(minimum(value = "0")))]
    pub hw_cpus: i64,
    /// Memory in bytes.
    #[oai(validator(minimum(value = "0")))]
    pub hw_memory: i64,
    /// Disk size in bytes.
    #[oai(validator(minimum(value = "0")))]
    pub hw_disksize: i64,
    /// The OS user.
    #[oai(validator(max_length = 128))]
    pub os_username: String,
    /// The OS user's password (secret).
    #[oai(write_only, default)]
    pub os_password: Option<String>,
    /// Installer arguments.
    pub os_installer: String,
    /// Public cephfs share.
    pub ceph_public: bool,
    /// Shared cephfs share.
    pub ceph_shared: bool,
    /// User cephfs share.
    pub ceph_user: bool,
    /// The port used for default VNC connections (-1: none).
    #[oai(validator(minimum(value = "-1"), maximum(value = "65535")))]
    pub vnc_port_system: i64,
    /// The port used for connections initiated against the instance.
    #[oai(validator(minimum(value = "0"), maximum(value = "65535")))]
    pub vnc_port_instance: i64,
    /// The VNC user.
    #[oai(validator(max_length = 128))]
    pub vnc_username: String,
    /// The VNC password (secret).
    #[oai(write_only, default)]
    pub vnc_password: Option<String>,
    /// Connection protocol of the viewer.
    #[oai(validator(max_length = 32))]
    pub viewer_contype: String,
    /// Default resolution.
    #[oai(validator(max_length = 32))]
    pub viewer_resolution: String,
    /// Resize method.
    #[oai(validator(max_length = 32))]
    pub viewer_resize: String,
    /// Scale method.
    #[oai(validator(max_length = 32))]
    pub viewer_scale: String,
    /// Viewer dpi.
    #[oai(validator(minimum(value = "0")))]
    pub viewer_dpi: i64,
    /// Viewer colour depth.
    #[oai(validator(minimum(value = "0"), maximum(value = "32")))]
    pub viewer_colors: i64,
    /// Force lossless compression where possible.
    pub viewer_force_lossless: bool,
    /// Optional arguments.
    #[oai(validator(max_length = 1024))]
    pub extra_args: String,
    /// When it was created.
    #[oai(read_only)]
    pub created_at: Timestamp,
    /// When it last changed.
    #[oai(read_only)]
    pub updated_at: Timestamp,
    /// When it was moved to the trash (none: not deleted).
    #[oai(read_only)]
    pub deleted_at: Option<Timestamp>,
}

impl DaasObject {
    /// The seed's default OS password.
    pub const DEFAULT_OS_PASSWORD: &'static str = "root";
    /// The seed's default VNC password.
    pub const DEFAULT_VNC_PASSWORD: &'static str = "user1234";
}

impl Default for DaasObject {
    fn default() -> Self {
        DaasObject {
            id: String::new(),
            id_user: String::new(),
            id_owner: 0,
            id_proxmox: 0,
            id_docker: String::new(),
            object_type: String::new(),
            object_mode: String::new(),
            object_mode_extended: String::new(),
            object_state: String::new(),
            object_tasks: Vec::new(),
            object_apps: Vec::new(),
            object_target: serde_json::json!({}),
            object_storage: String::new(),
            os_wine: false,
            os_type: String::new(),
            hw_cpus: 0,
            hw_memory: 0,
            hw_disksize: 0,
            os_username: "root".into(),
            os_password: Some(Self::DEFAULT_OS_PASSWORD.into()),
            os_installer: String::new(),
            ceph_public: true,
            ceph_shared: true,
            ceph_user: true,
            vnc_port_system: -1,
            vnc_port_instance: 5900,
            vnc_username: "user1234".into(),
            vnc_password: Some(Self::DEFAULT_VNC_PASSWORD.into()),
            viewer_contype: "sysvnc".into(),
            viewer_resolution: "1280x800".into(),
            viewer_resize: "both".into(),
            viewer_scale: "both".into(),
            viewer_dpi: 96,
            viewer_colors: 32,
            viewer_force_lossless: false,
            extra_args: String::new(),
            created_at: Timestamp::default(),
            updated_at: Timestamp::default(),
            deleted_at: None,
        }
    }
}
