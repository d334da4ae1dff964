//! The privilege system (seed 000 §3.3.4) through the real host: privilege ids listed by
//! the server, the auth layer's 403 when `[auth] enable_auth_endpoint` is set, static
//! group denies overridden by a user accept, and the admin API for users, groups,
//! memberships and privileges.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[test]
fn a_static_group_deny_answers_403_and_a_user_accept_overrides_it() {
    let site = auth_site("[auth]\nenable_auth_endpoint = true\n");
    let server = Server::start(site.path());
    let admin = login(&server, "admin", "s3cret!");

    // The server lists its privilege ids: the merged operation ids, with method and path.
    let (status, list) = admin.get("/api/v1/auth/privileges");
    assert_eq!(status, StatusCode::OK, "{list}");
    let entry = |p: &str| list.as_array().unwrap().iter().find(|r| r["privilege"] == p).cloned().unwrap_or(Value::Null);
    assert_eq!(entry("testbackend_hello")["method"], "GET");
    assert_eq!(entry("testbackend_hello")["path"], "/api/v1/testbackend/hello");
    assert_eq!(entry("testbackend_hello")["plugin"], "testbackend");
    assert_eq!(entry("testbackend_health")["public"], true);
    assert_eq!(entry("auth_me")["self_service"], true);
    assert_eq!(entry("auth_create_user")["method"], "POST");
    assert_eq!(entry("host_plugins")["path"], "/api/v1/plugins");
    assert_eq!(entry("auth_logout")["path"], "/logout");

    let ann = created(&admin, "/api/v1/auth/users", json!({"name": "ann", "password": "ann-pass-1"}));
    assert_eq!((ann["name"].as_str(), ann["admin"].as_bool(), ann["has_password"].as_bool()), (Some("ann"), Some(false), Some(true)));
    let ann_id = id(&ann);
    let user = login(&server, "ann", "ann-pass-1");

    // No rule: denied, naming the privilege. Public and self-service routes pass; an
    // administrator passes without any rule.
    let (status, body) = user.get("/api/v1/testbackend/hello");
    assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("`testbackend_hello`"), "{body}");
    assert_eq!(user.get("/api/v1/testbackend/health").0, StatusCode::OK);
    assert_eq!(user.get("/api/v1/auth/me").0, StatusCode::OK);
    assert_eq!(admin.get("/api/v1/testbackend/hello").0, StatusCode::OK);

    // A static group grants it (the cache, loaded by the check above, is refreshed by
    // the change).
    let staff = created(&admin, "/api/v1/auth/groups", json!({"name": "staff", "is_static": true}));
    created(
        &admin,
        &format!("/api/v1/auth/groups/{}/privileges", id(&staff)),
        json!({"privilege": "testbackend_hello", "effect": "accept"}),
    );
    assert_eq!(admin.put(&format!("/api/v1/auth/groups/{}/members/{ann_id}", id(&staff))).0, StatusCode::NO_CONTENT);
    assert_eq!(user.get("/api/v1/testbackend/hello").0, StatusCode::OK, "accepted by the static group");

    // A second static group denies it: deny over accept at the same level.
    let revoked =
        created(&admin, "/api/v1/auth/groups", json!({"name": "revoked", "description": "longer lasting revocations", "is_static": true}));
    created(
        &admin,
        &format!("/api/v1/auth/groups/{}/privileges", id(&revoked)),
        json!({"privilege": "testbackend_hello", "effect": "deny"}),
    );
    assert_eq!(admin.put(&format!("/api/v1/auth/groups/{}/members/{ann_id}", id(&revoked))).0, StatusCode::NO_CONTENT);
    let (status, body) = user.get("/api/v1/testbackend/hello");
    assert_eq!(status, StatusCode::FORBIDDEN, "denied by the static group: {body}");
    assert!(body["message"].as_str().unwrap().contains("`testbackend_hello`"), "{body}");

    // A user accept overrides the groups; removed, the static deny is back.
    let entry =
        created(&admin, &format!("/api/v1/auth/users/{ann_id}/privileges"), json!({"privilege": "testbackend_hello", "effect": "accept"}));
    assert_eq!((entry["subject_kind"].as_str(), entry["effect"].as_str()), (Some("user"), Some("accept")));
    assert_eq!(user.get("/api/v1/testbackend/hello").0, StatusCode::OK, "user accept over static group deny");
    assert_eq!(admin.delete(&format!("/api/v1/auth/users/{ann_id}/privileges/testbackend_hello")).0, StatusCode::NO_CONTENT);
    assert_eq!(user.get("/api/v1/testbackend/hello").0, StatusCode::FORBIDDEN);

    // A non-static group grants another route; the static deny of `revoked` does not
    // touch it.
    let project = created(&admin, "/api/v1/auth/groups", json!({"name": "project"}));
    assert_eq!(project["is_static"], false);
    created(
        &admin,
        &format!("/api/v1/auth/groups/{}/privileges", id(&project)),
        json!({"privilege": "testbackend_whoami", "effect": "accept"}),
    );
    assert_eq!(user.get("/api/v1/testbackend/whoami").0, StatusCode::FORBIDDEN, "not a member yet");
    assert_eq!(admin.put(&format!("/api/v1/auth/groups/{}/members/{ann_id}", id(&project))).0, StatusCode::NO_CONTENT);
    assert_eq!(user.get("/api/v1/testbackend/whoami").0, StatusCode::OK, "accepted by the non-static group");
    // ...and a user deny overrides it.
    created(&admin, &format!("/api/v1/auth/users/{ann_id}/privileges"), json!({"privilege": "testbackend_whoami", "effect": "deny"}));
    assert_eq!(user.get("/api/v1/testbackend/whoami").0, StatusCode::FORBIDDEN, "user deny over group accept");

    // Entries are checked: unknown ids, duplicates, missing subjects.
    let (status, body) =
        admin.post(&format!("/api/v1/auth/users/{ann_id}/privileges"), json!({"privilege": "no_such_route", "effect": "accept"}));
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["message"].as_str().unwrap().contains("GET /api/v1/auth/privileges"), "{body}");
    let (status, body) =
        admin.post(&format!("/api/v1/auth/users/{ann_id}/privileges"), json!({"privilege": "testbackend_whoami", "effect": "accept"}));
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{body}");
    assert_eq!(admin.get("/api/v1/auth/users/9999/privileges").0, StatusCode::NOT_FOUND);
    assert_eq!(admin.delete(&format!("/api/v1/auth/groups/{}/privileges/testbackend_sum", id(&staff))).0, StatusCode::NOT_FOUND);
    let (status, rows) = admin.get(&format!("/api/v1/auth/groups/{}/privileges", id(&revoked)));
    assert_eq!(
        (status, rows),
        (
            StatusCode::OK,
            json!([{"subject_kind": "group", "subject_id": id(&revoked), "privilege": "testbackend_hello", "effect": "deny"}])
        )
    );

    // Dropping the deny group (with its entries and memberships) gives the static accept
    // back.
    assert_eq!(admin.delete(&format!("/api/v1/auth/groups/{}", id(&revoked))).0, StatusCode::NO_CONTENT);
    assert_eq!(user.get("/api/v1/testbackend/hello").0, StatusCode::OK);
    let (_, me) = admin.get(&format!("/api/v1/auth/users/{ann_id}"));
    assert_eq!(me["groups"], json!([id(&staff), id(&project)]));
}

#[test]
fn admins_manage_users_groups_and_memberships_and_no_one_else_may() {
    // Enforcement off (the default): privileges are stored but nobody is refused.
    let site = auth_site("");
    let server = Server::start(site.path());
    let admin = login(&server, "admin", "s3cret!");
    let bob_id = id(&created(&admin, "/api/v1/auth/users", json!({"name": "bob", "email": "bob@example.org", "password": "bob-pass-1"})));
    let bob = login(&server, "bob", "bob-pass-1");

    // Non-admins: 403 on every admin route, whatever it is; anonymous: 401.
    for (status, body) in [
        bob.get("/api/v1/auth/users"),
        bob.post("/api/v1/auth/users", json!({"name": "eve", "password": "x"})),
        bob.patch(&format!("/api/v1/auth/users/{bob_id}"), json!({"admin": true})),
        bob.delete(&format!("/api/v1/auth/users/{bob_id}")),
        bob.get("/api/v1/auth/groups"),
        bob.post("/api/v1/auth/groups", json!({"name": "mine"})),
        bob.put(&format!("/api/v1/auth/groups/1/members/{bob_id}")),
        bob.get(&format!("/api/v1/auth/users/{bob_id}/privileges")),
        bob.post(&format!("/api/v1/auth/users/{bob_id}/privileges"), json!({"privilege": "testbackend_hello", "effect": "accept"})),
    ] {
        assert_eq!((status, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "{body}");
    }
    assert_eq!(http().get(server.url("/api/v1/auth/users")).send().unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(bob.get("/api/v1/auth/privileges").0, StatusCode::OK, "any authenticated caller lists privilege ids");

    // Users: list (no secrets, checked on every answer), update, conflicts, disable.
    let (status, users) = admin.get("/api/v1/auth/users");
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = users.as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "bob"]);
    let (status, body) = admin.post("/api/v1/auth/users", json!({"name": "bob", "password": "x"}));
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{body}");
    assert_eq!(admin.post("/api/v1/auth/users", json!({"name": "  ", "password": "x"})).0, StatusCode::BAD_REQUEST);
    assert_eq!(admin.post("/api/v1/auth/users", json!({"name": "carl", "password": ""})).0, StatusCode::BAD_REQUEST);
    assert_eq!(admin.patch(&format!("/api/v1/auth/users/{bob_id}"), json!({"name": "admin"})).0, StatusCode::CONFLICT);
    assert_eq!(admin.get("/api/v1/auth/users/9999").0, StatusCode::NOT_FOUND);
    let (status, me) = admin.get("/api/v1/auth/me");
    let admin_id = me["id"].as_i64().unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(admin.patch(&format!("/api/v1/auth/users/{admin_id}"), json!({"admin": false})).0, StatusCode::CONFLICT);
    assert_eq!(admin.delete(&format!("/api/v1/auth/users/{admin_id}")).0, StatusCode::CONFLICT);

    let (status, changed) = admin.patch(&format!("/api/v1/auth/users/{bob_id}"), json!({"email": "robert@example.org", "disabled": true}));
    assert_eq!(
        (status, changed["email"].as_str(), changed["disabled"].as_bool()),
        (StatusCode::OK, Some("robert@example.org"), Some(true))
    );
    assert_eq!(bob.get("/api/v1/auth/me").0, StatusCode::UNAUTHORIZED, "a disabled user's session stops working");
    let r = http().post(server.url("/api/v1/auth/token")).json(&json!({"username": "bob", "password": "bob-pass-1"})).send().unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (status, changed) = admin
        .patch(&format!("/api/v1/auth/users/{bob_id}"), json!({"disabled": false, "password": "bob-pass-2", "reset_second_factor": true}));
    assert_eq!((status, changed["disabled"].as_bool(), changed["second_factor"].as_bool()), (StatusCode::OK, Some(false), Some(false)));
    let bob = login(&server, "bob", "bob-pass-2");

    // Groups and memberships.
    let g = created(&admin, "/api/v1/auth/groups", json!({"name": "staff", "description": "regular users", "is_static": true}));
    let gid = id(&g);
    assert_eq!(admin.post("/api/v1/auth/groups", json!({"name": "staff"})).0, StatusCode::CONFLICT);
    let (status, g2) =
        admin.patch(&format!("/api/v1/auth/groups/{gid}"), json!({"is_static": false, "description": "now fetched per request"}));
    assert_eq!((status, g2["is_static"].as_bool(), g2["name"].as_str()), (StatusCode::OK, Some(false), Some("staff")));
    assert_eq!(admin.put(&format!("/api/v1/auth/groups/{gid}/members/{bob_id}")).0, StatusCode::NO_CONTENT);
    assert_eq!(admin.put(&format!("/api/v1/auth/groups/{gid}/members/{bob_id}")).0, StatusCode::NO_CONTENT, "idempotent");
    assert_eq!(admin.put(&format!("/api/v1/auth/groups/{gid}/members/9999")).0, StatusCode::NOT_FOUND);
    assert_eq!(admin.put(&format!("/api/v1/auth/groups/9999/members/{bob_id}")).0, StatusCode::NOT_FOUND);
    let (_, members) = admin.get(&format!("/api/v1/auth/groups/{gid}/members"));
    assert_eq!(members.as_array().unwrap().iter().map(|u| u["name"].clone()).collect::<Vec<_>>(), [json!("bob")]);
    let (_, groups) = admin.get("/api/v1/auth/groups");
    assert_eq!(groups.as_array().unwrap().len(), 1);

    // Privileges are stored, but with enforcement off a deny refuses nothing.
    created(&admin, &format!("/api/v1/auth/groups/{gid}/privileges"), json!({"privilege": "testbackend_hello", "effect": "deny"}));
    assert_eq!(bob.get("/api/v1/testbackend/hello").0, StatusCode::OK);

    assert_eq!(admin.delete(&format!("/api/v1/auth/groups/{gid}/members/{bob_id}")).0, StatusCode::NO_CONTENT);
    assert_eq!(admin.delete(&format!("/api/v1/auth/groups/{gid}/members/{bob_id}")).0, StatusCode::NOT_FOUND);

    // Deleting a user takes their entries, memberships and sessions along.
    created(&admin, &format!("/api/v1/auth/users/{bob_id}/privileges"), json!({"privilege": "testbackend_hello", "effect": "accept"}));
    admin.put(&format!("/api/v1/auth/groups/{gid}/members/{bob_id}"));
    assert_eq!(admin.delete(&format!("/api/v1/auth/users/{bob_id}")).0, StatusCode::NO_CONTENT);
    assert_eq!(admin.get(&format!("/api/v1/auth/users/{bob_id}")).0, StatusCode::NOT_FOUND);
    assert_eq!(bob.get("/api/v1/auth/me").0, StatusCode::UNAUTHORIZED);
    let (_, members) = admin.get(&format!("/api/v1/auth/groups/{gid}/members"));
    assert_eq!(members, json!([]));
    // A user created later under a reused id inherits nothing.
    let carl_id = id(&created(&admin, "/api/v1/auth/users", json!({"name": "carl", "password": "carl-pass-1"})));
    let (_, rows) = admin.get(&format!("/api/v1/auth/users/{carl_id}/privileges"));
    assert_eq!(rows, json!([]));

    assert_eq!(admin.delete(&format!("/api/v1/auth/groups/{gid}")).0, StatusCode::NO_CONTENT);
    assert_eq!(admin.get(&format!("/api/v1/auth/groups/{gid}")).0, StatusCode::NOT_FOUND);
}
