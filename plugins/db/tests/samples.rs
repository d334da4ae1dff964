//! The demo rows are shared or the administrator's: no user created afterwards owns one
//! (issue 13: `[samples] default_owner = 5` gave them to whoever became user 5).

use daas_common::{
    config::DbFile,
    model::User,
    protocols::{DbClient, TableName},
};
use daas_plugin_db::{prepare, Store};

mod common;
use common::*;

/// The demo site's db.toml, on a database of the test's own.
fn demo() -> DbFile {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/demo/db.toml");
    let mut file: DbFile = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    file.db.secret_key = KEY.into();
    file.db.db_name = unique_name("daas_samples");
    assert!(file.db.include_samples && file.db.admin_credentials.is_some(), "the demo loads samples and has an administrator");
    file
}

/// The owner of every sample row, with its table and key.
async fn owners(db: &DbClient) -> Vec<(TableName, String, i64)> {
    let tables = db.export().await.unwrap();
    let mut out = Vec::new();
    for table in [TableName::DaasObjects, TableName::Files, TableName::TemplateApplications, TableName::Limits] {
        for row in &tables[&table] {
            let key = row.get("id").map_or_else(|| row["id_owner"].to_string(), |id| id.to_string());
            out.push((table, key, row["id_owner"].as_i64().unwrap()));
        }
    }
    out
}

/// Starts a site on `file` twice (a restart loads again), creating users in between.
async fn no_later_user_owns_a_sample(file: DbFile) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&file, dir.path()).await.unwrap();
    prepare(&store, &file).await.unwrap();
    let db = store.client();
    let admin = db.user_by_name("admin").await.unwrap().unwrap();
    let sampled = owners(&db).await;
    assert!(sampled.iter().any(|(_, key, _)| key == "\"demo-busybox\""), "the per-user sample is loaded: {sampled:?}");
    for (table, key, owner) in &sampled {
        assert!([0, -1, admin.id].contains(owner), "{table} {key} belongs to {owner}, neither shared nor the administrator");
    }
    let mut later = Vec::new();
    for i in 0..8 {
        later.push(db.insert(&User { name: format!("user{i}"), ..Default::default() }).await.unwrap().id);
    }
    prepare(&store, &file).await.unwrap();
    for (table, key, owner) in owners(&db).await {
        assert!(!later.contains(&owner), "{table} {key} belongs to user {owner}, created after the samples");
    }
    store.tables.db.clone().close().await.unwrap();
}

#[tokio::test]
async fn the_demo_samples_are_shared_or_the_administrators() {
    no_later_user_owns_a_sample(demo()).await;
}

#[tokio::test]
async fn a_user_id_in_samples_hands_nothing_to_that_user() {
    // What the demo had: ids 5 and 3 name users who do not exist yet.
    let mut file = demo();
    file.samples.default_owner = 5;
    file.samples.shared_owner = 3;
    no_later_user_owns_a_sample(file).await;
}
