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
    let spec: openapiv3::OpenAPI =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not an OpenAPI 3.0 document: {e}"));
    let mut settings = progenitor::GenerationSettings::default();
    settings.with_interface(progenitor::InterfaceStyle::Builder);
    let mut generator = progenitor::Generator::new(&settings);
    let tokens = generator.generate_tokens(&spec).unwrap_or_else(|e| panic!("progenitor: {e}"));
    let file: syn::File = syn::parse2(tokens).expect("progenitor's output parses");
    fs::write(&out, prettyplease::unparse(&file)).unwrap();
}
