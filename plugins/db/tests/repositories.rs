//! The repositories against every database this machine kind runs: SQLite (always),
//! MariaDB (127.0.0.1:3306, root) and PostgreSQL (127.0.0.1:5432, postgres). Each run
//! works in a database of its own, dropped afterwards. A server that is unreachable is
//! skipped with a line saying so (CI machines of this kind run both).

use daas_common::{
    config::{DbFile, DbSection},
    model::DaasObject,
    protocols::{DbRequest, DbResponse},
};
use daas_plugin_api::abi::BackendErrorKind;
use daas_plugin_db::Store;
use sea_orm::{ConnectionTrait, Database};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn unique_name() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("daas_test_{}_{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

/// A fresh database of the given kind, or None when its server is unreachable.
async fn fresh(kind: &str) -> Option<(DbFile, tempfile::TempDir, Option<(String, String)>)> {
    let dir = tempfile::tempdir().unwrap();
    let name = unique_name();
    let mut db = DbSection { secret_key: KEY.into(), db_name: name.clone(), ..Default::default() };
    let admin = match kind {
        "sqlite" => {
            db.db_type = "sqlite".into();
            None
        }
        "mariadb" => {
            db.db_type = "mariadb".into();
            db.db_user = "root".into();
            Some(("mysql://root@127.0.0.1:3306/test".to_string(), format!("CREATE DATABASE {name}")))
        }
        _ => {
            db.db_type = "postgres".into();
            db.db_user = "postgres".into();
            Some(("postgres://postgres@127.0.0.1:5432/postgres".to_string(), format!("CREATE DATABASE {name}")))
        }
    };
    if let Some((url, create)) = &admin {
        let mut opts = sea_orm::ConnectOptions::new(url.clone());
        opts.connect_timeout(std::time::Duration::from_secs(5));
        let Ok(conn) = Database::connect(opts).await else {
            println!("SKIPPED: {kind} is unreachable at {url}");
            return None;
        };
        conn.execute_unprepared(create).await.unwrap();
    }
    Some((DbFile { db, ..Default::default() }, dir, admin.map(|(url, _)| (url, format!("DROP DATABASE {name}")))))
}

async fn drop_db(admin: Option<(String, String)>) {
    if let Some((url, drop)) = admin {
        let conn = Database::connect(url).await.unwrap();
        let _ = conn.execute_unprepared(&drop).await;
    }
}

fn object(id: &str, owner: i64) -> DaasObject {
    DaasObject {
        id: id.into(),
        id_owner: owner,
        object_type: "container".into(),
        object_mode: "app".into(),
        object_tasks: vec![serde_json::json!({"task": "install"})],
        object_target: serde_json::json!({"cmd": "xterm"}),
        vnc_password: format!("vnc-secret-{id}"),
        hw_memory: 8 * 1024 * 1024 * 1024,
        ..Default::default()
    }
}

async fn suite(kind: &str) {
    let Some((file, dir, admin)) = fresh(kind).await else { return };
    let store = Store::open(&file, dir.path()).await.unwrap_or_else(|e| panic!("{kind}: {e}"));

    // Status: migrated, nothing pending.
    match store.handle(DbRequest::Status).await.unwrap() {
        DbResponse::Status { db_type, applied, pending } => {
            assert_eq!(db_type, kind);
            assert_eq!(applied, ["m20261122_000001_daas_objects"]);
            assert!(pending.is_empty());
        }
        other => panic!("{other:?}"),
    }

    // Create, get back every field, defaults of the seed included.
    let mut a = object("a", 7);
    a.id_docker = "docker-a".into();
    a.id_proxmox = 100;
    store.objects.create(&a).await.unwrap();
    assert_eq!(store.objects.get("a").await.unwrap().unwrap(), a, "{kind}: round trip");
    assert_eq!(a.viewer_resolution, "1280x800");
    // Duplicates are a conflict, missing ids not found.
    assert_eq!(store.objects.create(&a).await.unwrap_err().kind, BackendErrorKind::Conflict);
    assert_eq!(store.objects.delete("nope").await.unwrap_err().kind, BackendErrorKind::NotFound);
    assert!(store.objects.get("nope").await.unwrap().is_none());

    // Secrets are encrypted at rest.
    let raw: Vec<String> = store
        .objects
        .db
        .query_all_raw(sea_orm::Statement::from_string(store.objects.db.get_database_backend(), "SELECT vnc_password FROM daas_objects"))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "vnc_password").unwrap())
        .collect();
    assert!(raw[0].starts_with("enc:v1:") && !raw[0].contains("vnc-secret-a"), "{kind}: {raw:?}");

    // Lookups by backend ids; owner filter includes shared objects (owner 0).
    store.objects.create(&object("shared", 0)).await.unwrap();
    let mut b = object("b", 8);
    b.id_proxmox = 101;
    store.objects.create(&b).await.unwrap();
    assert_eq!(store.objects.by_docker_id("docker-a").await.unwrap().unwrap().id, "a");
    assert_eq!(store.objects.by_proxmox_id(101).await.unwrap().unwrap().id, "b");
    let ids = |v: Vec<DaasObject>| v.into_iter().map(|o| o.id).collect::<Vec<_>>();
    let mut seven = ids(store.objects.available(7).await.unwrap());
    seven.sort();
    assert_eq!(seven, ["a", "shared"], "{kind}: one user's objects never reach another");

    // suggest_vmid skips used ids.
    assert_eq!(store.objects.suggest_vmid().await.unwrap(), 102);

    // Update keeps created_at and changes fields; unknown ids are not found.
    a.object_state = "running".into();
    a.vnc_password = "changed".into();
    store.objects.update(&a).await.unwrap();
    assert_eq!(store.objects.get("a").await.unwrap().unwrap(), a);
    assert_eq!(store.objects.update(&object("ghost", 1)).await.unwrap_err().kind, BackendErrorKind::NotFound);

    store.objects.delete("a").await.unwrap();
    assert!(store.objects.get("a").await.unwrap().is_none());

    store.objects.db.clone().close().await.unwrap();
    // Reopening an existing database keeps its rows (migrations are idempotent).
    let again = Store::open(&file, dir.path()).await.unwrap();
    assert_eq!(again.objects.get("b").await.unwrap().unwrap(), b, "{kind}: rows survive a restart");
    again.objects.db.clone().close().await.unwrap();
    drop_db(admin).await;
}

#[tokio::test]
async fn sqlite() {
    suite("sqlite").await;
}

#[tokio::test]
async fn mariadb() {
    suite("mariadb").await;
}

#[tokio::test]
async fn postgres() {
    suite("postgres").await;
}

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
