//! An HTTP request and its answer crossing into a plugin and back unchanged: method,
//! path and query, header fields (repeated, non-UTF-8), the client's address, bodies
//! that arrive in several pieces.

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
