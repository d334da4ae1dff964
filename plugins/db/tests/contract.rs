//! The API contract of the db plugin's routes, in process (poem's endpoint, no host):
//! a create body needs no server-set field, an update changes only the fields given,
//! wrong JSON types and `null` where it is not allowed are 400s naming the field, nulls
//! come back where the schema declares them nullable, and the document says all that
//! (summaries, descriptions, examples, `NewX`/`XPatch`/`X` schemas, enums by `$ref`).

mod common;

use std::collections::HashMap;

use common::*;
use daas_plugin_api::{
    identity::Identity,
    poem::{http::Method, Body, Endpoint, EndpointExt, Request, Route},
    poem_openapi::OpenApiService,
    sdk::Attributes,
    ApiError,
};
use daas_plugin_db::{api, Store};
use serde_json::{json, Value};

#[derive(Clone, Copy)]
enum Who {
    User(i64),
    Admin,
    Nobody,
}

struct Api {
    endpoint: daas_plugin_api::poem::endpoint::BoxEndpoint<'static>,
    doc: Value,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn start() -> Api {
        let (file, dir, _) = fresh("sqlite").await.unwrap();
        let store = Store::open(&file, dir.path()).await.unwrap();
        let service = OpenApiService::new(api::service(store), "db", "1");
        let doc: Value = serde_json::from_str(&service.spec()).unwrap();
        if let Ok(out) = std::env::var("DB_OPENAPI_OUT") {
            std::fs::write(out, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
        }
        Api { endpoint: Route::new().nest("/", service).map_to_response().boxed(), doc, _dir: dir }
    }

    async fn call(&self, who: Who, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = Request::builder().method(Method::from_bytes(method.as_bytes()).unwrap()).uri(path.parse().unwrap());
        if body.is_some() {
            req = req.content_type("application/json");
        }
        let mut req = req.body(body.map(|b| Body::from(b.to_string())).unwrap_or_default());
        let identity = match who {
            Who::User(id) => Some(Identity { user_id: id, user_name: format!("u{id}"), admin: false }),
            Who::Admin => Some(Identity { user_id: 1, user_name: "admin".into(), admin: true }),
            Who::Nobody => None,
        };
        let attributes: HashMap<String, String> = identity.map(|i| i.to_attributes().into_iter().collect()).unwrap_or_default();
        req.extensions_mut().insert(Attributes(attributes));
        // As the SDK answers a poem error: a typed response as it is, others as JSON.
        let resp = match self.endpoint.call(req).await {
            Ok(resp) => resp,
            Err(e) if e.is_from_response() => e.into_response(),
            Err(e) => {
                let (status, body) = ApiError::from_poem(&e);
                body.to_response(status)
            }
        };
        let status = resp.status().as_u16();
        let text = resp.into_body().into_string().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) })
    }

    fn schema(&self, name: &str) -> &Value {
        &self.doc["components"]["schemas"][name]
    }
}

const ANN: Who = Who::User(7);

#[tokio::test]
async fn a_create_body_without_server_fields_works_and_nulls_come_back_as_documented() {
    let api = Api::start().await;
    // Nothing but what the client chooses: no id, no owner, no times.
    let (status, obj) = api.call(ANN, "POST", "/objects", Some(json!({"object_type": "container"}))).await;
    assert_eq!(status, 201, "{obj}");
    assert_eq!((obj["id_owner"].as_i64(), obj["viewer_resolution"].as_str()), (Some(7), Some("1280x800")));
    // A live row's `deleted_at` is sent, as null, and the schema says it may be.
    assert!(obj.as_object().unwrap().contains_key("deleted_at") && obj["deleted_at"].is_null(), "{obj}");
    assert_eq!(api.schema("DaasObject")["properties"]["deleted_at"]["nullable"], true);
    // The last page's `next_cursor` is null, declared nullable.
    let (status, page) = api.call(ANN, "GET", "/objects", None).await;
    assert_eq!(status, 200, "{page}");
    assert!(page["next_cursor"].is_null() && page.as_object().unwrap().contains_key("next_cursor"), "{page}");
    let page_schema = api.doc["components"]["schemas"].as_object().unwrap().iter().find(|(k, _)| k.starts_with("Page")).unwrap().1;
    assert_eq!(page_schema["properties"]["next_cursor"]["nullable"], true, "{page_schema}");
    // Every read schema requires what is always there and nothing that can be null or
    // left out; secrets are not in it at all.
    for (name, nullable) in [
        ("DaasObject", &["deleted_at", "id_parent"][..]),
        ("Environment", &["deleted_at"]),
        ("Application", &["deleted_at", "id_file", "id_template"]),
        ("File", &["deleted_at"]),
        ("RessourceInfo", &["deleted_at"]),
        ("AccessGrant", &["deleted_at", "volume"]),
        ("Node", &["deleted_at", "last_seen_at"]),
    ] {
        let schema = api.schema(name);
        let required: Vec<&str> = schema["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        for (field, p) in schema["properties"].as_object().unwrap() {
            let is_nullable = p["nullable"] == true;
            assert_eq!(is_nullable, nullable.contains(&field.as_str()), "{name}.{field}: {p}");
            assert_eq!(required.contains(&field.as_str()), !is_nullable, "{name}.{field} is required unless nullable");
            assert!(!field.contains("password"), "{name}.{field}: a secret in a read schema");
        }
        assert!(schema["example"].is_object(), "{name} has an example");
    }
    // A new application's references are null until given.
    let (status, app) = api.call(ANN, "POST", "/applications", Some(json!({"name": "editor"}))).await;
    assert_eq!(status, 201, "{app}");
    assert!(app["id_file"].is_null() && app["id_template"].is_null(), "{app}");
}

#[tokio::test]
async fn a_patch_changes_only_the_fields_given() {
    let api = Api::start().await;
    let (_, obj) = api
        .call(
            ANN,
            "POST",
            "/objects",
            Some(json!({"object_type": "vm", "object_state": "stopped", "hw_cpus": 2, "vnc_password": "s3cret"})),
        )
        .await;
    let id = obj["id"].as_str().unwrap();
    let (status, changed) = api.call(ANN, "PATCH", &format!("/objects/{id}"), Some(json!({"hw_cpus": 4}))).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (changed["hw_cpus"].as_i64(), changed["object_state"].as_str(), changed["object_type"].as_str()),
        (Some(4), Some("stopped"), Some("vm"))
    );
    assert_eq!(changed["created_at"], obj["created_at"]);
    assert_ne!(changed["updated_at"], obj["updated_at"]);
    // The secret was kept (the backend reveals it to the plugins that connect).
    // An empty patch changes nothing but is fine.
    let (status, same) = api.call(ANN, "PATCH", &format!("/objects/{id}"), Some(json!({}))).await;
    assert_eq!((status, same["hw_cpus"].as_i64()), (200, Some(4)), "{same}");
    // `null` clears a nullable field and only such a field.
    api.call(Who::Admin, "POST", "/files", Some(json!({"id": "f1"}))).await;
    let (_, app) = api.call(ANN, "POST", "/applications", Some(json!({"name": "x", "id_file": "f1", "version": "1"}))).await;
    let app_path = format!("/applications/{}", app["id"].as_str().unwrap());
    assert_eq!(app["id_file"], "f1");
    let (status, app) = api.call(ANN, "PATCH", &app_path, Some(json!({"id_file": null}))).await;
    assert_eq!((status, app["id_file"].is_null(), app["version"].as_str()), (200, true, Some("1")), "{app}");
    let (status, body) = api.call(ANN, "PATCH", &app_path, Some(json!({"version": null}))).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("`version`"), "{body}");
    // The path names the row: no `id` in a patch.
    let (status, body) = api.call(ANN, "PATCH", &app_path, Some(json!({"id": "other"}))).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn wrong_json_types_and_bad_paths_are_400s_that_name_the_field() {
    let api = Api::start().await;
    for (path, body, field) in [
        ("/objects", json!({"object_type": 123}), "object_type"),
        ("/objects", json!({"os_wine": "yes"}), "os_wine"),
        ("/objects", json!({"hw_cpus": "4"}), "hw_cpus"),
        ("/objects", json!({"hw_cpus": -1}), "hw_cpus"),
        ("/objects", json!({"vnc_port_instance": 70000}), "vnc_port_instance"),
        ("/objects", json!({"os_type": "x".repeat(33)}), "os_type"),
        ("/objects", json!({"object_type": "toaster"}), "object_type"),
        ("/objects", json!({"object_target": [1]}), "object_target"),
        ("/objects", json!({"id_user": null}), "id_user"),
        ("/objects", json!({"id_user": "a\u{0}b"}), "id_user"),
        ("/applications", json!({"name": true}), "name"),
        ("/applications", json!({"version": "1"}), "name"),
        ("/nodes", json!({"tags": ["a", 1]}), "tags"),
    ] {
        let who = if path == "/nodes" { Who::Admin } else { ANN };
        let (status, answer) = api.call(who, "POST", path, Some(body.clone())).await;
        assert_eq!(status, 400, "{path} {body}: {answer}");
        assert_eq!(answer["code"], "bad_request", "{answer}");
        assert!(answer["message"].as_str().unwrap().contains(&format!("`{field}`")), "{body}: names `{field}`: {answer}");
    }
    let (status, answer) = api.call(Who::Admin, "GET", "/limits/seven", None).await;
    assert_eq!(status, 400, "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains("`id`") && !message.contains("param0"), "{answer}");
    // No caller: the JSON 401.
    assert_eq!(api.call(Who::Nobody, "GET", "/objects", None).await.0, 401);
}

#[tokio::test]
async fn list_parameters_are_optional_and_an_empty_filter_is_fine() {
    let api = Api::start().await;
    api.call(ANN, "POST", "/objects", Some(json!({"object_type": "vm"}))).await;
    for path in ["/objects", "/objects?filter=", "/objects?filter=object_type:vm&filter=", "/trash/objects?filter="] {
        let (status, page) = api.call(ANN, "GET", path, None).await;
        assert_eq!(status, 200, "{path}: {page}");
    }
    let list = &api.doc["paths"]["/objects"]["get"];
    for p in list["parameters"].as_array().unwrap() {
        assert_eq!(p["required"], false, "{p}");
        assert!(p["description"].is_string(), "{p}");
    }
}

#[tokio::test]
async fn every_operation_is_described_and_the_bodies_are_their_own_schemas() {
    let api = Api::start().await;
    let mut ops = 0;
    for (path, item) in api.doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops += 1;
            let id = op["operationId"].as_str().unwrap();
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path}: a summary");
            assert!(op["description"].as_str().is_some_and(|s| s.len() > 40), "{method} {path}: a description");
            for p in op["parameters"].as_array().into_iter().flatten() {
                assert!(p["description"].is_string(), "{id}: {p}");
            }
            let body = op["requestBody"]["content"]["application/json; charset=utf-8"]["schema"]["$ref"].as_str();
            if id.starts_with("create_") {
                assert!(body.is_some_and(|b| b.contains("/New")), "{id}: {body:?}");
            }
            if id.starts_with("update_") {
                assert_eq!(method, "patch");
                assert!(body.is_some_and(|b| b.ends_with("Patch")), "{id}: {body:?}");
            }
        }
    }
    assert_eq!(ops, 57, "7 resources × 8 and the status");
    for name in ["NewDaasObject", "DaasObjectPatch", "NewApplication", "ApplicationPatch", "NewEnvironment", "DbStatus"] {
        assert!(api.schema(name)["example"].is_object(), "{name} has an example");
    }
    // A create body requires only what has no default; its secrets are write-only.
    let new = api.schema("NewDaasObject");
    assert!(new["required"].is_null(), "{new}");
    assert_eq!(new["properties"]["vnc_password"]["writeOnly"], true);
    assert_eq!(api.schema("NewApplication")["required"], json!(["name"]));
    assert_eq!(api.schema("NewEnvironment")["required"], json!(["id_object", "name"]));
    assert_eq!(api.schema("NewAccessGrant")["required"], json!(["id_app", "id_user"]));
    // An example is valid for its schema: no null where the schema has none.
    for (name, schema) in api.doc["components"]["schemas"].as_object().unwrap() {
        let Some(example) = schema["example"].as_object() else { continue };
        for (field, value) in example {
            let nullable = schema["properties"][field]["nullable"] == true;
            assert!(!value.is_null() || nullable, "{name}.{field}: null in the example");
        }
    }
    // No schema wraps a `$ref` in an `allOf`.
    let text = api.doc.to_string();
    assert!(!text.contains("allOf"), "an allOf in the document");
}
