//! `DbRequest::Increment` against SQLite, MariaDB and PostgreSQL: concurrent increments
//! all count (the login-failure counter of issue 13, which a read-modify-write left at 1
//! after 200 concurrent wrong passwords).

use daas_common::model::{DaasObject, User};
use daas_plugin_api::abi::BackendErrorKind;
use daas_plugin_db::Store;

mod common;
use common::*;

/// How many increments run at once.
const CONCURRENT: i64 = 100;

async fn suite(kind: &str) {
    let Some((file, dir, admin)) = fresh(kind).await else { return };
    let store = Store::open(&file, dir.path()).await.unwrap_or_else(|e| panic!("{kind}: {e}"));
    let db = store.client();
    let ann = db.insert(&User { name: "ann".into(), ..Default::default() }).await.unwrap();

    // Every increment counts, and each caller is answered its own sum.
    let tasks: Vec<_> = (0..CONCURRENT)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { db.increment::<User>(ann.id, "failed_logins", 1).await })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap().unwrap_or_else(|e| panic!("{kind}: {e:?}")));
    }
    answers.sort_unstable();
    assert_eq!(answers, (1..=CONCURRENT).collect::<Vec<_>>(), "{kind}: every caller sees its own sum");
    let stored = db.get::<User>(ann.id).await.unwrap().unwrap();
    assert_eq!(i64::from(stored.failed_logins), CONCURRENT, "{kind}: no increment was lost");
    assert_eq!(stored.name, "ann", "{kind}: the other fields are untouched");
    assert_eq!(db.increment::<User>(ann.id, "failed_logins", -CONCURRENT).await.unwrap(), 0, "{kind}: a negative step subtracts");

    // Overflow of the 32-bit column: refused, the value kept.
    let err = db.increment::<User>(ann.id, "failed_logins", i64::from(i32::MAX) + 1).await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::BadRequest, "{kind}: {err:?}");
    assert!(err.message.contains("would go beyond 2147483647"), "{kind}: {}", err.message);
    assert_eq!(db.get::<User>(ann.id).await.unwrap().unwrap().failed_logins, 0, "{kind}");

    // No such row, no such column, not an integer, the key: refused, naming what.
    let err = db.increment::<User>(ann.id + 1000, "failed_logins", 1).await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::NotFound, "{kind}: {err:?}");
    for (column, says) in [("name", "is not an integer column"), ("nope", "has no column `nope`"), ("id", "is its key")] {
        let err = db.increment::<User>(ann.id, column, 1).await.unwrap_err();
        assert_eq!(err.kind, BackendErrorKind::BadRequest, "{kind}: {column}: {err:?}");
        assert!(err.message.contains(says), "{kind}: {column}: {}", err.message);
    }

    // A table with `updated_at` stamps it; a row in the trash counts as absent.
    let object = db.insert(&DaasObject { id: "o1".into(), id_owner: 7, ..Default::default() }).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(db.increment::<DaasObject>("o1", "hw_cpus", 2).await.unwrap(), 2, "{kind}");
    let after = db.get::<DaasObject>("o1").await.unwrap().unwrap();
    assert!(after.updated_at > object.updated_at, "{kind}: updated_at follows the change");
    assert_eq!(after.created_at, object.created_at, "{kind}");
    db.delete::<DaasObject>("o1").await.unwrap();
    let err = db.increment::<DaasObject>("o1", "hw_cpus", 1).await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::NotFound, "{kind}: a trashed row is not counted: {err:?}");

    store.tables.db.clone().close().await.unwrap();
    drop_db(admin).await;
}

on_every_database!(suite, flavor = "multi_thread", worker_threads = 4);
