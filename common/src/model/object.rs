use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use super::{input::request_body, Timestamp};

/// An application configuration, container or VM that can be launched: a base image,
/// environment, deployment or app depending on its phase (seed `DaasObject`, with its
/// defaults), as the API answers it.
///
/// `os_password` and `vnc_password` are secrets: stored encrypted, never answered by
/// any route (they are not in this schema); the db backend hands them out only to the
/// plugins that connect, in these Rust fields. Given as none to the backend on creation
/// they take the seed's defaults; on an update, none keeps them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
#[serde(default)]
#[oai(example)]
pub struct DaasObject {
    /// Unique identifier (a UUID the server made, or an administrator's choice).
    pub id: String,
    /// An arbitrary specification given by the user.
    pub id_user: String,
    /// The owner's user id (0: shared with everyone, -1: global).
    pub id_owner: i64,
    /// The VM id in Proxmox (0: none).
    pub id_proxmox: i64,
    /// The container or image id in Docker (empty: none).
    pub id_docker: String,
    /// `vm` or `container` (empty: not decided yet).
    pub object_type: String,
    /// The object it was derived from by the lifecycle (null: none; set by the server
    /// only, so that nobody can claim another user's object as a parent).
    #[oai(nullable)]
    pub id_parent: Option<String>,
    /// The phase: baseimage, environment, deployment, app.
    pub object_mode: String,
    /// The sub-phase: create, configauto, configinteractive, finalize.
    pub object_mode_extended: String,
    /// The state, free text.
    pub object_state: String,
    /// Tasks to run (JSON list).
    pub object_tasks: Vec<serde_json::Value>,
    /// Installed apps (JSON list).
    pub object_apps: Vec<serde_json::Value>,
    /// The target command (JSON object).
    pub object_target: serde_json::Value,
    /// Storage the object lives on.
    pub object_storage: String,
    /// Windows programs run with Wine.
    pub os_wine: bool,
    /// `linux`, `windows`, ...
    pub os_type: String,
    /// CPU cores.
    pub hw_cpus: i64,
    /// Memory in bytes.
    pub hw_memory: i64,
    /// Disk size in bytes.
    pub hw_disksize: i64,
    /// The OS user.
    pub os_username: String,
    /// The OS user's password (secret: never answered).
    #[oai(skip)]
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
    pub vnc_port_system: i64,
    /// The port used for connections initiated against the instance.
    pub vnc_port_instance: i64,
    /// The VNC user.
    pub vnc_username: String,
    /// The VNC password (secret: never answered).
    #[oai(skip)]
    pub vnc_password: Option<String>,
    /// Connection protocol of the viewer.
    pub viewer_contype: String,
    /// Default resolution.
    pub viewer_resolution: String,
    /// Resize method.
    pub viewer_resize: String,
    /// Scale method.
    pub viewer_scale: String,
    /// Viewer dpi.
    pub viewer_dpi: i64,
    /// Viewer colour depth.
    pub viewer_colors: i64,
    /// Force lossless compression where possible.
    pub viewer_force_lossless: bool,
    /// Optional arguments.
    pub extra_args: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// When it was moved to the trash (null: not deleted).
    #[oai(nullable)]
    pub deleted_at: Option<Timestamp>,
}

request_body! {
    /// A new object: every field is optional and takes the default it names when left
    /// out. The server makes the id (only administrators may choose one) and the times;
    /// a user's new objects are theirs (only administrators create them for others, or
    /// shared with `id_owner` 0). Unknown fields, `null` and values of the wrong JSON type
    /// are refused with a 400 naming the field.
    #[oai(example)]
    pub struct NewDaasObject {
        /// Administrators only: the id (default: a UUID the server makes).
        #[oai(validator(max_length = 128, pattern = "^[A-Za-z0-9_-]*$"))]
        pub id: Option<String>,
        /// An arbitrary specification (default empty).
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub id_user: Option<String>,
        /// The owner's user id (default: yours). Only administrators give another owner
        /// (0: shared, -1: global); an administrator's object without one is shared.
        #[oai(validator(minimum(value = "-1")))]
        pub id_owner: Option<i64>,
        /// The VM id in Proxmox (default 0: none).
        #[oai(validator(minimum(value = "0"), maximum(value = "999999999")))]
        pub id_proxmox: Option<i64>,
        /// The container or image id in Docker (default empty: none).
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub id_docker: Option<String>,
        /// `vm` or `container` (default empty: not decided yet).
        #[oai(validator(max_length = 128, pattern = "^(vm|container)?$"))]
        pub object_type: Option<String>,
        /// The phase: baseimage, environment, deployment, app (default empty).
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub object_mode: Option<String>,
        /// The sub-phase: create, configauto, configinteractive, finalize (default empty).
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub object_mode_extended: Option<String>,
        /// The state, free text (default empty).
        #[oai(validator(max_length = 1024, pattern = "^[^\\x00]*$"))]
        pub object_state: Option<String>,
        /// Tasks to run (default empty).
        pub object_tasks: Option<Vec<serde_json::Value>>,
        /// Installed apps (default empty).
        pub object_apps: Option<Vec<serde_json::Value>>,
        /// The target command (default `{}`).
        pub object_target: Option<BTreeMap<String, serde_json::Value>>,
        /// Storage the object lives on (default empty).
        #[oai(validator(max_length = 1024, pattern = "^[^\\x00]*$"))]
        pub object_storage: Option<String>,
        /// Windows programs run with Wine (default false).
        pub os_wine: Option<bool>,
        /// `linux`, `windows`, ... (default empty).
        #[oai(validator(max_length = 32, pattern = "^[^\\x00]*$"))]
        pub os_type: Option<String>,
        /// CPU cores (default 0).
        #[oai(validator(minimum(value = "0")))]
        pub hw_cpus: Option<i64>,
        /// Memory in bytes (default 0).
        #[oai(validator(minimum(value = "0")))]
        pub hw_memory: Option<i64>,
        /// Disk size in bytes (default 0).
        #[oai(validator(minimum(value = "0")))]
        pub hw_disksize: Option<i64>,
        /// The OS user (default `root`).
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub os_username: Option<String>,
        /// The OS user's password (secret: stored encrypted, never answered; default the
        /// seed's).
        #[oai(write_only, validator(pattern = "^[^\\x00]*$"))]
        pub os_password: Option<String>,
        /// Installer arguments (default empty).
        #[oai(validator(pattern = "^[^\\x00]*$"))]
        pub os_installer: Option<String>,
        /// Public cephfs share (default true).
        pub ceph_public: Option<bool>,
        /// Shared cephfs share (default true).
        pub ceph_shared: Option<bool>,
        /// User cephfs share (default true).
        pub ceph_user: Option<bool>,
        /// The port used for default VNC connections (default -1: none).
        #[oai(validator(minimum(value = "-1"), maximum(value = "65535")))]
        pub vnc_port_system: Option<i64>,
        /// The port used for connections initiated against the instance (default 5900).
        #[oai(validator(minimum(value = "0"), maximum(value = "65535")))]
        pub vnc_port_instance: Option<i64>,
        /// The VNC user (default `user1234`).
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub vnc_username: Option<String>,
        /// The VNC password (secret: stored encrypted, never answered; default the seed's).
        #[oai(write_only, validator(pattern = "^[^\\x00]*$"))]
        pub vnc_password: Option<String>,
        /// Connection protocol of the viewer (default `sysvnc`).
        #[oai(validator(max_length = 32, pattern = "^[^\\x00]*$"))]
        pub viewer_contype: Option<String>,
        /// Default resolution (default `1280x800`).
        #[oai(validator(max_length = 32, pattern = "^[^\\x00]*$"))]
        pub viewer_resolution: Option<String>,
        /// Resize method (default `both`).
        #[oai(validator(max_length = 32, pattern = "^[^\\x00]*$"))]
        pub viewer_resize: Option<String>,
        /// Scale method (default `both`).
        #[oai(validator(max_length = 32, pattern = "^[^\\x00]*$"))]
        pub viewer_scale: Option<String>,
        /// Viewer dpi (default 96).
        #[oai(validator(minimum(value = "0")))]
        pub viewer_dpi: Option<i64>,
        /// Viewer colour depth (default 32).
        #[oai(validator(minimum(value = "0"), maximum(value = "32")))]
        pub viewer_colors: Option<i64>,
        /// Force lossless compression where possible (default false).
        pub viewer_force_lossless: Option<bool>,
        /// Optional arguments (default empty).
        #[oai(validator(max_length = 1024, pattern = "^[^\\x00]*$"))]
        pub extra_args: Option<String>,
    }
}

request_body! {
    /// Changes to an object: only the fields given change; the others, secrets
    /// included, keep their values. The path names the object (its id never changes).
    /// Only administrators change `id_owner`. Unknown fields, `null` and values of the
    /// wrong JSON type are refused with a 400 naming the field. (The defaults named below
    /// are a new object's.)
    #[oai(example)]
    pub struct DaasObjectPatch {
        /// An arbitrary specification (default empty).
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub id_user: Option<String>,
        /// Administrators only: the new owner (0: shared, -1: global).
        #[oai(validator(minimum(value = "-1")))]
        pub id_owner: Option<i64>,
        /// The VM id in Proxmox (default 0: none).
        #[oai(validator(minimum(value = "0"), maximum(value = "999999999")))]
        pub id_proxmox: Option<i64>,
        /// The container or image id in Docker (default empty: none).
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub id_docker: Option<String>,
        /// `vm` or `container` (default empty: not decided yet).
        #[oai(validator(max_length = 128, pattern = "^(vm|container)?$"))]
        pub object_type: Option<String>,
        /// The phase: baseimage, environment, deployment, app (default empty).
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub object_mode: Option<String>,
        /// The sub-phase: create, configauto, configinteractive, finalize (default empty).
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub object_mode_extended: Option<String>,
        /// The state, free text (default empty).
        #[oai(validator(max_length = 1024, pattern = "^[^\\x00]*$"))]
        pub object_state: Option<String>,
        /// Tasks to run (default empty).
        pub object_tasks: Option<Vec<serde_json::Value>>,
        /// Installed apps (default empty).
        pub object_apps: Option<Vec<serde_json::Value>>,
        /// The target command (default `{}`).
        pub object_target: Option<BTreeMap<String, serde_json::Value>>,
        /// Storage the object lives on (default empty).
        #[oai(validator(max_length = 1024, pattern = "^[^\\x00]*$"))]
        pub object_storage: Option<String>,
        /// Windows programs run with Wine (default false).
        pub os_wine: Option<bool>,
        /// `linux`, `windows`, ... (default empty).
        #[oai(validator(max_length = 32, pattern = "^[^\\x00]*$"))]
        pub os_type: Option<String>,
        /// CPU cores (default 0).
        #[oai(validator(minimum(value = "0")))]
        pub hw_cpus: Option<i64>,
        /// Memory in bytes (default 0).
        #[oai(validator(minimum(value = "0")))]
        pub hw_memory: Option<i64>,
        /// Disk size in bytes (default 0).
        #[oai(validator(minimum(value = "0")))]
        pub hw_disksize: Option<i64>,
        /// The OS user (default `root`).
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub os_username: Option<String>,
        /// The OS user's password (secret: stored encrypted, never answered; default the
        /// seed's).
        #[oai(write_only, validator(pattern = "^[^\\x00]*$"))]
        pub os_password: Option<String>,
        /// Installer arguments (default empty).
        #[oai(validator(pattern = "^[^\\x00]*$"))]
        pub os_installer: Option<String>,
        /// Public cephfs share (default true).
        pub ceph_public: Option<bool>,
        /// Shared cephfs share (default true).
        pub ceph_shared: Option<bool>,
        /// User cephfs share (default true).
        pub ceph_user: Option<bool>,
        /// The port used for default VNC connections (default -1: none).
        #[oai(validator(minimum(value = "-1"), maximum(value = "65535")))]
        pub vnc_port_system: Option<i64>,
        /// The port used for connections initiated against the instance (default 5900).
        #[oai(validator(minimum(value = "0"), maximum(value = "65535")))]
        pub vnc_port_instance: Option<i64>,
        /// The VNC user (default `user1234`).
        #[oai(validator(max_length = 128, pattern = "^[^\\x00]*$"))]
        pub vnc_username: Option<String>,
        /// The VNC password (secret: stored encrypted, never answered; default the seed's).
        #[oai(write_only, validator(pattern = "^[^\\x00]*$"))]
        pub vnc_password: Option<String>,
        /// Connection protocol of the viewer (default `sysvnc`).
        #[oai(validator(max_length = 32, pattern = "^[^\\x00]*$"))]
        pub viewer_contype: Option<String>,
        /// Default resolution (default `1280x800`).
        #[oai(validator(max_length = 32, pattern = "^[^\\x00]*$"))]
        pub viewer_resolution: Option<String>,
        /// Resize method (default `both`).
        #[oai(validator(max_length = 32, pattern = "^[^\\x00]*$"))]
        pub viewer_resize: Option<String>,
        /// Scale method (default `both`).
        #[oai(validator(max_length = 32, pattern = "^[^\\x00]*$"))]
        pub viewer_scale: Option<String>,
        /// Viewer dpi (default 96).
        #[oai(validator(minimum(value = "0")))]
        pub viewer_dpi: Option<i64>,
        /// Viewer colour depth (default 32).
        #[oai(validator(minimum(value = "0"), maximum(value = "32")))]
        pub viewer_colors: Option<i64>,
        /// Force lossless compression where possible (default false).
        pub viewer_force_lossless: Option<bool>,
        /// Optional arguments (default empty).
        #[oai(validator(max_length = 1024, pattern = "^[^\\x00]*$"))]
        pub extra_args: Option<String>,
    }
}

impl DaasObject {
    /// Whether the object is finished, so that it starts or is derived from: the
    /// lifecycle's objects once their Finalize is done (`object_state` `ready`); base
    /// images and what an administrator made by hand (a shared object without a state)
    /// as they are. The phases plugin decides with it, and the apps page shows a Start
    /// button by it.
    pub fn is_ready(&self) -> bool {
        let by_hand = self.object_state.is_empty() && (self.id_owner <= 0 || self.object_mode == "baseimage");
        by_hand || self.object_state == "ready"
    }

    /// Whether a machine backend runs objects of its `object_type` (`container`, `vm`).
    pub fn has_machine_type(&self) -> bool {
        matches!(self.object_type.as_str(), "container" | "vm")
    }

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
            id_parent: None,
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

impl poem_openapi::types::Example for DaasObject {
    fn example() -> Self {
        let at = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default();
        DaasObject {
            id: "0b6e7f5c-9f3e-4a4e-8d8e-0c1f2a3b4c5d".into(),
            id_owner: 7,
            object_type: "container".into(),
            object_mode: "app".into(),
            object_state: "stopped".into(),
            os_type: "linux".into(),
            hw_cpus: 2,
            hw_memory: 2 << 30,
            id_docker: "daas/office:latest".into(),
            os_password: None,
            vnc_password: None,
            created_at: at,
            updated_at: at,
            ..DaasObject::default()
        }
    }
}

impl poem_openapi::types::Example for NewDaasObject {
    fn example() -> Self {
        NewDaasObject {
            id_user: Some("office suite".into()),
            id_docker: Some("daas/office:latest".into()),
            object_type: Some("container".into()),
            object_mode: Some("app".into()),
            os_type: Some("linux".into()),
            hw_cpus: Some(2),
            hw_memory: Some(2 << 30),
            vnc_password: Some("a VNC secret".into()),
            viewer_resolution: Some("1920x1080".into()),
            ..NewDaasObject::default()
        }
    }
}

impl poem_openapi::types::Example for DaasObjectPatch {
    fn example() -> Self {
        DaasObjectPatch { object_state: Some("running".into()), hw_cpus: Some(4), ..DaasObjectPatch::default() }
    }
}
