//! An HTTP request and its answer crossing into a plugin and back unchanged: method,
//! path and query, header fields (repeated, non-UTF-8), the client's address, bodies
//! that arrive in several pieces, and where the host stops routing and the plugin
//! starts.

mod common;

use common::{client, site_dir, Server};
use reqwest::header::HeaderValue;
use serde_json::Value;

fn start() -> Server {
    Server::start(&site_dir("full"))
}

fn post_request(server: &Server, path: &str, body: Vec<u8>, echo: &[HeaderValue]) -> reqwest::blocking::Response {
    let mut r = client().post(server.url(path)).header("content-type", "application/octet-stream").body(body);
    for v in echo {
        r = r.header("x-echo", v.clone());
    }
    r.send().unwrap()
}

#[test]
fn a_request_reaches_the_handler_as_the_client_sent_it_and_the_answer_comes_back_whole() {
    let server = start();
    // 60,000 bytes (under the site's 64 KiB limit) arrive in several reads.
    let body: Vec<u8> = (0..60_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let echo = [HeaderValue::from_static("one"), HeaderValue::from_static("two, three"), HeaderValue::from_bytes(b"caf\xe9").unwrap()];
    let r = post_request(&server, "/api/v1/testbackend/request?a=1&b=%20x", body.clone(), &echo);
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["x-method"], "POST");
    assert_eq!(h["x-uri"], "/request?a=1&b=%20x", "the API prefix is cut off, the query kept as sent");
    assert!(h["x-remote-addr"].to_str().unwrap().starts_with("socket://127.0.0.1:"), "poem's RemoteAddr: {:?}", h["x-remote-addr"]);
    let echoed: Vec<&HeaderValue> = h.get_all("x-echo").iter().collect();
    assert_eq!(echoed, echo.iter().collect::<Vec<_>>(), "repeated fields in order, bytes that are not UTF-8 unchanged");
    assert_eq!(h["content-type"], "application/octet-stream");
    assert_eq!(r.bytes().unwrap().as_ref(), body.as_slice());
}

#[test]
fn the_body_limit_is_exact() {
    let server = start();
    let r = post_request(&server, "/api/v1/testbackend/request", vec![b'x'; 65_536], &[]);
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().len(), 65_536);
    let r = post_request(&server, "/api/v1/testbackend/request", vec![b'x'; 65_537], &[]);
    assert_eq!(r.status(), 413);
    assert_eq!(r.json::<Value>().unwrap()["code"], "payload_too_large");
}

#[test]
fn the_plugin_routes_everything_under_its_prefix_and_the_host_the_rest() {
    let server = start();
    let status = |path: &str| client().get(server.url(path)).send().unwrap().status().as_u16();
    // The host's own path under /api/v1 is not a plugin's.
    assert_eq!(status("/api/v1/plugins"), 200);
    // Under a plugin's prefix its router decides, with the JSON error of every route.
    for path in ["/api/v1/testbackend", "/api/v1/testbackend/", "/api/v1/testbackend?x=1", "/api/v1/testbackend/nope"] {
        let r = client().get(server.url(path)).send().unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(r.json::<Value>().unwrap()["code"], "not_found", "{path}");
    }
    // A prefix that merely starts like a plugin's, or names no plugin, is the host's 404.
    for path in ["/api/v1/testbackendx/health", "/api/v1/nosuch/health", "/api/v1/%74estbackend/health"] {
        let r = client().get(server.url(path)).send().unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(r.json::<Value>().unwrap()["code"], "not_found", "{path}");
    }
    // Percent-encoded path parameters and queries reach the plugin's router as sent.
    // (`a/b` is no topic: the bus's refusal names it as the plugin received it.)
    let r = client().post(server.url("/api/v1/testbackend/events/a%2Fb")).send().unwrap();
    assert!(r.json::<Value>().unwrap()["message"].as_str().unwrap().contains("`a/b`"));
    let r = client().get(server.url("/api/v1/testbackend/hello?name=a%20b")).send().unwrap();
    assert_eq!(r.json::<Value>().unwrap()["greeting"], "good morning, a b");
    // HEAD is answered by the GET handler, without a body.
    let r = client().head(server.url("/api/v1/testbackend/health")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().unwrap().len(), 0);
}

/// A documented path asked with another method answers 405 with `Allow` and the JSON
/// error body, before any layer (the testing layer would reject it otherwise); a method
/// no route has (TRACE) answers 405 on any path.
#[test]
fn a_wrong_method_is_405_with_allow_before_the_layers() {
    let server = start();
    for (method, path, allow) in [
        ("DELETE", "/api/v1/testbackend/hello", "GET, HEAD"),
        ("PUT", "/api/v1/testbackend/sum", "POST"),
        ("POST", "/healthz", "GET, HEAD"),
        ("POST", "/openapi.json", "GET, HEAD"),
        ("DELETE", "/testbackend", "GET, HEAD, POST"),
    ] {
        let r = client().request(method.parse().unwrap(), server.url(path)).header("x-test-reject", "401").send().unwrap();
        assert_eq!(r.status(), 405, "{method} {path}");
        assert_eq!(r.headers()["allow"], allow, "{method} {path}");
        let body: serde_json::Value = r.json().unwrap();
        assert_eq!(body["code"], "method_not_allowed", "{method} {path}: {body}");
        assert!(body["message"].as_str().unwrap().contains(method), "{body}");
    }
    for path in ["/api/v1/testbackend/hello", "/healthz", "/nowhere"] {
        let r = client().request("TRACE".parse().unwrap(), server.url(path)).send().unwrap();
        assert_eq!(r.status(), 405, "TRACE {path}");
        assert!(r.headers().contains_key("allow"), "TRACE {path}");
        assert_eq!(r.json::<serde_json::Value>().unwrap()["code"], "method_not_allowed");
    }
    // The right method still goes through the layers.
    let r = client().get(server.url("/api/v1/testbackend/hello")).header("x-test-reject", "401").send().unwrap();
    assert_eq!(r.status(), 401);
}

/// Without layers, the plugin's router answers the 405 and the host adds `Allow`.
#[test]
fn without_layers_a_plugins_405_gets_allow_too() {
    let site = common::TempSite::new(&[(
        "extensions.toml",
        "[extensions]\n[[extensions.plugin]]\nname = \"info\"\n[[extensions.plugin]]\nname = \"testbackend\"\n",
    )]);
    let server = Server::start(site.path());
    let r = client().delete(server.url("/api/v1/testbackend/hello")).send().unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, HEAD");
    assert_eq!(r.json::<serde_json::Value>().unwrap()["code"], "method_not_allowed");
    let r = client().request("TRACE".parse().unwrap(), server.url("/api/v1/testbackend/hello")).send().unwrap();
    assert_eq!(r.status(), 405);
}
