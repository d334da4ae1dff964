//! Several API services or browser endpoints in one plugin: each request goes to the
//! endpoint that declares its path, and the API services' documents merge into one.

use poem::endpoint::BoxEndpoint;
use serde_json::{Map, Value};

use crate::paths::match_path;

/// Endpoints with the (method, path pattern) pairs each one serves.
#[derive(Default)]
pub(crate) struct Endpoints {
    entries: Vec<(BoxEndpoint<'static>, Vec<(String, String)>)>,
}

impl Endpoints {
    pub(crate) fn push(&mut self, endpoint: BoxEndpoint<'static>, routes: Vec<(String, String)>) {
        self.entries.push((endpoint, routes));
    }

    /// The endpoint for a request: the one declaring its method and path, else one
    /// declaring the path with another method (it answers 405), else the first (it
    /// answers 404). `None` when there is none at all.
    pub(crate) fn pick(&self, method: &str, path: &str) -> Option<&BoxEndpoint<'static>> {
        if self.entries.len() == 1 {
            return self.entries.first().map(|(e, _)| e);
        }
        let method = if method == "HEAD" { "GET" } else { method };
        let declares = |same_method: bool| {
            self.entries.iter().find(|(_, routes)| {
                routes.iter().any(|(m, p)| (!same_method || m.eq_ignore_ascii_case(method)) && match_path(p, path).is_some())
            })
        };
        declares(true).or_else(|| declares(false)).or(self.entries.first()).map(|(e, _)| e)
    }
}

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// The merged OpenAPI document of a plugin's API services.
#[derive(Default)]
pub(crate) struct ApiDocument(Option<Value>);

impl ApiDocument {
    /// Add one service's document; the (method, path) pairs it documents, or why it
    /// cannot join the ones before.
    pub(crate) fn merge(&mut self, spec: &str) -> Result<Vec<(String, String)>, String> {
        let mut spec: Value = serde_json::from_str(spec).map_err(|e| format!("a service's document is not JSON: {e}"))?;
        close_request_bodies(&mut spec);
        let routes = routes_of(&spec);
        let Some(doc) = &mut self.0 else {
            self.0 = Some(spec);
            return Ok(routes);
        };
        let mut merged = doc.clone();
        if let Some(paths) = spec.get("paths").and_then(Value::as_object) {
            let into = child(root(&mut merged), "paths");
            for (path, item) in paths {
                let Some(item) = item.as_object() else { continue };
                let target = into.entry(path.clone()).or_insert_with(|| Value::Object(Map::new()));
                let Some(target) = target.as_object_mut() else { continue };
                for (key, op) in item {
                    if target.contains_key(key) && METHODS.contains(&key.as_str()) {
                        return Err(format!("two services document {} {path}", key.to_uppercase()));
                    }
                    target.entry(key.clone()).or_insert_with(|| op.clone());
                }
            }
        }
        if let Some(components) = spec.get("components").and_then(Value::as_object) {
            for (section, entries) in components {
                let Some(entries) = entries.as_object() else { continue };
                let into = child(child(root(&mut merged), "components"), section);
                for (name, value) in entries {
                    match into.get(name) {
                        Some(existing) if existing != value => {
                            return Err(format!("two services define `{section}.{name}` differently; give one of them another name"))
                        }
                        Some(_) => {}
                        None => {
                            into.insert(name.clone(), value.clone());
                        }
                    }
                }
            }
        }
        if let Some(tags) = spec.get("tags").and_then(Value::as_array) {
            if let Value::Array(into) = root(&mut merged).entry("tags").or_insert_with(|| Value::Array(Vec::new())) {
                for tag in tags {
                    if !into.iter().any(|t| t.get("name") == tag.get("name")) {
                        into.push(tag.clone());
                    }
                }
            }
        }
        *doc = merged;
        Ok(routes)
    }

    /// The merged document's JSON, empty when there is no API.
    pub(crate) fn to_json(&self) -> String {
        self.0.as_ref().map(|d| d.to_string()).unwrap_or_default()
    }
}

/// Every request body refuses unknown fields (a plugin declares its bodies with
/// `#[oai(deny_unknown_fields)]`, and schemathesis in CI proves that it does): say so in
/// the document, which poem-openapi does not, so that clients and fuzzers send none.
fn close_request_bodies(spec: &mut Value) {
    let mut names = Vec::new();
    for item in spec.get("paths").and_then(Value::as_object).into_iter().flat_map(|p| p.values()) {
        for op in item.as_object().into_iter().flat_map(|o| o.values()) {
            let content = op.pointer("/requestBody/content").and_then(Value::as_object);
            for media in content.into_iter().flat_map(|c| c.values()) {
                if let Some(name) =
                    media.pointer("/schema/$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    names.push(name.to_string());
                }
            }
        }
    }
    for name in names {
        let Some(schema) =
            spec.pointer_mut(&format!("/components/schemas/{}", name.replace('~', "~0").replace('/', "~1"))).and_then(Value::as_object_mut)
        else {
            continue;
        };
        if schema.get("type").and_then(Value::as_str) == Some("object") {
            schema.entry("additionalProperties").or_insert(Value::Bool(false));
        }
    }
}

/// The (upper-case method, path) pairs a document documents.
fn routes_of(spec: &Value) -> Vec<(String, String)> {
    let mut routes = Vec::new();
    for (path, item) in spec.get("paths").and_then(Value::as_object).into_iter().flatten() {
        for key in item.as_object().into_iter().flat_map(|o| o.keys()) {
            if METHODS.contains(&key.as_str()) {
                routes.push((key.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

/// `value` as an object (made one when it is not).
fn root(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    match value {
        Value::Object(map) => map,
        _ => unreachable!("made an object above"),
    }
}

/// The object at `key` of `map` (made when missing or not an object).
fn child<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    root(map.entry(key.to_string()).or_insert_with(|| Value::Object(Map::new())))
}
