//! A database that does not answer is a 503 with a message saying so, on every route of
//! the db API and from the backend, never a 500: a pool whose only connection is held
//! (the pool timeout of a busy server), and a server nobody listens for.

use std::time::Duration;

use daas_common::model::DaasObject;
use daas_plugin_api::{
    abi::BackendErrorKind,
    identity::Identity,
    poem::{http::Method, Endpoint, EndpointExt, Request, Route},
    poem_openapi::OpenApiService,
    sdk::Attributes,
};
use daas_plugin_db::{api, database, table::Tables, Store};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, TransactionTrait};
use serde_json::{json, Value};

mod common;
use common::*;

/// How long a request waits for a connection here (the server's default is 10 s): short
/// where connecting takes no time (SQLite, a refused port), longer where a busy machine
/// may take that long to open the one connection the test then holds.
const ACQUIRE_FAST: Duration = Duration::from_millis(100);
const ACQUIRE_SERVER: Duration = Duration::from_millis(1000);

/// The routes tried where each costs a second: one that reads, one that writes, and the
/// status (every route is tried on SQLite).
const SAMPLE: [&str; 3] = ["GET /objects", "POST /files", "GET /status"];

/// Every route of the db API, with a body where it takes one; as an administrator, for
/// whom each route reaches the database.
fn routes() -> Vec<(Method, String, Option<Value>)> {
    let mut out = vec![(Method::GET, "/status".to_string(), None)];
    let resources = [
        ("objects", "x", json!({})),
        ("environments", "x", json!({"id_object": "x", "name": "n"})),
        ("applications", "x", json!({"name": "n"})),
        ("files", "x", json!({})),
        ("limits", "7", json!({"id_owner": 7})),
        ("grants", "x", json!({"id_app": "x", "id_user": 2})),
        ("nodes", "x", json!({})),
    ];
    for (many, key, body) in resources {
        // An update body has no key (the path names the row).
        let patch = if many == "limits" { json!({"vm_max": 1}) } else { body.clone() };
        out.extend([
            (Method::GET, format!("/{many}"), None),
            (Method::POST, format!("/{many}"), Some(body.clone())),
            (Method::GET, format!("/{many}/{key}"), None),
            (Method::PATCH, format!("/{many}/{key}"), Some(patch)),
            (Method::DELETE, format!("/{many}/{key}"), None),
            (Method::GET, format!("/trash/{many}"), None),
            (Method::POST, format!("/trash/{many}/{key}/restore"), None),
            (Method::DELETE, format!("/trash/{many}/{key}"), None),
        ]);
    }
    out
}

/// A store of the same site over another connection pool.
fn over(store: &Store, db: DatabaseConnection) -> Store {
    Store { db_type: store.db_type.clone(), tables: Tables { db, secrets: store.tables.secrets.clone() } }
}

async fn every_route_answers_503(store: Store, what: &str, all: bool) {
    let admin = Identity { user_id: 1, user_name: "admin".into(), admin: true };
    let api = Route::new()
        .nest("/", OpenApiService::new(api::service(store.clone()), "db", "test"))
        .data(Attributes(admin.to_attributes().into_iter().collect()));
    for (method, path, body) in routes() {
        if !all && !SAMPLE.contains(&format!("{method} {path}").as_str()) {
            continue;
        }
        let request = Request::builder().method(method.clone()).uri(path.parse().unwrap());
        let request = match body {
            Some(body) => request.content_type("application/json").body(body.to_string()),
            None => request.finish(),
        };
        let response = api.get_response(request).await;
        let status = response.status();
        let text = response.into_body().into_string().await.unwrap();
        assert_eq!(status.as_u16(), 503, "{what}: {method} {path}: {text}");
        let error: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(error["code"], "unavailable", "{what}: {method} {path}: {text}");
        let message = error["message"].as_str().unwrap();
        assert!(message.starts_with("the database does not answer (error id "), "{what}: {method} {path}: {message}");
        assert!(message.contains("try again in a moment"), "{what}: {message}");
    }
    let err = store.client().get::<DaasObject>("x").await.unwrap_err();
    assert_eq!(err.kind, BackendErrorKind::Unavailable, "{what}: the backend answers alike: {err:?}");
}

async fn pool_exhausted(kind: &str) {
    let Some((file, dir, admin)) = fresh(kind).await else { return };
    let store = Store::open(&file, dir.path()).await.unwrap_or_else(|e| panic!("{kind}: {e}"));
    let (url, _, _) = database::url(&file.db, dir.path()).unwrap();
    let sqlite = kind == "sqlite";
    let mut opts = ConnectOptions::new(url);
    opts.max_connections(1).connect_lazy(true).acquire_timeout(if sqlite { ACQUIRE_FAST } else { ACQUIRE_SERVER });
    let pool = Database::connect(opts).await.unwrap();
    // The pool's only connection, busy for the whole test (opening it may take longer
    // than the pool waits on a loaded machine: tried again).
    let mut attempts = 0;
    let held = loop {
        match pool.begin().await {
            Ok(txn) => break txn,
            Err(_) if attempts < 50 => attempts += 1,
            Err(e) => panic!("{kind}: no connection to hold: {e}"),
        }
    };
    every_route_answers_503(over(&store, pool.clone()), &format!("{kind}, pool exhausted"), sqlite).await;
    held.rollback().await.unwrap();
    pool.close().await.unwrap();
    store.tables.db.clone().close().await.unwrap();
    drop_db(admin).await;
}

on_every_database!(pool_exhausted);

#[tokio::test]
async fn a_server_nobody_listens_for() {
    let Some((file, dir, _)) = fresh("sqlite").await else { return };
    let store = Store::open(&file, dir.path()).await.unwrap();
    // Port 1 on loopback: refused at once, on every machine.
    for (url, all) in [("postgres://postgres@127.0.0.1:1/daas", true), ("mysql://root@127.0.0.1:1/daas", false)] {
        let mut opts = ConnectOptions::new(url);
        opts.connect_lazy(true).acquire_timeout(ACQUIRE_FAST).connect_timeout(ACQUIRE_FAST);
        let pool = Database::connect(opts).await.unwrap();
        every_route_answers_503(over(&store, pool), url, all).await;
    }
}
