//! The db API against hostile bodies (issue 13, item 8), through the real host:
//! conflicts answer without SQL and without revealing rows the caller may not see. On
//! SQLite, and on PostgreSQL when its server answers.

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
