//! The testbackend's db bench route (`POST /api/v1/testbackend/bench/db`, used by
//! bench/run.sh) through the real host: it runs its calls through the db backend when
//! the db plugin is loaded and the site turns the route on, and says clearly what is
//! missing otherwise. No timing is asserted: the numbers belong to the bench.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;

const DB_TOML: &str = "[db]\ndb_type = \"sqlite\"\ndata_path = \"data\"\nsecret_key = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n";

/// A site with the testbackend, the db plugin when `db`, the route on when `on`.
fn site(db: bool, on: bool) -> TempSite {
    let mut extensions = String::from("[extensions]\nlayers = []\n");
    if db {
        extensions.push_str("\n[[extensions.plugin]]\nname = \"db\"\n");
    }
    extensions.push_str("\n[[extensions.plugin]]\nname = \"testbackend\"\n");
    if on {
        extensions.push_str("[extensions.plugin.settings]\ndb_bench = true\n");
    }
    TempSite::new(&[("extensions.toml", &extensions), ("db.toml", DB_TOML)])
}

fn bench(server: &Server, query: &str) -> (StatusCode, Value) {
    let r = client().post(server.url(&format!("/api/v1/testbackend/bench/db?{query}"))).send().unwrap();
    let status = r.status();
    (status, r.json().unwrap())
}

#[test]
fn runs_each_operation_through_the_db_backend() {
    let site = site(true, true);
    let server = Server::start(site.path());
    for op in ["get", "insert", "find"] {
        let (status, body) = bench(&server, &format!("op={op}&n=3&warmup=2"));
        assert_eq!(status, StatusCode::OK, "{op}: {body}");
        assert_eq!((body["op"].as_str(), body["n"].as_u64(), body["warmup"].as_u64()), (Some(op), Some(3), Some(2)), "{body}");
        assert!(body["elapsed_ms"].as_f64().unwrap() > 0.0 && body["ops_per_sec"].as_f64().unwrap() > 0.0, "{body}");
    }
    for bad in ["op=scan&n=3", "op=get&n=0", "op=get&n=100001", "op=get"] {
        assert_eq!(bench(&server, bad).0, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[test]
fn is_off_unless_the_site_turns_it_on() {
    let site = site(true, false);
    let server = Server::start(site.path());
    let (status, body) = bench(&server, "op=insert&n=1");
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["message"].as_str().unwrap().contains("`db_bench = true`"), "{body}");
}

#[test]
fn answers_503_without_the_db_plugin() {
    let site = site(false, true);
    let server = Server::start(site.path());
    let (status, body) = bench(&server, "op=get&n=1");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "backend_not_available", "{body}");
    assert!(body["message"].as_str().unwrap().contains("needs the db plugin"), "{body}");
}
