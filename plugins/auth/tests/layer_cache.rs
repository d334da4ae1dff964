//! The auth layer over an in-memory db backend that counts its requests: with
//! `[auth] cache_seconds`, a caller's repeated requests cost no db backend call at all
//! (session, access token, privileges enforced), a closed session is refused at once,
//! and with `cache_seconds = 0` every request reads the store as before. The real
//! binary's behaviour after each kind of change is in `host/tests/auth_cache.rs`.

use std::sync::Arc;

use daas_common::{
    config::{AuthLocalSection, AuthSection},
    model::User,
    protocols::{MemoryDb, TableName},
};
use daas_plugin_api::{
    abi::{LayerRequest, LayerVerdict},
    events::{HostOperation, HostOperations, RegisteredRule},
    permissions::Rule,
    sdk::Layer,
};
use daas_plugin_auth::{
    accounts::{Accounts, Callers, Policy},
    guard::Guard,
    layer::AuthLayer,
};
use serde_json::json;

const ROUTE: &str = "testbackend_hello";

struct Site {
    layer: AuthLayer,
    accounts: Accounts,
    db: MemoryDb,
}

/// User 7 (no administrator) with a user accept entry for the route, privileges
/// enforced, and the host's operations event delivered.
fn site(cache_seconds: u64) -> Site {
    let db = MemoryDb::new()
        .with(TableName::Users, [json!({"id": 7, "name": "ann"})])
        .with(TableName::Privileges, [json!({"subject_kind": "user", "subject_id": 7, "privilege": ROUTE, "effect": "accept"})]);
    let config = AuthSection { enable_auth_endpoint: true, cache_seconds, ..Default::default() };
    let accounts = Accounts {
        db: db.client(),
        policy: Policy::from_config(&AuthLocalSection::default()),
        remote: None,
        limiter: None,
        callers: Arc::new(Callers::new(std::time::Duration::from_secs(cache_seconds))),
        hasher: daas_plugin_auth::hashing::Hasher::new(1, 0),
        throttle: Arc::new(daas_plugin_auth::accounts::throttle_from_config(&AuthLocalSection::default())),
    };
    let guard = Arc::new(Guard::new(db.client(), &config));
    let rule: Rule = "testbackend:own:view".parse().unwrap();
    guard.on_operations(&HostOperations {
        operations: vec![HostOperation {
            operation_id: ROUTE.into(),
            method: "GET".into(),
            path: "/api/v1/testbackend/hello".into(),
            plugin: "testbackend".into(),
            public: false,
            rule: Some(rule.clone()),
        }],
        rules: vec![RegisteredRule { rule, description: String::new(), plugin: "testbackend".into() }],
    });
    Site { layer: AuthLayer(accounts.clone(), guard), accounts, db }
}

fn request(bearer: &str) -> LayerRequest {
    let mut request = LayerRequest::new("GET", "/api/v1/testbackend/hello", [("authorization", format!("Bearer {bearer}"))]);
    request.operation_id = ROUTE.into();
    request.rule = "testbackend:own:view".into();
    request
}

/// The status the layer answers: 200 for "go on".
async fn status(site: &Site, bearer: &str) -> u16 {
    match site.layer.before(request(bearer)).await {
        LayerVerdict::Continue(_) => 200,
        LayerVerdict::Reject(r) => r.status,
    }
}

async fn session(site: &Site) -> String {
    let user = User { id: 7, name: "ann".into(), ..Default::default() };
    site.accounts.open_session(&user, chrono::Duration::hours(1)).await.unwrap().token
}

async fn access_token(site: &Site) -> String {
    site.accounts.create_access_token(7, "test", None).await.unwrap().1
}

#[tokio::test]
async fn a_callers_repeated_requests_cost_no_db_backend_call() {
    let site = site(3600);
    for token in [session(&site).await, access_token(&site).await] {
        assert_eq!(status(&site, &token).await, 200);
        assert!(site.db.take_calls() > 0, "the first request reads the store");
        for _ in 0..3 {
            assert_eq!(status(&site, &token).await, 200);
        }
        assert_eq!(site.db.take_calls(), 0, "the caller, their roles and privileges are remembered");
    }
    // A token nobody has is not remembered as refused: each try reads the store.
    for _ in 0..2 {
        assert_eq!(status(&site, "made-up").await, 401);
        assert_eq!(site.db.take_calls(), 1);
    }
}

#[tokio::test]
async fn a_closed_session_is_refused_at_once() {
    let site = site(3600);
    let token = session(&site).await;
    assert_eq!(status(&site, &token).await, 200);
    site.accounts.close_session(&token).await.unwrap();
    assert_eq!(status(&site, &token).await, 401);
}

#[tokio::test]
async fn without_cache_seconds_every_request_reads_the_store() {
    let site = site(0);
    let token = session(&site).await;
    assert_eq!(status(&site, &token).await, 200);
    site.db.take_calls();
    assert_eq!(status(&site, &token).await, 200);
    // The session, the user, the user's entries and memberships; roles and the static
    // groups stay cached by their own TTL.
    assert_eq!(site.db.take_calls(), 4);
}
