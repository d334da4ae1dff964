//! Generates the client from the document DAAS_OPENAPI names (scripts/api-contract fetches
//! it from the server) into OUT_DIR/client.rs, which src/main.rs includes, and sets the cfg
//! `daas_client`. Without DAAS_OPENAPI it generates nothing: scripts/api-contract builds the
//! dependencies that way while the server starts and the other steps run.
use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo::rustc-check-cfg=cfg(daas_client)");
    println!("cargo::rerun-if-env-changed=DAAS_OPENAPI");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("client.rs");
    let Ok(path) = env::var("DAAS_OPENAPI") else {
        fs::write(&out, "").unwrap();
        return;
    };
    println!("cargo::rerun-if-changed={path}");
    println!("cargo::rustc-cfg=daas_client");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON: {e}"));
    api_routes_only(&mut doc);
    one_response_type(&doc);
    let spec: openapiv3::OpenAPI =
        serde_json::from_value(doc).unwrap_or_else(|e| panic!("{path}: not an OpenAPI 3.0 document: {e}"));
    let mut settings = progenitor::GenerationSettings::default();
    settings.with_interface(progenitor::InterfaceStyle::Builder);
    let mut generator = progenitor::Generator::new(&settings);
    let tokens = generator.generate_tokens(&spec).unwrap_or_else(|e| panic!("progenitor: {e}"));
    let file: syn::File = syn::parse2(tokens).expect("progenitor's output parses");
    fs::write(&out, prettyplease::unparse(&file)).unwrap();
}

/// The document without the browser's own operations: its pages, forms and viewer
/// tunnel answer HTML, redirects (3xx) and a WebSocket upgrade (101), which a Rust API
/// client has no use for and progenitor 0.15 cannot represent (one success and one error
/// type per operation). The Python and TypeScript clients keep them.
fn api_routes_only(doc: &mut serde_json::Value) {
    let browser = |op: &serde_json::Value| {
        op["responses"].as_object().into_iter().flatten().any(|(status, response)| {
            status.starts_with('3')
                || status == "101"
                || response["content"].as_object().is_some_and(|c| c.keys().any(|t| t.starts_with("text/html")))
        })
    };
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            if let Some(ops) = item.as_object_mut() {
                ops.retain(|_, op| !browser(op));
            }
        }
        paths.retain(|_, item| item.as_object().is_some_and(|o| !o.is_empty()));
    }
}

/// progenitor 0.15 gives each operation one success type and one error type, and panics
/// (`assertion failed: response_types.len() <= 1`, naming nothing) when the statuses of
/// one kind differ in content type or schema. Name those operations first.
fn one_response_type(doc: &serde_json::Value) {
    let mut problems = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let Some(responses) = op["responses"].as_object() else { continue };
            let (mut ok, mut err) = (std::collections::BTreeMap::new(), std::collections::BTreeMap::new());
            for (status, response) in responses {
                let kind = match response["content"].as_object() {
                    Some(c) if !c.is_empty() => c.iter().map(|(t, m)| format!("{t} {}", m["schema"])).collect::<Vec<_>>().join(" | "),
                    _ => "no body".to_string(),
                };
                let side = if status.starts_with('2') { &mut ok } else { &mut err };
                side.entry(kind).or_insert_with(Vec::new).push(status.clone());
            }
            for (side, kinds) in [("success", ok), ("error", err)] {
                if kinds.len() > 1 {
                    let list: Vec<String> = kinds.iter().map(|(k, s)| format!("{} → {}", s.join(","), k.chars().take(90).collect::<String>())).collect();
                    problems.push(format!("{} {path}: {side} responses of {} kinds: {}", method.to_uppercase(), kinds.len(), list.join("; ")));
                }
            }
        }
    }
    if !problems.is_empty() {
        println!("cargo::warning=progenitor needs one success and one error response type per operation; these have more:");
        for p in &problems {
            println!("cargo::warning=  {p}");
        }
    }
}
