//! An existing database keeps its rows through an upgrade: a database created by the
//! first release (migration 1 only) and filled the way that release wrote its rows is
//! opened by the current one, which migrates it; every row must read back through the
//! typed client as it was written. Run against SQLite, MariaDB and PostgreSQL.

mod common;

use common::*;
use daas_common::{
    model::*,
    protocols::{DbRequest, DbResponse},
};
use daas_plugin_api::abi::BackendErrorKind;
use daas_plugin_db::{migration::Migrator, secrets::Secrets, Store};
use sea_orm::{
    sea_query::{Alias, Expr, ExprTrait, Query},
    ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, Value as SqlValue,
};
use sea_orm_migration::MigratorTrait;
use serde_json::{json, Value};

/// The columns of `daas_objects` as migration 1 created them, in its order. Spelled out
/// rather than taken from the current entity: the point is the old shape.
const V1_COLUMNS: &[&str] = &[
    "id",
    "id_user",
    "id_owner",
    "id_proxmox",
    "id_docker",
    "object_type",
    "object_mode",
    "object_mode_extended",
    "object_state",
    "object_tasks",
    "object_apps",
    "object_target",
    "object_storage",
    "os_wine",
    "os_type",
    "hw_cpus",
    "hw_memory",
    "hw_disksize",
    "os_username",
    "os_password",
    "os_installer",
    "ceph_public",
    "ceph_shared",
    "ceph_user",
    "vnc_port_system",
    "vnc_port_instance",
    "vnc_username",
    "vnc_password",
    "viewer_contype",
    "viewer_resolution",
    "viewer_resize",
    "viewer_scale",
    "viewer_dpi",
    "viewer_colors",
    "viewer_force_lossless",
    "extra_args",
    "created_at",
    "updated_at",
];

fn at(s: &str) -> Timestamp {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&chrono::Utc)
}

/// Objects as the first release stored them: every phase of the seed, secrets that are
/// not the defaults (with characters that need care), nested and non-ASCII JSON.
fn objects() -> Vec<DaasObject> {
    vec![
        DaasObject {
            id: "7d3c1b9e-4f0a-4c55-9d2e-1a6b8f0c2e11".into(),
            id_user: "ubuntu-22.04-base".into(),
            id_owner: 0,
            id_proxmox: 100,
            object_type: "vm".into(),
            object_mode: "baseimage".into(),
            object_mode_extended: "finalize".into(),
            object_state: "stopped".into(),
            object_storage: "ceph-rbd".into(),
            os_type: "linux".into(),
            hw_cpus: 4,
            hw_memory: 8 * 1024 * 1024 * 1024,
            hw_disksize: 64 * 1024 * 1024 * 1024,
            os_username: "daas".into(),
            os_password: Some("Wq7#p!x9\"'\\;--".into()),
            os_installer: "preseed=http://10.0.0.2/ubuntu.cfg".into(),
            vnc_port_system: 5900,
            vnc_password: Some("vnc-Ä€✓".into()),
            created_at: at("2026-11-01T08:15:30.123456Z"),
            updated_at: at("2026-11-02T09:00:00Z"),
            ..Default::default()
        },
        DaasObject {
            id: "0f8e2a44-6c1d-4b7e-a3f9-5e2d7c9b1a08".into(),
            id_user: "office suite".into(),
            id_owner: 7,
            id_docker: "sha256:4b6f0c0b0f0d2f6a8c2e1e9d7b5a3c1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b".into(),
            object_type: "container".into(),
            object_mode: "app".into(),
            object_mode_extended: "configinteractive".into(),
            object_state: "running: 2 instances".into(),
            object_tasks: vec![json!({"task": "install", "args": ["--quiet", "-y"]}), json!({"task": "snapshot", "retain": 3})],
            object_apps: vec![json!("libreoffice"), json!({"name": "thunderbird", "version": "115.3"})],
            object_target: json!({"cmd": "libreoffice", "args": ["--calc", "Übersicht.ods"], "env": {"LANG": "de_DE.UTF-8"}}),
            os_wine: false,
            os_type: "linux".into(),
            hw_cpus: 2,
            hw_memory: 2 * 1024 * 1024 * 1024,
            ceph_public: false,
            ceph_user: true,
            vnc_port_instance: 5901,
            vnc_username: "alice".into(),
            vnc_password: Some("s3cr3t".into()),
            viewer_contype: "instvnc".into(),
            viewer_resolution: "1920x1080".into(),
            viewer_resize: "scale".into(),
            viewer_scale: "none".into(),
            viewer_dpi: 144,
            viewer_colors: 24,
            viewer_force_lossless: true,
            extra_args: "--shm-size=1g".into(),
            created_at: at("2026-11-20T23:59:59.999999Z"),
            updated_at: at("2026-11-21T00:00:01.5Z"),
            ..Default::default()
        },
        DaasObject {
            id: "c41a9b37-2e8d-4f61-b0a5-9d3e7f1c6b24".into(),
            id_user: "Windows 11 Notepad++".into(),
            id_owner: 8,
            id_proxmox: 103,
            object_type: "vm".into(),
            object_mode: "environment".into(),
            object_mode_extended: "configauto".into(),
            object_state: "creating".into(),
            object_tasks: vec![json!({"task": "install", "file": "npp.8.6.Installer.x64.exe"})],
            object_target: json!({"cmd": "C:\\Program Files\\Notepad++\\notepad++.exe", "args": []}),
            os_wine: true,
            os_type: "windows".into(),
            hw_cpus: 8,
            hw_memory: 16 * 1024 * 1024 * 1024,
            hw_disksize: 128 * 1024 * 1024 * 1024,
            os_username: "Administrator".into(),
            os_password: Some(String::new()),
            ceph_shared: false,
            vnc_port_system: -1,
            created_at: at("2026-10-05T12:00:00Z"),
            updated_at: at("2026-10-05T12:00:00Z"),
            ..Default::default()
        },
        // The seed's defaults, as a freshly created object.
        DaasObject {
            id: "5b0e7c2d-9a14-4e3f-8c6b-2d1f0a9e8b73".into(),
            created_at: at("2026-11-22T06:00:00Z"),
            updated_at: at("2026-11-22T06:00:00Z"),
            ..Default::default()
        },
    ]
}

/// An object as a migration-1 row: JSON fields as text, secrets sealed, one value per
/// column of [`V1_COLUMNS`].
fn v1_row(o: &DaasObject, secrets: &Secrets) -> Vec<(&'static str, SqlValue)> {
    let Value::Object(fields) = serde_json::to_value(o).unwrap() else { unreachable!() };
    V1_COLUMNS
        .iter()
        .map(|&col| {
            let v = match (col, &fields[col]) {
                ("object_tasks" | "object_apps" | "object_target", json) => SqlValue::String(Some(json.to_string())),
                ("os_password" | "vnc_password", Value::String(plain)) => SqlValue::String(Some(secrets.seal(plain))),
                ("created_at", _) => SqlValue::ChronoDateTimeUtc(Some(o.created_at)),
                ("updated_at", _) => SqlValue::ChronoDateTimeUtc(Some(o.updated_at)),
                (_, Value::String(s)) => SqlValue::String(Some(s.clone())),
                (_, Value::Bool(b)) => SqlValue::Bool(Some(*b)),
                (_, Value::Number(n)) => SqlValue::BigInt(Some(n.as_i64().unwrap())),
                (col, other) => panic!("{col} = {other}: not a migration-1 column type"),
            };
            (col, v)
        })
        .collect()
}

/// A database at migration 1, filled with [`objects`] as raw rows; answers each row's
/// sealed secrets and timestamps as stored (the first release's `daas_objects` keeps
/// whole seconds on MariaDB, a `TIMESTAMP`; the upgrade must keep what is there).
async fn first_release(conn: &DatabaseConnection, secrets: &Secrets, kind: &str) -> Vec<(DaasObject, Vec<String>)> {
    Migrator::up(conn, Some(1)).await.unwrap_or_else(|e| panic!("{kind}: migration 1: {e}"));
    let applied: Vec<String> = Migrator::get_applied_migrations(conn).await.unwrap().iter().map(|m| m.name().to_string()).collect();
    assert_eq!(applied, ["m20261122_000001_daas_objects"], "{kind}: the database is at migration 1");
    let mut stored = Vec::new();
    for o in objects() {
        let row = v1_row(&o, secrets);
        let insert = Query::insert()
            .into_table(Alias::new("daas_objects"))
            .columns(row.iter().map(|(c, _)| Alias::new(*c)))
            .values_panic(row.into_iter().map(|(_, v)| Expr::val(v)))
            .to_owned();
        conn.execute(&insert).await.unwrap_or_else(|e| panic!("{kind}: insert {}: {e}", o.id));
        let (sealed, times) = raw_row(conn, &o.id).await;
        let mut expected = o.clone();
        (expected.created_at, expected.updated_at) = times;
        for (t, written) in [(expected.created_at, o.created_at), (expected.updated_at, o.updated_at)] {
            assert!((t - written).num_milliseconds().abs() < 1000, "{kind}: {t} stored for {written}");
        }
        stored.push((expected, sealed));
    }
    stored
}

/// A row's sealed secrets and its timestamps, read without the entity.
async fn raw_row(conn: &DatabaseConnection, id: &str) -> (Vec<String>, (Timestamp, Timestamp)) {
    let select = Query::select()
        .columns(["os_password", "vnc_password", "created_at", "updated_at"].map(Alias::new))
        .from(Alias::new("daas_objects"))
        .and_where(Expr::col(Alias::new("id")).eq(id))
        .to_owned();
    let row = conn.query_one(&select).await.unwrap().unwrap();
    let sealed = ["os_password", "vnc_password"].map(|c| row.try_get::<String>("", c).unwrap()).to_vec();
    let times = (row.try_get("", "created_at").unwrap(), row.try_get("", "updated_at").unwrap());
    (sealed, times)
}

/// MariaDB: the type and fractional digits of daas_objects' time columns.
async fn conn_column_types(conn: &DatabaseConnection) -> Vec<(String, String, i64)> {
    let rows = conn
        .query_all_raw(Statement::from_string(
            DbBackend::MySql,
            "SELECT COLUMN_NAME, DATA_TYPE, DATETIME_PRECISION FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'daas_objects' AND COLUMN_NAME IN ('created_at', 'updated_at') \
             ORDER BY COLUMN_NAME",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| (r.try_get_by_index(0).unwrap(), r.try_get_by_index(1).unwrap(), r.try_get_by_index::<u64>(2).unwrap() as i64))
        .collect()
}

async fn upgrade(kind: &str) {
    let Some((file, dir, admin)) = fresh_named(kind, "daas_up").await else { return };
    let (url, _, _) = daas_plugin_db::database::url(&file.db, dir.path()).unwrap();
    let old = Database::connect(url).await.unwrap_or_else(|e| panic!("{kind}: {e}"));
    let secrets = Secrets::from_config(KEY, false).unwrap();
    let stored = first_release(&old, &secrets, kind).await;
    old.close().await.unwrap();

    // The current release opens it: migrates to the latest, then serves the old rows.
    let store = Store::open(&file, dir.path()).await.unwrap_or_else(|e| panic!("{kind}: upgrade: {e}"));
    let db = store.client();
    match db.request(DbRequest::Status).await.unwrap() {
        DbResponse::Status { applied, pending, .. } => {
            let all: Vec<String> = Migrator::migrations().iter().map(|m| m.name().to_string()).collect();
            assert_eq!(applied, all, "{kind}: from migration 1 to the latest");
            assert!(pending.is_empty(), "{kind}: {pending:?}");
        }
        other => panic!("{other:?}"),
    }
    if kind == "mariadb" {
        // Migration 3: the old table's times keep microseconds and go past 2038 now.
        let columns = conn_column_types(&store.tables.db).await;
        assert_eq!(columns, [("created_at".to_string(), "datetime".to_string(), 6), ("updated_at".into(), "datetime".into(), 6)]);
    }
    for (expected, sealed) in &stored {
        let back = db.get::<DaasObject>(&expected.id).await.unwrap().unwrap_or_else(|| panic!("{kind}: {} is gone", expected.id));
        assert_eq!(&back, expected, "{kind}: every field of {} survives the upgrade, secrets decrypted", expected.id);
        assert_eq!(back.deleted_at, None, "{kind}: old rows are not in the trash");
        assert_eq!(&raw_row(&store.tables.db, &expected.id).await.0, sealed, "{kind}: the sealed secrets are left as they were");
    }
    let ids = |v: Vec<DaasObject>| v.into_iter().map(|o| o.id).collect::<Vec<_>>();
    let (shared, mine, windows, plain) = (&stored[0].0, &stored[1].0, &stored[2].0, &stored[3].0);
    assert_eq!(db.object_by_proxmox_id(103).await.unwrap().as_ref(), Some(windows), "{kind}");
    assert_eq!(db.object_by_docker_id(&mine.id_docker).await.unwrap().as_ref(), Some(mine), "{kind}");
    let mut available = ids(db.objects_available(7).await.unwrap());
    available.sort();
    let mut want = vec![shared.id.clone(), mine.id.clone(), plain.id.clone()];
    want.sort();
    assert_eq!(available, want, "{kind}: owner 7 sees its object and the shared ones");
    assert_eq!(db.suggest_vmid().await.unwrap(), 101, "{kind}: the old objects' VM ids count");

    // The old rows work with what migration 2 added: rows of new tables refer to them,
    // the trash takes them and gives them back.
    let env = db
        .insert(&Environment {
            id_object: mine.id.clone(),
            name: "calc".into(),
            state: "ready".into(),
            env_target: json!({"cmd": "localc"}),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{kind}: {e:?}"));
    assert_eq!(db.environments_by_object(&mine.id).await.unwrap(), std::slice::from_ref(&env), "{kind}");
    let inst = db
        .insert(&Instance {
            id_owner: 7,
            id_app: mine.id.clone(),
            id_env: Some(env.id.clone()),
            host: "10.0.0.9".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(db.instance_by_object(&mine.id).await.unwrap(), Some(inst), "{kind}");
    let user = db.insert(&User { name: "alice".into(), email: "alice@example.org".into(), ..Default::default() }).await.unwrap();
    assert_eq!(db.user_by_name("alice").await.unwrap(), Some(user), "{kind}");
    let mut updated = mine.clone();
    updated.object_state = "stopped".into();
    db.update(&updated).await.unwrap();
    let back = db.get::<DaasObject>(&mine.id).await.unwrap().unwrap();
    assert_eq!((back.object_state.as_str(), back.created_at, back.vnc_password.as_deref()), ("stopped", mine.created_at, Some("s3cr3t")));
    db.delete::<DaasObject>(&plain.id).await.unwrap();
    assert_eq!(db.get::<DaasObject>(&plain.id).await.unwrap(), None, "{kind}: an old row goes to the trash");
    assert_eq!(db.delete::<DaasObject>(&plain.id).await.unwrap_err().kind, BackendErrorKind::NotFound);
    store.tables.restore::<daas_plugin_db::tables::Objects>(&Value::String(plain.id.clone())).await.unwrap();
    assert_eq!(db.get::<DaasObject>(&plain.id).await.unwrap().as_ref(), Some(plain), "{kind}: and comes back from it unchanged");

    store.tables.db.clone().close().await.unwrap();
    drop_db(admin).await;
}

on_every_database!(upgrade);
