//! What the db backend answers when the database refuses a write, on SQLite, MariaDB and
//! PostgreSQL alike: the field and what to do, never the database's text (SQL, constraint
//! and table names, values), which stays in the server's log.

use daas_common::model::*;
use daas_plugin_api::abi::{BackendError, BackendErrorKind};
use daas_plugin_db::Store;

mod common;
use common::*;

/// Words of the three databases' own error texts.
const SQL_WORDS: [&str; 10] =
    ["UNIQUE", "constraint", "duplicate key", "Duplicate entry", "violates", "FOREIGN", "SQL", "daas_objects.", "uq_", "pk_"];

fn expect(kind: &str, result: Result<impl std::fmt::Debug, BackendError>, want: BackendErrorKind, message: &str) {
    let err = result.expect_err(message);
    for word in SQL_WORDS {
        assert!(!err.message.contains(word), "{kind}: the database's text reached the client: {}", err.message);
    }
    assert_eq!((err.kind, err.message.as_str()), (want, message), "{kind}");
}

async fn suite(kind: &str) {
    let Some((file, dir, admin)) = fresh(kind).await else { return };
    let store = Store::open(&file, dir.path()).await.unwrap_or_else(|e| panic!("{kind}: {e}"));
    let db = store.client();
    use BackendErrorKind::{BadRequest, Conflict, NotFound};

    // The key: named, with what to do; a row in the trash says so.
    let a = DaasObject { id: "a".into(), id_owner: 7, ..Default::default() };
    db.insert(&a).await.unwrap();
    expect(kind, db.insert(&a).await, Conflict, "object `a` exists already; leave `id` out to let the server choose one");
    db.delete::<DaasObject>("a").await.unwrap();
    expect(
        kind,
        db.insert(&a).await,
        Conflict,
        "object `a` exists already (it is in the trash: restore it, or remove it from the trash first); leave `id` out to let \
         the server choose one",
    );
    let limit = RessourceInfo { id_owner: 7, ..Default::default() };
    db.insert(&limit).await.unwrap();
    expect(kind, db.insert(&limit).await, Conflict, "limit `7` exists already; `id_owner` must be unique: change the existing one instead");

    // Unique fields: named, on insert and update.
    db.insert(&User { name: "ann".into(), ..Default::default() }).await.unwrap();
    expect(
        kind,
        db.insert(&User { name: "ann".into(), ..Default::default() }).await,
        Conflict,
        "another user has the same `name`; choose another `name`",
    );
    let editor = db.insert(&Application { id_owner: 7, name: "editor".into(), ..Default::default() }).await.unwrap();
    let viewer = db.insert(&Application { id_owner: 7, name: "viewer".into(), ..Default::default() }).await.unwrap();
    let message = "another application has the same `id_owner` and `name`; choose another `name`";
    expect(kind, db.insert(&Application { id: String::new(), ..editor.clone() }).await, Conflict, message);
    expect(kind, db.update(&Application { name: "editor".into(), ..viewer }).await, Conflict, message);
    db.delete::<Application>(&editor.id).await.unwrap();
    expect(
        kind,
        db.insert(&Application { id: String::new(), ..editor }).await,
        Conflict,
        "another application has the same `id_owner` and `name` (it is in the trash: restore it, or remove it from the trash \
         first); choose another `name`",
    );

    // A reference to nothing (well-formed, so not a bad request): the field and the value.
    expect(
        kind,
        db.insert(&Environment { id_object: "missing".into(), name: "x".into(), ..Default::default() }).await,
        NotFound,
        "`id_object`: object `missing` does not exist",
    );
    expect(kind, db.insert(&Membership { id_group: 999, id_user: 1 }).await, NotFound, "`id_group`: group `999` does not exist");

    // NUL: PostgreSQL cannot store it, so no database takes it (a 500 on PostgreSQL
    // before), in a row or a lookup.
    expect(
        kind,
        db.insert(&File { name: "a\0b".into(), ..Default::default() }).await,
        BadRequest,
        "`name` of the file contains a NUL character, which no database here can store; remove it",
    );
    expect(kind, db.get::<File>("a\0b").await, BadRequest, "a value for column `id` contains a NUL character, which no row can hold");

    store.tables.db.clone().close().await.unwrap();
    drop_db(admin).await;
}

on_every_database!(suite);
