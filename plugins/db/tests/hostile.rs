//! The db API against hostile bodies, in-process (the SDK's test harness): conflicts
//! answer without SQL and without revealing rows the caller may not see; unstorable ids,
//! out-of-range numbers, unknown fields and another owner are refused with a 400 naming
//! the field, and the OpenAPI document says so. On SQLite, and on PostgreSQL when its
//! server answers (NUL was a 500 there).

use std::process::Command;

use daas_plugin_api::{
    identity::Identity,
    poem::http::StatusCode,
    sdk::testing::{Started, TestPlugin},
    test_plugin,
};
use serde_json::{json, Value};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Words of the databases' own error texts, which must never reach a client.
const SQL_WORDS: [&str; 8] = ["UNIQUE", "constraint", "duplicate key", "Duplicate entry", "violates", "SQL", "daas_objects", "0x00"];

#[derive(Clone, Copy)]
enum Who {
    User(i64),
    Admin,
}

/// The db plugin started with `[db]` section `db`, its site in a directory of its own.
struct Api {
    db: Started,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn start(db: Value) -> Api {
        let dir = tempfile::tempdir().unwrap();
        let db = TestPlugin::new(test_plugin!(daas_plugin_db)).config(json!({ "db": db })).site_dir(dir.path()).start().await.unwrap();
        Api { db, _dir: dir }
    }

    async fn call(&self, who: Who, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let who = match who {
            Who::User(id) => Identity { user_id: id, user_name: format!("user{id}"), admin: false },
            Who::Admin => Identity { user_id: 1, user_name: "admin".into(), admin: true },
        };
        let (status, body) = self.db.api().json(Some(&who), method, path, body).await;
        for word in SQL_WORDS {
            assert!(!body.to_string().contains(word), "{method} {path}: the database's text reached the client: {body}");
        }
        let status = StatusCode::from_u16(status).unwrap();
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{method} {path}: {body}");
        (status, body)
    }

    /// A 400 whose message names `field`.
    async fn refused(&self, who: Who, method: &str, path: &str, body: Value, field: &str) {
        let (status, answer) = self.call(who, method, path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path} {body}: {answer}");
        assert!(answer["message"].as_str().unwrap().contains(&format!("`{field}`")), "{body}: the message names `{field}`: {answer}");
    }
}

const ANN: Who = Who::User(7);
const BOB: Who = Who::User(8);

/// Item 8: conflicts.
async fn conflicts(db: Value) {
    let api = Api::start(db).await;
    let (ann, bob, admin) = (ANN, BOB, Who::Admin);

    // ---- ids are the server's for users: an id of a row bob may not see (ann's, live or
    // in the trash) is answered exactly like one nobody has.
    let (status, obj) = api.call(ann, "POST", "/objects", Some(json!({"object_type": "vm"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{obj}");
    let anns = obj["id"].as_str().unwrap().to_string();
    let (status, unused) = api.call(bob, "POST", "/objects", Some(json!({"id": "nobody-has-this"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{unused}");
    assert_eq!(unused["message"], "`id`: the server chooses the ids of new objects; leave `id` out, the answer carries it", "{unused}");
    assert_eq!(api.call(bob, "POST", "/objects", Some(json!({"id": anns}))).await, (status, unused.clone()), "ann's live object");
    assert_eq!(api.call(ann, "DELETE", &format!("/objects/{anns}"), None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(api.call(bob, "POST", "/objects", Some(json!({"id": anns}))).await, (status, unused), "ann's trashed object");

    // An administrator (who sees every row) may choose ids: a conflict names the field and
    // what to do, and says when the row is in the trash.
    let (status, body) = api.call(admin, "POST", "/objects", Some(json!({"id": anns}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        body["message"],
        format!(
            "object `{anns}` exists already (it is in the trash: restore it, or remove it from the trash first); leave `id` out to \
             let the server choose one"
        )
    );
    assert_eq!(api.call(admin, "POST", "/files", Some(json!({"id": "shared-file"}))).await.0, StatusCode::CREATED);
    let (status, body) = api.call(admin, "POST", "/files", Some(json!({"id": "shared-file"}))).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (StatusCode::CONFLICT, Some("file `shared-file` exists already; leave `id` out to let the server choose one"))
    );

    // Names are unique per owner: a user's conflicts are with their own rows only.
    assert_eq!(api.call(ann, "POST", "/applications", Some(json!({"name": "editor"}))).await.0, StatusCode::CREATED);
    let (status, body) = api.call(ann, "POST", "/applications", Some(json!({"name": "editor"}))).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (StatusCode::CONFLICT, Some("another application has the same `id_owner` and `name`; choose another `name`"))
    );
    assert_eq!(api.call(bob, "POST", "/applications", Some(json!({"name": "editor"}))).await.0, StatusCode::CREATED, "bob's own name");
}

/// Item 9: values that were stored silently.
async fn values(db: Value) {
    let api = Api::start(db).await;
    let (ann, admin) = (ANN, Who::Admin);

    // ---- ids that are unsafe in a path, a file name or a log, or unstorable (NUL).
    for id in ["a\u{0}b", "a/b", "..", "../etc", "a\u{7}b", "a\nb", "a\u{202e}b", "a\u{2066}b", "a b"] {
        api.refused(admin, "POST", "/objects", json!({"id": id}), "id").await;
    }
    api.refused(admin, "POST", "/environments", json!({"id_object": "../x", "name": "n"}), "id_object").await;
    api.refused(ann, "POST", "/applications", json!({"name": "x", "id_file": "a/b"}), "id_file").await;
    // NUL in any other text: no database here may store it.
    api.refused(ann, "POST", "/files", json!({"name": "a\u{0}b"}), "name").await;
    let (status, body) = api.call(ann, "GET", "/objects/a%00b", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // ---- numbers out of their natural ranges.
    for (field, value) in [
        ("vnc_port_instance", 999_999),
        ("vnc_port_instance", -1),
        ("vnc_port_system", 65_536),
        ("vnc_port_system", -2),
        ("hw_cpus", -1),
        ("hw_memory", -1),
        ("hw_disksize", -1),
        ("id_proxmox", -5),
        ("viewer_colors", 64),
    ] {
        api.refused(ann, "POST", "/objects", json!({ field: value }), field).await;
    }
    api.refused(ann, "POST", "/files", json!({"filesize": -1}), "filesize").await;
    api.refused(admin, "POST", "/limits", json!({"id_owner": 7, "vm_max": -2}), "vm_max").await;
    api.refused(admin, "POST", "/limits", json!({"id_owner": -2}), "id_owner").await;
    api.refused(admin, "POST", "/grants", json!({"id_app": "x", "id_user": 0}), "id_user").await;
    let (status, body) = api.call(ann, "POST", "/objects", Some(json!({"vnc_port_instance": 65535, "vnc_port_system": -1}))).await;
    assert_eq!(status, StatusCode::CREATED, "the bounds themselves are fine: {body}");

    // ---- unknown fields are refused, not dropped.
    api.refused(ann, "POST", "/objects", json!({"object_type": "vm", "is_admin": true}), "is_admin").await;
    let mine = body["id"].as_str().unwrap();
    api.refused(ann, "PATCH", &format!("/objects/{mine}"), json!({"object_state": "x", "admin": true}), "admin").await;
    api.refused(admin, "POST", "/nodes", json!({"authid": "n", "owner": 7}), "owner").await;

    // ---- a user creates for themselves: another owner, shared or global is refused by name.
    for owner in [8, -1] {
        api.refused(ann, "POST", "/files", json!({"id_owner": owner}), "id_owner").await;
    }
    for body in [json!({"id_owner": 7}), json!({"id_owner": 0}), json!({})] {
        let (status, file) = api.call(ann, "POST", "/files", Some(body.clone())).await;
        assert_eq!((status, file["id_owner"].as_i64()), (StatusCode::CREATED, Some(7)), "{body}: ann's own: {file}");
    }

    // ---- the document states these rules.
    let doc = api.db.openapi();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for body in ["NewDaasObject", "DaasObjectPatch"] {
        let object = &schemas[body];
        let props = &object["properties"];
        assert_eq!(
            (props["vnc_port_instance"]["minimum"].as_f64(), props["vnc_port_instance"]["maximum"].as_f64()),
            (Some(0.0), Some(65535.0))
        );
        assert_eq!(props["hw_cpus"]["minimum"].as_f64(), Some(0.0));
        assert_eq!(props["object_state"]["maxLength"], 1024);
        assert_eq!(props["object_state"]["pattern"], "^[^\\x00]*$", "no NUL");
        assert!(object["description"].as_str().unwrap().contains("Unknown fields, `null`"), "{object}");
    }
    // A new object's id (administrators') has the id pattern; an update has no id.
    assert_eq!(schemas["NewDaasObject"]["properties"]["id"]["pattern"], "^[A-Za-z0-9_-]*$");
    assert_eq!(schemas["NewDaasObject"]["properties"]["id"]["maxLength"], 128);
    assert!(schemas["DaasObjectPatch"]["properties"]["id"].is_null());
}

fn sqlite() -> Value {
    json!({ "db_type": "sqlite", "data_path": "data", "secret_key": KEY })
}

/// A PostgreSQL database of its own, created and (with its connections) dropped with
/// `psql`; `None` when the server is unreachable.
struct Postgres(String);

impl Postgres {
    fn psql(sql: &str) -> bool {
        Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c", sql])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn create(what: &str) -> Option<Postgres> {
        let name = format!("daas_hostile_{what}_{}", std::process::id());
        if !Self::psql(&format!("CREATE DATABASE {name}")) {
            println!("SKIPPED: PostgreSQL is unreachable (or psql is missing)");
            return None;
        }
        Some(Postgres(name))
    }

    fn db(&self) -> Value {
        json!({ "db_type": "postgres", "db_host": "127.0.0.1", "db_user": "postgres", "db_name": self.0, "secret_key": KEY })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        Self::psql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0));
    }
}

#[tokio::test]
async fn sqlite_conflicts_name_the_field_and_reveal_no_other_row() {
    conflicts(sqlite()).await;
}

#[tokio::test]
async fn postgres_conflicts_name_the_field_and_reveal_no_other_row() {
    if let Some(pg) = Postgres::create("conflicts") {
        conflicts(pg.db()).await;
    }
}

#[tokio::test]
async fn sqlite_refuses_bad_values_by_field() {
    values(sqlite()).await;
}

#[tokio::test]
async fn postgres_refuses_bad_values_by_field() {
    if let Some(pg) = Postgres::create("values") {
        values(pg.db()).await;
    }
}
