//! Generates the client from the document DAAS_OPENAPI names (scripts/api-contract
//! fetches it from the server) into OUT_DIR/client.rs, which src/main.rs includes.
use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=DAAS_OPENAPI");
    let path = env::var("DAAS_OPENAPI").expect("DAAS_OPENAPI: the path of the served /openapi.json");
    println!("cargo:rerun-if-changed={path}");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let spec: openapiv3::OpenAPI = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not an OpenAPI 3.0 document: {e}"));
    let mut settings = progenitor::GenerationSettings::default();
    settings.with_interface(progenitor::InterfaceStyle::Builder);
    let mut generator = progenitor::Generator::new(&settings);
    let tokens = generator.generate_tokens(&spec).unwrap_or_else(|e| panic!("progenitor: {e}"));
    let file: syn::File = syn::parse2(tokens).expect("progenitor's output parses");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("client.rs");
    fs::write(&out, prettyplease::unparse(&file)).unwrap();
}
