//! The auth layer's cache of resolved callers and users' lists (`[auth] cache_seconds`)
//! through the real host. Each scenario runs with a cache that would outlive the test
//! (3600 s), so only the invalidation can explain a refusal, and with the cache off
//! (`cache_seconds = 0`), where every request reads the store as before the cache:
//! logout and revocations refuse the token at once; a deleted or disabled user, a
//! rename or an admin flag taken away apply to the next request; role, privilege and
//! membership changes too. A change made around the plugin (`daas import`) shows once
//! the entry ends. How many db backend calls the cache saves: the auth plugin's
//! `tests/layer_cache.rs`.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

const CACHED: &str = "[auth]\ncache_seconds = 3600\n";
const UNCACHED: &str = "[auth]\ncache_seconds = 0\n";
const CACHED_PRIVILEGES: &str = "[auth]\ncache_seconds = 3600\nenable_auth_endpoint = true\n";
const UNCACHED_PRIVILEGES: &str = "[auth]\ncache_seconds = 0\nenable_auth_endpoint = true\n";

/// Status of `GET path` with a bearer token.
fn get(server: &Server, bearer: &str, path: &str) -> StatusCode {
    http().get(server.url(path)).bearer_auth(bearer).send().unwrap().status()
}

/// Status of `GET /api/v1/auth/me` with a bearer token, twice: the second answer comes
/// from the cache when it is on.
fn me_twice(server: &Server, bearer: &str) -> StatusCode {
    let first = get(server, bearer, "/api/v1/auth/me");
    let second = get(server, bearer, "/api/v1/auth/me");
    assert_eq!(first, second, "the same token answered twice");
    second
}

#[test]
fn logout_and_revocations_refuse_the_token_at_once() {
    for config in [CACHED, UNCACHED] {
        let site = auth_site(config);
        let server = Server::start(site.path());
        let admin = login(&server, "admin", "s3cret!");

        // A bearer session, revoked.
        let ann = {
            created(&admin, "/api/v1/auth/users", json!({"name": "ann", "password": "ann-pass-1"}));
            login(&server, "ann", "ann-pass-1")
        };
        assert_eq!(me_twice(&server, &ann.bearer), StatusCode::OK, "{config}");
        assert_eq!(ann.delete("/api/v1/auth/token").0, StatusCode::NO_CONTENT);
        assert_eq!(get(&server, &ann.bearer, "/api/v1/auth/me"), StatusCode::UNAUTHORIZED, "revoked bearer, {config}");

        // A browser session, logged out.
        let (session, csrf) = browser_login(&server, "admin", "s3cret!");
        let cookie = format!("daas_session={session}");
        let me = || http().get(server.url("/api/v1/auth/me")).header("cookie", &cookie).send().unwrap().status();
        assert_eq!((me(), me()), (StatusCode::OK, StatusCode::OK));
        let r = http().post(server.url("/logout")).header("cookie", &cookie).form(&[("csrf", csrf.as_str())]).send().unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(me(), StatusCode::UNAUTHORIZED, "logged-out cookie, {config}");

        // An access token, revoked.
        let ann = login(&server, "ann", "ann-pass-1");
        let token = created(&ann, "/api/v1/auth/access-tokens", json!({"description": "ci"}));
        let secret = token["token"].as_str().unwrap();
        assert_eq!(me_twice(&server, secret), StatusCode::OK);
        let id = token["access_token"]["id"].as_str().unwrap();
        assert_eq!(ann.delete(&format!("/api/v1/auth/access-tokens/{id}")).0, StatusCode::NO_CONTENT);
        assert_eq!(get(&server, secret, "/api/v1/auth/me"), StatusCode::UNAUTHORIZED, "revoked access token, {config}");
        assert_eq!(me_twice(&server, &ann.bearer), StatusCode::OK, "ann's other session is not affected");
    }
}

#[test]
fn a_deleted_disabled_renamed_or_demoted_user_applies_at_once() {
    for config in [CACHED, UNCACHED] {
        let site = auth_site(config);
        let server = Server::start(site.path());
        let admin = login(&server, "admin", "s3cret!");
        let ann_id = id(&created(&admin, "/api/v1/auth/users", json!({"name": "ann", "password": "ann-pass-1"})));
        let bob_id = id(&created(&admin, "/api/v1/auth/users", json!({"name": "bob", "password": "bob-pass-1"})));
        let ann = login(&server, "ann", "ann-pass-1");
        let bob = login(&server, "bob", "bob-pass-1");
        let bob_token = created(&bob, "/api/v1/auth/access-tokens", json!({"description": "ci"}))["token"].as_str().unwrap().to_string();

        // Disabled: refused; enabled again: the session stays ended (a new login works).
        assert_eq!(me_twice(&server, &ann.bearer), StatusCode::OK);
        assert_eq!(admin.patch(&format!("/api/v1/auth/users/{ann_id}"), json!({"disabled": true})).0, StatusCode::OK);
        assert_eq!(get(&server, &ann.bearer, "/api/v1/auth/me"), StatusCode::UNAUTHORIZED, "disabled, {config}");
        assert_eq!(admin.patch(&format!("/api/v1/auth/users/{ann_id}"), json!({"disabled": false})).0, StatusCode::OK);
        assert_eq!(get(&server, &ann.bearer, "/api/v1/auth/me"), StatusCode::UNAUTHORIZED, "enabled again, {config}");
        let ann = login(&server, "ann", "ann-pass-1");

        // Renamed: the next request carries the new name.
        assert_eq!(admin.patch(&format!("/api/v1/auth/users/{ann_id}"), json!({"name": "anna"})).0, StatusCode::OK);
        assert_eq!(ann.get("/api/v1/auth/me").1["name"], "anna", "{config}");

        // Made an administrator and demoted again: the admin flag applies at once.
        assert_eq!(ann.get("/api/v1/auth/users").0, StatusCode::FORBIDDEN);
        assert_eq!(admin.patch(&format!("/api/v1/auth/users/{ann_id}"), json!({"admin": true})).0, StatusCode::OK);
        assert_eq!(ann.get("/api/v1/auth/users").0, StatusCode::OK, "promoted, {config}");
        assert_eq!(admin.patch(&format!("/api/v1/auth/users/{ann_id}"), json!({"admin": false})).0, StatusCode::OK);
        assert_eq!(ann.get("/api/v1/auth/users").0, StatusCode::FORBIDDEN, "demoted, {config}");

        // Deleted: every session and token of theirs is refused.
        assert_eq!(me_twice(&server, &bob.bearer), StatusCode::OK);
        assert_eq!(me_twice(&server, &bob_token), StatusCode::OK);
        assert_eq!(admin.delete(&format!("/api/v1/auth/users/{bob_id}")).0, StatusCode::NO_CONTENT);
        assert_eq!(get(&server, &bob.bearer, "/api/v1/auth/me"), StatusCode::UNAUTHORIZED, "deleted, {config}");
        assert_eq!(get(&server, &bob_token, "/api/v1/auth/me"), StatusCode::UNAUTHORIZED, "deleted, access token, {config}");
    }
}

#[test]
fn role_changes_apply_at_once() {
    for config in [CACHED, UNCACHED] {
        let site = auth_site(config);
        let server = Server::start(site.path());
        let admin = login(&server, "admin", "s3cret!");
        let ann_id = id(&created(&admin, "/api/v1/auth/users", json!({"name": "ann", "password": "ann-pass-1"})));
        let ann = login(&server, "ann", "ann-pass-1");
        let (_, roles) = admin.get("/api/v1/auth/roles");
        let viewer = roles.as_array().unwrap().iter().find(|r| r["name"] == "viewer").map(id).unwrap();
        let sum = || ann.post("/api/v1/testbackend/sum", json!({"a": 1, "b": 2})).0;

        // The default `user` role creates; as a viewer, ann is refused; the role taken
        // back, she creates again.
        assert_eq!((sum(), sum()), (StatusCode::OK, StatusCode::OK));
        assert_eq!(admin.put(&format!("/api/v1/auth/users/{ann_id}/roles/{viewer}")).0, StatusCode::NO_CONTENT);
        assert_eq!(sum(), StatusCode::FORBIDDEN, "viewer, {config}");
        assert_eq!(admin.delete(&format!("/api/v1/auth/users/{ann_id}/roles/{viewer}")).0, StatusCode::NO_CONTENT);
        assert_eq!(sum(), StatusCode::OK, "user again, {config}");
    }
}

#[test]
fn privilege_and_membership_changes_apply_at_once() {
    for config in [CACHED_PRIVILEGES, UNCACHED_PRIVILEGES] {
        let site = auth_site(config);
        let server = Server::start(site.path());
        let admin = login(&server, "admin", "s3cret!");
        let ann_id = id(&created(&admin, "/api/v1/auth/users", json!({"name": "ann", "password": "ann-pass-1"})));
        let ann = login(&server, "ann", "ann-pass-1");
        let hello = || ann.get("/api/v1/testbackend/hello").0;
        let accept = json!({"privilege": "testbackend_hello", "effect": "accept"});

        // A user entry, added and removed.
        assert_eq!((hello(), hello()), (StatusCode::FORBIDDEN, StatusCode::FORBIDDEN));
        created(&admin, &format!("/api/v1/auth/users/{ann_id}/privileges"), accept.clone());
        assert_eq!(hello(), StatusCode::OK, "user accept, {config}");
        assert_eq!(admin.delete(&format!("/api/v1/auth/users/{ann_id}/privileges/testbackend_hello")).0, StatusCode::NO_CONTENT);
        assert_eq!(hello(), StatusCode::FORBIDDEN, "user accept removed, {config}");

        // A non-static group's entry through a membership, added and removed.
        let team = id(&created(&admin, "/api/v1/auth/groups", json!({"name": "team"})));
        created(&admin, &format!("/api/v1/auth/groups/{team}/privileges"), accept.clone());
        assert_eq!(hello(), StatusCode::FORBIDDEN, "not a member yet");
        assert_eq!(admin.put(&format!("/api/v1/auth/groups/{team}/members/{ann_id}")).0, StatusCode::NO_CONTENT);
        assert_eq!(hello(), StatusCode::OK, "member, {config}");
        assert_eq!(admin.delete(&format!("/api/v1/auth/groups/{team}/members/{ann_id}")).0, StatusCode::NO_CONTENT);
        assert_eq!(hello(), StatusCode::FORBIDDEN, "member no more, {config}");
    }
}

/// The cache at work, seen from outside: an entry added around the auth plugin (`daas
/// import` into the running server's database) shows only once the user's cached lists
/// end, here at the next change through the API; without the cache, at once.
#[test]
fn a_change_made_around_the_plugin_shows_when_the_entry_ends() {
    for (config, cached) in [(CACHED_PRIVILEGES, true), (UNCACHED_PRIVILEGES, false)] {
        let site = auth_site(config);
        let server = Server::start(site.path());
        let admin = login(&server, "admin", "s3cret!");
        let ann_id = id(&created(&admin, "/api/v1/auth/users", json!({"name": "ann", "password": "ann-pass-1"})));
        let ann = login(&server, "ann", "ann-pass-1");
        let hello = || ann.get("/api/v1/testbackend/hello").0;
        assert_eq!(hello(), StatusCode::FORBIDDEN);

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rows.yaml");
        let yaml = format!("privileges:\n  - {{subject_kind: user, subject_id: {ann_id}, privilege: testbackend_hello, effect: accept}}\n");
        std::fs::write(&file, yaml).unwrap();
        let (code, out, err) = run(&["import", file.to_str().unwrap(), "--site", site.path().to_str().unwrap()]);
        assert_eq!(code, 0, "{out}\n{err}");

        if cached {
            assert_eq!(hello(), StatusCode::FORBIDDEN, "the cached lists answer until they end");
            // Any change through the API forgets them.
            created(&admin, "/api/v1/auth/groups", json!({"name": "unrelated"}));
        }
        assert_eq!(hello(), StatusCode::OK, "{config}");
    }
}

#[test]
fn cache_seconds_is_a_documented_key_of_auth_toml() {
    let site = auth_site("[auth]\ncache_seconds = 2\n");
    let (code, out, err) = run(&["config", "check", "--site", site.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, out, _) = run(&["config", "schema", "--file", "auth.toml"]);
    assert_eq!(code, 0);
    let schema: serde_json::Value = serde_json::from_str(&out).unwrap();
    let key = &schema["definitions"]["AuthSection"]["properties"]["cache_seconds"];
    assert!(key["description"].as_str().unwrap().contains("0: not at all"), "{key}");
    assert_eq!(schema["definitions"]["AuthSection"]["properties"]["cache_seconds"]["default"], 5, "{key}");
    let site = auth_site("[auth]\ncache_second = 2\n");
    let (code, _, err) = run(&["config", "check", "--site", site.path().to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("key `auth.cache_second`: unknown key"), "{err}");
}
