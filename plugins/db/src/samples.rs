//! Demo rows (seed `SampleRegistry`, `Database.load_demo_apps`): limits, files, objects,
//! environments and applications for a site that sets `[db] include_samples = true`.
//! Each kind is loaded when its `[samples] persist_*` flag is set (limits always).
//! Loading is idempotent: a row whose id exists (even in the trash) is left alone.
//!
//! The rows the seed gives its `shared_owner` are shared (owner 0); those it gives its
//! `default_owner` belong to the administrator of `admin_credentials`, or are shared on a
//! site without one: a user id written in a configuration file would hand them to
//! whichever user is created with that id.

use daas_common::{
    config::SamplesSection,
    model::{Application, DaasObject, Environment, File, RessourceInfo},
    protocols::{DbClient, Row},
};
use daas_plugin_api::{
    abi::{BackendError, BackendErrorKind},
    identity::{GLOBAL_OWNER, SHARED_OWNER},
};
use serde_json::json;

use crate::Store;

const GIB: i64 = 1024 * 1024 * 1024;
const MIB: i64 = 1024 * 1024;

/// How many rows of each kind a load added.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Rows added.
    pub added: usize,
    /// Rows that existed already.
    pub existing: usize,
}

async fn add<R: Row>(db: &DbClient, row: R, loaded: &mut Loaded) -> Result<(), BackendError> {
    match db.insert(&row).await {
        Ok(_) => loaded.added += 1,
        Err(e) if e.kind == BackendErrorKind::Conflict => loaded.existing += 1,
        Err(e) => return Err(e),
    }
    Ok(())
}

fn limits(owner: i64) -> Vec<RessourceInfo> {
    let base =
        RessourceInfo { vm_max: 2, container_max: 4, obj_max: 10, cpu_max: 8, mem_max: 16 * GIB, dsk_max: 200 * GIB, ..Default::default() };
    let mut rows = vec![RessourceInfo { id_owner: GLOBAL_OWNER, ..base.clone() }];
    // Nobody logs in as the shared owner: its limits would never apply.
    if owner != SHARED_OWNER {
        rows.push(RessourceInfo { id_owner: owner, ..base });
    }
    rows
}

fn files() -> Vec<File> {
    let file = |id: &str, os: &str, name: &str, remote: &str| File {
        id: id.into(),
        id_owner: SHARED_OWNER,
        name: name.into(),
        version: "1.2.3".into(),
        os_type: os.into(),
        localpath: format!("data/shared/{SHARED_OWNER}/{id}.file"),
        remotepath: remote.into(),
        filesize: 79,
        ..Default::default()
    };
    vec![
        file("win10DummyFile", "win10", "testfile.bat", "C:/Users/root"),
        file("win11DummyFile", "win11", "testfile.bat", "C:/Users/root"),
        file("deb12DummyFile", "l26", "testfile.bash", "/root"),
        file("thunderbirdFile", "l26", "thunderbird.exe", "/root/shared/.wine64/drive_c"),
    ]
}

fn objects(s: &SamplesSection, owner: i64) -> Vec<DaasObject> {
    let resolution = if s.default_resolution.is_empty() { "1280x800".to_string() } else { s.default_resolution.clone() };
    let object = |id: &str, kind: &str, os: &str, owner: i64| DaasObject {
        id: id.into(),
        id_user: id.into(),
        id_owner: owner,
        object_type: kind.into(),
        object_mode: "baseimage".into(),
        object_mode_extended: "finalize".into(),
        object_state: "stopped".into(),
        os_type: os.into(),
        hw_cpus: 2,
        hw_memory: 2 * GIB,
        hw_disksize: 20 * GIB,
        viewer_resolution: resolution.clone(),
        ..Default::default()
    };
    vec![
        // The shared app the apps page starts at once (an administrator's: its image as
        // it is, with its target command) ...
        DaasObject {
            id_docker: "daas/desktop:latest".into(),
            object_target: json!({"cmd": "xterm"}),
            object_mode: "app".into(),
            object_mode_extended: String::new(),
            object_state: "ready".into(),
            ..object("demo-desktop", "container", "l26", SHARED_OWNER)
        },
        // ... and the same image as a base image that users derive their environments
        // from (POST /api/v1/phases/objects/demo-desktop-base/transitions).
        DaasObject {
            id_docker: "daas/desktop:latest".into(),
            object_target: json!({"cmd": "xterm"}),
            object_state: "ready".into(),
            ..object("demo-desktop-base", "container", "l26", SHARED_OWNER)
        },
        DaasObject { id_docker: "daas/busybox:latest".into(), ..object("demo-busybox", "container", "l26", owner) },
        // A VM: the guest image's template (vm.toml's `daas-guest`, built by
        // scripts/vm-guest-image) as a base image users derive from, and as a shared app
        // that boots it with a line on its console.
        DaasObject {
            id_proxmox: 100,
            id_docker: "daas-guest".into(),
            object_state: "ready".into(),
            hw_cpus: 1,
            hw_memory: 256 * MIB,
            hw_disksize: 0,
            ..object("demo-debian-vm", "vm", "l26", SHARED_OWNER)
        },
        DaasObject {
            id_proxmox: 101,
            id_docker: "daas-guest".into(),
            object_target: json!({"cmd": "echo 'the demo VM app started' > /dev/tty1"}),
            object_mode: "app".into(),
            object_mode_extended: String::new(),
            object_state: "ready".into(),
            hw_cpus: 1,
            hw_memory: 256 * MIB,
            hw_disksize: 0,
            ..object("demo-vm-desktop", "vm", "l26", SHARED_OWNER)
        },
    ]
}

fn environments() -> Vec<Environment> {
    vec![Environment {
        id: "demo-desktop-env".into(),
        id_object: "demo-desktop".into(),
        name: "office".into(),
        state: "ready".into(),
        env_apps: vec![json!("thunderbird")],
        env_target: json!({"cmd": "thunderbird"}),
        ..Default::default()
    }]
}

fn applications() -> Vec<Application> {
    vec![Application {
        id: "demo-thunderbird".into(),
        id_owner: SHARED_OWNER,
        name: "thunderbird".into(),
        version: "1.2.3".into(),
        id_file: Some("thunderbirdFile".into()),
        id_template: Some("demo-debian-vm".into()),
        os_type: "l26".into(),
        installer: "/root/shared/.wine64/drive_c/thunderbird.exe".into(),
        installer_args: "/S".into(),
        installer_type: "wine".into(),
        target: "thunderbird".into(),
        ..Default::default()
    }]
}

/// Load the samples `[samples]` asks for. `admin` is the id of the administrator of
/// `admin_credentials`: the owner of the rows the seed gives its default owner (shared
/// without one).
pub async fn load(store: &Store, s: &SamplesSection, admin: Option<i64>) -> Result<Loaded, BackendError> {
    let owner = admin.unwrap_or(SHARED_OWNER);
    for (key, given) in [("default_owner", s.default_owner), ("shared_owner", s.shared_owner)] {
        if given != SHARED_OWNER && given != owner {
            tracing::warn!(
                given,
                owner,
                "[samples] {key} is not used: the samples are shared (owner 0) or belong to the administrator of \
                 admin_credentials; remove {key} from db.toml"
            );
        }
    }
    let db = store.client();
    let mut loaded = Loaded::default();
    for row in limits(owner) {
        add(&db, row, &mut loaded).await?;
    }
    if s.persist_files {
        for row in files() {
            add(&db, row, &mut loaded).await?;
        }
    }
    if s.persist_objects {
        for row in objects(s, owner) {
            add(&db, row, &mut loaded).await?;
        }
        for row in environments() {
            add(&db, row, &mut loaded).await?;
        }
    }
    if s.persist_apps && s.persist_files && s.persist_objects {
        for row in applications() {
            add(&db, row, &mut loaded).await?;
        }
    }
    tracing::info!(added = loaded.added, existing = loaded.existing, "samples loaded");
    Ok(loaded)
}
