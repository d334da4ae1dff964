//! Issue 13: what a hostile or careless client, user or pipe can do to the server, each
//! with real sockets against the running binary: test routes out of the demo site, the
//! event bus's declared topics and bounds, one log line per panic, read and idle
//! timeouts, a cap on connections per client address, security headers, duplicate JSON
//! keys, JSON bodies on hyper's own answers, `Expect: 100-continue` past the body limit,
//! and CLI commands whose stdout is closed.

mod common;

use std::{
    io::{ErrorKind, Read, Write},
    net::TcpStream,
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use common::{client, daas, site_dir, workspace, Server, TempSite, TEST_KEY};
use serde_json::{json, Value};

// ---- raw sockets ---------------------------------------------------------------------

/// The generous deadline within which the server must have closed a connection; the
/// tests configure timeouts of a fraction of a second.
const CLOSE_DEADLINE: Duration = Duration::from_secs(20);

fn connect(server: &Server) -> TcpStream {
    let addr = server.base.trim_start_matches("http://");
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(CLOSE_DEADLINE)).unwrap();
    stream
}

/// A response read off a socket.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// Names lower-case.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// Read one response (head, then a `content-length` body).
fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(0) => panic!("the connection closed before a whole response head: {:?}", String::from_utf8_lossy(&buf)),
            Ok(_) => buf.push(byte[0]),
            Err(e) => panic!("no response head ({e}): {:?}", String::from_utf8_lossy(&buf)),
        }
    }
    let head = String::from_utf8(buf).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    let len: usize = headers.iter().find(|(k, _)| k == "content-length").map(|(_, v)| v.parse().unwrap()).unwrap_or(0);
    let mut body = vec![0; len];
    stream.read_exact(&mut body).unwrap();
    Answer { status, headers, body }
}

/// Whether the server closes the connection within `CLOSE_DEADLINE`, reading (and
/// discarding) whatever it sends until then.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    let deadline = Instant::now() + CLOSE_DEADLINE;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return false,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // A reset is a close too.
            Err(_) => return true,
        }
    }
}

/// The JSON error body every error has.
fn assert_json_error(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert!(answer.header("content-type").is_some_and(|c| c.starts_with("application/json")), "{answer:?}");
    let body = answer.json();
    assert_eq!(body["code"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(body["detail"].as_str().is_some_and(|m| !m.is_empty()), "says what to do: {body}");
}

fn site_with(extensions: &str) -> TempSite {
    TempSite::new(&[
        ("extensions.toml", &format!("[extensions]\nlayers = [\"testing\"]\n{extensions}\n[[extensions.plugin]]\nname = \"info\"\n\n[[extensions.plugin]]\nname = \"testbackend\"\n")),
        ("logging.toml", "[log]\nlevel = \"debug\"\nformat = \"json\"\n"),
    ])
}

// ---- item 6: test routes, the event bus, panics ----------------------------------------

#[test]
fn the_demo_site_loads_no_test_plugin() {
    let demo = workspace().join("config/demo");
    let text = std::fs::read_to_string(demo.join("extensions.toml")).unwrap();
    assert!(!text.contains("name = \"testbackend\""), "config/demo/extensions.toml loads testbackend:\n{text}");
    let (code, out, err) = common::run(&["plugins", "list", "--site", demo.to_str().unwrap()]);
    assert!(!out.lines().any(|l| l.starts_with("testbackend")), "{out}{err} (exit {code})");
}

fn publish(server: &Server, topic: &str) -> (u16, Value) {
    let r = client().post(server.url(&format!("/api/v1/testbackend/events/{topic}"))).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn counts(server: &Server) -> Value {
    client().get(server.url("/api/v1/info/events")).send().unwrap().json().unwrap()
}

/// Wait until the info plugin has counted `n` events on `topic`.
fn wait_counted(server: &Server, topic: &str, n: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body = counts(server);
        if body["counts"][topic] == n {
            return body;
        }
        assert!(Instant::now() < deadline, "{n} event(s) on `{topic}` not delivered: {body}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_bus_refuses_undeclared_malformed_and_host_topics() {
    let server = Server::start(&site_dir("full"));
    let long = format!("test.{}", "x".repeat(4000));
    for (topic, status) in [("undeclared.topic", 403), ("host.operations", 403), ("host.anything", 403), (long.as_str(), 400)] {
        let (got, body) = publish(&server, topic);
        assert_eq!(got, status, "publishing `{}`: {body}", &topic[..topic.len().min(40)]);
        assert!(body["message"].as_str().is_some_and(|m| m.contains("testbackend")), "{body}");
    }
    // A declared topic goes through; by the time it is counted, the refused ones would
    // have been too.
    assert_eq!(publish(&server, "test.declared").0, 200);
    let body = wait_counted(&server, "test.declared", 1);
    let topics = body["counts"].as_object().unwrap();
    assert!(!topics.contains_key("undeclared.topic") && !topics.contains_key("host.anything") && !topics.contains_key(&long), "{body}");
    assert_eq!(body["counts"]["host.operations"], 1, "only the host's own: {body}");
    assert!(server.log().contains("may not publish"), "refusals are logged: {}", server.log());
}

#[test]
fn the_event_counts_stay_bounded() {
    let server = Server::start(&site_dir("full"));
    for i in 0..300 {
        assert_eq!(publish(&server, &format!("test.t{i}")).0, 200);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let body = counts(&server);
        let counted: u64 = body["counts"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum::<u64>()
            + body["other_topics"].as_u64().unwrap_or(0);
        // 300 published, and the host's `host.operations`.
        if counted == 301 {
            assert_eq!(body["counts"].as_object().unwrap().len(), 256, "{body}");
            assert_eq!(body["other_topics"], 45, "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "not all counted: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_bus_refuses_events_beyond_its_queue() {
    let server = Server::start(&site_dir("full"));
    // Each `slow.10000` keeps testbackend's handler busy for ten seconds; at most 64
    // events of one topic are kept under way.
    let statuses: Vec<u16> = (0..70).map(|_| publish(&server, "slow.10000").0).collect();
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 64, "{statuses:?}");
    assert_eq!(statuses[64..], [503; 6], "{statuses:?}");
    // Another topic still has room.
    assert_eq!(publish(&server, "test.other").0, 200);
}

/// The lines of the log that mention `needle`.
fn lines_with(log: &str, needle: &str) -> Vec<String> {
    log.lines().filter(|l| l.contains(needle)).map(str::to_string).collect()
}

fn error_id(body: &Value) -> String {
    let message = body["message"].as_str().unwrap_or_else(|| panic!("{body}"));
    let at = message.find("error id ").unwrap_or_else(|| panic!("{body}")) + "error id ".len();
    message[at..].chars().take_while(char::is_ascii_hexdigit).collect()
}

#[test]
fn a_caught_panic_is_one_log_line_with_its_error_id_even_with_rust_backtrace_set() {
    let server = Server::start_with(&site_dir("full"), &[("RUST_BACKTRACE", "1")]);
    for path in ["/api/v1/testbackend/panic", "/api/v1/testbackend/backend-panic"] {
        let r = client().get(server.url(path)).send().unwrap();
        assert!(r.status().is_server_error());
        let body: Value = r.json().unwrap();
        let id = error_id(&body);
        assert!(server.wait_for_log(&id), "{}", server.log());
    }
    let log = server.log();
    for needle in ["panicked on purpose", "asked to panic in its backend"] {
        let lines = lines_with(&log, needle);
        assert_eq!(lines.len(), 1, "one line per panic: {lines:#?}");
        let line: Value = serde_json::from_str(&lines[0]).unwrap_or_else(|_| panic!("a log line, not the panic hook's: {}", lines[0]));
        assert!(line["fields"]["message"].as_str().is_some_and(|m| m.contains("error_id=")), "{line}");
    }
    assert!(!log.contains("stack backtrace") && !log.contains("RUST_BACKTRACE"), "{log}");
}

#[test]
fn backtraces_are_logged_when_the_operator_asks() {
    let site = TempSite::new(&[
        ("extensions.toml", "[extensions]\n[[extensions.plugin]]\nname = \"info\"\n\n[[extensions.plugin]]\nname = \"testbackend\"\n"),
        ("logging.toml", "[log]\nformat = \"json\"\nbacktraces = true\n"),
    ]);
    let server = Server::start(site.path());
    let body: Value = client().get(server.url("/api/v1/testbackend/panic")).send().unwrap().json().unwrap();
    let id = error_id(&body);
    assert!(server.wait_for_log(&id), "{}", server.log());
    let lines = lines_with(&server.log(), &id);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line: Value = serde_json::from_str(&lines[0]).unwrap();
    let message = line["fields"]["message"].as_str().unwrap();
    assert!(message.contains("backtrace") && message.contains("daas_plugin_testbackend::api"), "{message}");
}

// ---- item 7: timeouts and connections per client ---------------------------------------

#[test]
fn a_silent_connection_and_a_trickled_request_head_are_closed_after_the_header_read_timeout() {
    // Short, but not so short that a loaded machine's pause between connecting and
    // sending (the last request below) trips it.
    let site = site_with("header_read_timeout_ms = 1000\nidle_timeout_ms = 600000\n");
    let server = Server::start(site.path());
    let mut silent = connect(&server);
    assert!(closed_by_server(&mut silent), "a connection that sends nothing is closed");

    let mut half = connect(&server);
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
    assert!(closed_by_server(&mut half), "a half-sent request head is closed");

    // One byte every 100 ms keeps the connection busy, but not its head from timing out
    // (at this pace the whole head would take 24 s).
    let mut trickle = connect(&server);
    let started = Instant::now();
    let mut closed = false;
    for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter().chain([b'a'; 200].iter()) {
        if trickle.write_all(&[*byte]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        if started.elapsed() > CLOSE_DEADLINE {
            break;
        }
    }
    assert!(closed || closed_by_server(&mut trickle), "a trickled head is cut off");

    // A whole request on a fresh connection is still answered.
    assert_eq!(client().get(server.url("/healthz")).send().unwrap().status(), 200);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let site = site_with("header_read_timeout_ms = 600000\nidle_timeout_ms = 2000\n");
    let server = Server::start(site.path());
    let mut conn = connect(&server);
    for _ in 0..2 {
        conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(read_answer(&mut conn).status, 200, "kept alive between requests");
    }
    assert!(closed_by_server(&mut conn), "then closed when idle");
}

#[test]
fn a_stalled_request_body_is_answered_408() {
    let site = site_with("header_read_timeout_ms = 600000\nidle_timeout_ms = 300\n");
    let server = Server::start(site.path());
    let mut conn = connect(&server);
    conn.write_all(
        b"POST /api/v1/testbackend/request HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nonly ten..",
    )
    .unwrap();
    let answer = read_answer(&mut conn);
    assert_json_error(&answer, 408, "request_timeout");
    assert!(closed_by_server(&mut conn));
}

#[test]
fn connections_per_client_address_are_capped_and_refused_with_a_json_answer() {
    let site = site_with("max_connections_per_client = 3\n");
    let server = Server::start(site.path());
    let mut open: Vec<TcpStream> = (0..3).map(|_| connect(&server)).collect();
    // Each of them is served.
    for conn in &mut open {
        conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(read_answer(conn).status, 200);
    }
    let mut fourth = connect(&server);
    let answer = read_answer(&mut fourth);
    assert_json_error(&answer, 429, "too_many_connections");
    assert!(closed_by_server(&mut fourth));
    // A closed one makes room again.
    drop(open.pop());
    let deadline = Instant::now() + CLOSE_DEADLINE;
    loop {
        let mut again = connect(&server);
        again.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        if read_answer(&mut again).status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no room after a connection closed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_refused_websocket_upgrade_closes_its_socket() {
    let server = Server::start(&site_dir("full"));
    let mut sockets = Vec::new();
    for _ in 0..20 {
        let mut conn = connect(&server);
        conn.write_all(
            b"GET /api/v1/testbackend/echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
              Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nx-test-reject: 401\r\n\r\n",
        )
        .unwrap();
        sockets.push(conn);
    }
    for conn in &mut sockets {
        assert_eq!(read_answer(conn).status, 401);
        assert!(closed_by_server(conn), "a refused upgrade's socket is closed");
    }
}

// ---- item 10: security headers ---------------------------------------------------------

/// A copy of the web root with stand-ins for the bundles `scripts/webroot` builds.
fn webroot_copy(dir: &Path) {
    let src = workspace().join("webroot");
    for sub in ["templates", "static", "static/viewer", "static/build"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    for file in [
        "templates/apps.html",
        "templates/viewer.html",
        "static/apps.js",
        "static/viewer/common.js",
        "static/viewer/guacamole.js",
        "static/viewer/novnc.js",
        "static/viewer/viewer.css",
    ] {
        std::fs::copy(src.join(file), dir.join(file)).unwrap();
    }
    for file in ["static/build/guacamole.js", "static/build/novnc.js"] {
        std::fs::write(dir.join(file), "// a stand-in\n").unwrap();
    }
}

#[test]
fn every_response_carries_the_security_headers() {
    let webroot = tempfile::tempdir().unwrap();
    webroot_copy(webroot.path());
    let site = TempSite::new(&[
        (
            "extensions.toml",
            "[extensions]\nlayers = [\"auth\"]\n\n[[extensions.plugin]]\nname = \"db\"\n\n[[extensions.plugin]]\nname = \"auth\"\n\n[[extensions.plugin]]\nname = \"proxy\"\n\n[[extensions.plugin]]\nname = \"testbackend\"\n",
        ),
        ("db.toml", &format!("[db]\ndb_type = \"sqlite\"\ndata_path = \"data\"\nsecret_key = \"{TEST_KEY}\"\nadmin_credentials = \"admin:s3cret!\"\n")),
        ("proxy.toml", &format!("[viewer]\nwebroot = \"{}\"\n", webroot.path().display())),
    ]);
    let server = Server::start(site.path());
    let http = common::http();
    let admin = common::login(&server, "admin", "s3cret!");
    let get = |path: &str| http.get(server.url(path)).bearer_auth(&admin.bearer).send().unwrap();
    let anonymous = |path: &str| http.get(server.url(path)).send().unwrap();
    let cases = [
        ("/login", anonymous("/login"), 200),
        ("/docs", anonymous("/docs"), 200),
        ("/openapi.json", anonymous("/openapi.json"), 200),
        ("/api/v1/auth/me", get("/api/v1/auth/me"), 200),
        ("/api/v1/auth/me (anonymous)", anonymous("/api/v1/auth/me"), 401),
        ("/nope", get("/nope"), 404),
        ("/static/viewer/viewer.css", get("/static/viewer/viewer.css"), 200),
        ("/testbackend", anonymous("/testbackend"), 200),
    ];
    for (what, r, status) in cases {
        assert_eq!(r.status().as_u16(), status, "{what}");
        let h = |name: &str| r.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_else(|| panic!("{what}: no {name}"));
        assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
        assert_eq!(h("x-frame-options"), "DENY", "{what}");
        let csp = h("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
        let html = r.headers().get("content-type").is_some_and(|c| c.to_str().unwrap().starts_with("text/html"));
        match what {
            "/docs" => assert!(csp.contains("script-src 'sha256-") && !csp.contains("'unsafe-inline' 'sha256"), "{csp}"),
            _ if html => assert!(csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"), "{what}: {csp}"),
            _ => assert!(csp.starts_with("default-src 'none'"), "{what}: {csp}"),
        }
        // testbackend's page chooses its own referrer policy; everything else gets the host's.
        let referrer = if what == "/testbackend" { "same-origin" } else { "no-referrer" };
        assert_eq!(h("referrer-policy"), referrer, "{what}");
    }
}

// ---- item 9: duplicate JSON keys -------------------------------------------------------

#[test]
fn json_bodies_with_duplicate_keys_are_refused_naming_the_key() {
    let server = Server::start(&site_dir("full"));
    let post = |body: &'static str, content_type: &str| {
        let r = client().post(server.url("/api/v1/testbackend/sum")).header("content-type", content_type).body(body).send().unwrap();
        (r.status().as_u16(), r.json::<Value>().unwrap_or(Value::Null))
    };
    let (status, body) = post(r#"{"a": 1, "a": 2, "b": 3}"#, "application/json");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "bad_request");
    assert!(body["message"].as_str().unwrap().contains("duplicate key `a`"), "{body}");
    let (status, body) = post(r#"{"a": 1, "b": 3, "x": [{"k": 1, "k": 2}]}"#, "application/json; charset=utf-8");
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("duplicate key `k`"), "{body}");
    assert!(body["message"].as_str().unwrap().contains("/x/0"), "where: {body}");
    // Without duplicates all is as before.
    assert_eq!(post(r#"{"a": 40, "b": 2}"#, "application/json"), (200, json!({"sum": 42})));
    // Only JSON bodies are JSON.
    let r = client()
        .post(server.url("/api/v1/testbackend/request"))
        .header("content-type", "application/octet-stream")
        .body(r#"{"a": 1, "a": 2}"#)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

// ---- item 13: the host's answers -------------------------------------------------------

#[test]
fn expect_100_continue_past_the_body_limit_gets_413_without_sending_the_body() {
    let server = Server::start(&site_dir("full"));
    let mut conn = connect(&server);
    conn.write_all(
        b"POST /api/v1/testbackend/request HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n\
          Content-Length: 209715200\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let answer = read_answer(&mut conn);
    assert_json_error(&answer, 413, "payload_too_large");
    assert!(closed_by_server(&mut conn), "the unread body is not waited for");
}

#[test]
fn requests_hyper_refuses_get_the_json_error_body() {
    let server = Server::start(&site_dir("full"));
    let long_uri = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let many_headers = format!("GET / HTTP/1.1\r\nHost: x\r\n{}\r\n", (0..200).map(|i| format!("x-h{i}: 1\r\n")).collect::<String>());
    let big_headers = format!("GET / HTTP/1.1\r\nHost: x\r\nx-big: {}\r\n\r\n", "b".repeat(600_000));
    let cases: [(&str, &[u8], u16, &str); 5] = [
        ("URI too long", long_uri.as_bytes(), 414, "uri_too_long"),
        ("too many header fields", many_headers.as_bytes(), 431, "header_fields_too_large"),
        ("header fields too large", big_headers.as_bytes(), 431, "header_fields_too_large"),
        ("malformed header", b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", 400, "bad_request"),
        ("malformed request line", b"GET\x01 / HTTP/1.1\r\n\r\n", 400, "bad_request"),
    ];
    for (what, request, status, code) in cases {
        let mut conn = connect(&server);
        // The server may answer and close before reading all of a long request.
        let _ = conn.write_all(request);
        let answer = read_answer(&mut conn);
        assert_json_error(&answer, status, code);
        assert_eq!(answer.header("x-content-type-options"), Some("nosniff"), "{what}");
        assert!(closed_by_server(&mut conn), "{what}");
    }
}

/// Run `daas` with `args` and its stdout a pipe nobody reads from.
fn with_stdout_closed(args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = daas().args(args).stdout(writer).stderr(Stdio::piped()).spawn().unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (child.wait().unwrap().code(), err)
}

#[test]
fn a_closed_stdout_ends_every_printing_command_quietly() {
    let full = site_dir("full");
    let full = full.to_str().unwrap();
    let db = TempSite::new(&[
        ("extensions.toml", "[extensions]\n[[extensions.plugin]]\nname = \"db\"\n"),
        ("db.toml", &format!("[db]\ndb_type = \"sqlite\"\ndata_path = \"data\"\nsecret_key = \"{TEST_KEY}\"\n")),
    ]);
    let fixture = db.path().join("fixture.yaml");
    std::fs::write(&fixture, "users:\n  - {id: 7, name: ann}\n").unwrap();
    let fixture = fixture.to_str().unwrap();
    let db = db.path().to_str().unwrap();
    let commands: [&[&str]; 8] = [
        &["config", "schema"],
        &["version"],
        &["config", "check", "--site", full],
        &["plugins", "list", "--site", full],
        &["db", "migrate", "--site", db],
        &["db", "status", "--site", db],
        &["export", "--site", db],
        &["import", fixture, "--site", db],
    ];
    for args in commands {
        let (code, err) = with_stdout_closed(args);
        assert_eq!(code, Some(141), "daas {}: as if ended by SIGPIPE: {err}", args.join(" "));
        assert!(err.is_empty(), "daas {}: quietly: {err}", args.join(" "));
    }
}
