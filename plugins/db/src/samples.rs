//! Demo rows (seed `SampleRegistry`, `Database.load_demo_apps`): limits, files, objects,
//! environments and applications for a site that sets `[db] include_samples = true`.
//! Each kind is loaded when its `[samples] persist_*` flag is set (limits always).
//! Loading is idempotent: a row whose id exists (even in the trash) is left alone.

use daas_common::{
    config::SamplesSection,
    model::{Application, DaasObject, Environment, File, RessourceInfo},
    protocols::{DbClient, Row},
};
use daas_plugin_api::abi::{BackendError, BackendErrorKind};
use serde_json::json;

use crate::Store;

const GIB: i64 = 1024 * 1024 * 1024;

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

fn limits(s: &SamplesSection) -> Vec<RessourceInfo> {
    let base =
        RessourceInfo { vm_max: 2, container_max: 4, obj_max: 10, cpu_max: 8, mem_max: 16 * GIB, dsk_max: 200 * GIB, ..Default::default() };
    vec![RessourceInfo { id_owner: -1, ..base.clone() }, RessourceInfo { id_owner: s.default_owner, ..base }]
}

fn files(s: &SamplesSection) -> Vec<File> {
    let file = |id: &str, os: &str, name: &str, remote: &str| File {
        id: id.into(),
        id_owner: s.shared_owner,
        name: name.into(),
        version: "1.2.3".into(),
        os_type: os.into(),
        localpath: format!("data/shared/{}/{id}.file", s.shared_owner),
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

fn objects(s: &SamplesSection) -> Vec<DaasObject> {
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
        DaasObject {
            id_docker: "daas/desktop:latest".into(),
            object_target: json!({"cmd": "xterm"}),
            ..object("demo-desktop", "container", "l26", s.shared_owner)
        },
        DaasObject { id_docker: "daas/busybox:latest".into(), ..object("demo-busybox", "container", "l26", s.default_owner) },
        DaasObject { id_proxmox: 100, os_wine: true, ..object("demo-debian-vm", "vm", "l26", s.shared_owner) },
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

fn applications(s: &SamplesSection) -> Vec<Application> {
    vec![Application {
        id: "demo-thunderbird".into(),
        id_owner: s.shared_owner,
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

/// Load the samples `[samples]` asks for.
pub async fn load(store: &Store, s: &SamplesSection) -> Result<Loaded, BackendError> {
    let db = store.client();
    let mut loaded = Loaded::default();
    for row in limits(s) {
        add(&db, row, &mut loaded).await?;
    }
    if s.persist_files {
        for row in files(s) {
            add(&db, row, &mut loaded).await?;
        }
    }
    if s.persist_objects {
        for row in objects(s) {
            add(&db, row, &mut loaded).await?;
        }
        for row in environments() {
            add(&db, row, &mut loaded).await?;
        }
    }
    if s.persist_apps && s.persist_files && s.persist_objects {
        for row in applications(s) {
            add(&db, row, &mut loaded).await?;
        }
    }
    tracing::info!(added = loaded.added, existing = loaded.existing, "samples loaded");
    Ok(loaded)
}
