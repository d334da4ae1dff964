//! The repositories against every database this machine kind runs: SQLite (always),
//! MariaDB (127.0.0.1:3306, root) and PostgreSQL (127.0.0.1:5432, postgres). Each run
//! works in a database of its own, dropped afterwards. A server that is unreachable is
//! skipped with a line saying so (CI machines of this kind run both).

use daas_common::{
    config::{DbFile, DbSection},
    model::*,
    protocols::{DbRequest, DbResponse},
};
use daas_plugin_api::abi::BackendErrorKind;
use daas_plugin_db::{
    table::{Scope, Sort},
    tables::{Files, Objects},
    Store,
};
use sea_orm::ConnectionTrait;

mod common;
use common::*;

fn object(id: &str, owner: i64) -> DaasObject {
    DaasObject {
        id: id.into(),
        id_owner: owner,
        object_type: "container".into(),
        object_mode: "app".into(),
        object_tasks: vec![serde_json::json!({"task": "install"})],
        object_target: serde_json::json!({"cmd": "xterm"}),
        vnc_password: Some(format!("vnc-secret-{id}")),
        hw_memory: 8 * 1024 * 1024 * 1024,
        ..Default::default()
    }
}

fn at(s: &str) -> Timestamp {
    chrono::DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&chrono::Utc)
}

/// Raw column values, to look at what is really stored.
async fn raw(store: &Store, sql: &str, col: &str) -> Vec<String> {
    let db = &store.tables.db;
    db.query_all_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", col).unwrap())
        .collect()
}

fn kind_of(e: daas_plugin_api::abi::BackendError) -> BackendErrorKind {
    e.kind
}

async fn suite(kind: &str) {
    let Some((file, dir, admin)) = fresh(kind).await else { return };
    let store = Store::open(&file, dir.path()).await.unwrap_or_else(|e| panic!("{kind}: {e}"));
    let db = store.client();

    // Status: migrated, nothing pending.
    match db.request(DbRequest::Status).await.unwrap() {
        DbResponse::Status { db_type, applied, pending } => {
            assert_eq!(db_type, kind);
            assert_eq!(
                applied,
                [
                    "m20261122_000001_daas_objects",
                    "m20261122_000002_product_tables",
                    "m20261125_000003_objects_datetime",
                    "m20261125_000004_roles",
                    "m20261204_000005_tasks"
                ]
            );
            assert!(pending.is_empty());
        }
        other => panic!("{other:?}"),
    }

    // ---- ObjectRepository
    let mut a = object("a", 7);
    a.id_docker = "docker-a".into();
    a.id_proxmox = 100;
    let stored = db.insert(&a).await.unwrap_or_else(|e| panic!("{kind}: {e:?}"));
    assert!(stored.created_at > at("2026-01-01T00:00:00Z"), "{kind}: the server stamps created_at");
    a.created_at = stored.created_at;
    a.updated_at = stored.updated_at;
    assert_eq!(stored, a, "{kind}: insert answers the row as stored");
    assert_eq!(db.get::<DaasObject>("a").await.unwrap().unwrap(), a, "{kind}: round trip of every field");
    assert_eq!(a.viewer_resolution, "1280x800");
    assert_eq!(kind_of(db.insert(&a).await.unwrap_err()), BackendErrorKind::Conflict, "{kind}: duplicate id");
    // Text longer than its column: refused alike on every database, naming the field;
    // multi-byte characters count as one each.
    let long = db.insert(&object(&"x".repeat(129), 7)).await.unwrap_err();
    assert_eq!(
        (long.kind, long.message.as_str()),
        (BackendErrorKind::BadRequest, "`id` of the object is 129 characters long; at most 128 fit"),
        "{kind}"
    );
    let fits = DaasObject { viewer_resolution: "é".repeat(32), ..object("fits", 7) };
    assert_eq!(db.insert(&fits).await.unwrap().viewer_resolution, "é".repeat(32), "{kind}: 32 characters fit in 32");
    db.delete::<DaasObject>("fits").await.unwrap();
    assert_eq!(kind_of(db.delete::<DaasObject>("nope").await.unwrap_err()), BackendErrorKind::NotFound);
    assert!(db.get::<DaasObject>("nope").await.unwrap().is_none());
    // A new object without an id gets a UUID; without secrets the seed's defaults.
    let generated = db.insert(&DaasObject { vnc_password: None, os_password: None, ..object("", 7) }).await.unwrap();
    assert_eq!(generated.id.len(), 36, "{kind}: {generated:?}");
    assert_eq!(generated.vnc_password.as_deref(), Some("user1234"));
    assert_eq!(generated.os_password.as_deref(), Some("root"));

    // Secrets are encrypted at rest.
    let sealed = raw(&store, "SELECT vnc_password FROM daas_objects WHERE id = 'a'", "vnc_password").await;
    assert!(sealed[0].starts_with("enc:v1:") && !sealed[0].contains("vnc-secret-a"), "{kind}: {sealed:?}");

    // Lookups by backend ids; the owner filter includes shared objects (owner 0).
    db.insert(&object("shared", 0)).await.unwrap();
    let mut b = object("b", 8);
    b.id_proxmox = 101;
    let b = db.insert(&b).await.unwrap();
    assert_eq!(db.object_by_docker_id("docker-a").await.unwrap().unwrap().id, "a");
    assert_eq!(db.object_by_proxmox_id(101).await.unwrap().unwrap().id, "b");
    let ids = |v: Vec<DaasObject>| {
        let mut ids: Vec<String> = v.into_iter().map(|o| o.id).collect();
        ids.sort();
        ids
    };
    let seven = ids(db.objects_available(7).await.unwrap());
    assert_eq!(seven.len(), 3, "{kind}: a, the generated one and shared: {seven:?}");
    assert!(!seven.contains(&"b".to_string()), "{kind}: one user's objects never reach another");
    assert_eq!(ids(db.objects_by_owner(8).await.unwrap()), ["b"]);
    assert_eq!(db.suggest_vmid().await.unwrap(), 102, "{kind}: suggest_vmid skips used ids");

    // Update keeps created_at; a secret given as none keeps the stored one.
    a.object_state = "running".into();
    a.vnc_password = None;
    db.update(&a).await.unwrap();
    let back = db.get::<DaasObject>("a").await.unwrap().unwrap();
    assert_eq!(back.object_state, "running");
    assert_eq!(back.created_at, a.created_at);
    assert_eq!(back.vnc_password.as_deref(), Some("vnc-secret-a"), "{kind}: an update without the secret keeps it");
    a.vnc_password = Some("changed".into());
    db.update(&a).await.unwrap();
    assert_eq!(db.get::<DaasObject>("a").await.unwrap().unwrap().vnc_password.as_deref(), Some("changed"));
    assert_eq!(kind_of(db.update(&object("ghost", 1)).await.unwrap_err()), BackendErrorKind::NotFound);

    // ---- EnvironmentRepository
    let env = Environment {
        id_backend: "snap-1".into(),
        id_object: "a".into(),
        name: "office".into(),
        state: "ready".into(),
        env_apps: vec![serde_json::json!("thunderbird")],
        env_target: serde_json::json!({"cmd": "thunderbird"}),
        ..Default::default()
    };
    let env = db.insert(&env).await.unwrap();
    assert_eq!(db.get::<Environment>(&env.id).await.unwrap().unwrap(), env);
    assert_eq!(db.environments_by_object("a").await.unwrap(), std::slice::from_ref(&env));
    assert_eq!(db.environment_by_name("a", "office").await.unwrap().unwrap().id, env.id);
    assert_eq!(db.environment_by_backend_id("snap-1").await.unwrap().unwrap().id, env.id);
    let twin = Environment { id: String::new(), ..env.clone() };
    assert_eq!(kind_of(db.insert(&twin).await.unwrap_err()), BackendErrorKind::Conflict, "{kind}: name unique per object");
    let orphan = Environment { id: String::new(), id_object: "missing".into(), ..env.clone() };
    assert_eq!(kind_of(db.insert(&orphan).await.unwrap_err()), BackendErrorKind::NotFound, "{kind}: unknown object");

    // ---- ConnectionRepository
    let con = GuacamoleConnection {
        user: "user1234".into(),
        password: Some("guac-secret".into()),
        protocol: "vnc".into(),
        hostname: "127.0.0.1".into(),
        port: 5901,
        viewer_url: "/instance/i1".into(),
        viewer_token: "token-1".into(),
        ..Default::default()
    };
    let con = db.insert(&con).await.unwrap();
    assert_eq!(con.password, None, "{kind}: generic answers never carry a connection's password");
    let by_token = db.connection_by_viewer_token("token-1").await.unwrap().unwrap();
    assert_eq!((by_token.id.as_str(), by_token.password.as_deref()), (con.id.as_str(), None));
    assert!(db.connection_by_viewer_token("").await.unwrap().is_none());
    assert_eq!(db.connection_with_secret(&con.id).await.unwrap().unwrap().password.as_deref(), Some("guac-secret"));

    // ---- InstanceRepository
    let inst = Instance {
        id_owner: 7,
        id_app: "a".into(),
        id_env: Some(env.id.clone()),
        id_con: Some(con.id.clone()),
        host: "10.0.0.5".into(),
        container: "c0ffee".into(),
        booted_at: Some(at("2026-11-22T10:00:00.123456Z")),
        ..Default::default()
    };
    let inst = db.insert(&inst).await.unwrap();
    assert_eq!(db.get::<Instance>(&inst.id).await.unwrap().unwrap(), inst, "{kind}: timestamps keep microseconds");
    assert_eq!(db.instance_by_object("a").await.unwrap().unwrap().id, inst.id);
    assert_eq!(db.instance_by_environment(&env.id).await.unwrap().unwrap().id, inst.id);
    assert_eq!(db.instance_by_connection(&con.id).await.unwrap().unwrap().id, inst.id);
    assert_eq!(db.instance_by_address("10.0.0.5").await.unwrap().unwrap().id, inst.id);
    assert_eq!(db.instances_by_owner(7).await.unwrap().len(), 1);
    assert_eq!(db.instances_available(8).await.unwrap().len(), 0);

    // ---- FileRepository, ApplicationRepository
    let f = File { id: "f1".into(), id_owner: 7, name: "setup.exe".into(), filesize: 79, ..Default::default() };
    let f = db.insert(&f).await.unwrap();
    db.insert(&File { id: "f0".into(), id_owner: 0, ..f.clone() }).await.unwrap();
    assert_eq!(db.owned_by::<File>(7).await.unwrap(), std::slice::from_ref(&f));
    assert_eq!(db.available_to::<File>(7).await.unwrap().len(), 2);
    let app = Application {
        id_owner: 7,
        name: "editor".into(),
        id_file: Some("f1".into()),
        id_template: Some("a".into()),
        installer: "setup.exe".into(),
        ..Default::default()
    };
    let app = db.insert(&app).await.unwrap();
    assert_eq!(db.get::<Application>(&app.id).await.unwrap().unwrap(), app);
    let dup = Application { id: String::new(), ..app.clone() };
    assert_eq!(kind_of(db.insert(&dup).await.unwrap_err()), BackendErrorKind::Conflict, "{kind}: create_application raises Exists");

    // ---- LimitRepository: an owner's own limits, else the global ones.
    let global =
        RessourceInfo { id_owner: -1, vm_max: 1, container_max: 2, obj_max: 3, cpu_max: 4, mem_max: 5, dsk_max: 6, deleted_at: None };
    db.insert(&global).await.unwrap();
    db.insert(&RessourceInfo { id_owner: 7, vm_max: 10, ..global.clone() }).await.unwrap();
    assert_eq!(db.limit_for(7).await.unwrap().unwrap().vm_max, 10);
    assert_eq!(db.limit_for(8).await.unwrap().unwrap(), global);

    // ---- users, groups, memberships, privileges, tokens, sessions
    let ann = db
        .insert(&User {
            name: "ann".into(),
            password_hash: Some("$argon2id$v=19$x".into()),
            totp_secret: Some("JBSWY3DP".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let bob = db.insert(&User { name: "bob".into(), ..Default::default() }).await.unwrap();
    assert!(ann.id > 0 && bob.id > ann.id, "{kind}: the database assigns user ids");
    assert_eq!(db.user_by_name("ann").await.unwrap().unwrap(), ann);
    assert_eq!(ann.totp_secret.as_deref(), Some("JBSWY3DP"));
    let sealed = raw(&store, "SELECT totp_secret FROM users WHERE name = 'ann'", "totp_secret").await;
    assert!(sealed[0].starts_with("enc:v1:"), "{kind}: the TOTP secret is encrypted at rest");
    assert_eq!(kind_of(db.insert(&User { name: "ann".into(), ..Default::default() }).await.unwrap_err()), BackendErrorKind::Conflict);
    let staff = db.insert(&Group { name: "staff".into(), is_static: true, ..Default::default() }).await.unwrap();
    db.insert(&Group { name: "other".into(), ..Default::default() }).await.unwrap();
    db.insert(&Membership { id_group: staff.id, id_user: ann.id }).await.unwrap();
    assert_eq!(kind_of(db.insert(&Membership { id_group: staff.id, id_user: ann.id }).await.unwrap_err()), BackendErrorKind::Conflict);
    assert_eq!(db.groups_of(ann.id).await.unwrap(), std::slice::from_ref(&staff));
    assert!(db.groups_of(bob.id).await.unwrap().is_empty());
    let deny = Privilege {
        subject_kind: SubjectKind::Group,
        subject_id: staff.id,
        privilege: "db.list_objects".into(),
        effect: PrivilegeEffect::Deny,
    };
    db.insert(&deny).await.unwrap();
    assert_eq!(db.privileges_of(SubjectKind::Group, staff.id).await.unwrap(), std::slice::from_ref(&deny));
    assert!(db.privileges_of(SubjectKind::User, staff.id).await.unwrap().is_empty());
    db.delete::<Privilege>(serde_json::json!(["group", staff.id, "db.list_objects"])).await.unwrap();
    assert!(db.privileges_of(SubjectKind::Group, staff.id).await.unwrap().is_empty(), "{kind}: composite keys");
    let token = db
        .insert(&AccessToken { id_user: ann.id, description: "ci".into(), secret_hash: Some("h".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(db.get::<AccessToken>(&token.id).await.unwrap().unwrap(), token);
    let session = Session {
        id: "sha256-of-token".into(),
        id_user: ann.id,
        csrf_token: Some("csrf".into()),
        expires_at: at("2099-01-01T00:00:00Z"),
        ..Default::default()
    };
    if kind == "mariadb" {
        // MariaDB cannot take times after 2038 through this driver: refused, never lost.
        let err = db.insert(&session).await.unwrap_err();
        assert!(err.kind == BackendErrorKind::BadRequest && err.message.contains("2038"), "{err:?}");
    } else {
        let stored = db.insert(&session).await.unwrap();
        assert_eq!(db.get::<Session>(&stored.id).await.unwrap().unwrap(), stored, "{kind}: dates past 2038");
        db.delete::<Session>(&stored.id).await.unwrap();
    }
    let session = db.insert(&Session { expires_at: at("2030-01-01T00:00:00Z"), ..session }).await.unwrap();
    assert_eq!(db.get::<Session>("sha256-of-token").await.unwrap().unwrap(), session);

    // ---- tasks, grants, usage, nodes
    let task = db
        .insert(&Task {
            kind: "clone_template".into(),
            id_owner: 7,
            state: TaskState::Failed,
            progress: 40,
            step: "ConfigAuto".into(),
            error: Some("the installer exited with 1".into()),
            output: Some("line 1\nline 2".into()),
            idempotency_key: Some("k-1".into()),
            started_at: Some(chrono::Utc::now()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(db.get::<Task>(&task.id).await.unwrap().unwrap(), task);
    let grant = db
        .insert(&AccessGrant {
            id_app: "a".into(),
            id_user: ann.id,
            allow_home: true,
            volume: Some("/srv/data:/data:ro".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(grant.id.len(), 32, "{kind}: a 32-character mapping id");
    assert_eq!(db.grants_of(ann.id).await.unwrap(), std::slice::from_ref(&grant));
    let bad = AccessGrant { id_app: "b".into(), id_user: bob.id, volume: Some("/srv:/data".into()), ..Default::default() };
    let err = db.insert(&bad).await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::BadRequest, "{kind}: {err:?}");
    assert!(err.message.contains("source:target:ro|rw"), "{err:?}");
    assert_eq!(kind_of(db.insert(&AccessGrant { id: String::new(), ..grant.clone() }).await.unwrap_err()), BackendErrorKind::Conflict);
    let usage = UsageRecord {
        id_owner: 7,
        id_object: "a".into(),
        kind: "container".into(),
        period_start: at("2026-11-22T10:00:00Z"),
        period_end: at("2026-11-22T11:00:00Z"),
        cpu_seconds: 12.5,
        mem_bytes_max: 1 << 30,
        net_bytes: 4096,
        ..Default::default()
    };
    let u1 = db.insert(&usage).await.unwrap();
    let u2 = db.insert(&usage).await.unwrap();
    assert!(u2.id > u1.id && u1.id > 0);
    let node = db
        .insert(&Node {
            authid: "node-1".into(),
            pubkey: "ab12".into(),
            label: "rack 1".into(),
            tags: vec!["gpu".into(), "eu".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(db.get::<Node>(&node.id).await.unwrap().unwrap().tags, ["gpu", "eu"]);
    assert_eq!(
        kind_of(db.insert(&Node { id: String::new(), ..node.clone() }).await.unwrap_err()),
        BackendErrorKind::Conflict,
        "{kind}: unique authid"
    );

    // ---- trash: delete hides, restore brings back, purge removes for good.
    let key = serde_json::json!("b");
    db.delete::<DaasObject>("b").await.unwrap();
    assert!(db.get::<DaasObject>("b").await.unwrap().is_none(), "{kind}: a deleted object is in the trash");
    assert!(db.object_by_proxmox_id(101).await.unwrap().is_none());
    assert_eq!(db.suggest_vmid().await.unwrap(), 102, "{kind}: a trashed VM's id stays taken");
    store.tables.restore::<Objects>(&key).await.unwrap();
    assert_eq!(db.get::<DaasObject>("b").await.unwrap().unwrap(), b);
    assert_eq!(store.tables.purge::<Objects>(&key).await.unwrap_err().kind, BackendErrorKind::NotFound, "{kind}: only the trash is purged");
    db.delete::<DaasObject>("b").await.unwrap();
    store.tables.purge::<Objects>(&key).await.unwrap();
    assert_eq!(store.tables.restore::<Objects>(&key).await.unwrap_err().kind, BackendErrorKind::NotFound);
    // Purging an object removes what belongs to it (the seed's delete-orphan).
    db.delete::<DaasObject>("a").await.unwrap();
    store.tables.purge::<Objects>(&serde_json::json!("a")).await.unwrap();
    assert!(db.get::<Instance>(&inst.id).await.unwrap().is_none(), "{kind}: instances go with their object");
    assert!(db.get::<Environment>(&env.id).await.unwrap().is_none(), "{kind}: environments go with their object");
    assert_eq!(db.get::<Application>(&app.id).await.unwrap().unwrap().id_template, None, "{kind}: applications lose the template");

    // ---- keyset pagination: every row once, in order, whatever the sort.
    for i in 0..23 {
        db.insert(&File { id: format!("p{i:02}"), id_owner: 9, name: format!("n{}", 22 - i), ..Default::default() }).await.unwrap();
    }
    for (column, desc) in [("created_at", true), ("name", false), ("id", true)] {
        let sort = Sort { column: column.into(), desc };
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let cond = sea_orm::Condition::all().add(sea_orm::ColumnTrait::eq(&daas_plugin_db::entity::file::Column::IdOwner, 9));
            let page = store.tables.page::<Files>(cond, Scope::Live, &sort, cursor.as_deref(), 10).await.unwrap();
            assert!(page.rows.len() <= 10);
            seen.extend(page.rows.into_iter().map(|r| r["id"].as_str().unwrap().to_string()));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!((seen.len(), unique.len()), (23, 23), "{kind}: sort {column}: {seen:?}");
        if column == "name" {
            assert_eq!(seen.first().map(String::as_str), Some("p22"), "{kind}: n0 first");
        }
        if column == "id" {
            assert_eq!(seen.first().map(String::as_str), Some("p22"));
        }
    }

    store.tables.db.clone().close().await.unwrap();
    // Reopening an existing database keeps its rows (migrations are idempotent).
    let again = Store::open(&file, dir.path()).await.unwrap();
    assert_eq!(again.client().get::<File>("f1").await.unwrap().unwrap(), f, "{kind}: rows survive a restart");
    again.tables.db.clone().close().await.unwrap();
    drop_db(admin).await;
}

on_every_database!(suite);

#[tokio::test]
async fn a_wrong_secret_key_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = DbFile { db: DbSection { db_type: "sqlite".into(), ..Default::default() }, ..Default::default() };
    let err = Store::open(&file, dir.path()).await.err().unwrap();
    assert!(err.contains("no secret key: set [db] secret_key"), "{err}");
    let file = DbFile { db: DbSection { db_type: "oracle".into(), secret_key: KEY.into(), ..Default::default() }, ..Default::default() };
    let err = Store::open(&file, dir.path()).await.err().unwrap();
    assert!(err.contains("db_type = `oracle` is not supported"), "{err}");
}

/// `[db] migrate`, then export and import (what `daas db`, `daas export` and `daas
/// import` ask of the backend), on one database kind.
async fn transfer_suite(kind: &str) {
    use std::collections::HashMap;

    use daas_common::{config::MigrateMode, protocols::TableName};

    let Some((mut file, dir, admin)) = fresh(kind).await else { return };

    // ---- migrate = never: opens an empty database without touching it; manual refuses.
    file.db.migrate = MigrateMode::Never;
    let store = Store::open(&file, dir.path()).await.unwrap_or_else(|e| panic!("{kind}: {e}"));
    let status = store.client().status().await.unwrap();
    assert_eq!(status.applied, Vec::<String>::new(), "{kind}");
    assert_eq!(status.pending.len(), 5, "{kind}: {status:?}");
    file.db.migrate = MigrateMode::Manual;
    let err = Store::open(&file, dir.path()).await.err().unwrap();
    assert!(
        err.starts_with(
            "5 database migration(s) pending (m20261122_000001_daas_objects, m20261122_000002_product_tables, \
             m20261125_000003_objects_datetime, m20261125_000004_roles, m20261204_000005_tasks): run `daas db migrate --site "
        ) && err.ends_with('`'),
        "{kind}: {err}"
    );
    assert_eq!(store.client().migrate().await.unwrap(), status.pending, "{kind}: answers what it applied");
    assert_eq!(store.client().migrate().await.unwrap(), Vec::<String>::new(), "{kind}: nothing left to apply");
    store.tables.db.clone().close().await.unwrap();
    let store = Store::open(&file, dir.path()).await.unwrap_or_else(|e| panic!("{kind}: manual, nothing pending: {e}"));
    let db = store.client();

    // ---- a database with a row in most tables, a trashed one, and secrets.
    let ann = db.insert(&User { name: "ann".into(), totp_secret: Some("totp-plain".into()), ..Default::default() }).await.unwrap();
    let staff = db.insert(&Group { name: "staff".into(), ..Default::default() }).await.unwrap();
    db.insert(&Membership { id_group: staff.id, id_user: ann.id }).await.unwrap();
    db.insert(&Privilege {
        subject_kind: SubjectKind::User,
        subject_id: ann.id,
        privilege: "db.x".into(),
        effect: PrivilegeEffect::Accept,
    })
    .await
    .unwrap();
    db.insert(&File { id: "f1".into(), id_owner: ann.id, name: "setup.exe".into(), ..Default::default() }).await.unwrap();
    let a = db.insert(&object("a", ann.id)).await.unwrap();
    db.insert(&object("gone", ann.id)).await.unwrap();
    db.delete::<DaasObject>("gone").await.unwrap();
    let env = db.insert(&Environment { id_object: "a".into(), name: "office".into(), ..Default::default() }).await.unwrap();
    let con = db.insert(&GuacamoleConnection { password: Some("guac-plain".into()), ..Default::default() }).await.unwrap();
    db.insert(&Instance { id_app: "a".into(), id_env: Some(env.id.clone()), id_con: Some(con.id.clone()), ..Default::default() })
        .await
        .unwrap();
    db.insert(&AccessGrant { id_app: "a".into(), id_user: ann.id, volume: Some("/srv:/data:rw".into()), ..Default::default() })
        .await
        .unwrap();
    db.insert(&UsageRecord { id_object: "a".into(), cpu_seconds: 0.1, ..Default::default() }).await.unwrap();
    db.insert(&Node { authid: "n1".into(), tags: vec!["gpu".into()], ..Default::default() }).await.unwrap();

    let exported = db.export().await.unwrap();
    assert_eq!(exported.len(), TableName::ALL.len(), "{kind}: every table, empty ones too");
    assert_eq!(exported[&TableName::DaasObjects].len(), 2, "{kind}: trashed rows are exported");
    let text = serde_json::to_string(&exported).unwrap();
    for plain in ["totp-plain", "guac-plain", "vnc-secret-a"] {
        assert!(!text.contains(plain), "{kind}: no plaintext secret in an export: {plain}");
    }
    for field in ["vnc_password", "os_password"] {
        let sealed = exported[&TableName::DaasObjects][0][field].as_str().unwrap();
        assert!(sealed.starts_with("enc:v1:"), "{kind}: {field} = {sealed}");
    }

    // ---- into another database with the same key: the same rows, secrets usable.
    let Some((mut other_file, other_dir, other_admin)) = fresh(kind).await else { return };
    other_file.db.migrate = MigrateMode::Auto;
    let other = Store::open(&other_file, other_dir.path()).await.unwrap();
    let odb = other.client();
    odb.insert(&User { name: "replaced".into(), ..Default::default() }).await.unwrap();
    let report = odb.import(exported.clone(), true).await.unwrap_or_else(|e| panic!("{kind}: {e:?}"));
    assert_eq!(report.removed[&TableName::Users], 1, "{kind}: drop_all emptied the table first");
    assert_eq!(report.inserted[&TableName::DaasObjects], 2);
    assert_eq!(odb.export().await.unwrap(), exported, "{kind}: the import restores every row as it was");
    assert_eq!(odb.get::<DaasObject>("a").await.unwrap().unwrap(), a, "{kind}: ids and times kept");
    assert!(odb.get::<DaasObject>("gone").await.unwrap().is_none(), "{kind}: the trashed row is still in the trash");
    assert_eq!(odb.connection_with_secret(&con.id).await.unwrap().unwrap().password.as_deref(), Some("guac-plain"));
    assert_eq!(odb.user_by_name("ann").await.unwrap().unwrap().totp_secret.as_deref(), Some("totp-plain"));
    let bob = odb.insert(&User { name: "bob".into(), ..Default::default() }).await.unwrap_or_else(|e| panic!("{kind}: {e:?}"));
    assert!(bob.id > ann.id, "{kind}: new ids continue after the imported ones");

    // ---- a bad fixture: every problem at once, with table, row and field; nothing changes.
    let before = odb.export().await.unwrap();
    let bad: HashMap<TableName, Vec<serde_json::Value>> = HashMap::from([
        (TableName::Users, vec![serde_json::json!({"name": "carl"}), serde_json::json!({"name": "dora", "admin": "yes"})]),
        (TableName::Files, vec![serde_json::json!({"id": "f9", "nmae": "typo"})]),
    ]);
    let err = odb.import(bad, true).await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::BadRequest, "{kind}: {err:?}");
    assert!(
        err.message.contains("table `users`, row 2: field `admin`: invalid type: string \"yes\", expected a boolean"),
        "{}",
        err.message
    );
    assert!(err.message.contains("table `files`, row 1: field `nmae`: unknown field"), "{}", err.message);
    // A database refusal half-way (a duplicate key in the second table) undoes the first.
    let dup = HashMap::from([
        (TableName::Users, vec![serde_json::json!({"name": "erin"})]),
        (TableName::Files, vec![serde_json::json!({"id": "f1"})]),
    ]);
    let err = odb.import(dup, false).await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Conflict, "{kind}: {err:?}");
    assert!(err.message.starts_with("table `files`, row 1: file exists already"), "{}", err.message);
    assert!(odb.user_by_name("erin").await.unwrap().is_none(), "{kind}: one transaction: the users were not kept");
    assert_eq!(odb.export().await.unwrap(), before, "{kind}: nothing changed");

    // A hand-written fixture: plain secrets are sealed, ids and times are made.
    let plain = HashMap::from([(TableName::GuacamoleConnections, vec![serde_json::json!({"id": "c9", "password": "typed"})])]);
    odb.import(plain, false).await.unwrap();
    let c9 = odb.connection_with_secret("c9").await.unwrap().unwrap();
    assert_eq!(c9.password.as_deref(), Some("typed"));
    assert!(c9.created_at > at("2026-01-01T00:00:00Z"), "{kind}: a missing time is now, not 1970");
    let stored = raw(&other, "SELECT password FROM guacamole_connections WHERE id = 'c9'", "password").await;
    assert!(stored[0].starts_with("enc:v1:"), "{kind}: {stored:?}");

    // ---- into a site with another key: refused, naming the field, since nobody could
    // open those secrets.
    let Some((mut third_file, third_dir, third_admin)) = fresh(kind).await else { return };
    third_file.db.secret_key = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=".into();
    let third = Store::open(&third_file, third_dir.path()).await.unwrap();
    let err = third.client().import(exported, true).await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::BadRequest);
    assert!(err.message.starts_with("table `users`, row 1: field `totp_secret`: the secret is sealed"), "{}", err.message);
    assert!(err.message.contains("another secret_key"), "{}", err.message);

    for s in [store, other, third] {
        s.tables.db.clone().close().await.unwrap();
    }
    for a in [admin, other_admin, third_admin] {
        drop_db(a).await;
    }
    drop((dir, other_dir, third_dir));
}

on_every_database!(transfer_suite);
