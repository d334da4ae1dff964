//! The db plugin's REST API in-process (the SDK's test harness) on a fresh SQLite file:
//! ownership (a foreign id is 404), validation (400), duplicates (409), pages, the
//! trash, and that no secret is ever answered. Callers are attached as the auth layer
//! attaches them.

use daas_plugin_api::{
    identity::Identity,
    poem::http::StatusCode,
    sdk::testing::{Started, TestPlugin},
    test_plugin,
};
use serde_json::{json, Value};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The db plugin started on a SQLite file of its own.
struct Api {
    db: Started,
    _dir: tempfile::TempDir,
}

/// A caller: a user id, or an admin.
#[derive(Clone, Copy)]
enum Who {
    User(i64),
    Admin,
    Nobody,
}

impl Who {
    fn identity(self) -> Option<Identity> {
        match self {
            Who::User(id) => Some(Identity { user_id: id, user_name: format!("user{id}"), admin: false }),
            Who::Admin => Some(Identity { user_id: 1, user_name: "admin".into(), admin: true }),
            Who::Nobody => None,
        }
    }
}

impl Api {
    async fn start() -> Api {
        let dir = tempfile::tempdir().unwrap();
        let file = json!({ "db": { "db_type": "sqlite", "data_path": "data", "secret_key": KEY } });
        let db = TestPlugin::new(test_plugin!(daas_plugin_db)).config(file).site_dir(dir.path()).start().await.unwrap();
        Api { db, _dir: dir }
    }

    async fn call(&self, who: Who, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let (status, body) = self.db.api().json(who.identity().as_ref(), method, path, body).await;
        (StatusCode::from_u16(status).unwrap(), body)
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn objects_are_owned_validated_paged_and_trashed_and_never_show_secrets() {
    let api = Api::start().await;
    let (ann, bob) = (Who::User(7), Who::User(8));

    // No caller, no answer.
    let (status, body) = api.call(Who::Nobody, "GET", "/objects", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "unauthenticated");

    // A user's new object is theirs, with an id the server made, the seed's defaults,
    // without its secrets.
    let (status, obj) = api.call(ann, "POST", "/objects", Some(json!({"object_type": "container", "vnc_password": "s3cret"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{obj}");
    assert_eq!(obj["id_owner"], 7);
    assert_eq!(obj["viewer_resolution"], "1280x800");
    assert!(obj.get("vnc_password").is_none() && obj.get("os_password").is_none(), "secrets never answered: {obj}");
    let a1 = obj["id"].as_str().unwrap().to_string();
    assert_eq!(a1.len(), 36, "a UUID: {a1}");
    let raw = api.call(ann, "GET", &format!("/objects/{a1}"), None).await.1.to_string();
    assert!(!raw.contains("s3cret") && !raw.contains("password"), "{raw}");

    // Duplicates (an administrator's: users give no ids), invalid values and bodies are
    // client errors with JSON.
    let (status, body) = api.call(Who::Admin, "POST", "/objects", Some(json!({"id": a1}))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{body}");
    let (status, body) = api.call(ann, "POST", "/objects", Some(json!({"id": "a2", "object_type": "toaster"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("`object_type`"), "{body}");
    let (status, body) = api.call(ann, "POST", "/objects", Some(json!({"id": "a2", "hw_cpus": "many"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "bad_request");

    // Another user cannot see it, change it or delete it: 404, as if it did not exist.
    for (method, body) in [("GET", None), ("PATCH", Some(json!({"object_state": "x"}))), ("DELETE", None)] {
        let (status, _) = api.call(bob, method, &format!("/objects/{a1}"), body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}");
    }
    let (_, page) = api.call(bob, "GET", "/objects", None).await;
    assert!(ids(&page).is_empty(), "{page}");
    // Nor create one in someone else's name.
    let (status, body) = api.call(bob, "POST", "/objects", Some(json!({"id_owner": 7}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("`id_owner`: "), "{body}");

    // Shared objects (an admin's, owner 0) are visible to all, changed by admins only.
    let (status, _) = api.call(Who::Admin, "POST", "/objects", Some(json!({"id": "shared", "object_type": "vm"}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, page) = api.call(bob, "GET", "/objects", None).await;
    assert_eq!(ids(&page), ["shared"]);
    let (status, body) = api.call(bob, "PATCH", "/objects/shared", Some(json!({"object_type": "vm", "object_state": "mine"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (_, page) = api.call(Who::Admin, "GET", "/objects?sort=id", None).await;
    let mut all = vec![a1.clone(), "shared".to_string()];
    all.sort();
    assert_eq!(ids(&page), all, "admins see everything");

    // Update: the path names the row (no `id` in the body); the owner cannot be given away.
    let path = format!("/objects/{a1}");
    let (status, body) = api.call(ann, "PATCH", &path, Some(json!({"id": "other", "object_state": "running"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an update has no `id`: {body}");
    let (status, obj) = api.call(ann, "PATCH", &path, Some(json!({"object_type": "container", "object_state": "running"}))).await;
    assert_eq!(status, StatusCode::OK, "{obj}");
    assert_eq!((obj["id"].as_str(), obj["object_state"].as_str(), obj["id_owner"].as_i64()), (Some(a1.as_str()), Some("running"), Some(7)));
    let (status, body) = api.call(ann, "PATCH", &path, Some(json!({"id_owner": 8}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("`id_owner`: "), "{body}");

    // Trash: delete hides, restore brings back, purge removes for good.
    let (trashed, restore) = (format!("/trash/objects/{a1}"), format!("/trash/objects/{a1}/restore"));
    let (status, _) = api.call(ann, "DELETE", &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(api.call(ann, "GET", &path, None).await.0, StatusCode::NOT_FOUND);
    let (_, trash) = api.call(ann, "GET", "/trash/objects", None).await;
    assert_eq!(ids(&trash), [a1.as_str()]);
    let (_, trash) = api.call(bob, "GET", "/trash/objects", None).await;
    assert!(ids(&trash).is_empty(), "the trash is owned too");
    assert_eq!(api.call(bob, "POST", &restore, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.call(ann, "POST", &restore, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(api.call(ann, "GET", &path, None).await.0, StatusCode::OK);
    assert_eq!(api.call(ann, "DELETE", &trashed, None).await.0, StatusCode::NOT_FOUND, "only the trash is purged");
    api.call(ann, "DELETE", &path, None).await;
    assert_eq!(api.call(ann, "DELETE", &trashed, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(api.call(ann, "POST", &restore, None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn listings_page_filter_and_sort_with_clear_errors() {
    let api = Api::start().await;
    let ann = Who::User(7);
    // Ann's files, with ids an administrator chose, so that their order is known.
    for i in 0..7 {
        let os = if i % 2 == 0 { "l26" } else { "win11" };
        let body = json!({"id": format!("f{i}"), "id_owner": 7, "name": format!("n{}", 6 - i), "os_type": os});
        let (status, body) = api.call(Who::Admin, "POST", "/files", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    // Pages of 3 by name: every file once, in order.
    let mut seen = Vec::new();
    let mut path = "/files?limit=3&sort=name".to_string();
    loop {
        let (status, page) = api.call(ann, "GET", &path, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page["items"].as_array().unwrap().len() <= 3);
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/files?limit=3&sort=name&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ["f6", "f5", "f4", "f3", "f2", "f1", "f0"]);
    let (_, page) = api.call(ann, "GET", "/files?filter=os_type:win11&sort=-id", None).await;
    assert_eq!(ids(&page), ["f5", "f3", "f1"]);

    // What the schema refuses is a 400; what it cannot say (the filter columns, the
    // cursors handed out) a 422.
    for (path, expected, needle) in [
        ("/files?sort=password", StatusCode::BAD_REQUEST, "`sort`"),
        ("/files?filter=localpath:/etc", StatusCode::UNPROCESSABLE_ENTITY, "cannot filter by `localpath`"),
        ("/files?filter=nocolon", StatusCode::UNPROCESSABLE_ENTITY, "is not `column:value`"),
        ("/files?filter=id_owner:seven", StatusCode::UNPROCESSABLE_ENTITY, "id_owner"),
        ("/files?cursor=garbage", StatusCode::UNPROCESSABLE_ENTITY, "cursor"),
        ("/files?limit=0", StatusCode::BAD_REQUEST, ""),
        ("/files?limit=501", StatusCode::BAD_REQUEST, ""),
    ] {
        let (status, body) = api.call(ann, "GET", path, None).await;
        assert_eq!(status, expected, "{path}: {body}");
        assert!(body["message"].as_str().unwrap_or_default().contains(needle), "{path}: {body}");
    }
    // A cursor of one sort order is refused by another.
    let (_, page) = api.call(ann, "GET", "/files?limit=2&sort=name", None).await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let (status, body) = api.call(ann, "GET", &format!("/files?limit=2&sort=id&cursor={cursor}"), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn limits_grants_nodes_and_environments_follow_their_rules() {
    let api = Api::start().await;
    let (ann, bob, admin) = (Who::User(7), Who::User(8), Who::Admin);

    // Limits: admins set them; a user sees their own and the global ones.
    let limit = json!({"id_owner": 7, "vm_max": 1, "container_max": 2, "obj_max": 3, "cpu_max": 4, "mem_max": 5, "dsk_max": 6});
    assert_eq!(api.call(ann, "POST", "/limits", Some(limit.clone())).await.0, StatusCode::FORBIDDEN);
    assert_eq!(api.call(admin, "POST", "/limits", Some(limit.clone())).await.0, StatusCode::CREATED);
    assert_eq!(api.call(admin, "POST", "/limits", Some(limit)).await.0, StatusCode::CONFLICT);
    assert_eq!(api.call(admin, "POST", "/limits", Some(json!({"id_owner": -1, "vm_max": 9}))).await.0, StatusCode::CREATED);
    assert_eq!(api.call(ann, "GET", "/limits/7", None).await.1["vm_max"], 1);
    assert_eq!(api.call(bob, "GET", "/limits/7", None).await.0, StatusCode::NOT_FOUND);
    let (_, page) = api.call(bob, "GET", "/limits", None).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "bob sees the global limits only: {page}");
    assert_eq!(
        api.call(ann, "PATCH", "/limits/7", Some(json!({"vm_max": 100}))).await.0,
        StatusCode::FORBIDDEN,
        "users cannot raise their limits"
    );

    // Environments follow their object.
    api.call(admin, "POST", "/objects", Some(json!({"id": "ann-obj", "id_owner": 7}))).await;
    api.call(admin, "POST", "/objects", Some(json!({"id": "bob-obj", "id_owner": 8}))).await;
    let (status, env) = api.call(ann, "POST", "/environments", Some(json!({"id_object": "ann-obj", "name": "office"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{env}");
    let env_id = env["id"].as_str().unwrap();
    assert_eq!(api.call(bob, "GET", &format!("/environments/{env_id}"), None).await.0, StatusCode::NOT_FOUND);
    let (status, body) = api.call(ann, "POST", "/environments", Some(json!({"id_object": "bob-obj", "name": "x"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another user's object, as if it did not exist: {body}");
    assert_eq!(
        api.call(ann, "POST", "/environments", Some(json!({"id_object": "ann-obj", "name": "office"}))).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(api.call(ann, "POST", "/environments", Some(json!({"id_object": "ann-obj", "name": " "}))).await.0, StatusCode::BAD_REQUEST);

    // Grants: admins grant, the user sees theirs; a volume is `source:target:ro|rw`.
    let (status, body) = api.call(admin, "POST", "/grants", Some(json!({"id_app": "ann-obj", "id_user": 7, "volume": "/srv:/data"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["message"].as_str().unwrap().contains("`volume`"), "{body}");
    let (status, grant) =
        api.call(admin, "POST", "/grants", Some(json!({"id_app": "ann-obj", "id_user": 7, "volume": "/srv:/data:rw"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    assert_eq!(grant["id"].as_str().unwrap().len(), 32);
    assert_eq!(grant["volume"], "/srv:/data:rw");
    assert_eq!(ids(&api.call(ann, "GET", "/grants", None).await.1).len(), 1);
    assert!(ids(&api.call(bob, "GET", "/grants", None).await.1).is_empty());
    assert_eq!(api.call(ann, "POST", "/grants", Some(json!({"id_app": "ann-obj", "id_user": 7}))).await.0, StatusCode::FORBIDDEN);
    let (status, body) = api.call(admin, "POST", "/grants", Some(json!({"id_app": "no-such-app", "id_user": 7}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a grant needs an existing app: {body}");

    // Nodes: administrators only.
    assert_eq!(api.call(ann, "GET", "/nodes", None).await.0, StatusCode::FORBIDDEN);
    let (status, node) = api.call(admin, "POST", "/nodes", Some(json!({"authid": "n1", "pubkey": "ab", "tags": ["gpu"]}))).await;
    assert_eq!(status, StatusCode::CREATED, "{node}");
    assert_eq!(api.call(admin, "GET", &format!("/nodes/{}", node["id"].as_str().unwrap()), None).await.1["tags"], json!(["gpu"]));
}

#[tokio::test]
async fn applications_build_only_on_files_and_templates_the_caller_may_see() {
    let api = Api::start().await;
    let (ann, bob) = (Who::User(7), Who::User(8));
    api.call(Who::Admin, "POST", "/files", Some(json!({"id": "ann-file", "id_owner": 7}))).await;
    api.call(Who::Admin, "POST", "/objects", Some(json!({"id": "ann-tpl", "id_owner": 7}))).await;
    api.call(Who::Admin, "POST", "/files", Some(json!({"id": "shared-file"}))).await;
    for (body, field) in [
        (json!({"name": "x", "id_file": "ann-file"}), "id_file"),
        (json!({"name": "x", "id_template": "ann-tpl"}), "id_template"),
        (json!({"name": "x", "id_file": "nope"}), "id_file"),
    ] {
        let (status, err) = api.call(bob, "POST", "/applications", Some(body)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "a well-formed body naming what is not there: {err}");
        assert!(err["message"].as_str().unwrap().contains(field) && err["message"].as_str().unwrap().contains("does not exist"), "{err}");
    }
    let (status, app) = api.call(bob, "POST", "/applications", Some(json!({"name": "x", "id_file": "shared-file"}))).await;
    assert_eq!(status, StatusCode::CREATED, "shared files are everyone's to use: {app}");
    let (status, _) =
        api.call(ann, "POST", "/applications", Some(json!({"name": "y", "id_file": "ann-file", "id_template": "ann-tpl"}))).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn an_admins_patch_keeps_the_owner_and_the_row_is_checked_before_the_body() {
    let api = Api::start().await;
    let (ann, bob, admin) = (Who::User(7), Who::User(8), Who::Admin);

    // An administrator's PATCH that leaves the owner out keeps it: the row stays ann's and
    // does not become shared (visible to bob).
    api.call(admin, "POST", "/objects", Some(json!({"id": "ann-obj", "id_owner": 7, "object_type": "vm"}))).await;
    api.call(admin, "POST", "/files", Some(json!({"id": "ann-file", "id_owner": 7, "name": "f"}))).await;
    for (path, body) in [("/objects/ann-obj", json!({"object_type": "container"})), ("/files/ann-file", json!({"name": "g"}))] {
        let (status, row) = api.call(admin, "PATCH", path, Some(body)).await;
        assert_eq!((status, row["id_owner"].as_i64()), (StatusCode::OK, Some(7)), "{path}: {row}");
        assert_eq!(api.call(bob, "GET", path, None).await.0, StatusCode::NOT_FOUND, "{path} is still ann's alone");
    }
    // Naming another owner still moves the row.
    let (status, row) = api.call(admin, "PATCH", "/files/ann-file", Some(json!({"name": "g", "id_owner": 8}))).await;
    assert_eq!((status, row["id_owner"].as_i64()), (StatusCode::OK, Some(8)), "{row}");

    // Another user's row is 404 whatever the body refers to or holds (a body that breaks
    // the schema is a 400 for everyone first: that says nothing about any row).
    let (status, body) = api.call(bob, "PATCH", "/objects/ann-obj", Some(json!({"object_type": "container"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, grant) = api.call(admin, "POST", "/grants", Some(json!({"id_app": "ann-obj", "id_user": 7}))).await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    let grant_path = format!("/grants/{}", grant["id"].as_str().unwrap());
    let (status, body) = api.call(bob, "PATCH", &grant_path, Some(json!({"id_app": "ann-obj", "id_user": 7}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // What only administrators do is 403 for users before the rows the body names are
    // looked at. (A body that breaks the schema is 400 for everyone: that says nothing
    // about any row.)
    let (status, body) = api.call(bob, "POST", "/grants", Some(json!({"id_app": "ann-obj", "id_user": 8}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = api.call(ann, "POST", "/limits", Some(json!({"id_owner": 7, "vm_max": -1}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

#[tokio::test]
async fn bodies_take_only_what_the_client_chooses_and_answers_send_their_nulls() {
    let api = Api::start().await;
    let ann = Who::User(7);
    // A create body without any server-set field.
    let (status, obj) = api.call(ann, "POST", "/objects", Some(json!({"object_type": "vm", "hw_cpus": 2, "vnc_password": "pw"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{obj}");
    assert!(obj.as_object().unwrap().contains_key("deleted_at") && obj["deleted_at"].is_null(), "null, as declared: {obj}");
    let path = format!("/objects/{}", obj["id"].as_str().unwrap());
    // A patch changes only what it names.
    let (status, changed) = api.call(ann, "PATCH", &path, Some(json!({"hw_memory": 1024}))).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        (changed["hw_memory"].as_i64(), changed["hw_cpus"].as_i64(), changed["object_type"].as_str()),
        (Some(1024), Some(2), Some("vm"))
    );
    // Wrong JSON types and nulls are 400s naming the field; nothing changed.
    for body in [json!({"object_state": 5}), json!({"os_wine": "true"}), json!({"hw_cpus": null}), json!({"object_tasks": {}})] {
        let (status, answer) = api.call(ann, "PATCH", &path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let field = body.as_object().unwrap().keys().next().unwrap().clone();
        assert!(answer["message"].as_str().unwrap().contains(&format!("`{field}`")), "{body}: {answer}");
    }
    assert_eq!(api.call(ann, "GET", &path, None).await.1["hw_cpus"], 2);
    // The last page's cursor is null; an empty filter is no filter.
    let (status, page) = api.call(ann, "GET", "/objects?filter=", None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.as_object().unwrap().contains_key("next_cursor") && page["next_cursor"].is_null(), "{page}");
    // A path value that does not parse names the parameter.
    let (status, answer) = api.call(Who::Admin, "GET", "/limits/seven", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("`id`"), "{answer}");
}
