//! Bad configuration is refused before anything starts, one clear message per problem;
//! the CLI reports, describes and lists.

mod common;

use common::{library_dir, run, workspace, TempSite};

fn serve_fails(site: &TempSite) -> (i32, String) {
    let (code, _out, err) = run(&["serve", "--site", site.path().to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    (code, err)
}

const TWO_PLUGINS: &str = "[extensions]\n[[extensions.plugin]]\nname = \"info\"\n[[extensions.plugin]]\nname = \"testbackend\"\n";

#[test]
fn a_valid_site_checks_ok() {
    let site = TempSite::new(&[("extensions.toml", TWO_PLUGINS)]);
    let (code, out, err) = run(&["config", "check", "--site", site.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("configuration OK (13 config files, 2 plugin(s) load)"), "{out}");
}

#[test]
fn the_demo_site_checks_ok() {
    let demo = workspace().join("config/demo");
    let (code, out, err) = run(&["config", "check", "--site", demo.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn unknown_keys_name_file_line_key_and_the_allowed_keys() {
    let site = TempSite::new(&[("extensions.toml", "[extensions]\nlisten = \"127.0.0.1:0\"\nlayer = []\n")]);
    let (code, err) = serve_fails(&site);
    assert_eq!(code, 2);
    assert!(err.contains("extensions.toml:3: key `extensions.layer`: unknown key; allowed keys here: "), "{err}");
    assert!(err.contains("layers"), "{err}");
}

#[test]
fn wrong_types_are_refused() {
    let site = TempSite::new(&[("extensions.toml", "[extensions]\nshutdown_grace_ms = \"ten\"\n")]);
    let (code, err) = serve_fails(&site);
    assert_eq!(code, 2);
    assert!(err.contains("extensions.toml:2: key `extensions.shutdown_grace_ms`: invalid type: string \"ten\", expected u64"), "{err}");
}

#[test]
fn unknown_plugin_and_layer_names_list_the_allowed_names() {
    let site =
        TempSite::new(&[("extensions.toml", "[extensions]\nlayers = [\"authn\"]\n[[extensions.plugin]]\nname = \"testbackends\"\n")]);
    let (code, err) = serve_fails(&site);
    assert_eq!(code, 2);
    assert!(err.contains("extensions.toml:4: key `extensions.plugin[0].name`: unknown variant `testbackends`, expected one of"), "{err}");
    assert!(err.contains("`testbackend`"), "{err}");
    assert!(err.contains("key `extensions.layers[0]`: unknown variant `authn`"), "{err}");
}

#[test]
fn a_missing_library_is_named_with_its_path() {
    let site =
        TempSite::new(&[("extensions.toml", "[extensions]\n[[extensions.plugin]]\nname = \"info\"\nlibrary = \"nowhere/libx.so\"\n")]);
    let (code, err) = serve_fails(&site);
    assert_eq!(code, 3);
    let expected = format!("plugin `info`: library {}/nowhere/libx.so does not exist", site.path().display());
    assert!(err.contains(&expected), "{err}");
}

#[test]
fn a_duplicate_plugin_is_refused() {
    let site = TempSite::new(&[(
        "extensions.toml",
        "[extensions]\n[[extensions.plugin]]\nname = \"info\"\n[[extensions.plugin]]\nname = \"info\"\n",
    )]);
    let (code, err) = serve_fails(&site);
    assert_eq!(code, 3);
    assert!(err.contains("plugin `info` is listed twice in extensions.toml"), "{err}");
}

#[test]
fn a_library_that_is_another_plugin_is_refused() {
    let info = library_dir().join("libdaas_plugin_info.so");
    let site = TempSite::new(&[(
        "extensions.toml",
        &format!("[extensions]\n[[extensions.plugin]]\nname = \"testbackend\"\nlibrary = \"{}\"\n", info.display()),
    )]);
    let (code, err) = serve_fails(&site);
    assert_eq!(code, 3);
    assert!(err.contains("declares itself as `info`"), "{err}");
}

#[test]
fn a_file_that_is_no_plugin_library_is_refused() {
    let site = TempSite::new(&[
        ("extensions.toml", "[extensions]\n[[extensions.plugin]]\nname = \"info\"\nlibrary = \"info.toml\"\n"),
        ("info.toml", ""),
    ]);
    let (code, err) = serve_fails(&site);
    assert_eq!(code, 3);
    assert!(err.contains("info.toml is not a daas plugin library"), "{err}");
}

/// The library of tests/fixtures/abi-mismatch: a plugin built against an older,
/// incompatible plugin-api. Built here when missing (its own workspace and target dir).
fn abi_mismatch_library() -> std::path::PathBuf {
    let root = workspace();
    let lib = root.join("target/fixtures/debug/libdaas_fixture_abi_mismatch.so");
    if !lib.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--manifest-path"])
            .arg(root.join("tests/fixtures/abi-mismatch/Cargo.toml"))
            .arg("--target-dir")
            .arg(root.join("target/fixtures"))
            .status()
            .unwrap();
        assert!(status.success(), "building the ABI-mismatch fixture failed");
    }
    lib
}

#[test]
fn a_plugin_built_against_an_incompatible_plugin_api_is_refused_by_name_path_and_mismatch() {
    let lib = abi_mismatch_library();
    let site = TempSite::new(&[(
        "extensions.toml",
        &format!("[extensions]\n[[extensions.plugin]]\nname = \"testbackend\"\nlibrary = \"{}\"\n", lib.display()),
    )]);
    let (code, err) = serve_fails(&site);
    assert_eq!(code, 3, "{err}");
    let expected = format!("plugin `testbackend`: {} was built against an incompatible plugin-api:", lib.display());
    assert!(err.contains(&expected), "{err}");
    assert!(err.contains("incompatible type size"), "the mismatch itself is named: {err}");
    assert!(err.lines().count() <= 3, "one short message, not abi_stable's layout dump: {err}");

    // Marked optional, it is skipped and the server starts without it.
    let site = TempSite::new(&[(
        "extensions.toml",
        &format!("[extensions]\n[[extensions.plugin]]\nname = \"testbackend\"\noptional = true\nlibrary = \"{}\"\n[[extensions.plugin]]\nname = \"info\"\n", lib.display()),
    )]);
    let server = common::Server::start(site.path());
    assert!(server.wait_for_log("optional plugin skipped"), "{}", server.log());
    let plugins: serde_json::Value = common::client().get(server.url("/api/v1/plugins")).send().unwrap().json().unwrap();
    assert_eq!(plugins["plugins"].as_array().unwrap().len(), 1);
}

#[test]
fn a_layer_no_plugin_provides_is_refused() {
    let site =
        TempSite::new(&[("extensions.toml", "[extensions]\nlayers = [\"limits\"]\n[[extensions.plugin]]\nname = \"testbackend\"\n")]);
    let (code, err) = serve_fails(&site);
    assert_eq!(code, 3);
    assert!(err.contains("layer `limits` is listed in [extensions] layers of extensions.toml but no loaded plugin provides it; provided layers: testing (testbackend)"), "{err}");
}

#[test]
fn a_layer_listed_twice_is_refused() {
    let site = TempSite::new(&[(
        "extensions.toml",
        "[extensions]\nlayers = [\"testing\", \"testing\"]\n[[extensions.plugin]]\nname = \"testbackend\"\n",
    )]);
    let (code, err) = serve_fails(&site);
    assert_eq!(code, 3);
    assert!(err.contains("layer `testing` is listed twice"), "{err}");
}

#[test]
fn invalid_plugin_settings_stop_the_start_with_the_plugin_named() {
    let site = TempSite::new(&[(
        "extensions.toml",
        "[extensions]\n[[extensions.plugin]]\nname = \"testbackend\"\n[extensions.plugin.settings]\ngreting = \"hi\"\n",
    )]);
    let (code, err) = serve_fails(&site);
    assert_eq!(code, 3);
    assert!(err.contains("plugin `testbackend` failed to start: invalid `settings`"), "{err}");
    assert!(err.contains("unknown field `greting`"), "{err}");
}

#[test]
fn config_check_reports_every_problem_of_every_file_at_once() {
    let site = TempSite::new(&[
        ("extensions.toml", "[extensions]\nlisen = 1\n[[extensions.plugin]]\nname = \"info\"\n[[extensions.plugin]]\nname = \"info\"\n"),
        ("db.toml", "[db]\ndb_port = \"x\"\ndb_typ = \"sqlite\"\n"),
        ("files.toml", "[filestore]\nroot = \"/srv\"\n"),
        ("dbs.toml", ""),
        ("info.toml", "[sys\n"),
    ]);
    let (code, _out, err) = run(&["config", "check", "--site", site.path().to_str().unwrap()]);
    assert_eq!(code, 2);
    for needle in [
        "extensions.toml:2: key `extensions.lisen`: unknown key",
        "db.toml:2: key `db.db_port`: invalid type",
        "db.toml:3: key `db.db_typ`: unknown key; allowed keys here:",
        "files.toml:2: key `filestore.root`: unknown key; this section takes no keys (yet)",
        "dbs.toml: is not a daas config file",
        "info.toml:1: is not valid TOML",
    ] {
        assert!(err.contains(needle), "missing `{needle}` in:\n{err}");
    }
    assert!(err.contains("has 6 problem(s)"), "{err}");
}

#[test]
fn environment_variables_override_keys() {
    let site = TempSite::new(&[("extensions.toml", TWO_PLUGINS), ("info.toml", "[sys]\nsite_name = \"file\"\n")]);
    let server = common::Server::start_with(site.path(), &[("DAAS__INFO__SYS__SITE_NAME", "from-env")]);
    let v: serde_json::Value = common::client().get(server.url("/api/v1/info/system")).send().unwrap().json().unwrap();
    assert_eq!(v["site_name"], "from-env");
    drop(server);
    let (code, _, err) = {
        let out = common::daas()
            .args(["config", "check", "--site", site.path().to_str().unwrap()])
            .env("DAAS__INFO__SYS__SITENAME", "x")
            .output()
            .unwrap();
        (out.status.code().unwrap(), String::new(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    assert_eq!(code, 2);
    assert!(err.contains("key `sys.sitename`: unknown key"), "{err}");
}

#[test]
fn config_schema_describes_every_file() {
    let (code, out, _) = run(&["config", "schema"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let files: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(files.len(), 13);
    for f in ["extensions.toml", "db.toml", "auth.toml", "vm.toml", "container.toml", "files.toml", "logging.toml", "messaging.toml"] {
        assert!(v.get(f).is_some(), "{f}");
    }
    assert_eq!(v["extensions.toml"]["additionalProperties"], false);
    assert!(v["db.toml"]["definitions"]["DbSection"]["properties"]["db_type"].is_object());
    let (code, out, _) = run(&["config", "schema", "--file", "logging.toml"]);
    assert_eq!(code, 0);
    assert!(out.contains("\"LogSection\""));
    let (code, _, err) = run(&["config", "schema", "--file", "web.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("`web.toml` is not a config file; allowed: extensions.toml"), "{err}");
}

#[test]
fn version_and_plugins_list() {
    let (code, out, _) = run(&["version"]);
    assert_eq!(code, 0);
    assert!(out.contains(&format!("plugin-api (ABI) {}", daas_plugin_api::ABI_VERSION)), "{out}");
    let site = TempSite::new(&[("extensions.toml", TWO_PLUGINS)]);
    let (code, out, err) = run(&["plugins", "list", "--site", site.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().any(|l| l.starts_with("info ") && l.contains(" ok ") && l.ends_with("libdaas_plugin_info.so")), "{out}");
    assert!(out.lines().any(|l| l.starts_with("testbackend ") && l.contains(" ok ")), "{out}");
}

#[test]
fn a_listen_address_in_use_is_a_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let site = TempSite::new(&[("extensions.toml", TWO_PLUGINS)]);
    let (code, _, err) = run(&["serve", "--site", site.path().to_str().unwrap(), "--listen", &addr]);
    assert_eq!(code, 4);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
}

#[test]
fn a_missing_site_directory_is_a_clear_error() {
    let (code, _, err) = run(&["serve", "--site", "/nonexistent/site", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, 2);
    assert!(err.contains("site directory cannot be read"), "{err}");
}
