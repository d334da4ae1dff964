//! `DbRequest::Patch` against SQLite, MariaDB and PostgreSQL: only the fields named are
//! written, so that a change someone else made meanwhile to another field stays (an
//! access token revoked while its last use was being recorded stays revoked).

use daas_common::model::{AccessToken, User};
use daas_plugin_api::abi::BackendErrorKind;
use daas_plugin_db::Store;
use serde_json::json;

mod common;
use common::*;

async fn suite(kind: &str) {
    let Some((file, dir, admin)) = fresh(kind).await else { return };
    let store = Store::open(&file, dir.path()).await.unwrap_or_else(|e| panic!("{kind}: {e}"));
    let db = store.client();
    let ann = db.insert(&User { name: "ann".into(), totp_secret: Some("SECRET".into()), ..Default::default() }).await.unwrap();
    let token = db.insert(&AccessToken { id: "0123456789abcdef".into(), id_user: ann.id, ..Default::default() }).await.unwrap();

    // Read, someone else revokes, then the last use is recorded from what was read.
    let read = db.get::<AccessToken>(&token.id).await.unwrap().unwrap();
    let revoked = chrono::Utc::now();
    db.patch::<AccessToken>(&token.id, json!({"revoked_at": revoked})).await.unwrap();
    let used = chrono::Utc::now();
    db.patch::<AccessToken>(&read.id, json!({"last_used_at": used})).await.unwrap_or_else(|e| panic!("{kind}: {e:?}"));
    let after = db.get::<AccessToken>(&token.id).await.unwrap().unwrap();
    assert!(after.revoked_at.is_some(), "{kind}: the revocation made meanwhile stays");
    assert!(after.last_used_at.is_some(), "{kind}");
    assert_eq!(after.description, token.description, "{kind}");

    // A secret given in plain text is sealed like on an update; others keep theirs.
    db.patch::<User>(ann.id, json!({"disabled": true})).await.unwrap();
    let stored = db.get::<User>(ann.id).await.unwrap().unwrap();
    assert!(stored.disabled, "{kind}");
    assert_eq!(stored.totp_secret.as_deref(), Some("SECRET"), "{kind}: the secret is kept");
    db.patch::<User>(ann.id, json!({"totp_secret": "OTHER", "failed_logins": 3})).await.unwrap();
    let stored = db.get::<User>(ann.id).await.unwrap().unwrap();
    assert_eq!((stored.totp_secret.as_deref(), stored.failed_logins, stored.disabled), (Some("OTHER"), 3, true), "{kind}");
    let export = store.client().export().await.unwrap();
    assert!(!serde_json::to_string(&export).unwrap().contains("OTHER"), "{kind}: sealed at rest");

    // No such row, no such field, the key, a value of the wrong type: refused by name.
    let err = db.patch::<User>(ann.id + 1000, json!({"disabled": false})).await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::NotFound, "{kind}: {err:?}");
    for (fields, says) in [
        (json!({"nope": 1}), "has no field `nope`"),
        (json!({"id": 9}), "`id` of the user cannot be set"),
        (json!({"disabled": "yes"}), "disabled"),
    ] {
        let err = db.patch::<User>(ann.id, fields.clone()).await.unwrap_err();
        assert_eq!(err.kind, BackendErrorKind::BadRequest, "{kind}: {fields}: {err:?}");
        assert!(err.message.contains(says), "{kind}: {fields}: {}", err.message);
    }
    assert!(db.get::<User>(ann.id).await.unwrap().unwrap().disabled, "{kind}: a refused patch changes nothing");

    store.tables.db.clone().close().await.unwrap();
    drop_db(admin).await;
}

on_every_database!(suite);
