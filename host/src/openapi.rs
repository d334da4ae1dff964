//! Merging the plugins' OpenAPI documents into the one served at `/openapi.json`.
//!
//! Each plugin generates its document with poem-openapi; nobody writes OpenAPI by hand.
//! The merge prefixes paths with the plugin's mount point, makes operation ids unique
//! (`<plugin>_<operation>`), tags every operation with its plugin, de-duplicates schemas
//! that are identical across plugins and namespaces those that collide
//! (`<plugin>.<Name>`, with every `$ref` rewritten), and declares the security schemes.

use std::collections::{BTreeMap, HashSet};

use daas_plugin_api::permissions::Rule;
use serde_json::{json, Map, Value};

pub use crate::state::Operation;

/// One plugin's (or the host's) document and how it is mounted.
pub struct Fragment {
    /// Tag and operation id prefix: the plugin name, or `host`.
    pub tag: String,
    /// Description of the tag.
    pub description: String,
    /// Prefix of every path (`/api/v1/<plugin>`, or empty for the host).
    pub prefix: String,
    /// The document.
    pub spec: Value,
    /// Operation ids (as in `spec`) that need no authentication.
    pub public: HashSet<String>,
    /// Operation id (as in `spec`) → the permission rule it needs.
    pub rules: BTreeMap<String, Rule>,
}

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// A private key on an operation carrying its poem pattern into the merge (removed there).
const PATTERN_KEY: &str = "x-daas-pattern";

/// The extension naming an operation's permission rule in the merged document.
pub const RULE_KEY: &str = "x-daas-rule";

fn rewrite_refs(value: &mut Value, renames: &BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get_mut("$ref") {
                if let Some(name) = r.strip_prefix("#/components/schemas/") {
                    if let Some(new) = renames.get(name) {
                        *r = format!("#/components/schemas/{new}");
                    }
                }
            }
            for v in map.values_mut() {
                rewrite_refs(v, renames);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, renames)),
        _ => {}
    }
}

fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect::<String>().trim_matches('_').to_string()
}

/// Merge the fragments into one OpenAPI 3 document.
pub fn merge(version: &str, fragments: &[Fragment]) -> (Value, Vec<Operation>) {
    let mut schemas: Map<String, Value> = Map::new();
    let mut paths: Map<String, Value> = Map::new();
    let mut tags = Vec::new();
    let mut operations = Vec::new();
    let mut used_ids = HashSet::new();

    for fragment in fragments {
        tags.push(json!({ "name": fragment.tag, "description": fragment.description }));
        let own: Map<String, Value> = fragment.spec.pointer("/components/schemas").and_then(Value::as_object).cloned().unwrap_or_default();

        // Rename until stable: renaming one schema changes the refs inside the schemas
        // that use it, which may make those differ from a same-named shared one.
        let mut renames: BTreeMap<String, String> = BTreeMap::new();
        loop {
            let mut changed = false;
            for (name, schema) in &own {
                if renames.contains_key(name) {
                    continue;
                }
                let mut candidate = schema.clone();
                rewrite_refs(&mut candidate, &renames);
                if schemas.get(name).is_some_and(|existing| *existing != candidate) {
                    renames.insert(name.clone(), format!("{}.{}", fragment.tag, name));
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        for (name, schema) in own {
            let mut schema = schema;
            rewrite_refs(&mut schema, &renames);
            let target = renames.get(&name).cloned().unwrap_or(name);
            if let (Some(new), Value::Object(fields)) = (renames.values().find(|n| **n == target), &mut schema) {
                // Generators name their types by the title: a renamed schema keeps none
                // of the name it collided with.
                fields.insert("title".into(), json!(new));
            }
            schemas.insert(target, schema);
        }

        let own_paths = fragment.spec.get("paths").and_then(Value::as_object).cloned().unwrap_or_default();
        for (path, item) in own_paths {
            let full = format!("{}{}", fragment.prefix, if path == "/" && !fragment.prefix.is_empty() { "" } else { &path });
            let full = if full.is_empty() { "/".to_string() } else { full };
            let mut item = item;
            rewrite_refs(&mut item, &renames);
            if let Value::Object(ops) = &mut item {
                for method in METHODS {
                    let Some(Value::Object(op)) = ops.get_mut(*method) else { continue };
                    let own_id = op.get("operationId").and_then(Value::as_str).map(str::to_string);
                    let base = own_id.clone().unwrap_or_else(|| format!("{}_{}", method, sanitize(&path)));
                    let mut id = format!("{}_{}", fragment.tag, base);
                    let mut n = 2;
                    while !used_ids.insert(id.clone()) {
                        id = format!("{}_{}_{n}", fragment.tag, base);
                        n += 1;
                    }
                    op.insert("operationId".into(), json!(id));
                    op.insert("tags".into(), json!([fragment.tag]));
                    let public = own_id.as_ref().is_some_and(|o| fragment.public.contains(o));
                    if public {
                        op.insert("security".into(), json!([]));
                    }
                    let rule = own_id.as_ref().and_then(|o| fragment.rules.get(o)).cloned();
                    if let Some(rule) = &rule {
                        // Documented, so that a client sees what a call needs.
                        op.insert(RULE_KEY.into(), json!(rule.to_string()));
                    }
                    let pattern = match op.remove(PATTERN_KEY) {
                        Some(Value::String(p)) => format!("{}{}", fragment.prefix, p),
                        _ => full.clone(),
                    };
                    operations.push(Operation {
                        tag: fragment.tag.clone(),
                        method: method.to_uppercase(),
                        path: full.clone(),
                        pattern,
                        operation_id: id,
                        public,
                        rule,
                    });
                }
            }
            match paths.get_mut(&full) {
                Some(Value::Object(existing)) => {
                    if let Value::Object(new_ops) = item {
                        existing.extend(new_ops);
                    }
                }
                _ => {
                    paths.insert(full, item);
                }
            }
        }
    }

    let doc = json!({
        "openapi": "3.0.0",
        "info": {
            "title": "daas",
            "version": version,
            "description": "Desktop-as-a-service backend. This document is merged from the loaded plugins' own documents; operation ids are `<plugin>_<operation>`.",
        },
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": { "type": "http", "scheme": "bearer", "description": "An API token or bearer token (auth plugin)." },
                "sessionCookie": { "type": "apiKey", "in": "cookie", "name": "daas_session", "description": "The browser session cookie set by POST /login." },
            },
        },
        "security": [ { "bearerAuth": [] }, { "sessionCookie": [] } ],
    });
    (doc, operations)
}

/// A documented operation for a route that poem-openapi does not describe: a browser
/// route or a WebSocket. `documented` is the plugin's own operation object for it
/// ([`BrowserRoute::openapi`](daas_plugin_api::abi::BrowserRoute::openapi)); without
/// one, a plain operation is derived from the summary.
fn extra_operation(operation_id: &str, summary: &str, pattern: &str, method: &str, websocket: bool, documented: &str) -> Value {
    let (_, params) = template_of(pattern);
    let mut op = match serde_json::from_str::<Value>(documented) {
        Ok(Value::Object(op)) => Value::Object(op),
        _ => {
            let responses = if websocket {
                json!({ "101": { "description": "Switching protocols: the WebSocket is open." } })
            } else if method == "GET" {
                json!({ "200": { "description": "An HTML page.", "content": { "text/html": { "schema": { "type": "string" } } } } })
            } else {
                json!({ "303": { "description": "Done: to the next page." } })
            };
            json!({ "summary": summary, "description": summary, "responses": responses })
        }
    };
    op["operationId"] = json!(operation_id);
    if op.get("summary").is_none() {
        op["summary"] = json!(summary);
    }
    let parameters = op.as_object_mut().expect("an object").entry("parameters").or_insert_with(|| json!([]));
    if let Value::Array(parameters) = parameters {
        for p in params.iter().rev() {
            if !parameters.iter().any(|q| q["name"] == json!(p) && q["in"] == "path") {
                parameters.insert(
                    0,
                    json!({ "name": p, "in": "path", "required": true, "description": format!("The `{p}` of the path."), "schema": { "type": "string" } }),
                );
            }
        }
    }
    op[PATTERN_KEY] = json!(pattern);
    op
}

/// Add an operation to a `paths` object. When that method of that path is documented
/// already (a page and its WebSocket on one URL, `GET /instance/{id}`), the two become
/// one operation: the first one's id and text, both one's answers and parameters.
fn add_operation(paths: &mut Map<String, Value>, template: String, method: &str, op: Value) {
    let item = paths.entry(template).or_insert_with(|| json!({}));
    let Value::Object(item) = item else { return };
    match item.get_mut(&method.to_lowercase()) {
        None => {
            item.insert(method.to_lowercase(), op);
        }
        Some(existing) => {
            if let (Some(Value::Object(mine)), Some(Value::Object(theirs))) = (existing.get_mut("responses"), op.get("responses")) {
                for (status, response) in theirs {
                    mine.entry(status.clone()).or_insert_with(|| response.clone());
                }
            }
            if let (Some(Value::Array(mine)), Some(Value::Array(theirs))) = (existing.get_mut("parameters"), op.get("parameters")) {
                for p in theirs {
                    if !mine.iter().any(|q| q["name"] == p["name"] && q["in"] == p["in"]) {
                        mine.push(p.clone());
                    }
                }
            }
        }
    }
}

/// An error answer with the JSON error body.
fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json; charset=utf-8": { "schema": { "$ref": "#/components/schemas/ApiError" } } } })
}

/// What the host and its layers answer besides what an operation's plugin documents
/// (a plugin cannot know them): 401 and 503 on every operation that needs an identity
/// (no valid caller; the auth layer's user store does not answer), 403 on those too
/// (a permission rule the caller's roles lack, a privilege entry that denies it, a
/// cookie session's change without its CSRF token), a redirect to the login form for a
/// browser page without a session, 413 and 415 on every operation with a request body
/// (a body over the site's limit; one of another content type), 429 on every
/// operation (the site's rate limit counts every caller, anonymous ones by address).
/// Nothing a plugin documents is replaced. 405 is not per operation: it answers the
/// methods a path does not document.
pub fn add_host_statuses(doc: &mut Value) {
    let Some(Value::Object(paths)) = doc.get_mut("paths") else { return };
    for (path, item) in paths.iter_mut() {
        let Value::Object(item) = item else { continue };
        for method in METHODS {
            let Some(Value::Object(op)) = item.get_mut(*method) else { continue };
            let public = op.get("security").is_some_and(|s| s.as_array().is_some_and(Vec::is_empty));
            let has_body = op.contains_key("requestBody");
            let browser_page = *method == "get" && !path.starts_with("/api/");
            let Value::Object(responses) = op.entry("responses").or_insert_with(|| json!({})) else { continue };
            let mut add = |status: &str, response: Value| {
                responses.entry(status.to_string()).or_insert(response);
            };
            if !public {
                add("401", error_response("No authenticated caller: log in, or send a bearer or access token."));
                add(
                    "403",
                    error_response(
                        "Refused: the caller's roles lack the operation's permission rule (`x-daas-rule`), a privilege entry denies it, or a change made with the session cookie lacks the `x-csrf-token` header.",
                    ),
                );
                add("503", error_response("The authentication service does not answer; try again shortly."));
                if browser_page {
                    add(
                        "303",
                        json!({ "description": "A browser (`Accept: text/html`) without a session goes to the login form, which comes back here.", "headers": { "Location": { "description": "`/login?next=<this page>`", "schema": { "type": "string" } } } }),
                    );
                }
            }
            if has_body {
                add("413", error_response("The request body is larger than the site's limit."));
                add("415", error_response("The request body is not of a content type this operation takes."));
            }
            let mut too_many = error_response("Too many requests from this caller; retry after the seconds in `Retry-After`.");
            too_many["headers"] = json!({ "Retry-After": { "description": "Seconds to wait.", "schema": { "type": "integer" } } });
            add("429", too_many);
        }
    }
}

/// The merged document of the host and the started plugins, and its operations.
pub fn document(plugins: &[crate::registry::Plugin]) -> Result<(Value, Vec<Operation>), String> {
    let host_spec: Value = serde_json::from_str(&crate::host_api::service(crate::host_api::HostApi::unbound()).spec()).unwrap_or_default();
    let mut fragments = vec![Fragment {
        tag: "host".into(),
        description: "The plugin host itself.".into(),
        prefix: String::new(),
        spec: host_spec,
        public: crate::host_api::PUBLIC.iter().map(|s| s.to_string()).collect(),
        rules: BTreeMap::new(),
    }];
    for p in plugins {
        let name = p.name().as_str();
        let mut spec: Value = serde_json::from_str(&p.manifest.openapi).unwrap_or_else(|_| json!({}));
        if !spec.is_object() {
            spec = json!({});
        }
        let mut root_paths = Map::new();
        let mut public: HashSet<String> = p.manifest.public_operations.iter().map(|s| s.to_string()).collect();
        for route in p.manifest.browser_routes.iter() {
            let method = route.method.to_uppercase();
            if !METHODS.contains(&method.to_lowercase().as_str()) {
                return Err(format!("plugin `{name}` declares browser route {} {} with an unknown method", route.method, route.path));
            }
            let (template, _) = template_of(&route.path);
            if route.public {
                public.insert(route.operation_id.to_string());
            }
            add_operation(
                &mut root_paths,
                template,
                &method,
                extra_operation(&route.operation_id, &route.summary, &route.path, &method, false, &route.openapi),
            );
        }
        // After the browser routes: a WebSocket on a page's URL joins the page's
        // operation (one path, one method, one operation id).
        for ws in p.manifest.websockets.iter() {
            let (template, _) = template_of(&ws.path);
            let id = format!("ws_{}", sanitize(&ws.path));
            let summary = format!("WebSocket (subprotocol `{}`) of plugin {name}", ws.subprotocol);
            let mut op = extra_operation(&id, &summary, &ws.path, "GET", true, "");
            if !ws.browser {
                // Nothing else answers an API WebSocket's URL: a plain request is a 426.
                op["responses"]["426"] = error_response("A plain request: this URL is a WebSocket (send Upgrade: websocket).");
            }
            if ws.browser {
                add_operation(&mut root_paths, template, "GET", op);
            } else if let Some(Value::Object(paths)) = spec.as_object_mut().map(|o| o.entry("paths").or_insert_with(|| json!({}))) {
                add_operation(paths, template, "GET", op);
            }
        }
        fragments.push(Fragment {
            tag: name.into(),
            description: format!("Routes of the `{name}` plugin."),
            prefix: format!("/api/v1/{name}"),
            spec,
            public: public.clone(),
            rules: p.permissions.operations.clone(),
        });
        if !root_paths.is_empty() {
            fragments.push(Fragment {
                tag: name.into(),
                description: String::new(),
                prefix: String::new(),
                spec: json!({ "paths": root_paths }),
                public,
                rules: p.permissions.operations.clone(),
            });
        }
    }
    let (mut doc, ops) = merge(env!("CARGO_PKG_VERSION"), &fragments);
    add_host_statuses(&mut doc);
    // A plugin with browser routes contributes two fragments under one tag.
    if let Some(tags) = doc.get_mut("tags").and_then(|t| t.as_array_mut()) {
        let mut seen = HashSet::new();
        tags.retain(|t| seen.insert(t["name"].as_str().unwrap_or_default().to_string()));
    }
    Ok((doc, ops))
}

/// Turn a poem path pattern (`/app/:id`) into an OpenAPI template (`/app/{id}`) and its
/// parameter names.
pub fn template_of(pattern: &str) -> (String, Vec<String>) {
    let mut params = Vec::new();
    let template = pattern
        .split('/')
        .map(|seg| {
            if let Some(name) = seg.strip_prefix(':').or_else(|| seg.strip_prefix('*')) {
                // `:id<\d+>` carries a regex in poem; the template names the parameter only.
                let name = name.split('<').next().unwrap_or(name);
                params.push(name.to_string());
                format!("{{{name}}}")
            } else {
                seg.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    (template, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fragment(tag: &str, spec: Value) -> Fragment {
        Fragment {
            tag: tag.into(),
            description: String::new(),
            prefix: format!("/api/v1/{tag}"),
            spec,
            public: ["open".to_string()].into(),
            rules: BTreeMap::new(),
        }
    }

    #[test]
    fn identical_schemas_are_shared_and_colliding_ones_namespaced() {
        let a = json!({
            "paths": { "/x": { "get": { "operationId": "open", "responses": { "200": { "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Wrapper" } } } } } } } },
            "components": { "schemas": {
                "Shared": { "type": "string" },
                "Item": { "type": "object", "properties": { "a": { "type": "integer" } } },
                "Wrapper": { "type": "object", "properties": { "item": { "$ref": "#/components/schemas/Item" } } },
            } }
        });
        let b = json!({
            "paths": { "/x": { "post": { "responses": { "200": { "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Wrapper" } } } } } } } },
            "components": { "schemas": {
                "Shared": { "type": "string" },
                "Item": { "type": "object", "properties": { "b": { "type": "string" } } },
                "Wrapper": { "type": "object", "properties": { "item": { "$ref": "#/components/schemas/Item" } } },
            } }
        });
        let (doc, ops) = merge("1", &[fragment("p1", a), fragment("p2", b)]);
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let names: Vec<&String> = schemas.keys().collect();
        assert_eq!(names, ["Item", "Shared", "Wrapper", "p2.Item", "p2.Wrapper"]);
        assert_eq!(schemas["p2.Wrapper"]["properties"]["item"]["$ref"], "#/components/schemas/p2.Item");
        let p2 = &doc["paths"]["/api/v1/p2/x"]["post"];
        assert_eq!(p2["responses"]["200"]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/p2.Wrapper");
        assert_eq!(p2["operationId"], "p2_post_x");
        assert_eq!(p2["tags"], json!(["p2"]));
        assert_eq!(doc["paths"]["/api/v1/p1/x"]["get"]["security"], json!([]));
        assert_eq!(ops.len(), 2);
        assert!(ops[0].public && !ops[1].public);
        assert_eq!(ops[0].pattern, "/api/v1/p1/x");
    }

    #[test]
    fn poem_patterns_become_templates() {
        assert_eq!(template_of("/app/:id"), ("/app/{id}".to_string(), vec!["id".to_string()]));
    }
}
