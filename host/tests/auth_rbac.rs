//! Roles and permission rules through the real host: the rules the plugins register
//! (db, auth, info, testbackend) in the catalogue and the merged document, the built-in
//! roles, the default role of the admin flag, a viewer refused with a 403 that names the
//! missing rule, a custom role, the admin role given to a non-admin, an administrator
//! reduced to the user role, and the admin API's refusals.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn site() -> TempSite {
    TempSite::new(&[
        (
            "extensions.toml",
            "[extensions]\nlayers = [\"auth\"]\n\n[[extensions.plugin]]\nname = \"db\"\n\n[[extensions.plugin]]\nname = \"auth\"\n\n[[extensions.plugin]]\nname = \"info\"\n\n[[extensions.plugin]]\nname = \"testbackend\"\n",
        ),
        ("db.toml", &format!("[db]\ndb_type = \"sqlite\"\ndata_path = \"data\"\nsecret_key = \"{KEY}\"\nadmin_credentials = \"admin:s3cret!\"\n")),
    ])
}

fn role_id(roles: &Value, name: &str) -> i64 {
    roles.as_array().unwrap().iter().find(|r| r["name"] == name).map(id).unwrap_or_else(|| panic!("no role {name}: {roles}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

#[test]
fn roles_bundle_the_rules_plugins_register_and_the_layer_refuses_what_they_lack() {
    let site = site();
    let server = Server::start(site.path());
    let admin = login(&server, "admin", "s3cret!");

    // The catalogue: every plugin's rules, with the operations needing each.
    let (status, rules) = admin.get("/api/v1/auth/rules");
    assert_eq!(status, StatusCode::OK, "{rules}");
    let find = |id: &str| rules.as_array().unwrap().iter().find(|r| r["rule"] == id).cloned();
    let object_view = find("object:own:view").expect("the db plugin registers object:own:view");
    assert_eq!(object_view["plugin"], "db");
    assert!(strings(&object_view["operations"]).contains(&"db_list_objects".to_string()), "{object_view}");
    let global_view = find("object:global:view").expect("a required rule brings its wider scopes");
    assert!(strings(&global_view["operations"]).contains(&"db_get_object".to_string()));
    for (rule, plugin) in [("user:global:create", "auth"), ("info:own:view", "info"), ("testbackend:own:create", "testbackend")] {
        assert_eq!(find(rule).unwrap_or_else(|| panic!("{rule} missing")).get("plugin").unwrap(), plugin);
    }
    assert!(find("node:own:view").is_none(), "nodes are administrators' only: no narrower rule");
    // The merged document shows each operation's rule.
    let doc: Value = http().get(server.url("/openapi.json")).send().unwrap().json().unwrap();
    assert_eq!(doc["paths"]["/api/v1/db/objects"]["post"]["x-daas-rule"], "object:own:create");
    assert_eq!(doc["paths"]["/api/v1/auth/users"]["get"]["x-daas-rule"], "user:global:view");

    // Built-in roles: computed from the catalogue, not changeable.
    let (_, roles) = admin.get("/api/v1/auth/roles");
    let names: Vec<&str> = roles.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "user", "viewer"]);
    let viewer_role = &roles[2];
    assert!(viewer_role["builtin"].as_bool().unwrap());
    assert!(strings(&viewer_role["rules"]).iter().all(|r| r.ends_with(":own:view")), "{viewer_role}");
    assert!(strings(&roles[0]["rules"]).contains(&"role:global:edit".to_string()));
    let (status, body) = admin.patch(&format!("/api/v1/auth/roles/{}", role_id(&roles, "user")), json!({"rules": []}));
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(admin.delete(&format!("/api/v1/auth/roles/{}", role_id(&roles, "viewer"))).0, StatusCode::CONFLICT);

    // Users without roles have the default of their admin flag and keep what they did.
    let ann = id(&created(&admin, "/api/v1/auth/users", json!({"name": "ann", "password": "ann-pass-1"})));
    let vic = id(&created(&admin, "/api/v1/auth/users", json!({"name": "vic", "password": "vic-pass-1"})));
    let (_, ann_roles) = admin.get(&format!("/api/v1/auth/users/{ann}/roles"));
    assert_eq!((ann_roles["default"].as_bool(), ann_roles["roles"][0]["name"].as_str()), (Some(true), Some("user")));
    let ann_c = login(&server, "ann", "ann-pass-1");
    let (status, ann_object) = ann_c.post("/api/v1/db/objects", json!({"object_type": "vm"}));
    assert_eq!(status, StatusCode::CREATED);
    let ann_object = ann_object["id"].as_str().unwrap().to_string();
    let sees_ann_object = |who: &As| {
        let (status, page) = who.get("/api/v1/db/objects");
        assert_eq!(status, StatusCode::OK);
        page["items"].as_array().unwrap().iter().any(|o| o["id"] == ann_object.as_str())
    };
    let (status, body) = ann_c.get("/api/v1/auth/users");
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["message"].as_str().unwrap().contains("`user:global:view`"), "the 403 names the missing rule: {body}");

    // A viewer reads and is refused every change, with the rule named.
    assert_eq!(admin.put(&format!("/api/v1/auth/users/{vic}/roles/{}", role_id(&roles, "viewer"))).0, StatusCode::NO_CONTENT);
    let vic_c = login(&server, "vic", "vic-pass-1");
    assert_eq!(vic_c.get("/api/v1/db/objects").0, StatusCode::OK);
    assert_eq!(vic_c.get("/api/v1/info/system").0, StatusCode::OK);
    let (status, body) = vic_c.post("/api/v1/db/objects", json!({"object_type": "vm"}));
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "forbidden");
    assert!(body["message"].as_str().unwrap().contains("`object:own:create`"), "{body}");
    assert!(body["detail"].as_str().unwrap().contains("viewer"), "{body}");
    assert_eq!(vic_c.post("/api/v1/auth/access-tokens", json!({"description": "x"})).0, StatusCode::FORBIDDEN);
    // Their own session needs no rule.
    assert_eq!(vic_c.get("/api/v1/auth/me").0, StatusCode::OK);

    // A custom role: rules must exist; assigned, it replaces the viewer's reach.
    let (status, body) = admin.post("/api/v1/auth/roles", json!({"name": "bad", "rules": ["object:own:fly"]}));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = admin.post("/api/v1/auth/roles", json!({"name": "bad", "rules": ["spaceship:own:view"]}));
    assert_eq!(status, StatusCode::NOT_FOUND, "a well-formed rule no plugin registers: {body}");
    assert_eq!(admin.post("/api/v1/auth/roles", json!({"name": "viewer"})).0, StatusCode::CONFLICT);
    let maker = created(&admin, "/api/v1/auth/roles", json!({"name": "maker", "rules": ["object:own:create", "object:own:view"]}));
    assert_eq!(strings(&maker["rules"]), ["object:own:view", "object:own:create"]);
    assert_eq!(admin.put(&format!("/api/v1/auth/users/{vic}/roles/{}", id(&maker))).0, StatusCode::NO_CONTENT);
    assert_eq!(vic_c.post("/api/v1/db/objects", json!({"object_type": "vm"})).0, StatusCode::CREATED);
    // Editing the role applies at once.
    let (status, _) = admin.patch(&format!("/api/v1/auth/roles/{}", id(&maker)), json!({"rules": ["object:own:view"]}));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(vic_c.post("/api/v1/db/objects", json!({"object_type": "vm"})).0, StatusCode::FORBIDDEN, "viewer + maker without create");
    // Deleting a role takes it from its users.
    assert_eq!(admin.delete(&format!("/api/v1/auth/roles/{}", id(&maker))).0, StatusCode::NO_CONTENT);
    let (_, vic_roles) = admin.get(&format!("/api/v1/auth/users/{vic}/roles"));
    assert_eq!(vic_roles["roles"].as_array().unwrap().len(), 1, "{vic_roles}");

    // The admin role makes a non-admin an administrator: global scope, every row.
    assert!(!sees_ann_object(&vic_c), "own scope: not another user's row");
    assert_eq!(admin.put(&format!("/api/v1/auth/users/{vic}/roles/{}", role_id(&roles, "admin"))).0, StatusCode::NO_CONTENT);
    assert_eq!(vic_c.get("/api/v1/auth/users").0, StatusCode::OK);
    assert!(sees_ann_object(&vic_c), "global scope sees every row");
    // Back to viewer only: unassigning applies at once.
    assert_eq!(admin.delete(&format!("/api/v1/auth/users/{vic}/roles/{}", role_id(&roles, "admin"))).0, StatusCode::NO_CONTENT);
    assert_eq!(vic_c.get("/api/v1/auth/users").0, StatusCode::FORBIDDEN);
    assert_eq!(admin.delete(&format!("/api/v1/auth/users/{vic}/roles/{}", role_id(&roles, "admin"))).0, StatusCode::NOT_FOUND);

    // An administrator given the user role only is an administrator no more.
    let boss = id(&created(&admin, "/api/v1/auth/users", json!({"name": "boss", "password": "boss-pass-1", "admin": true})));
    let boss_c = login(&server, "boss", "boss-pass-1");
    assert_eq!(boss_c.get("/api/v1/auth/users").0, StatusCode::OK);
    assert_eq!(admin.put(&format!("/api/v1/auth/users/{boss}/roles/{}", role_id(&roles, "user"))).0, StatusCode::NO_CONTENT);
    assert_eq!(boss_c.get("/api/v1/auth/users").0, StatusCode::FORBIDDEN);
    assert_eq!(boss_c.get("/api/v1/db/nodes").0, StatusCode::FORBIDDEN);

    // Administrators cannot change their own roles; unknown users and roles are 404.
    let me = admin.get("/api/v1/auth/me").1["id"].as_i64().unwrap();
    assert_eq!(admin.put(&format!("/api/v1/auth/users/{me}/roles/{}", role_id(&roles, "viewer"))).0, StatusCode::CONFLICT);
    assert_eq!(admin.put(&format!("/api/v1/auth/users/9999/roles/{}", role_id(&roles, "viewer"))).0, StatusCode::NOT_FOUND);
    assert_eq!(admin.put(&format!("/api/v1/auth/users/{ann}/roles/9999")).0, StatusCode::NOT_FOUND);
    // Users do not manage roles.
    assert_eq!(ann_c.get("/api/v1/auth/roles").0, StatusCode::FORBIDDEN);
    assert_eq!(ann_c.put(&format!("/api/v1/auth/users/{ann}/roles/{}", role_id(&roles, "admin"))).0, StatusCode::FORBIDDEN);
}
