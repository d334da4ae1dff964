//! The db plugin's routes in the host's merged OpenAPI document. Its REST API's
//! behaviour is tested in-process in plugins/db/tests/api.rs.

mod common;

use common::*;
use serde_json::{json, Value};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn site() -> TempSite {
    TempSite::new(&[
        (
            "extensions.toml",
            r#"[extensions]
layers = ["testing"]

[[extensions.plugin]]
name = "db"

[[extensions.plugin]]
name = "testbackend"
"#,
        ),
        ("db.toml", &format!("[db]\ndb_type = \"sqlite\"\ndata_path = \"data\"\nsecret_key = \"{KEY}\"\n")),
    ])
}

#[test]
fn the_openapi_document_has_every_route_separate_bodies_and_no_secret_to_read() {
    let site = site();
    let server = Server::start(site.path());
    let doc: Value = client().get(server.url("/openapi.json")).send().unwrap().json().unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/db/objects",
        "/api/v1/db/objects/{id}",
        "/api/v1/db/trash/objects/{id}/restore",
        "/api/v1/db/limits/{id}",
        "/api/v1/db/nodes",
    ] {
        assert!(paths.contains_key(p), "{p} missing");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    // What is sent and what is read are separate schemas: secrets are write-only in the
    // bodies and absent from what is read, server-set times only in what is read.
    for body in ["NewDaasObject", "DaasObjectPatch"] {
        assert_eq!(schemas[body]["properties"]["vnc_password"]["writeOnly"], true, "{body}");
        assert!(schemas[body]["properties"]["created_at"].is_null(), "{body}");
    }
    let object = &schemas["DaasObject"];
    assert!(object["properties"]["vnc_password"].is_null() && object["properties"]["os_password"].is_null(), "{object}");
    assert!(object["required"].as_array().unwrap().contains(&json!("created_at")), "{object}");
    assert_eq!(
        doc["paths"]["/api/v1/db/objects/{id}"]["patch"]["requestBody"]["content"]["application/json; charset=utf-8"]["schema"]["$ref"],
        "#/components/schemas/DaasObjectPatch"
    );
    let ops: Vec<&str> = paths.values().flat_map(|p| p.as_object().unwrap().values()).filter_map(|op| op["operationId"].as_str()).collect();
    assert!(ops.contains(&"db_list_objects") && ops.contains(&"db_purge_node"), "{ops:?}");
}
