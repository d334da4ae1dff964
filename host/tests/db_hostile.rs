//! The db API against hostile bodies (issue 13, items 8 and 9), through the real host:
//! conflicts answer without SQL and without revealing rows the caller may not see;
//! unstorable ids, out-of-range numbers, unknown fields and another owner are refused
//! with a 400 naming the field, and the OpenAPI document says so. On SQLite, and on
//! PostgreSQL when its server answers (NUL was a 500 there).

mod common;

use std::process::Command;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Words of the databases' own error texts, which must never reach a client.
const SQL_WORDS: [&str; 8] = ["UNIQUE", "constraint", "duplicate key", "Duplicate entry", "violates", "SQL", "daas_objects", "0x00"];

fn site(db_toml: &str) -> TempSite {
    TempSite::new(&[
        (
            "extensions.toml",
            "[extensions]\nlayers = [\"testing\"]\n\n[[extensions.plugin]]\nname = \"db\"\n\n[[extensions.plugin]]\nname = \"testbackend\"\n",
        ),
        ("db.toml", db_toml),
    ])
}

#[derive(Clone, Copy)]
enum Who {
    User(i64),
    Admin,
}

struct Api {
    server: Server,
    http: reqwest::blocking::Client,
}

impl Api {
    fn call(&self, who: Who, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut r = self.http.request(method.parse().unwrap(), self.server.url(&format!("/api/v1/db{path}")));
        r = match who {
            Who::User(id) => r.header("x-test-user-id", id.to_string()),
            Who::Admin => r.header("x-test-user-id", "1").header("x-test-admin", "true"),
        };
        if let Some(b) = body {
            r = r.json(&b);
        }
        let (status, body) = status_and_body(r.send().unwrap());
        for word in SQL_WORDS {
            assert!(!body.to_string().contains(word), "{method} {path}: the database's text reached the client: {body}");
        }
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{method} {path}: {body}");
        (status, body)
    }

    /// A 400 whose message names `field`.
    fn refused(&self, who: Who, method: &str, path: &str, body: Value, field: &str) {
        let (status, answer) = self.call(who, method, path, Some(body.clone()));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path} {body}: {answer}");
        assert!(answer["message"].as_str().unwrap().contains(&format!("`{field}`")), "{body}: the message names `{field}`: {answer}");
    }
}

impl Api {
    fn start(site: &TempSite) -> Api {
        Api { server: Server::start(site.path()), http: client() }
    }
}

const ANN: Who = Who::User(7);
const BOB: Who = Who::User(8);

/// Item 8: conflicts.
fn conflicts(db_toml: &str) {
    let site = site(db_toml);
    let api = Api::start(&site);
    let (ann, bob, admin) = (ANN, BOB, Who::Admin);

    // ---- ids are the server's for users: an id of a row bob may not see (ann's, live or
    // in the trash) is answered exactly like one nobody has.
    let (status, obj) = api.call(ann, "POST", "/objects", Some(json!({"object_type": "vm"})));
    assert_eq!(status, StatusCode::CREATED, "{obj}");
    let anns = obj["id"].as_str().unwrap().to_string();
    let (status, unused) = api.call(bob, "POST", "/objects", Some(json!({"id": "nobody-has-this"})));
    assert_eq!(status, StatusCode::BAD_REQUEST, "{unused}");
    assert_eq!(unused["message"], "`id`: the server chooses the ids of new objects; leave `id` out, the answer carries it", "{unused}");
    assert_eq!(api.call(bob, "POST", "/objects", Some(json!({"id": anns}))), (status, unused.clone()), "ann's live object");
    assert_eq!(api.call(ann, "DELETE", &format!("/objects/{anns}"), None).0, StatusCode::NO_CONTENT);
    assert_eq!(api.call(bob, "POST", "/objects", Some(json!({"id": anns}))), (status, unused), "ann's trashed object");

    // An administrator (who sees every row) may choose ids: a conflict names the field and
    // what to do, and says when the row is in the trash.
    let (status, body) = api.call(admin, "POST", "/objects", Some(json!({"id": anns})));
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        body["message"],
        format!(
            "object `{anns}` exists already (it is in the trash: restore it, or remove it from the trash first); leave `id` out to \
             let the server choose one"
        )
    );
    assert_eq!(api.call(admin, "POST", "/files", Some(json!({"id": "shared-file"}))).0, StatusCode::CREATED);
    let (status, body) = api.call(admin, "POST", "/files", Some(json!({"id": "shared-file"})));
    assert_eq!(
        (status, body["message"].as_str()),
        (StatusCode::CONFLICT, Some("file `shared-file` exists already; leave `id` out to let the server choose one"))
    );

    // Names are unique per owner: a user's conflicts are with their own rows only.
    assert_eq!(api.call(ann, "POST", "/applications", Some(json!({"name": "editor"}))).0, StatusCode::CREATED);
    let (status, body) = api.call(ann, "POST", "/applications", Some(json!({"name": "editor"})));
    assert_eq!(
        (status, body["message"].as_str()),
        (StatusCode::CONFLICT, Some("another application has the same `id_owner` and `name`; choose another `name`"))
    );
    assert_eq!(api.call(bob, "POST", "/applications", Some(json!({"name": "editor"}))).0, StatusCode::CREATED, "bob's own name");
}

/// Item 9: values that were stored silently.
fn values(db_toml: &str) {
    let site = site(db_toml);
    let api = Api::start(&site);
    let (ann, admin) = (ANN, Who::Admin);

    // ---- ids that are unsafe in a path, a file name or a log, or unstorable (NUL).
    for id in ["a\u{0}b", "a/b", "..", "../etc", "a\u{7}b", "a\nb", "a\u{202e}b", "a\u{2066}b", "a b"] {
        api.refused(admin, "POST", "/objects", json!({"id": id}), "id");
    }
    api.refused(admin, "POST", "/environments", json!({"id_object": "../x", "name": "n"}), "id_object");
    api.refused(ann, "POST", "/applications", json!({"name": "x", "id_file": "a/b"}), "id_file");
    // NUL in any other text: no database here may store it.
    api.refused(ann, "POST", "/files", json!({"name": "a\u{0}b"}), "name");
    let (status, body) = api.call(ann, "GET", "/objects/a%00b", None);
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
        api.refused(ann, "POST", "/objects", json!({ field: value }), field);
    }
    api.refused(ann, "POST", "/files", json!({"filesize": -1}), "filesize");
    api.refused(admin, "POST", "/limits", json!({"id_owner": 7, "vm_max": -2}), "vm_max");
    api.refused(admin, "POST", "/limits", json!({"id_owner": -2}), "id_owner");
    api.refused(admin, "POST", "/grants", json!({"id_app": "x", "id_user": 0}), "id_user");
    let (status, body) = api.call(ann, "POST", "/objects", Some(json!({"vnc_port_instance": 65535, "vnc_port_system": -1})));
    assert_eq!(status, StatusCode::CREATED, "the bounds themselves are fine: {body}");

    // ---- unknown fields are refused, not dropped.
    api.refused(ann, "POST", "/objects", json!({"object_type": "vm", "is_admin": true}), "is_admin");
    let mine = body["id"].as_str().unwrap();
    api.refused(ann, "PATCH", &format!("/objects/{mine}"), json!({"object_state": "x", "admin": true}), "admin");
    api.refused(admin, "POST", "/nodes", json!({"authid": "n", "owner": 7}), "owner");

    // ---- a user creates for themselves: another owner, shared or global is refused by name.
    for owner in [8, -1] {
        api.refused(ann, "POST", "/files", json!({"id_owner": owner}), "id_owner");
    }
    for body in [json!({"id_owner": 7}), json!({"id_owner": 0}), json!({})] {
        let (status, file) = api.call(ann, "POST", "/files", Some(body.clone()));
        assert_eq!((status, file["id_owner"].as_i64()), (StatusCode::CREATED, Some(7)), "{body}: ann's own: {file}");
    }

    // ---- the document states these rules.
    let doc: Value = api.http.get(api.server.url("/openapi.json")).send().unwrap().json().unwrap();
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

fn sqlite() -> String {
    format!("[db]\ndb_type = \"sqlite\"\ndata_path = \"data\"\nsecret_key = \"{KEY}\"\n")
}

/// Runs `test` on a PostgreSQL database of its own, created and dropped with `psql`.
fn on_postgres(what: &str, test: fn(&str)) {
    let name = format!("daas_hostile_{what}_{}", std::process::id());
    let psql = |sql: &str| {
        Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-c", sql])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !psql(&format!("CREATE DATABASE {name}")) {
        println!("SKIPPED: PostgreSQL is unreachable (or psql is missing)");
        return;
    }
    test(&format!(
        "[db]\ndb_type = \"postgres\"\ndb_host = \"127.0.0.1\"\ndb_user = \"postgres\"\ndb_name = \"{name}\"\nsecret_key = \"{KEY}\"\n"
    ));
    psql(&format!("DROP DATABASE {name}"));
}

#[test]
fn sqlite_conflicts_name_the_field_and_reveal_no_other_row() {
    conflicts(&sqlite());
}

#[test]
fn postgres_conflicts_name_the_field_and_reveal_no_other_row() {
    on_postgres("conflicts", conflicts);
}

#[test]
fn sqlite_refuses_bad_values_by_field() {
    values(&sqlite());
}

#[test]
fn postgres_refuses_bad_values_by_field() {
    on_postgres("values", values);
}
